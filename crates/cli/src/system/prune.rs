//! `system prune`: stopped containers, dangling images (every unused one with `-a`) and,
//! with `--volumes`, unused anonymous volumes.

use crate::client::{Client, Query};
use crate::containers::filters_json;
use crate::containers::prune::{confirm, print_deleted, prune as prune_containers};
use crate::format::human_size;

/// Flags of `system prune`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
}

/// `system prune`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    if !a.force && !confirm(&warning(a))? {
        return Ok(0);
    }
    let (ids, mut space) = prune_containers(c, &a.filter)?;
    print_deleted("Deleted Containers:", &ids);
    if a.volumes {
        let q = Query::new().opt("filters", filters_json(&a.filter).as_deref());
        let v = c.post_json("/volumes/prune", q, None)?;
        let names: Vec<String> = v["VolumesDeleted"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(String::from))
            .collect();
        print_deleted("Deleted Volumes:", &names);
        space += v["SpaceReclaimed"].as_u64().unwrap_or(0);
    }
    let mut filters = a.filter.clone();
    if a.all {
        filters.push("dangling=false".into());
    }
    let q = Query::new().opt("filters", filters_json(&filters).as_deref());
    let v = c.post_json("/images/prune", q, None)?;
    if v["ImagesDeleted"].as_array().is_some_and(|l| !l.is_empty()) {
        println!("Deleted Images:");
        crate::images::print_lines(&v["ImagesDeleted"], "untagged", "deleted");
        println!();
    }
    space += v["SpaceReclaimed"].as_u64().unwrap_or(0);
    println!("Total reclaimed space: {}", human_size(space));
    Ok(0)
}

fn warning(a: &Args) -> String {
    let mut lines = vec!["  - all stopped containers".to_string()];
    if a.volumes {
        lines.push("  - all anonymous volumes not used by at least one container".into());
    }
    lines.push(if a.all {
        "  - all images without at least one container associated to them".into()
    } else {
        "  - all dangling images".into()
    });
    format!("WARNING! This will remove:\n{}", lines.join("\n"))
}
