//! `import file|- [REPOSITORY[:TAG]]`: a root file system tar becomes an image.

use berth_image::reference::Reference;
use berth_image::store::ImportOptions;

use super::open;
use crate::Cli;

/// Flags of `import`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// A file, or `-` for STDIN
    source: String,
    /// REPOSITORY[:TAG]
    repository: Option<String>,
}

pub(super) fn run(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    if args.source.contains("://") {
        anyhow::bail!("importing from a URL is not supported: {}", args.source);
    }
    let reference = args
        .repository
        .as_deref()
        .map(Reference::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("invalid reference format: {e}"))?;
    let opts = ImportOptions {
        changes: args.change.clone(),
        message: args.message.clone(),
        reference,
    };
    let store = open(cli)?;
    let id = if args.source == "-" {
        store.import(std::io::stdin(), &opts)?
    } else {
        let file = std::fs::File::open(&args.source)
            .map_err(|e| anyhow::anyhow!("open {}: {e}", args.source))?;
        store.import(file, &opts)?
    };
    println!("{id}");
    Ok(0)
}
