//! Statistics from cgroup v2 files (`cpu.stat`, `memory.*`, `pids.*`, `io.stat`,
//! `hugetlb.<size>.*`). Files of controllers that are not enabled leave their part zero.

use std::path::Path;

use super::dir::Dir;
use super::{dev_numbers, Blkio, BlkioEntry, Cpu, Hugetlb, Memory, MemoryEntry, Scope, Stats};
use crate::fs::{flat_keyed, keyed_value, parse_error};
use crate::{Error, Result};

/// Reads the statistics `scope` names that the cgroup's files offer.
pub(crate) fn read(dir: &dyn Dir, scope: Scope) -> Result<Stats> {
    let mut s = Stats::default();
    if let Some(stat) = dir.read_opt("cpu.stat")? {
        s.cpu = cpu(&stat);
    }
    if dir.has("memory.current") {
        s.memory = memory(dir)?;
    }
    s.pids = super::v1::pids(dir)?;
    if let Some(io) = dir.read_opt("io.stat")? {
        s.blkio = io_stat(&dir.path().join("io.stat"), &io)?;
    }
    if scope == Scope::Docker {
        return Ok(s);
    }
    for size in page_sizes(dir.path(), ".max")? {
        let f = |name: &str| format!("hugetlb.{size}.{name}");
        let events = dir.read_opt(&f("events"))?.unwrap_or_default();
        let h = Hugetlb {
            usage: dir.read_u64(&f("current"))?,
            max: dir.read_u64(&f("max"))?,
            failcnt: keyed_value(&events, "max").unwrap_or(0),
        };
        s.hugetlb.insert(size, h);
    }
    Ok(s)
}

fn cpu(stat: &str) -> Cpu {
    let us = |key| keyed_value(stat, key).unwrap_or(0).saturating_mul(1000);
    let mut c = Cpu::default();
    c.usage.total = us("usage_usec");
    c.usage.user = us("user_usec");
    c.usage.kernel = us("system_usec");
    c.throttling.periods = keyed_value(stat, "nr_periods").unwrap_or(0);
    c.throttling.throttled_periods = keyed_value(stat, "nr_throttled").unwrap_or(0);
    c.throttling.throttled_time = us("throttled_usec");
    c
}

/// Memory use; `swap` is memory+swap, as in v1, so the numbers compare across versions.
fn memory(dir: &dyn Dir) -> Result<Memory> {
    let events = dir.read_opt("memory.events")?.unwrap_or_default();
    let usage = MemoryEntry {
        limit: dir.read_u64("memory.max")?,
        usage: dir.read_u64("memory.current")?,
        max: dir.read_u64("memory.peak")?,
        failcnt: keyed_value(&events, "max").unwrap_or(0),
    };
    let swap_events = dir.read_opt("memory.swap.events")?.unwrap_or_default();
    let swap = MemoryEntry {
        limit: dir.read_u64("memory.swap.max")?.saturating_add(usage.limit),
        usage: dir
            .read_u64("memory.swap.current")?
            .saturating_add(usage.usage),
        max: 0,
        failcnt: keyed_value(&swap_events, "max").unwrap_or(0),
    };
    let mut m = Memory {
        usage,
        swap,
        ..Memory::default()
    };
    if let Some(stat) = dir.read_opt("memory.stat")? {
        m.raw = flat_keyed(&stat).map(|(k, v)| (k.to_string(), v)).collect();
    }
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    Ok(m)
}

/// `io.stat` lines `maj:min rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N`.
fn io_stat(path: &Path, content: &str) -> Result<Blkio> {
    let mut b = Blkio::default();
    for line in content.lines().filter(|l| !l.is_empty()) {
        let mut fields = line.split_whitespace();
        let dev = fields
            .next()
            .and_then(dev_numbers)
            .ok_or_else(|| parse_error(path, line))?;
        for kv in fields {
            let (key, value) = kv.split_once('=').ok_or_else(|| parse_error(path, line))?;
            let value: u64 = value.parse().map_err(|_| parse_error(path, line))?;
            let (list, op) = match key {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "dbytes" => (&mut b.io_service_bytes_recursive, "Discard"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                "dios" => (&mut b.io_serviced_recursive, "Discard"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major: dev.0,
                minor: dev.1,
                op: op.to_string(),
                value,
            });
        }
    }
    Ok(b)
}

/// The page sizes with a `hugetlb.<size><suffix>` file in `dir`.
pub(crate) fn page_sizes(dir: &Path, suffix: &str) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(Error::io("read directory", dir))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io("read directory", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let size = name
            .strip_prefix("hugetlb.")
            .and_then(|n| n.strip_suffix(suffix));
        if let Some(size) = size.filter(|s| !s.contains('.')) {
            out.push(size.to_string());
        }
    }
    out.sort();
    Ok(out)
}
