//! `update`: new resource limits for a live container, from a JSON file or inline flags.

use std::io::Read;
use std::path::PathBuf;

use berth_runtime::container::Runtime;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

/// `update` flags.
#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    /// The container id.
    pub id: String,
    /// JSON file with linux.resources ("-" for stdin).
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Block I/O weight (10-1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds.
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CPU burst in microseconds.
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    /// CPU shares.
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// Realtime period in microseconds.
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime in microseconds.
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs allowed.
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit in bytes.
    #[arg(long)]
    pub memory: Option<i64>,
    /// Memory soft limit in bytes.
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<i64>,
    /// Memory plus swap limit in bytes.
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<i64>,
    /// Maximum number of processes.
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// Kernel memory limit (not supported).
    #[arg(long = "kernel-memory")]
    pub kernel_memory: Option<i64>,
    /// Intel RDT L3 cache schema (not supported).
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported).
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
}

/// Runs `update`.
pub fn run(rt: &Runtime, a: &UpdateArgs) -> anyhow::Result<()> {
    if a.kernel_memory.is_some() {
        anyhow::bail!(
            "--kernel-memory: kernel memory limits are not supported (deprecated by the kernel)"
        );
    }
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        anyhow::bail!("--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported");
    }
    let res = match &a.resources {
        Some(path) => read_resources(path)?,
        None => inline(a),
    };
    rt.update(&a.id, &res)?;
    Ok(())
}

fn read_resources(path: &PathBuf) -> anyhow::Result<LinuxResources> {
    let mut raw = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut raw)?;
    } else {
        raw = std::fs::read(path).map_err(|e| anyhow::anyhow!("read {}: {e}", path.display()))?;
    }
    let mut de = serde_json::Deserializer::from_slice(&raw);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| anyhow::anyhow!("{}: {}: {}", path.display(), e.path(), e.inner()))
}

fn inline(a: &UpdateArgs) -> LinuxResources {
    let mut res = LinuxResources::default();
    let mut cpu = LinuxCpu::default();
    cpu.set_period(a.cpu_period);
    cpu.set_quota(a.cpu_quota);
    cpu.set_burst(a.cpu_burst);
    cpu.set_shares(a.cpu_share);
    cpu.set_realtime_period(a.cpu_rt_period);
    cpu.set_realtime_runtime(a.cpu_rt_runtime);
    cpu.set_cpus(a.cpuset_cpus.clone());
    cpu.set_mems(a.cpuset_mems.clone());
    if cpu != LinuxCpu::default() {
        res.set_cpu(Some(cpu));
    }
    let mut mem = LinuxMemory::default();
    mem.set_limit(a.memory);
    mem.set_reservation(a.memory_reservation);
    mem.set_swap(a.memory_swap);
    if mem != LinuxMemory::default() {
        res.set_memory(Some(mem));
    }
    if let Some(limit) = a.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(limit);
        res.set_pids(Some(pids));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        res.set_block_io(Some(b));
    }
    res
}
