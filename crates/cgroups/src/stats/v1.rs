//! Statistics from cgroup v1 controller files (`cpuacct.*`, `cpu.stat`, `memory.*`,
//! `pids.*`, `blkio.*`, `hugetlb.*`). A controller that is not mounted leaves its part zero.

use super::dir::Dir;
use super::{
    dev_numbers, Blkio, BlkioEntry, Cpu, Hugetlb, Memory, MemoryEntry, Pids, Scope, Stats,
};
use crate::fs::{flat_keyed, keyed_value, parse_error};
use crate::v1::V1;
use crate::Result;

/// Reads the statistics `scope` names that the mounted controllers offer.
pub(crate) fn read(v1: &V1, scope: Scope) -> Result<Stats> {
    read_dirs(|c| v1.dir_buf(c).map(|p| p as &dyn Dir), scope)
}

/// Reads the statistics `scope` names from the controllers' directories `dir_of` gives.
pub(crate) fn read_dirs<'a>(
    dir_of: impl Fn(&str) -> Option<&'a dyn Dir>,
    scope: Scope,
) -> Result<Stats> {
    let v1 = dir_of;
    let mut s = Stats::default();
    if let Some(dir) = v1("cpuacct") {
        cpuacct(dir, &mut s.cpu, scope)?;
    }
    if let Some(dir) = v1("cpu") {
        throttling(dir, &mut s.cpu)?;
    }
    if let Some(dir) = v1("memory") {
        s.memory = memory(dir, scope)?;
    }
    if let Some(dir) = v1("pids") {
        s.pids = pids(dir)?;
    }
    if let Some(dir) = v1("blkio") {
        s.blkio = blkio(dir)?;
    }
    match v1("hugetlb") {
        Some(dir) if scope == Scope::Full => hugetlb(dir, &mut s)?,
        _ => {}
    }
    Ok(s)
}

fn cpuacct(dir: &dyn Dir, cpu: &mut Cpu, scope: Scope) -> Result<()> {
    let u = &mut cpu.usage;
    u.total = dir.read_u64("cpuacct.usage")?;
    u.percpu = numbers(dir, "cpuacct.usage_percpu")?;
    if scope == Scope::Full {
        u.percpu_kernel = numbers(dir, "cpuacct.usage_percpu_sys")?;
        u.percpu_user = numbers(dir, "cpuacct.usage_percpu_user")?;
    }
    if scope == Scope::Docker {
        if let Some(stat) = dir.read_opt("cpuacct.stat")? {
            let tick = clock_tick_ns();
            u.user = keyed_value(&stat, "user").unwrap_or(0).saturating_mul(tick);
            u.kernel = keyed_value(&stat, "system")
                .unwrap_or(0)
                .saturating_mul(tick);
        }
    } else if dir.has("cpuacct.usage_user") {
        u.user = dir.read_u64("cpuacct.usage_user")?;
        u.kernel = dir.read_u64("cpuacct.usage_sys")?;
    } else if let Some(stat) = dir.read_opt("cpuacct.stat")? {
        let tick = clock_tick_ns();
        u.user = keyed_value(&stat, "user").unwrap_or(0).saturating_mul(tick);
        u.kernel = keyed_value(&stat, "system")
            .unwrap_or(0)
            .saturating_mul(tick);
    }
    Ok(())
}

/// Nanoseconds per `USER_HZ` tick (the unit of `cpuacct.stat`).
fn clock_tick_ns() -> u64 {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100);
    1_000_000_000 / u64::try_from(hz).unwrap_or(100).max(1)
}

/// A whitespace-separated list of numbers; a missing file is empty.
fn numbers(dir: &dyn Dir, name: &str) -> Result<Vec<u64>> {
    let Some(s) = dir.read_opt(name)? else {
        return Ok(Vec::new());
    };
    s.split_whitespace()
        .map(|n| {
            n.parse()
                .map_err(|_| parse_error(&dir.path().join(name), n))
        })
        .collect()
}

fn throttling(dir: &dyn Dir, cpu: &mut Cpu) -> Result<()> {
    let Some(stat) = dir.read_opt("cpu.stat")? else {
        return Ok(());
    };
    let t = &mut cpu.throttling;
    t.periods = keyed_value(&stat, "nr_periods").unwrap_or(0);
    t.throttled_periods = keyed_value(&stat, "nr_throttled").unwrap_or(0);
    t.throttled_time = keyed_value(&stat, "throttled_time").unwrap_or(0);
    Ok(())
}

fn memory(dir: &dyn Dir, scope: Scope) -> Result<Memory> {
    let mut m = Memory {
        usage: memory_entry(dir, "memory")?,
        ..Memory::default()
    };
    if scope == Scope::Full {
        m.swap = memory_entry(dir, "memory.memsw")?;
        m.kernel = memory_entry(dir, "memory.kmem")?;
        m.kernel_tcp = memory_entry(dir, "memory.kmem.tcp")?;
    }
    if let Some(stat) = dir.read_opt("memory.stat")? {
        m.raw = flat_keyed(&stat).map(|(k, v)| (k.to_string(), v)).collect();
    }
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    Ok(m)
}

fn memory_entry(dir: &dyn Dir, prefix: &str) -> Result<MemoryEntry> {
    let f = |name: &str| dir.read_u64(&format!("{prefix}.{name}"));
    Ok(MemoryEntry {
        limit: f("limit_in_bytes")?,
        usage: f("usage_in_bytes")?,
        max: f("max_usage_in_bytes")?,
        failcnt: f("failcnt")?,
    })
}

/// `pids.current` and `pids.max` (`max` reads as 0, unlimited); shared with v2.
pub(crate) fn pids(dir: &dyn Dir) -> Result<Pids> {
    let limit = dir.read_u64("pids.max")?;
    Ok(Pids {
        current: dir.read_u64("pids.current")?,
        limit: if limit == u64::MAX { 0 } else { limit },
    })
}

fn blkio(dir: &dyn Dir) -> Result<Blkio> {
    // CFQ/BFQ-era proportional files first, the throttle layer's counters otherwise.
    let pick = |name: &str| -> Result<Vec<BlkioEntry>> {
        let v = blkio_file(dir, &format!("blkio.{name}"))?;
        if v.is_empty() {
            return blkio_file(dir, &format!("blkio.throttle.{name}"));
        }
        Ok(v)
    };
    let f = |name: &str| blkio_file(dir, &format!("blkio.{name}"));
    Ok(Blkio {
        io_service_bytes_recursive: pick("io_service_bytes_recursive")?,
        io_serviced_recursive: pick("io_serviced_recursive")?,
        io_queued_recursive: f("io_queued_recursive")?,
        io_service_time_recursive: f("io_service_time_recursive")?,
        io_wait_time_recursive: f("io_wait_time_recursive")?,
        io_merged_recursive: f("io_merged_recursive")?,
        io_time_recursive: f("time_recursive")?,
        sectors_recursive: f("sectors_recursive")?,
    })
}

/// Lines `major:minor [Op] value`; the closing `Total N` line is skipped.
fn blkio_file(dir: &dyn Dir, name: &str) -> Result<Vec<BlkioEntry>> {
    let Some(content) = dir.read_opt(name)? else {
        return Ok(Vec::new());
    };
    let path = &dir.path().join(name);
    let mut out = Vec::new();
    for line in content
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("Total"))
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (dev, op, value) = match fields.as_slice() {
            [dev, op, value] => (*dev, *op, *value),
            [dev, value] => (*dev, "", *value),
            _ => return Err(parse_error(path, line)),
        };
        let (major, minor) = dev_numbers(dev).ok_or_else(|| parse_error(path, line))?;
        let value = value.parse().map_err(|_| parse_error(path, line))?;
        out.push(BlkioEntry {
            major,
            minor,
            op: op.to_string(),
            value,
        });
    }
    Ok(out)
}

fn hugetlb(dir: &dyn Dir, s: &mut Stats) -> Result<()> {
    for size in super::v2::page_sizes(dir.path(), ".limit_in_bytes")? {
        let f = |name: &str| dir.read_u64(&format!("hugetlb.{size}.{name}"));
        let h = Hugetlb {
            usage: f("usage_in_bytes")?,
            max: f("max_usage_in_bytes")?,
            failcnt: f("failcnt")?,
        };
        s.hugetlb.insert(size, h);
    }
    Ok(())
}
