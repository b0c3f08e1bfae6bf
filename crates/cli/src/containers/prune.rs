//! `container prune`: every container that does not run.

use std::io::{BufRead, Write};

use super::filters_json;
use crate::client::{Client, Query};
use crate::format::human_size;

/// Flags of `container prune`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

/// `container prune`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.")? {
        println!("Total reclaimed space: 0B");
        return Ok(0);
    }
    let (ids, space) = prune(c, &a.filter)?;
    print_deleted("Deleted Containers:", &ids);
    println!("Total reclaimed space: {}", human_size(space));
    Ok(0)
}

/// `POST /containers/prune`: the ids removed and the bytes freed.
pub fn prune(c: &Client, filters: &[String]) -> anyhow::Result<(Vec<String>, u64)> {
    let q = Query::new().opt("filters", filters_json(filters).as_deref());
    let v = c.post_json("/containers/prune", q, None)?;
    let ids = v["ContainersDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(String::from))
        .collect();
    Ok((ids, v["SpaceReclaimed"].as_u64().unwrap_or(0)))
}

/// A "Deleted ...:" block, as docker prints it (nothing when empty).
pub fn print_deleted(title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    println!("{title}");
    for i in items {
        println!("{i}");
    }
    println!();
}

/// Asks `warning` and whether to continue; true on "y".
pub fn confirm(warning: &str) -> anyhow::Result<bool> {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y"))
}
