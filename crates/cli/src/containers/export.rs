//! `berth export`: a container's filesystem as a tar archive.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use berth_engine::Engine;

/// `export` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write to a file instead of STDOUT.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The container.
    container: String,
}

/// `export`.
pub fn run(engine: &Engine, a: &Args) -> anyhow::Result<u8> {
    let c = engine.find(&a.container)?;
    match &a.output {
        Some(path) => {
            let f = std::fs::File::create(path)
                .with_context(|| format!("create {}", path.display()))?;
            let mut w = std::io::BufWriter::new(f);
            engine.export(&c, &mut w)?;
            w.flush()
                .with_context(|| format!("write {}", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout().lock();
            if std::io::IsTerminal::is_terminal(&stdout) {
                anyhow::bail!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                );
            }
            engine.export(&c, std::io::BufWriter::new(stdout))?;
        }
    }
    Ok(0)
}
