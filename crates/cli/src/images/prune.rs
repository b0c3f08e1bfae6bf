//! `image prune`: dangling images (all unused ones with `-a`), then every blob and layer
//! nothing references.

use std::io::{BufRead, Write};

use super::open;
use super::rmi::line;
use crate::format::human_size;
use crate::Cli;

/// Flags of `image prune`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub(super) fn run(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    if !args.force && !confirm(args.all)? {
        println!("Total reclaimed space: 0B");
        return Ok(0);
    }
    let pruned = open(cli)?.prune(args.all)?;
    if !pruned.removals.is_empty() {
        println!("Deleted Images:");
        for r in &pruned.removals {
            println!("{}", line(r, "untagged", "deleted"));
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(pruned.reclaimed));
    Ok(0)
}

fn confirm(all: bool) -> anyhow::Result<bool> {
    let what = if all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y"))
}
