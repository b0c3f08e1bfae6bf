//! `system df`: what the daemon holds on disk (`GET /system/df`), summarised as docker's
//! CLI does, or per image and container with `-v`.

use std::collections::HashMap;
use std::io::Write;

use serde_json::{json, Value};

use crate::client::{Client, Query};
use crate::format::{self, human_size, Format};
use crate::images::{short_id, since_unix};

/// Flags of `system df`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
}

/// `system df`.
pub fn run(c: &Client, args: &Args) -> anyhow::Result<u8> {
    let v = c.get_json("/system/df", Query::new())?;
    if args.verbose {
        verbose(&v)?;
        return Ok(0);
    }
    let default = "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
    let headers = HashMap::from([("TotalCount", "TOTAL")]);
    format::emit(
        &Format::parse(args.format.as_deref()),
        &summary(&v),
        default,
        &headers,
    )?;
    Ok(0)
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// The four summary rows.
fn summary(v: &Value) -> Vec<Value> {
    let images = list(&v["Images"]);
    let total = int(&v["LayersSize"]).max(0);
    let used: i64 = images
        .iter()
        .filter(|i| int(&i["Containers"]) > 0)
        .filter(|i| int(&i["Size"]) >= 0 && int(&i["SharedSize"]) >= 0)
        .map(|i| int(&i["Size"]) - int(&i["SharedSize"]))
        .sum();
    let active = images.iter().filter(|i| int(&i["Containers"]) > 0).count();
    let containers = list(&v["Containers"]);
    let running = |c: &&Value| c["State"] == "running";
    let csize: i64 = containers.iter().map(|c| int(&c["SizeRw"]).max(0)).sum();
    let cfree: i64 = containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| int(&c["SizeRw"]).max(0))
        .sum();
    let volumes = list(&v["Volumes"]);
    let vsize: i64 = volumes
        .iter()
        .map(|x| int(&x["UsageData"]["Size"]).max(0))
        .sum();
    let in_use = |x: &&Value| int(&x["UsageData"]["RefCount"]) > 0;
    let vactive = volumes.iter().filter(in_use).count();
    let vfree: i64 = volumes
        .iter()
        .filter(|x| !in_use(x))
        .map(|x| int(&x["UsageData"]["Size"]).max(0))
        .sum();
    let cache = list(&v["BuildCache"]);
    let bsize: i64 = cache.iter().map(|x| int(&x["Size"]).max(0)).sum();
    vec![
        row("Images", images.len(), active, total, (total - used).max(0)),
        row(
            "Containers",
            containers.len(),
            containers.iter().filter(running).count(),
            csize,
            cfree,
        ),
        row("Local Volumes", volumes.len(), vactive, vsize, vfree),
        row("Build Cache", cache.len(), 0, bsize, bsize),
    ]
}

fn row(typ: &str, total: usize, active: usize, size: i64, reclaimable: i64) -> Value {
    let (size, reclaimable) = (size as u64, reclaimable as u64);
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

fn verbose(v: &Value) -> std::io::Result<()> {
    let images: Vec<Vec<String>> = list(&v["Images"])
        .iter()
        .map(|i| {
            let first = i["RepoTags"]
                .as_array()
                .and_then(|t| t.first())
                .and_then(Value::as_str);
            let (repo, tag) = first
                .and_then(|t| t.rsplit_once(':'))
                .map_or(("<none>".to_string(), "<none>".to_string()), |(r, t)| {
                    (r.into(), t.into())
                });
            let size = int(&i["Size"]).max(0);
            let shared = int(&i["SharedSize"]).max(0);
            vec![
                repo,
                tag,
                short_id(i["Id"].as_str().unwrap_or_default(), false),
                since_unix(int(&i["Created"])),
                human_size(size as u64),
                human_size(shared as u64),
                human_size((size - shared).max(0) as u64),
                int(&i["Containers"]).to_string(),
            ]
        })
        .collect();
    let containers: Vec<Vec<String>> = list(&v["Containers"])
        .iter()
        .map(|c| {
            let name = c["Names"]
                .as_array()
                .and_then(|n| n.first())
                .and_then(Value::as_str)
                .unwrap_or_default();
            vec![
                short_id(c["Id"].as_str().unwrap_or_default(), false),
                c["Image"].as_str().unwrap_or_default().to_string(),
                format!(
                    "{:?}",
                    format::ellipsis(c["Command"].as_str().unwrap_or_default(), 20)
                ),
                "0".into(),
                human_size(int(&c["SizeRw"]).max(0) as u64),
                since_unix(int(&c["Created"])),
                c["Status"].as_str().unwrap_or_default().to_string(),
                name.trim_start_matches('/').to_string(),
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
    format::table(out, &header, &images)?;
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
    format::table(out, &ctr, &containers)?;
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
