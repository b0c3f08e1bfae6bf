//! `system df`: what berth holds on disk. Every byte under the data root is counted (as
//! `du -sb` counts it): images get what containers do not.

use std::collections::HashMap;
use std::io::Write;

use berth_image::store::DiskUsage;
use serde_json::{json, Value};

use super::list::created;
use super::{emit, open, short_id, since};
use crate::format::{self, human_size, Format};
use crate::Cli;

/// Flags of `system df`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
    /// Pretty-print using a Go template
    #[arg(long)]
    format: Option<String>,
}

/// Disk use of containers, as the container side of berth measures it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContainerUsage {
    /// Containers.
    pub total: usize,
    /// Running containers.
    pub active: usize,
    /// Bytes of their writable layers, logs and state.
    pub bytes: u64,
    /// Bytes of the containers that are not running.
    pub reclaimable: u64,
}

/// The containers' disk use: each one's writable layer (its snapshot) plus its own
/// directory (state, log, bundle), not following its mounted root. `system df` subtracts
/// it from the images' share, so every byte is counted once.
fn container_usage(cli: &Cli) -> ContainerUsage {
    let Ok(engine) = berth_engine::Engine::open(&cli.data_root) else {
        return ContainerUsage::default();
    };
    let Ok(list) = engine.list() else {
        return ContainerUsage::default();
    };
    let mut usage = ContainerUsage::default();
    for c in &list {
        let layer = engine
            .images()
            .snapshotter()
            .usage(&c.snapshot_key)
            .map(|u| u.bytes)
            .unwrap_or(0);
        let own = own_dir_bytes(&engine.containers().dir(&c.id));
        let bytes = layer + own;
        usage.total += 1;
        usage.bytes += bytes;
        if c.state.status == berth_engine::record::Status::Running {
            usage.active += 1;
        } else {
            usage.reclaimable += bytes;
        }
    }
    usage
}

/// Bytes under a container's directory, leaving out its root mount point.
fn own_dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name() != "rootfs")
        .map(|e| berth_image::store::tree_bytes(&e.path()))
        .sum()
}

pub(super) fn run(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let usage = open(cli)?.disk_usage()?;
    let containers = container_usage(cli);
    if args.verbose {
        verbose(&usage)?;
        return Ok(0);
    }
    let items = summary_rows(&usage, &containers);
    let default = "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
    let headers = HashMap::from([("TotalCount", "TOTAL")]);
    emit(
        &Format::parse(args.format.as_deref()),
        &items,
        default,
        &headers,
    )?;
    Ok(0)
}

fn summary_rows(usage: &DiskUsage, c: &ContainerUsage) -> Vec<Value> {
    let images_total = usage.root_bytes.saturating_sub(c.bytes);
    let used: u64 = usage
        .images
        .iter()
        .filter(|i| i.containers > 0)
        .map(|i| i.unique())
        .sum();
    let active = usage.images.iter().filter(|i| i.containers > 0).count();
    vec![
        row(
            "Images",
            usage.images.len(),
            active,
            images_total,
            images_total.saturating_sub(used),
        ),
        row("Containers", c.total, c.active, c.bytes, c.reclaimable),
        row("Local Volumes", 0, 0, 0, 0),
        row("Build Cache", 0, 0, 0, 0),
    ]
}

fn row(typ: &str, total: usize, active: usize, size: u64, reclaimable: u64) -> Value {
    let reclaim = match (reclaimable * 100).checked_div(size) {
        Some(pct) => format!("{} ({pct}%)", human_size(reclaimable)),
        None => human_size(reclaimable),
    };
    json!({
        "Type": typ,
        "TotalCount": total.to_string(),
        "Active": active.to_string(),
        "Size": human_size(size),
        "Reclaimable": reclaim,
    })
}

fn verbose(usage: &DiskUsage) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = usage
        .images
        .iter()
        .map(|i| {
            let (repo, tag) = i
                .summary
                .tags
                .first()
                .map_or(("<none>".into(), "<none>".into()), |r| {
                    (r.familiar_name(), r.tag.clone().unwrap_or_default())
                });
            vec![
                repo,
                tag,
                short_id(&i.summary.image.id, false),
                since(Some(created(&i.summary))),
                human_size(i.size),
                human_size(i.shared),
                human_size(i.unique()),
                i.containers.to_string(),
            ]
        })
        .collect();
    let out = &mut std::io::stdout().lock();
    let header = [
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "SHARED SIZE",
        "UNIQUE SIZE",
        "CONTAINERS",
    ];
    writeln!(out, "Images space usage:\n")?;
    format::table(out, &header, &rows)?;
    writeln!(out, "\nContainers space usage:\n")?;
    let ctr = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "LOCAL VOLUMES",
        "SIZE",
        "CREATED",
        "STATUS",
        "NAMES",
    ];
    format::table(out, &ctr, &[])?;
    writeln!(out, "\nLocal Volumes space usage:\n")?;
    format::table(out, &["VOLUME NAME", "LINKS", "SIZE"], &[])?;
    writeln!(out, "\nBuild cache usage: 0B\n")?;
    let cache = [
        "CACHE ID",
        "CACHE TYPE",
        "SIZE",
        "CREATED",
        "LAST USED",
        "USAGE",
        "SHARED",
    ];
    format::table(out, &cache, &[])
}
