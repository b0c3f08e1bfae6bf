//! Pure range and syntax checks of `linux.resources`, run before any cgroup is created or
//! written. Every error names the config.json field. Zero means "not set" for the numeric
//! fields where runc treats it so (shares, quota, period, limits, weights).

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxMemory, LinuxNetwork,
    LinuxResources,
};

use crate::{Error, Result};

/// Checks every value in `res` against the ranges the kernel and the runtime spec accept.
pub fn validate_resources(res: &LinuxResources) -> Result<()> {
    if let Some(m) = res.memory() {
        memory(m)?;
    }
    if let Some(c) = res.cpu() {
        cpu(c)?;
    }
    if let Some(b) = res.block_io() {
        block_io(b)?;
    }
    for h in res.hugepage_limits().iter().flatten() {
        hugepage(h)?;
    }
    if let Some(n) = res.network() {
        network(n)?;
    }
    for name in res.rdma().iter().flat_map(|r| r.keys()) {
        plain_word("linux.resources.rdma", name)?;
    }
    for d in res.devices().iter().flatten() {
        device(d)?;
    }
    for key in res.unified().iter().flat_map(|u| u.keys()) {
        unified_key(key)?;
    }
    Ok(())
}

/// Error unless `lo <= v <= hi`.
fn between(field: &'static str, v: i64, lo: i64, hi: i64) -> Result<()> {
    if (lo..=hi).contains(&v) {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!("must be between {lo} and {hi}, got {v}"),
    ))
}

/// Error unless `v` is -1 (unlimited) or non-negative.
fn limit(field: &'static str, v: Option<i64>) -> Result<()> {
    match v {
        Some(v) if v < -1 => Err(Error::invalid(field, format!("must be >= -1, got {v}"))),
        _ => Ok(()),
    }
}

fn memory(m: &LinuxMemory) -> Result<()> {
    limit("linux.resources.memory.limit", m.limit())?;
    limit("linux.resources.memory.reservation", m.reservation())?;
    limit("linux.resources.memory.swap", m.swap())?;
    limit("linux.resources.memory.kernel", m.kernel())?;
    limit("linux.resources.memory.kernelTCP", m.kernel_tcp())?;
    if let Some(s) = m.swappiness() {
        between("linux.resources.memory.swappiness", clamp(s), 0, 100)?;
    }
    if let (Some(l), Some(s)) = (m.limit(), m.swap()) {
        if l > 0 && s > 0 && s < l {
            let reason = format!("memory+swap total must be >= memory.limit ({l}), got {s}");
            return Err(Error::invalid("linux.resources.memory.swap", reason));
        }
    }
    Ok(())
}

/// Converts an unsigned spec value to i64 for range checks, saturating.
fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn cpu(c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        between("linux.resources.cpu.shares", clamp(s), 2, 262_144)?;
    }
    if let Some(q) = c.quota().filter(|q| *q != 0 && *q != -1) {
        between("linux.resources.cpu.quota", q, 1000, i64::MAX / 1000)?;
    }
    if let Some(p) = c.period().filter(|p| *p != 0) {
        between("linux.resources.cpu.period", clamp(p), 1000, 1_000_000)?;
    }
    limit("linux.resources.cpu.realtimeRuntime", c.realtime_runtime())?;
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        between(
            "linux.resources.cpu.realtimePeriod",
            clamp(p),
            1,
            i64::from(i32::MAX),
        )?;
    }
    if let Some(i) = c.idle() {
        between("linux.resources.cpu.idle", i, 0, 1)?;
    }
    cpu_list("linux.resources.cpu.cpus", c.cpus().as_deref())?;
    cpu_list("linux.resources.cpu.mems", c.mems().as_deref())
}

/// Checks a cpuset list such as `0-3,5`.
fn cpu_list(field: &'static str, list: Option<&str>) -> Result<()> {
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Ok(());
    };
    let ok = list.trim().split(',').all(|part| {
        let mut ends = part.splitn(2, '-');
        ends.all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    if ok {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!("must be a list like \"0-3,5\", got {list:?}"),
    ))
}

fn block_io(b: &LinuxBlockIo) -> Result<()> {
    weight("linux.resources.blockIO.weight", b.weight())?;
    weight("linux.resources.blockIO.leafWeight", b.leaf_weight())?;
    for d in b.weight_device().iter().flatten() {
        dev_number("linux.resources.blockIO.weightDevice", d.major(), d.minor())?;
        weight("linux.resources.blockIO.weightDevice.weight", d.weight())?;
        weight(
            "linux.resources.blockIO.weightDevice.leafWeight",
            d.leaf_weight(),
        )?;
    }
    for (list, t) in crate::v1::apply::throttle_lists(b) {
        for d in list {
            dev_number(t.field, d.major(), d.minor())?;
        }
    }
    Ok(())
}

/// A blkio weight: 0 (unset) or 10..=1000.
fn weight(field: &'static str, w: Option<u16>) -> Result<()> {
    match w.filter(|w| *w != 0) {
        Some(w) => between(field, i64::from(w), 10, 1000),
        None => Ok(()),
    }
}

/// A device number pair must fit the kernel's 32-bit major and minor.
fn dev_number(field: &'static str, major: i64, minor: i64) -> Result<()> {
    between(field, major, 0, i64::from(u32::MAX))?;
    between(field, minor, 0, i64::from(u32::MAX))
}

fn hugepage(h: &LinuxHugepageLimit) -> Result<()> {
    const FIELD: &str = "linux.resources.hugepageLimits.pageSize";
    let size = h.page_size();
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &size[digits.len()..];
    let unit_ok = matches!(unit, "B" | "KB" | "MB" | "GB" | "TB" | "PB");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || !unit_ok {
        return Err(Error::invalid(
            FIELD,
            format!("must look like \"2MB\", got {size:?}"),
        ));
    }
    if h.limit() < 0 {
        let reason = format!("must be >= 0, got {}", h.limit());
        return Err(Error::invalid(
            "linux.resources.hugepageLimits.limit",
            reason,
        ));
    }
    Ok(())
}

fn network(n: &LinuxNetwork) -> Result<()> {
    for p in n.priorities().iter().flatten() {
        plain_word("linux.resources.network.priorities.name", p.name())?;
    }
    Ok(())
}

/// A name written into a cgroup file line: non-empty, no whitespace or control characters.
fn plain_word(field: &'static str, s: &str) -> Result<()> {
    if !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!("must be a non-empty name without spaces, got {s:?}"),
    ))
}

fn device(d: &LinuxDeviceCgroup) -> Result<()> {
    if let Some(a) = d.access().as_deref() {
        if !a.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            let reason = format!("must contain only r, w and m, got {a:?}");
            return Err(Error::invalid("linux.resources.devices.access", reason));
        }
    }
    for (field, n) in [
        ("linux.resources.devices.major", d.major()),
        ("linux.resources.devices.minor", d.minor()),
    ] {
        if let Some(n) = n {
            between(field, n, -1, i64::from(u32::MAX))?;
        }
    }
    Ok(())
}

/// A `unified` key must be a plain cgroup file name such as `memory.high`.
fn unified_key(key: &str) -> Result<()> {
    let plain = !key.is_empty() && !key.contains('/') && key != "." && key != "..";
    if plain && key.contains('.') {
        return Ok(());
    }
    let field = format!("linux.resources.unified.{key}");
    Err(Error::invalid(
        field,
        "must be a cgroup file name like \"memory.high\"",
    ))
}
