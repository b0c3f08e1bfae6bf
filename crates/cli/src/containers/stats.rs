//! `berth stats`: a live table of containers' CPU, memory, block I/O and process
//! counts (`--no-stream`: one table), computed from the daemon's stats as docker's CLI
//! computes them.

use std::collections::HashMap;
use std::io::Write;

use serde_json::{json, Value};

use super::path_part;
use crate::client::{Client, Query};
use crate::format::{self, Format};

/// `stats` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// The containers (default: all running ones)
    containers: Vec<String>,
}

/// `stats`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    loop {
        let names = targets(c, a)?;
        let items = fetch_all(c, &names)?
            .iter()
            .map(|v| row(v, a.no_trunc))
            .collect::<Vec<_>>();
        if !a.no_stream {
            // Clear the screen and go home, as docker's live table does.
            print!("\x1b[2J\x1b[H");
        }
        let fmt = Format::parse(a.format.as_deref());
        format::emit(&fmt, &items, DEFAULT, &headers())?;
        std::io::stdout().flush()?;
        if a.no_stream {
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// Requests in flight at once.
const PARALLEL: usize = 8;

/// Every container's stats, asked for a few at a time (in order).
fn fetch_all(c: &Client, names: &[String]) -> anyhow::Result<Vec<Value>> {
    let chunk = names.len().div_ceil(PARALLEL).max(1);
    std::thread::scope(|scope| {
        let jobs: Vec<_> = names
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|n| {
                            let q = Query::new().add("stream", "false");
                            c.get_json(&format!("/containers/{}/stats", path_part(n)), q)
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(names.len());
        for j in jobs {
            let part = j
                .join()
                .map_err(|_| anyhow::anyhow!("a stats request panicked"))??;
            out.extend(part);
        }
        Ok(out)
    })
}

const DEFAULT: &str = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn headers() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("ID", "CONTAINER ID"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
    ])
}

/// The containers to show: those named, else every running one (every one with `-a`).
fn targets(c: &Client, a: &Args) -> anyhow::Result<Vec<String>> {
    if !a.containers.is_empty() {
        return Ok(a.containers.clone());
    }
    let q = Query::new().flag("all", a.all);
    let list = c.get_json("/containers/json", q)?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["Id"].as_str().map(String::from))
        .collect())
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// One table row, as docker's CLI computes it.
fn row(v: &Value, no_trunc: bool) -> Value {
    let (cpu, pre) = (&v["cpu_stats"], &v["precpu_stats"]);
    let cpu_delta = num(&cpu["cpu_usage"]["total_usage"]) - num(&pre["cpu_usage"]["total_usage"]);
    let sys_delta = num(&cpu["system_cpu_usage"]) - num(&pre["system_cpu_usage"]);
    let cpus = num(&cpu["online_cpus"]).max(1.0);
    let cpu_pct = if cpu_delta > 0.0 && sys_delta > 0.0 {
        cpu_delta / sys_delta * cpus * 100.0
    } else {
        0.0
    };
    let m = &v["memory_stats"];
    let inactive = m["stats"]["total_inactive_file"]
        .as_f64()
        .or_else(|| m["stats"]["inactive_file"].as_f64())
        .unwrap_or(0.0);
    let used = (num(&m["usage"]) - inactive).max(0.0);
    let limit = num(&m["limit"]);
    let mem_pct = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut read, mut write) = (0.0, 0.0);
    for e in v["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "read" => read += num(&e["value"]),
            "write" => write += num(&e["value"]),
            _ => {}
        }
    }
    let id = v["id"].as_str().unwrap_or_default();
    let id = if no_trunc {
        id
    } else {
        &id[..12.min(id.len())]
    };
    json!({
        "ID": id,
        "Container": id,
        "Name": v["name"].as_str().unwrap_or_default().trim_start_matches('/'),
        "CPUPerc": format!("{cpu_pct:.2}%"),
        "MemUsage": format!("{} / {}", binary_size(used), binary_size(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": "0B / 0B",
        "BlockIO": format!("{} / {}", decimal_size(read), decimal_size(write)),
        "PIDs": v["pids_stats"]["current"].as_u64().unwrap_or(0).to_string(),
    })
}

/// docker's `BytesSize` (binary units, four significant digits: `1.5MiB`).
fn binary_size(b: f64) -> String {
    scaled(b, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"], 4)
}

/// docker's `HumanSizeWithPrecision(_, 3)` (decimal units: `2.5MB`).
fn decimal_size(b: f64) -> String {
    scaled(b, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB"], 3)
}

fn scaled(mut b: f64, base: f64, units: &[&str], digits: i32) -> String {
    let mut i = 0;
    while b >= base && i + 1 < units.len() {
        b /= base;
        i += 1;
    }
    format!("{}{}", significant(b, digits), units[i])
}

/// `x` with `n` significant digits and no trailing zeros (Go's `%.{n}g` for the sizes
/// shown here).
fn significant(x: f64, n: i32) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let whole = x.abs().log10().floor() as i32 + 1;
    let decimals = (n - whole).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_dockers() {
        assert_eq!(binary_size(0.0), "0B");
        assert_eq!(binary_size(1536.0 * 1024.0), "1.5MiB");
        assert_eq!(decimal_size(2_500_000.0), "2.5MB");
    }

    #[test]
    fn cpu_percent_uses_the_previous_sample() {
        let v = json!({
            "id": "abcdef0123456789", "name": "/x",
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 2048, "limit": 4096, "stats": {"total_inactive_file": 0}},
            "pids_stats": {"current": 3},
        });
        let r = row(&v, false);
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemPerc"], "50.00%");
        assert_eq!(r["PIDs"], "3");
        assert_eq!(r["ID"], "abcdef012345");
    }
}
