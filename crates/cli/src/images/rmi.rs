//! `rmi` / `image rm`: untag or delete, with docker's `Untagged:` / `Deleted:` lines.

use berth_image::store::Removal;

use super::open;
use crate::Cli;

/// Flags of `rmi`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    no_prune: bool,
    /// The images
    #[arg(required = true)]
    images: Vec<String>,
}

pub(super) fn run(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let store = open(cli)?;
    let mut failed = false;
    for name in &args.images {
        match store.remove_image(name, args.force) {
            Ok(lines) => lines
                .iter()
                .for_each(|l| println!("{}", line(l, "Untagged", "Deleted"))),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

/// A report line with the given words for untag and delete.
pub(super) fn line(r: &Removal, untagged: &str, deleted: &str) -> String {
    match r {
        Removal::Untagged(r) => format!("{untagged}: {}", r.familiar()),
        Removal::Deleted(d) => format!("{deleted}: {d}"),
    }
}
