//! `GET /containers/{id}/stats`: a container's figures from its cgroup, in docker's
//! JSON shape. Each answer is one read of the cgroup files (well under a millisecond);
//! the CPU figures of the previous answer for the same container are kept as
//! `precpu_stats`, so a client gets a CPU percentage from one call instead of waiting
//! a second for a second sample as dockerd does. With `stream` (the default) a line
//! follows every second until the container stops or the client goes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_cgroups::{Sampler, Scope, Stats};
use berth_engine::record::{Container, Status};
use berth_runtime::container::Runtime;
use serde_json::{json, Value};

use super::json;
use crate::error::ApiResult;
use crate::query::Query;
use crate::state::{blocking, Daemon};

/// Go's zero time, which dockerd sends for a sample that was not taken.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
/// The interval of a stream.
const INTERVAL: Duration = Duration::from_secs(1);

/// Per running container: a sampler that keeps its cgroup files open, and the CPU
/// figures and time of the last answer.
#[derive(Debug, Default)]
pub struct Samplers {
    map: Mutex<HashMap<String, Kept>>,
}

#[derive(Debug)]
struct Kept {
    /// The container's process when the sampler was made (a restart makes a new cgroup).
    pid: i32,
    sampler: Arc<Sampler>,
    last: Option<(String, Value)>,
}

impl Samplers {
    /// The sampler of running container `c`, made on its first sample.
    fn sampler(&self, runtime: &Runtime, c: &Container) -> Option<Arc<Sampler>> {
        if let Some(k) = self.lock().get(&c.id).filter(|k| k.pid == c.state.pid) {
            return Some(k.sampler.clone());
        }
        let sampler = Arc::new(runtime.sampler(&c.id).ok()?);
        let kept = Kept {
            pid: c.state.pid,
            sampler: sampler.clone(),
            last: None,
        };
        self.lock().insert(c.id.clone(), kept);
        Some(sampler)
    }

    /// Swaps in `(read, cpu)` for `id`; returns what was there.
    fn swap(&self, id: &str, read: String, cpu: Value) -> Option<(String, Value)> {
        let mut m = self.lock();
        m.get_mut(id)?.last.replace((read, cpu))
    }

    /// Forgets `id` (and closes its sampler's files).
    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Kept>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The host's CPU time in nanoseconds, as dockerd's `system_cpu_usage` (the `cpu` line
/// of /proc/stat, in clock ticks of 10 ms).
fn system_cpu_usage() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or_default();
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * (1_000_000_000 / hz)
}

/// The CPUs berthd may use, found once (finding them reads cgroup files).
fn online_cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn cpu_json(s: &Stats, system: u64) -> Value {
    let u = &s.cpu.usage;
    let percpu = if u.percpu.is_empty() {
        Value::Null
    } else {
        json!(u.percpu)
    };
    json!({
        "cpu_usage": {
            "total_usage": u.total,
            "percpu_usage": percpu,
            "usage_in_kernelmode": u.kernel,
            "usage_in_usermode": u.user,
        },
        "system_cpu_usage": system,
        "online_cpus": online_cpus(),
        "throttling_data": {
            "periods": s.cpu.throttling.periods,
            "throttled_periods": s.cpu.throttling.throttled_periods,
            "throttled_time": s.cpu.throttling.throttled_time,
        },
    })
}

fn empty_cpu() -> Value {
    json!({
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    })
}

fn blkio_json(s: &Stats) -> Value {
    let list = |v: &Vec<berth_cgroups::BlkioEntry>| -> Value {
        if v.is_empty() {
            return Value::Null;
        }
        json!(v
            .iter()
            .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op.to_lowercase(), "value": e.value}))
            .collect::<Vec<_>>())
    };
    let b = &s.blkio;
    json!({
        "io_service_bytes_recursive": list(&b.io_service_bytes_recursive),
        "io_serviced_recursive": list(&b.io_serviced_recursive),
        "io_queue_recursive": list(&b.io_queued_recursive),
        "io_service_time_recursive": list(&b.io_service_time_recursive),
        "io_wait_time_recursive": list(&b.io_wait_time_recursive),
        "io_merged_recursive": list(&b.io_merged_recursive),
        "io_time_recursive": list(&b.io_time_recursive),
        "sectors_recursive": list(&b.sectors_recursive),
    })
}

fn memory_json(s: &Stats) -> Value {
    let m = &s.memory;
    json!({
        "usage": m.usage.usage,
        "max_usage": m.usage.max,
        "stats": m.raw,
        "limit": m.usage.limit,
    })
}

/// One stats document for `c` (zeros for a container that does not run).
pub fn sample(d: &Daemon, c: &Container) -> Value {
    let name = format!("/{}", c.name);
    let running = c.state.status == Status::Running;
    let stats = running
        .then(|| d.samplers.sampler(&d.runtime, c))
        .flatten()
        .and_then(|s| s.stats(Scope::Docker).ok());
    let Some(s) = stats else {
        return json!({
            "read": ZERO_TIME, "preread": ZERO_TIME,
            "pids_stats": {}, "blkio_stats": blkio_json(&Stats::default()),
            "num_procs": 0, "storage_stats": {},
            "cpu_stats": empty_cpu(), "precpu_stats": empty_cpu(),
            "memory_stats": {}, "name": name, "id": c.id,
        });
    };
    let read = berth_runtime::state::rfc3339(SystemTime::now());
    let cpu = cpu_json(&s, system_cpu_usage());
    let (preread, precpu) = d
        .samplers
        .swap(&c.id, read.clone(), cpu.clone())
        .unwrap_or_else(|| (ZERO_TIME.to_string(), empty_cpu()));
    let limit = (s.pids.limit > 0).then_some(s.pids.limit);
    json!({
        "read": read,
        "preread": preread,
        "pids_stats": {"current": s.pids.current, "limit": limit},
        "blkio_stats": blkio_json(&s),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu,
        "precpu_stats": precpu,
        "memory_stats": memory_json(&s),
        "name": name,
        "id": c.id,
        "networks": {"lo": {
            "rx_bytes": 0, "rx_packets": 0, "rx_errors": 0, "rx_dropped": 0,
            "tx_bytes": 0, "tx_packets": 0, "tx_errors": 0, "tx_dropped": 0,
        }},
    })
}

/// `GET /containers/{id}/stats?stream=&one-shot=`.
pub async fn stats(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let stream = Query::parse(q.as_deref()).bool_or("stream", true);
    if !stream {
        let me = d.clone();
        let doc = blocking(move || Ok(sample(&me, &me.containers.find(&id)?))).await?;
        return Ok(json(StatusCode::OK, &doc));
    }
    let me = d.clone();
    let c = blocking(move || Ok(me.containers.find(&id)?)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let id = c.id.clone();
        loop {
            let me = d.clone();
            let cid = id.clone();
            let current = blocking(move || Ok(me.containers.load(&cid)?)).await;
            let Ok(current) = current else { break };
            let me = d.clone();
            let running = current.state.status == Status::Running;
            let doc = blocking(move || Ok(sample(&me, &current))).await;
            let Ok(doc) = doc else { break };
            let mut line = serde_json::to_vec(&doc).unwrap_or_default();
            line.push(b'\n');
            if tx.send(Ok(Bytes::from(line))).await.is_err() || !running {
                break;
            }
            tokio::time::sleep(INTERVAL).await;
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}
