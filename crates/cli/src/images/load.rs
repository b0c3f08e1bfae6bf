//! `load`: images from a `docker save` or OCI layout archive, file or STDIN.

use std::path::PathBuf;

use berth_image::reference::Reference;

use super::open;
use crate::Cli;

/// Flags of `load`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

pub(super) fn run(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let store = open(cli)?;
    let loaded = match &args.input {
        Some(p) => {
            let file =
                std::fs::File::open(p).map_err(|e| anyhow::anyhow!("open {}: {e}", p.display()))?;
            store.load(file)?
        }
        None => store.load(std::io::stdin().lock())?,
    };
    for img in loaded {
        if img.tags.is_empty() {
            println!("Loaded image ID: {}", img.id);
        }
        for tag in &img.tags {
            let name = Reference::parse(tag)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| tag.clone());
            println!("Loaded image: {name}");
        }
    }
    Ok(0)
}
