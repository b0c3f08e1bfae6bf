//! Turning `linux.resources` into cgroup v2 file writes: `memory.max`, `cpu.weight`,
//! `cpu.max`, `io.max`, `hugetlb.<size>.max`, ... plus `unified` keys written verbatim.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::V2;
use crate::plan::Plan;
use crate::v1::apply::{check_usage, pids_max, rdma, throttle_lists};
use crate::{fs, Error, Result};

/// Errors for settings cgroup v2 cannot express or controllers the tree does not offer.
pub(super) fn check(v2: &V2, res: &LinuxResources) -> Result<()> {
    unsupported(res)?;
    let needed = controllers(res);
    if needed.is_empty() {
        return Ok(());
    }
    let file = v2.root.join("cgroup.controllers");
    let available = fs::read(&file)?;
    for (c, field) in needed {
        if !available.split_whitespace().any(|a| a == c) {
            let reason = format!(
                "cgroup v2 controller {c} is not available in {}",
                file.display()
            );
            return Err(Error::invalid(field, reason));
        }
    }
    Ok(())
}

/// Fields that only exist in cgroup v1.
fn unsupported(res: &LinuxResources) -> Result<()> {
    const NO: &str = "not supported on cgroup v2";
    if let Some(n) = res.network() {
        if n.class_id().is_some() {
            return Err(Error::invalid("linux.resources.network.classID", NO));
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(Error::invalid("linux.resources.network.priorities", NO));
        }
    }
    if let Some(c) = res.cpu() {
        if c.realtime_runtime().is_some_and(|v| v != 0) {
            return Err(Error::invalid("linux.resources.cpu.realtimeRuntime", NO));
        }
        if c.realtime_period().is_some_and(|v| v != 0) {
            return Err(Error::invalid("linux.resources.cpu.realtimePeriod", NO));
        }
    }
    Ok(())
}

/// The controllers `res` writes files of, each with the field that needs it.
pub(super) fn controllers(res: &LinuxResources) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut need = |c: &str, field: &str| {
        if !out.iter().any(|(have, _)| have == c) {
            out.push((c.to_string(), field.to_string()));
        }
    };
    // The structured fields map to files exactly as `plan` writes them; reuse it on a
    // scratch directory that has no files, so nothing is read from the real tree.
    let scratch = V2::new(Path::new(""), Path::new(""));
    if let Ok(p) = plan_structured(&scratch, res, false) {
        for w in &p.writes {
            if let Some(c) = controller_of(&w.path) {
                need(c, &w.field);
            }
        }
    }
    for key in res.unified().iter().flat_map(|u| u.keys()) {
        if let Some(c) = key.split('.').next().filter(|c| *c != "cgroup") {
            need(c, &format!("linux.resources.unified.{key}"));
        }
    }
    out
}

/// The controller a file belongs to (`memory` for `memory.max`), `None` for core files.
fn controller_of(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    name.split('.').next().filter(|c| *c != "cgroup")
}

/// Every write that applies `res`; reads current values where needed, writes nothing.
pub(super) fn plan(v2: &V2, res: &LinuxResources) -> Result<Plan> {
    let mut p = plan_structured(v2, res, true)?;
    for (key, value) in res.unified().iter().flatten() {
        p.push(
            v2.dir.join(key),
            value,
            format!("linux.resources.unified.{key}"),
        );
    }
    Ok(p)
}

/// The writes for the typed fields. With `read` false, nothing is read from disk (used to
/// find which controllers are needed before they are enabled).
fn plan_structured(v2: &V2, res: &LinuxResources, read: bool) -> Result<Plan> {
    let mut p = Plan::default();
    let dir = v2.dir.as_path();
    if let Some(m) = res.memory() {
        memory(dir, m, read, &mut p)?;
    }
    if let Some(c) = res.cpu() {
        cpu(dir, c, read, &mut p)?;
    }
    if let Some(l) = res.pids().map(|p| p.limit()).filter(|l| *l != 0) {
        p.push(
            dir.join("pids.max"),
            pids_max(l),
            "linux.resources.pids.limit",
        );
    }
    if let Some(b) = res.block_io() {
        block_io(dir, b, read, &mut p);
    }
    for h in res.hugepage_limits().iter().flatten() {
        let file = dir.join(format!("hugetlb.{}.max", h.page_size()));
        p.push(file, h.limit(), "linux.resources.hugepageLimits");
    }
    rdma(dir, res, &mut p);
    Ok(p)
}

/// `memory.max`, `memory.low`, `memory.swap.max`. kernel, kernelTCP, swappiness,
/// disableOOMKiller and useHierarchy have no v2 files and are ignored, as runc does.
fn memory(dir: &Path, m: &LinuxMemory, read: bool, p: &mut Plan) -> Result<()> {
    let limit = m.limit().filter(|v| *v != 0);
    if read && m.check_before_update() == Some(true) {
        check_usage(&dir.join("memory.current"), limit)?;
    }
    if let Some(l) = limit {
        p.push(
            dir.join("memory.max"),
            max_or(l),
            "linux.resources.memory.limit",
        );
    }
    if let Some(r) = m.reservation().filter(|v| *v != 0) {
        p.push(
            dir.join("memory.low"),
            max_or(r),
            "linux.resources.memory.reservation",
        );
    }
    if let Some(s) = m.swap().filter(|v| *v != 0) {
        p.push(
            dir.join("memory.swap.max"),
            swap_max(limit, s)?,
            "linux.resources.memory.swap",
        );
    }
    Ok(())
}

/// `max` for -1, else the number.
fn max_or(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// OCI swap is memory+swap; v2's `memory.swap.max` is swap alone.
pub(crate) fn swap_max(limit: Option<i64>, swap: i64) -> Result<String> {
    const FIELD: &str = "linux.resources.memory.swap";
    if swap == -1 {
        return Ok("max".to_string());
    }
    match limit {
        Some(l) if l > 0 && swap >= l => Ok((swap - l).to_string()),
        Some(l) if l > 0 => {
            let reason = format!("memory+swap total must be >= memory.limit ({l}), got {swap}");
            Err(Error::invalid(FIELD, reason))
        }
        _ => Err(Error::invalid(
            FIELD,
            "cannot be set without memory.limit on cgroup v2",
        )),
    }
}

/// v1 `cpu.shares` (2..262144) to v2 `cpu.weight` (1..10000).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

fn cpu(dir: &Path, c: &LinuxCpu, read: bool, p: &mut Plan) -> Result<()> {
    if let Some(s) = c.shares().filter(|v| *v != 0) {
        p.push(
            dir.join("cpu.weight"),
            shares_to_weight(s),
            "linux.resources.cpu.shares",
        );
    }
    if let Some(max) = cpu_max(dir, c, read)? {
        p.push(dir.join("cpu.max"), max, "linux.resources.cpu.quota");
    }
    if let Some(b) = c.burst() {
        p.push(dir.join("cpu.max.burst"), b, "linux.resources.cpu.burst");
    }
    if let Some(i) = c.idle() {
        p.push(dir.join("cpu.idle"), i, "linux.resources.cpu.idle");
    }
    if let Some(cpus) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
        p.push(dir.join("cpuset.cpus"), cpus, "linux.resources.cpu.cpus");
    }
    if let Some(mems) = c.mems().as_ref().filter(|s| !s.is_empty()) {
        p.push(dir.join("cpuset.mems"), mems, "linux.resources.cpu.mems");
    }
    Ok(())
}

/// `cpu.max` text: `quota period`, `quota` alone, or the current quota with a new period.
fn cpu_max(dir: &Path, c: &LinuxCpu, read: bool) -> Result<Option<String>> {
    let quota = c.quota().filter(|v| *v != 0).map(max_or);
    let period = c.period().filter(|v| *v != 0);
    Ok(match (quota, period) {
        (None, None) => None,
        (Some(q), None) => Some(q),
        (Some(q), Some(per)) => Some(format!("{q} {per}")),
        (None, Some(per)) if read => {
            let current = fs::read(&dir.join("cpu.max"))?;
            let q = current
                .split_whitespace()
                .next()
                .unwrap_or("max")
                .to_string();
            Some(format!("{q} {per}"))
        }
        (None, Some(per)) => Some(format!("max {per}")),
    })
}

/// v1 blkio weight (10..1000) to v2 `io.weight` (1..10000).
pub(crate) fn blkio_to_io_weight(w: u16) -> u64 {
    1 + (u64::from(w).saturating_sub(10) * 9999) / 990
}

/// `io.bfq.weight` takes blkio weights as they are; `io.weight` needs converting.
fn block_io(dir: &Path, b: &LinuxBlockIo, read: bool, p: &mut Plan) {
    let bfq = dir.join("io.bfq.weight");
    let (file, conv): (_, fn(u16) -> u64) = if read && bfq.exists() {
        (bfq, u64::from)
    } else {
        (dir.join("io.weight"), blkio_to_io_weight)
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        p.push(file.clone(), conv(w), "linux.resources.blockIO.weight");
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            let value = format!("{}:{} {}", d.major(), d.minor(), conv(w));
            p.push(file.clone(), value, "linux.resources.blockIO.weightDevice");
        }
    }
    for (list, t) in throttle_lists(b) {
        for d in list {
            let value = format!("{}:{} {}={}", d.major(), d.minor(), t.v2_key, d.rate());
            p.push(dir.join("io.max"), value, t.field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(swap_max(Some(100), 300).expect("swap"), "200");
        assert_eq!(swap_max(None, -1).expect("swap"), "max");
        assert!(swap_max(None, 300).is_err());
        assert!(swap_max(Some(300), 100).is_err());
    }
}
