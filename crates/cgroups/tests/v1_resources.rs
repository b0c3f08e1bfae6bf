//! cgroup v1 resources on the real hierarchies: values are applied and read back from the
//! kernel, limits are ordered correctly when raised and lowered, device rules are enforced,
//! and bad or unsupported values fail with the field named before anything is created.

mod common;

use std::path::Path;

use berth_cgroups::Error;
use common::{dir_of, read, res, run_in, unique, Cleanup};

const MIB: i64 = 1024 * 1024;

fn created(tag: &str) -> (berth_cgroups::Manager, Cleanup) {
    let m = common::v1(&unique(tag));
    m.create().expect("create");
    (m.clone(), Cleanup(m))
}

#[test]
fn memory_limits_in_both_orders() {
    let (m, _g) = created("mem");
    let mem = dir_of(&m, "memory");
    let get = |f: &str| read(&mem.join(f));
    let apply = |limit: i64, swap: i64| {
        let json = format!(
            r#"{{"memory":{{"limit":{limit},"swap":{swap},"reservation":{}}}}}"#,
            limit / 2
        );
        m.apply(&res(&json)).expect("apply memory");
        assert_eq!(get("memory.limit_in_bytes"), limit.to_string());
        assert_eq!(get("memory.memsw.limit_in_bytes"), swap.to_string());
        assert_eq!(get("memory.soft_limit_in_bytes"), (limit / 2).to_string());
    };
    apply(64 * MIB, 128 * MIB);
    apply(256 * MIB, 512 * MIB); // raising: memsw must go first
    apply(32 * MIB, 48 * MIB); // lowering: limit must go first
    m.apply(&res(
        r#"{"memory":{"swappiness":10,"disableOOMKiller":true}}"#,
    ))
    .expect("apply");
    assert_eq!(get("memory.swappiness"), "10");
    assert!(get("memory.oom_control").contains("oom_kill_disable 1"));
}

#[test]
fn check_before_update_refuses_a_limit_below_usage() {
    let (m, _g) = created("membefore");
    let _kid = common::joined(&m, "exec sleep 300");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let err = m
        .apply(&res(
            r#"{"memory":{"limit":4096,"checkBeforeUpdate":true}}"#,
        ))
        .expect_err("limit below usage");
    assert!(
        err.to_string().starts_with("linux.resources.memory.limit:"),
        "{err}"
    );
    assert_ne!(
        read(&dir_of(&m, "memory").join("memory.limit_in_bytes")),
        "4096"
    );
}

#[test]
fn cpu_cpuset_pids() {
    let (m, _g) = created("cpu");
    let json = r#"{"cpu":{"shares":512,"quota":50000,"period":100000,"burst":1000,
        "realtimePeriod":1000000,"realtimeRuntime":10000,"cpus":"0","mems":"0"},"pids":{"limit":10}}"#;
    m.apply(&res(json)).expect("apply");
    let cpu = dir_of(&m, "cpu");
    assert_eq!(read(&cpu.join("cpu.shares")), "512");
    assert_eq!(read(&cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(&cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(&cpu.join("cpu.cfs_burst_us")), "1000");
    assert_eq!(read(&cpu.join("cpu.rt_runtime_us")), "10000");
    let cpuset = dir_of(&m, "cpuset");
    assert_eq!(read(&cpuset.join("cpuset.cpus")), "0");
    assert_eq!(read(&cpuset.join("cpuset.mems")), "0");
    assert_eq!(read(&dir_of(&m, "pids").join("pids.max")), "10");
    m.apply(&res(r#"{"pids":{"limit":-1},"cpu":{"quota":-1,"idle":1}}"#))
        .expect("update");
    assert_eq!(read(&dir_of(&m, "pids").join("pids.max")), "max");
    assert_eq!(read(&cpu.join("cpu.cfs_quota_us")), "-1");
    assert_eq!(read(&cpu.join("cpu.idle")), "1");
}

#[test]
fn nested_cpuset_is_seeded_from_parents() {
    let m = common::v1(&unique("cpuset").join("a/b"));
    let _g = Cleanup(common::v1(&unique("cpuset")));
    m.create().expect("create");
    let dir = dir_of(&m, "cpuset");
    let root_cpus = read(Path::new("/sys/fs/cgroup/cpuset/cpuset.cpus"));
    assert_eq!(read(&dir.join("cpuset.cpus")), root_cpus);
    assert!(!read(&dir.join("cpuset.mems")).is_empty());
    let kid = common::sleeper();
    m.add_process(kid.pid())
        .expect("a task can join the seeded cpuset");
}

/// `major:minor` of the first virtio/SCSI/NVMe disk, else any block device.
fn a_block_device() -> String {
    let mut devs: Vec<_> = std::fs::read_dir("/sys/block")
        .expect("/sys/block")
        .flatten()
        .collect();
    devs.sort_by_key(|e| e.file_name().to_string_lossy().starts_with("loop"));
    read(&devs.first().expect("some block device").path().join("dev"))
}

#[test]
fn blkio_weight_and_throttle() {
    let (m, _g) = created("blkio");
    let dir = dir_of(&m, "blkio");
    let dev = a_block_device();
    let (maj, min) = dev.split_once(':').expect("maj:min");
    let json = format!(
        r#"{{"blockIO":{{"weight":500,"throttleReadBpsDevice":[{{"major":{maj},"minor":{min},"rate":1048576}}],
        "throttleWriteIOPSDevice":[{{"major":{maj},"minor":{min},"rate":100}}]}}}}"#
    );
    let weight_file = ["blkio.weight", "blkio.bfq.weight"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists());
    match weight_file {
        Some(file) => {
            m.apply(&res(&json)).expect("apply");
            assert!(
                read(&file).ends_with("500"),
                "{}: {}",
                file.display(),
                read(&file)
            );
        }
        None => {
            eprintln!(
                "NOTE: no blkio.weight or blkio.bfq.weight on this kernel: checking the error"
            );
            let err = m.apply(&res(&json)).expect_err("weight unsupported");
            assert!(
                err.to_string()
                    .starts_with("linux.resources.blockIO.weight:"),
                "{err}"
            );
            m.apply(&res(&json.replace(r#""weight":500,"#, "")))
                .expect("apply throttles");
        }
    }
    assert_eq!(
        read(&dir.join("blkio.throttle.read_bps_device")),
        format!("{dev} 1048576")
    );
    assert_eq!(
        read(&dir.join("blkio.throttle.write_iops_device")),
        format!("{dev} 100")
    );
}

#[test]
fn devices_are_written_in_order_and_enforced() {
    let (m, _g) = created("devices");
    let json = r#"{"devices":[{"allow":false,"access":"rwm"},
        {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
        {"allow":true,"type":"c","major":1,"minor":5,"access":"r"}]}"#;
    m.apply(&res(json)).expect("apply");
    let list = read(&dir_of(&m, "devices").join("devices.list"));
    assert_eq!(list, "c 1:3 rwm\nc 1:5 r");
    assert!(run_in(&m, ": < /dev/null").success());
    assert!(run_in(&m, ": < /dev/zero").success());
    assert!(
        !run_in(&m, ": > /dev/zero").success(),
        "write to /dev/zero denied"
    );
    assert!(!run_in(&m, ": < /dev/full").success(), "/dev/full denied");
}

#[test]
fn out_of_range_values_name_the_field_and_create_nothing() {
    let m = common::v1(&unique("invalid"));
    let _g = Cleanup(m.clone());
    let cases = [
        (
            r#"{"cpu":{"shares":1}}"#,
            "linux.resources.cpu.shares: must be between 2 and 262144, got 1",
        ),
        (
            r#"{"memory":{"limit":-5}}"#,
            "linux.resources.memory.limit: must be >= -1, got -5",
        ),
        (
            r#"{"memory":{"swappiness":101}}"#,
            "linux.resources.memory.swappiness: must be between 0 and 100, got 101",
        ),
        (
            r#"{"cpu":{"period":10}}"#,
            "linux.resources.cpu.period: must be between 1000 and 1000000, got 10",
        ),
        (
            r#"{"cpu":{"cpus":"0-a"}}"#,
            "linux.resources.cpu.cpus: must be a list like \"0-3,5\", got \"0-a\"",
        ),
        (
            r#"{"blockIO":{"weight":5}}"#,
            "linux.resources.blockIO.weight: must be between 10 and 1000, got 5",
        ),
        (
            r#"{"devices":[{"allow":true,"access":"rwx"}]}"#,
            "linux.resources.devices.access: must contain only r, w and m, got \"rwx\"",
        ),
        (
            r#"{"unified":{"../x":"1"}}"#,
            "linux.resources.unified.../x: must be a cgroup file name like \"memory.high\"",
        ),
    ];
    for (json, want) in cases {
        let err = m.validate(&res(json)).expect_err(json);
        assert_eq!(err.to_string(), want);
        assert!(matches!(err, Error::InvalidResource { .. }));
    }
    assert!(!m.exists(), "validation creates nothing");
}

#[test]
fn unsupported_settings_fail_before_any_write() {
    let (m, _g) = created("unsupported");
    let limit_file = dir_of(&m, "memory").join("memory.limit_in_bytes");
    let before = read(&limit_file);
    let cases = [
        (
            r#"{"memory":{"limit":33554432},"unified":{"memory.high":"1"}}"#,
            "linux.resources.unified.memory.high:",
        ),
        (
            r#"{"memory":{"limit":33554432},"hugepageLimits":[{"pageSize":"2MB","limit":0}]}"#,
            "linux.resources.hugepageLimits:",
        ),
        (
            r#"{"memory":{"limit":33554432},"network":{"classID":1}}"#,
            "linux.resources.network.classID:",
        ),
        (
            r#"{"memory":{"limit":33554432},"cpu":{"shares":1}}"#,
            "linux.resources.cpu.shares:",
        ),
    ];
    for (json, prefix) in cases {
        let err = m.apply(&res(json)).expect_err(json);
        assert!(err.to_string().starts_with(prefix), "{err}");
        assert_eq!(read(&limit_file), before, "nothing written for {json}");
    }
}

#[test]
fn relative_and_absolute_paths_land_in_the_same_place() {
    let abs = common::v1(&unique("paths"));
    let rel_name = unique("paths");
    let rel = common::v1(Path::new(
        rel_name.to_str().expect("utf8").trim_start_matches('/'),
    ));
    assert_eq!(abs.paths(), rel.paths());
    assert!(
        abs.paths()
            .iter()
            .any(|p| p.starts_with("/sys/fs/cgroup/unified")),
        "hybrid joins unified"
    );
    let bad = berth_cgroups::Manager::new(Path::new(common::ROOT), Path::new("/a/../../etc"));
    assert!(bad
        .expect_err("..")
        .to_string()
        .starts_with("linux.cgroupsPath"));
}

#[test]
fn stats_of_a_running_process() {
    let (m, _g) = created("stats");
    m.apply(&res(
        r#"{"memory":{"limit":268435456},"pids":{"limit":50}}"#,
    ))
    .expect("apply");
    let _kid = common::joined(&m, "exec sh -c 'while :; do :; done'");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let s = m.stats().expect("stats");
    assert!(s.cpu.usage.total > 50_000_000, "{:?}", s.cpu);
    let ncpu = std::thread::available_parallelism().map_or(1, usize::from);
    assert!(s.cpu.usage.percpu.len() >= ncpu, "{:?}", s.cpu.usage.percpu);
    assert_eq!(s.cpu.usage.percpu.iter().sum::<u64>(), s.cpu.usage.total);
    assert!(s.memory.usage.usage > 0);
    assert_eq!(s.memory.usage.limit, 268_435_456);
    assert!(s.memory.raw.contains_key("rss"));
    assert_eq!((s.pids.current, s.pids.limit), (1, 50));
    let json = serde_json::to_value(&s).expect("json");
    assert_eq!(json["memory"]["usage"]["limit"], 268_435_456);
    assert!(json["memory"].get("kernelTCP").is_some());
    let d = m
        .stats_of(berth_cgroups::Scope::Docker)
        .expect("docker's stats");
    assert!(d.cpu.usage.total >= s.cpu.usage.total);
    assert!(
        d.cpu.usage.user + d.cpu.usage.kernel > 0,
        "{:?}",
        d.cpu.usage
    );
    assert_eq!(d.cpu.usage.percpu.len(), s.cpu.usage.percpu.len());
    assert!(d.cpu.usage.percpu_user.is_empty(), "left out");
    assert_eq!(d.memory.usage.limit, 268_435_456);
    assert!(d.memory.raw.contains_key("rss"));
    assert_eq!(
        d.memory.swap,
        berth_cgroups::MemoryEntry::default(),
        "left out"
    );
    assert_eq!((d.pids.current, d.pids.limit), (1, 50));
    let sampler = m.sampler();
    let first = sampler.stats(berth_cgroups::Scope::Docker).expect("sample");
    std::thread::sleep(std::time::Duration::from_millis(50));
    let second = sampler.stats(berth_cgroups::Scope::Docker).expect("sample");
    assert!(first.cpu.usage.total >= d.cpu.usage.total);
    assert!(
        second.cpu.usage.total > first.cpu.usage.total,
        "a kept file is read anew"
    );
    assert_eq!(second.memory.usage.limit, 268_435_456);
    assert_eq!((second.pids.current, second.pids.limit), (1, 50));
    assert_eq!(
        second.memory.raw.keys().collect::<Vec<_>>(),
        d.memory.raw.keys().collect::<Vec<_>>()
    );
}

/// This host has swap accounting, so a host without it is imitated by a FAKE v1 tree whose
/// memory hierarchy lacks `memory.memsw.*`.
#[test]
fn swap_without_swap_accounting_is_refused_up_front() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let memory = tmp.path().join("memory");
    std::fs::create_dir(&memory).expect("mkdir");
    std::fs::write(memory.join("cgroup.procs"), "").expect("write");
    let m = berth_cgroups::Manager::with_version(
        tmp.path(),
        Path::new("/c"),
        berth_cgroups::Version::V1,
    )
    .expect("manager");
    let err = m
        .validate(&res(r#"{"memory":{"limit":1048576,"swap":2097152}}"#))
        .expect_err("no memsw");
    assert!(
        err.to_string()
            .starts_with("linux.resources.memory.swap: swap accounting"),
        "{err}"
    );
    m.validate(&res(r#"{"memory":{"limit":1048576,"swap":-1}}"#))
        .expect("unlimited swap is fine");
    let err = m
        .validate(&res(r#"{"pids":{"limit":5}}"#))
        .expect_err("pids not mounted");
    assert_eq!(
        err.to_string(),
        "linux.resources.pids.limit: the cgroup v1 pids controller is not mounted"
    );
}
