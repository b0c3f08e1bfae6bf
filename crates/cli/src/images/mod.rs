//! Image commands: load, save, images, inspect, history, tag, rmi, prune, import, system df.

use clap::Subcommand;

use crate::Cli;

/// The image commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load images from a tar archive (docker save or OCI layout form).
    Load {
        /// Read from this file instead of stdin.
        #[arg(short, long)]
        input: Option<std::path::PathBuf>,
        /// Print only the loaded image names.
        #[arg(short, long)]
        quiet: bool,
    },
}

/// Runs an image command; returns the exit code.
pub fn run(cli: &Cli, cmd: &Command) -> anyhow::Result<u8> {
    match cmd {
        Command::Load { input, quiet } => load(cli, input.as_deref(), *quiet),
    }
}

fn load(cli: &Cli, input: Option<&std::path::Path>, quiet: bool) -> anyhow::Result<u8> {
    let store = berth_image::store::ImageStore::open(&cli.data_root)?;
    let loaded = match input {
        Some(p) => store.load(
            std::fs::File::open(p).map_err(|e| anyhow::anyhow!("open {}: {e}", p.display()))?,
        )?,
        None => store.load(std::io::stdin().lock())?,
    };
    for img in loaded {
        if img.tags.is_empty() {
            println!("Loaded image ID: {}", img.id);
        }
        for tag in &img.tags {
            let name = berth_image::reference::Reference::parse(tag)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| tag.clone());
            if quiet {
                println!("{name}");
            } else {
                println!("Loaded image: {name}");
            }
        }
    }
    Ok(0)
}
