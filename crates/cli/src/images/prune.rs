//! `image prune`: dangling images (all unused ones with `-a`).

use std::io::{BufRead, Write};

use super::rmi::print_lines;
use crate::client::{Client, Query};
use crate::containers::filters_json;
use crate::format::human_size;

/// Flags of `image prune`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

/// `image prune`.
pub fn run(c: &Client, args: &Args) -> anyhow::Result<u8> {
    if !args.force && !confirm(args.all)? {
        println!("Total reclaimed space: 0B");
        return Ok(0);
    }
    let mut filters = args.filter.clone();
    if args.all {
        filters.push("dangling=false".into());
    }
    let q = Query::new().opt("filters", filters_json(&filters).as_deref());
    let v = c.post_json("/images/prune", q, None)?;
    if v["ImagesDeleted"].as_array().is_some_and(|a| !a.is_empty()) {
        println!("Deleted Images:");
        print_lines(&v["ImagesDeleted"], "untagged", "deleted");
        println!();
    }
    let reclaimed = v["SpaceReclaimed"].as_u64().unwrap_or(0);
    println!("Total reclaimed space: {}", human_size(reclaimed));
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
