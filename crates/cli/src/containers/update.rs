//! `berth update`: new limits or restart policy for containers (a running one's take
//! effect at once).

use serde_json::json;

use super::{each_with, opts, path_part};
use crate::client::{Client, Query};

/// `update` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Memory limit
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    /// The containers
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `update`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let mut body = json!({});
    if let Some(m) = &a.memory {
        body["Memory"] = json!(opts::memory(m)?);
    }
    if let Some(n) = &a.cpus {
        body["NanoCpus"] = json!(opts::nano_cpus(n)?);
    }
    if let Some(p) = a.pids_limit {
        body["PidsLimit"] = json!(p);
    }
    if let Some(r) = &a.restart {
        let (name, count) = r.split_once(':').unwrap_or((r, "0"));
        let count: i64 = count
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid restart policy: {r}"))?;
        body["RestartPolicy"] = json!({"Name": name, "MaximumRetryCount": count});
    }
    Ok(each_with(&a.containers, |name| {
        c.post_json(
            &format!("/containers/{}/update", path_part(name)),
            Query::new(),
            Some(&body),
        )
        .map(drop)
    }))
}
