//! Turning `linux.resources` into v1 controller file writes. [`check`] refuses settings for
//! controllers that are not mounted; [`plan`] works out every write (reading current values
//! where the order of writes depends on them) before anything is written.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxNetwork, LinuxResources, LinuxThrottleDevice,
};

use super::V1;
use crate::plan::Plan;
use crate::{devices, fs, Error, Result};

/// Errors unless every controller that `res` sets a value for is mounted, and `unified` is empty.
pub(super) fn check(v1: &V1, res: &LinuxResources) -> Result<()> {
    if let Some(key) = res.unified().iter().flat_map(|u| u.keys()).next() {
        let field = format!("linux.resources.unified.{key}");
        return Err(Error::invalid(
            field,
            "cgroup v2 files cannot be set on a cgroup v1 host",
        ));
    }
    for (controller, field) in requested(res) {
        if v1.dir(controller).is_none() {
            let reason = format!("the cgroup v1 {controller} controller is not mounted");
            return Err(Error::invalid(field, reason));
        }
    }
    check_swap_accounting(v1, res)
}

/// A swap limit needs `memory.memsw.*`, which exists only with swap accounting enabled.
fn check_swap_accounting(v1: &V1, res: &LinuxResources) -> Result<()> {
    let swap = res.memory().as_ref().and_then(|m| m.swap());
    let Some(mount) = v1.mount("memory").filter(|_| swap.is_some_and(|s| s > 0)) else {
        return Ok(());
    };
    if mount.join("memory.memsw.limit_in_bytes").exists() {
        return Ok(());
    }
    let reason = "swap accounting is not enabled (no memory.memsw.limit_in_bytes)";
    Err(Error::invalid("linux.resources.memory.swap", reason))
}

/// The controllers `res` needs, each with the first field that needs it.
fn requested(res: &LinuxResources) -> Vec<(&'static str, &'static str)> {
    let net = res.network().as_ref();
    let prio = net.and_then(|n| n.priorities().as_ref());
    let cpu = res.cpu().as_ref();
    let candidates = [
        (
            res.memory().as_ref().is_some_and(memory_requested),
            "memory",
            "linux.resources.memory",
        ),
        (cpu.is_some_and(cpu_requested), "cpu", "linux.resources.cpu"),
        (
            cpu.is_some_and(|c| non_empty(c.cpus())),
            "cpuset",
            "linux.resources.cpu.cpus",
        ),
        (
            cpu.is_some_and(|c| non_empty(c.mems())),
            "cpuset",
            "linux.resources.cpu.mems",
        ),
        (
            res.pids().is_some_and(|p| p.limit() != 0),
            "pids",
            "linux.resources.pids.limit",
        ),
        (
            res.block_io().as_ref().is_some_and(blkio_requested),
            "blkio",
            "linux.resources.blockIO",
        ),
        (
            has_items(res.hugepage_limits()),
            "hugetlb",
            "linux.resources.hugepageLimits",
        ),
        (
            net.is_some_and(|n| n.class_id().is_some()),
            "net_cls",
            "linux.resources.network.classID",
        ),
        (
            prio.is_some_and(|p| !p.is_empty()),
            "net_prio",
            "linux.resources.network.priorities",
        ),
        (
            res.rdma().as_ref().is_some_and(|r| !r.is_empty()),
            "rdma",
            "linux.resources.rdma",
        ),
        (
            has_items(res.devices()),
            "devices",
            "linux.resources.devices",
        ),
    ];
    candidates
        .into_iter()
        .filter(|(wanted, _, _)| *wanted)
        .map(|(_, controller, field)| (controller, field))
        .collect()
}

fn has_items<T>(list: &Option<Vec<T>>) -> bool {
    list.as_ref().is_some_and(|l| !l.is_empty())
}

fn non_empty(s: &Option<String>) -> bool {
    s.as_ref().is_some_and(|s| !s.is_empty())
}

fn memory_requested(m: &LinuxMemory) -> bool {
    let set = |v: Option<i64>| v.is_some_and(|v| v != 0);
    set(m.limit())
        || set(m.reservation())
        || set(m.swap())
        || set(m.kernel())
        || set(m.kernel_tcp())
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true)
        || m.use_hierarchy().is_some()
}

fn cpu_requested(c: &LinuxCpu) -> bool {
    c.shares().is_some_and(|v| v != 0)
        || c.quota().is_some_and(|v| v != 0)
        || c.period().is_some_and(|v| v != 0)
        || c.realtime_runtime().is_some_and(|v| v != 0)
        || c.realtime_period().is_some_and(|v| v != 0)
        || c.idle().is_some()
        || c.burst().is_some()
}

fn blkio_requested(b: &LinuxBlockIo) -> bool {
    b.weight().is_some_and(|w| w != 0)
        || b.leaf_weight().is_some_and(|w| w != 0)
        || has_items(b.weight_device())
        || has_items(b.throttle_read_bps_device())
        || has_items(b.throttle_write_bps_device())
        || has_items(b.throttle_read_iops_device())
        || has_items(b.throttle_write_iops_device())
}

/// Every write that applies `res`, in a safe order. Nothing is written.
pub(super) fn plan(v1: &V1, res: &LinuxResources) -> Result<Plan> {
    check(v1, res)?;
    let mut p = Plan::default();
    if let (Some(m), Some(dir)) = (res.memory(), v1.dir("memory")) {
        memory(dir, m, &mut p)?;
    }
    if let Some(c) = res.cpu() {
        if let Some(dir) = v1.dir("cpu") {
            cpu(dir, c, &mut p);
        }
        if let Some(dir) = v1.dir("cpuset") {
            cpuset(dir, c, &mut p);
        }
    }
    if let (Some(pids), Some(dir)) = (res.pids(), v1.dir("pids")) {
        if pids.limit() != 0 {
            p.push(
                dir.join("pids.max"),
                pids_max(pids.limit()),
                "linux.resources.pids.limit",
            );
        }
    }
    if let (Some(b), Some(dir)) = (res.block_io(), v1.dir("blkio")) {
        block_io(dir, b, &mut p)?;
    }
    other(v1, res, &mut p);
    Ok(p)
}

/// `pids.max` text: a positive limit, or `max` for -1.
pub(crate) fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    }
}

fn memory(dir: &Path, m: &LinuxMemory, p: &mut Plan) -> Result<()> {
    let limit = m.limit().filter(|v| *v != 0);
    if m.check_before_update() == Some(true) {
        check_usage(&dir.join("memory.usage_in_bytes"), limit)?;
    }
    limit_and_swap(dir, limit, m.swap().filter(|v| *v != 0), p)?;
    let f = |name: &str| dir.join(name);
    let reservation = m.reservation().filter(|v| *v != 0);
    let field = "linux.resources.memory.reservation";
    p.push_opt(f("memory.soft_limit_in_bytes"), reservation, field);
    kmem(dir, m, p);
    let field = "linux.resources.memory.swappiness";
    p.push_opt(f("memory.swappiness"), m.swappiness(), field);
    let disable = m.disable_oom_killer().filter(|d| *d).map(|_| 1);
    let field = "linux.resources.memory.disableOOMKiller";
    p.push_opt(f("memory.oom_control"), disable, field);
    let field = "linux.resources.memory.useHierarchy";
    p.push_opt(
        f("memory.use_hierarchy"),
        m.use_hierarchy().map(u8::from),
        field,
    );
    Ok(())
}

/// Kernel memory limits are deprecated; they are set only where the kernel still has the files.
fn kmem(dir: &Path, m: &LinuxMemory, p: &mut Plan) {
    let kmem = [
        (m.kernel(), "memory.kmem.limit_in_bytes", "kernel"),
        (
            m.kernel_tcp(),
            "memory.kmem.tcp.limit_in_bytes",
            "kernelTCP",
        ),
    ];
    for (v, file, name) in kmem {
        let file = dir.join(file);
        if let Some(v) = v.filter(|v| *v != 0 && file.exists()) {
            p.push(file, v, format!("linux.resources.memory.{name}"));
        }
    }
}

/// With `checkBeforeUpdate`, refuses a limit below what the cgroup already uses.
pub(crate) fn check_usage(usage_file: &Path, limit: Option<i64>) -> Result<()> {
    let Some(limit) = limit.and_then(|l| u64::try_from(l).ok()) else {
        return Ok(());
    };
    let usage = fs::read_u64(usage_file)?;
    if usage > limit {
        let reason = format!("{limit} is below the current usage {usage} (checkBeforeUpdate)");
        return Err(Error::invalid("linux.resources.memory.limit", reason));
    }
    Ok(())
}

/// Orders `memory.limit_in_bytes` and `memory.memsw.limit_in_bytes` so memsw >= limit holds
/// after each write: swap first when raising the limit, limit first when lowering it.
fn limit_and_swap(dir: &Path, limit: Option<i64>, swap: Option<i64>, p: &mut Plan) -> Result<()> {
    const LIMIT: &str = "linux.resources.memory.limit";
    const SWAP: &str = "linux.resources.memory.swap";
    let limit_file = dir.join("memory.limit_in_bytes");
    let swap_file = dir.join("memory.memsw.limit_in_bytes");
    let has_swap = swap_file.exists();
    let swap = match swap {
        Some(-1) if !has_swap => None,
        Some(_) if !has_swap => {
            let reason = "swap accounting is not enabled (no memory.memsw.limit_in_bytes)";
            return Err(Error::invalid(SWAP, reason));
        }
        None if limit == Some(-1) && has_swap => Some(-1),
        s => s,
    };
    match (limit, swap) {
        (Some(l), Some(s)) if raising(&limit_file, l)? => {
            p.push(swap_file, s, SWAP);
            p.push(limit_file, l, LIMIT);
        }
        (Some(l), Some(s)) => {
            p.push(limit_file, l, LIMIT);
            p.push(swap_file, s, SWAP);
        }
        (Some(l), None) => p.push(limit_file, l, LIMIT),
        (None, Some(s)) => p.push(swap_file, s, SWAP),
        (None, None) => {}
    }
    Ok(())
}

/// Whether `limit` is above the current limit (-1, unlimited, is above everything).
fn raising(limit_file: &Path, limit: i64) -> Result<bool> {
    let Ok(limit) = u64::try_from(limit) else {
        return Ok(true);
    };
    Ok(limit > fs::read_u64(limit_file)?)
}

fn cpu(dir: &Path, c: &LinuxCpu, p: &mut Plan) {
    let f = |name: &str| dir.join(name);
    if let Some(s) = c.shares().filter(|v| *v != 0) {
        p.push(f("cpu.shares"), s, "linux.resources.cpu.shares");
    }
    if let Some(v) = c.period().filter(|v| *v != 0) {
        p.push(f("cpu.cfs_period_us"), v, "linux.resources.cpu.period");
    }
    if let Some(v) = c.quota().filter(|v| *v != 0) {
        p.push(f("cpu.cfs_quota_us"), v, "linux.resources.cpu.quota");
    }
    if let Some(v) = c.burst() {
        p.push(f("cpu.cfs_burst_us"), v, "linux.resources.cpu.burst");
    }
    if let Some(v) = c.realtime_period().filter(|v| *v != 0) {
        p.push(
            f("cpu.rt_period_us"),
            v,
            "linux.resources.cpu.realtimePeriod",
        );
    }
    if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
        p.push(
            f("cpu.rt_runtime_us"),
            v,
            "linux.resources.cpu.realtimeRuntime",
        );
    }
    if let Some(v) = c.idle() {
        p.push(f("cpu.idle"), v, "linux.resources.cpu.idle");
    }
}

fn cpuset(dir: &Path, c: &LinuxCpu, p: &mut Plan) {
    if let Some(cpus) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
        p.push(dir.join("cpuset.cpus"), cpus, "linux.resources.cpu.cpus");
    }
    if let Some(mems) = c.mems().as_ref().filter(|s| !s.is_empty()) {
        p.push(dir.join("cpuset.mems"), mems, "linux.resources.cpu.mems");
    }
}

fn block_io(dir: &Path, b: &LinuxBlockIo, p: &mut Plan) -> Result<()> {
    const WEIGHT: [&str; 2] = ["blkio.weight", "blkio.bfq.weight"];
    const WEIGHT_DEV: [&str; 2] = ["blkio.weight_device", "blkio.bfq.weight_device"];
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let field = "linux.resources.blockIO.weight";
        p.push(first_existing(dir, &WEIGHT, field)?, w, field);
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        let field = "linux.resources.blockIO.leafWeight";
        p.push(
            first_existing(dir, &["blkio.leaf_weight"], field)?,
            w,
            field,
        );
    }
    for d in b.weight_device().iter().flatten() {
        let (maj, min) = (d.major(), d.minor());
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            let field = "linux.resources.blockIO.weightDevice.weight";
            p.push(
                first_existing(dir, &WEIGHT_DEV, field)?,
                format!("{maj}:{min} {w}"),
                field,
            );
        }
        if let Some(w) = d.leaf_weight().filter(|w| *w != 0) {
            let field = "linux.resources.blockIO.weightDevice.leafWeight";
            let file = first_existing(dir, &["blkio.leaf_weight_device"], field)?;
            p.push(file, format!("{maj}:{min} {w}"), field);
        }
    }
    throttles(dir, b, p);
    Ok(())
}

fn throttles(dir: &Path, b: &LinuxBlockIo, p: &mut Plan) {
    for (list, t) in throttle_lists(b) {
        for d in list {
            let value = format!("{}:{} {}", d.major(), d.minor(), d.rate());
            p.push(dir.join(t.v1_file), value, t.field);
        }
    }
}

/// One kind of block I/O throttle: its spec field, v1 file and v2 `io.max` key.
pub(crate) struct Throttle {
    pub field: &'static str,
    pub v1_file: &'static str,
    pub v2_key: &'static str,
}

const THROTTLES: [Throttle; 4] = [
    Throttle {
        field: "linux.resources.blockIO.throttleReadBpsDevice",
        v1_file: "blkio.throttle.read_bps_device",
        v2_key: "rbps",
    },
    Throttle {
        field: "linux.resources.blockIO.throttleWriteBpsDevice",
        v1_file: "blkio.throttle.write_bps_device",
        v2_key: "wbps",
    },
    Throttle {
        field: "linux.resources.blockIO.throttleReadIOPSDevice",
        v1_file: "blkio.throttle.read_iops_device",
        v2_key: "riops",
    },
    Throttle {
        field: "linux.resources.blockIO.throttleWriteIOPSDevice",
        v1_file: "blkio.throttle.write_iops_device",
        v2_key: "wiops",
    },
];

/// The four throttle lists of `b`, each with its [`Throttle`] names.
pub(crate) fn throttle_lists(
    b: &LinuxBlockIo,
) -> impl Iterator<Item = (&[LinuxThrottleDevice], &'static Throttle)> {
    let lists = [
        b.throttle_read_bps_device(),
        b.throttle_write_bps_device(),
        b.throttle_read_iops_device(),
        b.throttle_write_iops_device(),
    ];
    lists
        .into_iter()
        .map(|l| l.as_deref().unwrap_or_default())
        .zip(THROTTLES.iter())
}

/// The first of `names` that exists in `dir`, or an error naming `field`.
fn first_existing(dir: &Path, names: &[&str], field: &'static str) -> Result<PathBuf> {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
        .ok_or_else(|| {
            let reason = format!(
                "the kernel has none of {} in {}",
                names.join(", "),
                dir.display()
            );
            Error::invalid(field, reason)
        })
}

/// hugetlb, net_cls, net_prio, rdma and devices.
fn other(v1: &V1, res: &LinuxResources, p: &mut Plan) {
    if let Some(dir) = v1.dir("hugetlb") {
        for h in res.hugepage_limits().iter().flatten() {
            let file = dir.join(format!("hugetlb.{}.limit_in_bytes", h.page_size()));
            p.push(file, h.limit(), "linux.resources.hugepageLimits");
        }
    }
    if let Some(net) = res.network() {
        network(v1, net, p);
    }
    if let Some(dir) = v1.dir("rdma") {
        rdma(dir, res, p);
    }
    if let (Some(list), Some(dir)) = (res.devices(), v1.dir("devices")) {
        for rule in devices::rules(list) {
            let file = if rule.allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            p.push_record(dir.join(file), rule.v1_line(), "linux.resources.devices");
        }
    }
}

fn network(v1: &V1, net: &LinuxNetwork, p: &mut Plan) {
    if let (Some(id), Some(dir)) = (net.class_id(), v1.dir("net_cls")) {
        p.push(
            dir.join("net_cls.classid"),
            id,
            "linux.resources.network.classID",
        );
    }
    if let Some(dir) = v1.dir("net_prio") {
        for prio in net.priorities().iter().flatten() {
            let value = format!("{} {}", prio.name(), prio.priority());
            let field = "linux.resources.network.priorities";
            p.push(dir.join("net_prio.ifpriomap"), value, field);
        }
    }
}

/// `rdma.max` lines, shared with v2 (same file format).
pub(crate) fn rdma(dir: &Path, res: &LinuxResources, p: &mut Plan) {
    for (dev, limit) in res.rdma().iter().flatten() {
        let num = |v: Option<u32>| v.map_or("max".to_string(), |v| v.to_string());
        let value = format!(
            "{dev} hca_handle={} hca_object={}",
            num(limit.hca_handles()),
            num(limit.hca_objects())
        );
        p.push(dir.join("rdma.max"), value, "linux.resources.rdma");
    }
}
