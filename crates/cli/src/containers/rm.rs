//! `berth rm`: remove containers (`-f` kills running ones first).

use berth_engine::Engine;

/// `rm` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes (there are none yet: ignored).
    #[arg(short, long)]
    volumes: bool,
    /// Containers to remove.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `rm`.
pub fn run(engine: &Engine, a: &Args) -> anyhow::Result<u8> {
    super::each(engine, &a.containers, |c| engine.remove(c, a.force))
}
