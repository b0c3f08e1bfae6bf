//! cgroup v2 controller files against a FAKE tree: the unified tree on this host has no
//! controllers, so the files a real v2 cgroup would have are created in a tempdir and the
//! test checks what the manager wrote (and, for stats, what it read). Placement, freezing,
//! killing and devices are tested on the real unified tree (conformance.rs, v2_devices.rs).

mod common;

use std::path::{Path, PathBuf};

use berth_cgroups::{Manager, Version};
use common::{read, res};

const CONTROLLERS: &str = "cpuset cpu io memory hugetlb pids rdma misc";

/// A fake unified tree with `berth/ctr` below the root; returns (tempdir, root, ctr dir).
fn fake_tree(controllers: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    let ctr = root.join("berth/ctr");
    std::fs::create_dir_all(&ctr).expect("mkdir");
    for dir in [root.clone(), root.join("berth"), ctr.clone()] {
        write(&dir, "cgroup.controllers", controllers);
        write(&dir, "cgroup.subtree_control", "");
        write(&dir, "cgroup.procs", "");
    }
    let files = [
        ("memory.max", "max"),
        ("memory.low", "0"),
        ("memory.high", "max"),
        ("memory.swap.max", "max"),
        ("memory.current", "1000"),
        ("cpu.weight", "100"),
        ("cpu.max", "max 100000"),
        ("cpu.max.burst", "0"),
        ("cpu.idle", "0"),
        ("cpuset.cpus", ""),
        ("cpuset.mems", ""),
        ("pids.max", "max"),
        ("io.weight", "default 100"),
        ("io.max", ""),
        ("hugetlb.2MB.max", "max"),
        ("hugetlb.1GB.max", "max"),
        ("rdma.max", ""),
    ];
    for (name, content) in files {
        write(&ctr, name, content);
    }
    (tmp, root, ctr)
}

fn write(dir: &Path, name: &str, content: &str) {
    std::fs::write(dir.join(name), content).expect("write fake file");
}

fn manager(root: &Path) -> Manager {
    Manager::with_version(root, Path::new("/berth/ctr"), Version::V2).expect("manager")
}

#[test]
fn resources_are_written_to_v2_files() {
    let (_tmp, root, ctr) = fake_tree(CONTROLLERS);
    let m = manager(&root);
    assert_eq!(m.version(), Version::V2);
    m.create().expect("create is a no-op on an existing dir");
    let json = r#"{
        "memory":{"limit":104857600,"reservation":52428800,"swap":209715200},
        "cpu":{"shares":1024,"quota":50000,"period":100000,"burst":2000,"idle":0,"cpus":"0-1","mems":"0"},
        "pids":{"limit":64},
        "blockIO":{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":1000}],
                   "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}]},
        "hugepageLimits":[{"pageSize":"2MB","limit":4194304}],
        "rdma":{"mlx5_0":{"hcaHandles":3}},
        "unified":{"memory.high":"94371840"}
    }"#;
    m.validate(&res(json)).expect("validate");
    m.apply(&res(json)).expect("apply");
    let get = |f: &str| read(&ctr.join(f));
    assert_eq!(get("memory.max"), "104857600");
    assert_eq!(get("memory.low"), "52428800");
    assert_eq!(
        get("memory.swap.max"),
        "104857600",
        "swap.max = memory+swap - limit"
    );
    assert_eq!(get("cpu.weight"), "39");
    assert_eq!(get("cpu.max"), "50000 100000");
    assert_eq!(get("cpu.max.burst"), "2000");
    assert_eq!(get("cpuset.cpus"), "0-1");
    assert_eq!(get("cpuset.mems"), "0");
    assert_eq!(get("pids.max"), "64");
    assert_eq!(
        get("io.weight"),
        "8:0 10000",
        "device weight written after the default (5045)"
    );
    assert_eq!(get("io.max"), "8:0 rbps=1048576");
    assert_eq!(get("hugetlb.2MB.max"), "4194304");
    assert_eq!(get("rdma.max"), "mlx5_0 hca_handle=3 hca_object=max");
    assert_eq!(get("memory.high"), "94371840", "unified keys override");
    for dir in [root.clone(), root.join("berth")] {
        let enabled = read(&dir.join("cgroup.subtree_control"));
        for c in [
            "+memory", "+cpu", "+cpuset", "+pids", "+io", "+hugetlb", "+rdma",
        ] {
            assert!(
                enabled.split(' ').any(|e| e == c),
                "{c} in {}: {enabled}",
                dir.display()
            );
        }
    }
    assert_eq!(
        get("cgroup.subtree_control"),
        "",
        "the leaf enables nothing"
    );
}

#[test]
fn period_alone_keeps_the_quota_and_unlimited_is_max() {
    let (_tmp, root, ctr) = fake_tree(CONTROLLERS);
    let m = manager(&root);
    write(&ctr, "cpu.max", "20000 100000");
    m.apply(&res(r#"{"cpu":{"period":50000}}"#)).expect("apply");
    assert_eq!(read(&ctr.join("cpu.max")), "20000 50000");
    m.apply(&res(
        r#"{"cpu":{"quota":-1},"memory":{"limit":-1,"swap":-1},"pids":{"limit":-1}}"#,
    ))
    .expect("apply");
    assert_eq!(read(&ctr.join("cpu.max")), "max");
    assert_eq!(read(&ctr.join("memory.max")), "max");
    assert_eq!(read(&ctr.join("memory.swap.max")), "max");
    assert_eq!(read(&ctr.join("pids.max")), "max");
}

#[test]
fn io_bfq_weight_is_used_unconverted_when_present() {
    let (_tmp, root, ctr) = fake_tree(CONTROLLERS);
    write(&ctr, "io.bfq.weight", "default 100");
    manager(&root)
        .apply(&res(r#"{"blockIO":{"weight":300}}"#))
        .expect("apply");
    assert_eq!(read(&ctr.join("io.bfq.weight")), "300");
    assert_eq!(read(&ctr.join("io.weight")), "default 100");
}

#[test]
fn missing_controllers_and_v1_only_fields_fail_before_writing() {
    let (_tmp, root, ctr) = fake_tree("cpu memory pids");
    let m = manager(&root);
    let cases = [
        (
            r#"{"memory":{"limit":1048576},"hugepageLimits":[{"pageSize":"2MB","limit":0}]}"#,
            "linux.resources.hugepageLimits: cgroup v2 controller hugetlb is not available",
        ),
        (
            r#"{"memory":{"limit":1048576},"network":{"classID":7}}"#,
            "linux.resources.network.classID: not supported on cgroup v2",
        ),
        (
            r#"{"memory":{"limit":1048576},"cpu":{"realtimeRuntime":1000}}"#,
            "linux.resources.cpu.realtimeRuntime: not supported on cgroup v2",
        ),
        (
            r#"{"memory":{"limit":1048576},"unified":{"io.latency":"8:0 target=10"}}"#,
            "linux.resources.unified.io.latency: cgroup v2 controller io is not available",
        ),
        (
            r#"{"memory":{"swap":1048576}}"#,
            "linux.resources.memory.swap: cannot be set without memory.limit on cgroup v2",
        ),
    ];
    for (json, want) in cases {
        let err = m.apply(&res(json)).expect_err(json);
        assert!(err.to_string().starts_with(want), "{err}");
        assert_eq!(
            read(&ctr.join("memory.max")),
            "max",
            "nothing written for {json}"
        );
        assert_eq!(
            read(&root.join("cgroup.subtree_control")),
            "",
            "nothing enabled for {json}"
        );
    }
}

#[test]
fn an_unknown_unified_key_names_the_key() {
    let (_tmp, root, _ctr) = fake_tree(CONTROLLERS);
    let err = manager(&root)
        .apply(&res(r#"{"unified":{"memory.nonexistent":"1"}}"#))
        .expect_err("no such file");
    assert!(
        err.to_string()
            .starts_with("linux.resources.unified.memory.nonexistent: write"),
        "{err}"
    );
}

#[test]
fn stats_are_read_from_v2_files() {
    let (_tmp, root, ctr) = fake_tree(CONTROLLERS);
    let files = [
        ("cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 10\nnr_throttled 3\nthrottled_usec 700\n"),
        ("memory.current", "4096000"), ("memory.max", "104857600"), ("memory.peak", "5000000"),
        ("memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n"),
        ("memory.stat", "anon 1000\nfile 2000\nkernel 300\n"),
        ("memory.swap.current", "1000"), ("memory.swap.max", "max"),
        ("pids.current", "3"), ("pids.max", "64"),
        ("io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"),
        ("hugetlb.2MB.current", "2097152"), ("hugetlb.2MB.max", "4194304"),
        ("hugetlb.2MB.events", "max 2\n"),
    ];
    for (name, content) in files {
        write(&ctr, name, content);
    }
    let s = manager(&root).stats().expect("stats");
    assert_eq!(
        (s.cpu.usage.total, s.cpu.usage.user, s.cpu.usage.kernel),
        (2_500_000, 2_000_000, 500_000)
    );
    assert_eq!(s.cpu.throttling.throttled_periods, 3);
    assert_eq!(s.cpu.throttling.throttled_time, 700_000);
    assert_eq!(s.memory.usage.usage, 4_096_000);
    assert_eq!(s.memory.usage.limit, 104_857_600);
    assert_eq!(s.memory.usage.max, 5_000_000);
    assert_eq!(s.memory.usage.failcnt, 4);
    assert_eq!(
        s.memory.swap.usage, 4_097_000,
        "swap is memory+swap as in v1"
    );
    assert_eq!(s.memory.cache, 2000);
    assert_eq!(s.memory.raw["anon"], 1000);
    assert_eq!((s.pids.current, s.pids.limit), (3, 64));
    let bytes = &s.blkio.io_service_bytes_recursive;
    assert!(bytes
        .iter()
        .any(|e| (e.major, e.minor, e.op.as_str(), e.value) == (8, 0, "Read", 4096)));
    assert!(s
        .blkio
        .io_serviced_recursive
        .iter()
        .any(|e| e.op == "Write" && e.value == 2));
    let h = &s.hugetlb["2MB"];
    assert_eq!((h.usage, h.max, h.failcnt), (2_097_152, 4_194_304, 2));
    let d = manager(&root)
        .stats_of(berth_cgroups::Scope::Docker)
        .expect("docker's stats");
    assert_eq!(d.memory.usage, s.memory.usage);
    assert_eq!(d.blkio, s.blkio);
    assert!(d.hugetlb.is_empty(), "left out");
    let sampler = manager(&root).sampler();
    assert_eq!(
        sampler.stats(berth_cgroups::Scope::Full).expect("sample"),
        s
    );
    write(&ctr, "memory.current", "5000");
    let again = sampler.stats(berth_cgroups::Scope::Docker).expect("sample");
    assert_eq!(again.memory.usage.usage, 5000, "a kept file is read anew");
    let json = serde_json::to_value(&s).expect("json");
    assert_eq!(json["cpu"]["throttling"]["throttledPeriods"], 3);
    assert_eq!(json["blkio"]["ioServiceBytesRecursive"][0]["op"], "Read");
}
