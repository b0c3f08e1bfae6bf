//! `rmi` / `image rm`: untag or delete, with docker's `Untagged:` / `Deleted:` lines.

use serde_json::Value;

use super::image_path;
use crate::client::{Client, Query};

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

/// `rmi`.
pub fn run(c: &Client, args: &Args) -> anyhow::Result<u8> {
    let mut failed = false;
    for name in &args.images {
        let q = Query::new()
            .flag("force", args.force)
            .flag("noprune", args.no_prune);
        match c.delete(&format!("/images/{}", image_path(name)), q) {
            Ok(lines) => print_lines(&lines, "Untagged", "Deleted"),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

/// Prints `[{"Untagged": ...}, {"Deleted": ...}]` with the given words.
pub fn print_lines(lines: &Value, untagged: &str, deleted: &str) {
    for l in lines.as_array().into_iter().flatten() {
        if let Some(u) = l["Untagged"].as_str() {
            println!("{untagged}: {u}");
        }
        if let Some(d) = l["Deleted"].as_str() {
            println!("{deleted}: {d}");
        }
    }
}
