//! What a container sees from the inside, checked by the probe: identity, hostname,
//! capabilities, seccomp, masked and read-only paths, rlimits, process attributes, sysctls,
//! devices and mounts.

mod common;

use common::{Bundle, Runtime};
use serde_json::{json, Value};

fn probe(bundle: &mut Bundle, args: &[&str]) -> Value {
    Runtime::new().run_probe(bundle, args)
}

#[test]
fn hostname_and_domainname() {
    let mut b = Bundle::busybox();
    b.spec_mut()["hostname"] = json!("box-1");
    b.spec_mut()["domainname"] = json!("example.test");
    let r = probe(&mut b, &["hostname"]);
    assert_eq!(r["hostname"], "box-1", "{r}");
    assert_eq!(r["domainname"], "example.test", "{r}");
}

#[test]
fn user_groups_and_umask() {
    let mut b = Bundle::busybox();
    b.spec_mut()["process"]["user"] =
        json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 63});
    let r = probe(&mut b, &["ids"]);
    assert_eq!(
        (r["uid"].as_u64(), r["euid"].as_u64()),
        (Some(1000), Some(1000)),
        "{r}"
    );
    assert_eq!(
        (r["gid"].as_u64(), r["egid"].as_u64()),
        (Some(1001), Some(1001)),
        "{r}"
    );
    let groups: Vec<u64> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert!(groups.contains(&10) && groups.contains(&20), "{r}");
    assert_eq!(r["umask"].as_u64(), Some(63), "{r}");
}

/// The capability mask of a list of capability numbers.
fn mask(bits: &[u32]) -> String {
    format!("{:016x}", bits.iter().fold(0u64, |m, b| m | (1 << b)))
}

#[test]
fn capability_sets_match_the_spec() {
    let mut b = Bundle::busybox();
    // CAP_CHOWN 0, CAP_KILL 5, CAP_NET_BIND_SERVICE 10, CAP_NET_RAW 13.
    let caps = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "inheritable": ["CAP_KILL"],
        "ambient": []
    });
    b.spec_mut()["process"]["capabilities"] = caps;
    let r = probe(&mut b, &["caps"]);
    assert_eq!(r["CapBnd"], mask(&[0, 5, 10, 13]), "{r}");
    assert_eq!(r["CapPrm"], mask(&[0, 5, 10]), "{r}");
    // execve as root makes the effective set the permitted one (runc shows the same).
    assert_eq!(r["CapEff"], mask(&[0, 5, 10]), "{r}");
    assert_eq!(r["CapInh"], mask(&[5]), "{r}");
    assert_eq!(r["CapAmb"], mask(&[]), "{r}");
    assert_eq!(r["NoNewPrivs"], 1, "{r}");
}

#[test]
fn ambient_capabilities_for_a_non_root_user() {
    let mut b = Bundle::busybox();
    let set = json!(["CAP_NET_BIND_SERVICE"]);
    b.spec_mut()["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.spec_mut()["process"]["capabilities"] = json!({
        "bounding": set, "permitted": set, "effective": set, "inheritable": set, "ambient": set
    });
    let r = probe(&mut b, &["caps"]);
    assert_eq!(r["CapAmb"], mask(&[10]), "{r}");
    assert_eq!(r["CapEff"], mask(&[10]), "{r}");
}

#[test]
fn seccomp_refuses_with_the_configured_errno() {
    let mut b = Bundle::busybox();
    b.spec_mut()["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
        ]
    });
    let r = probe(&mut b, &["syscall", "keyctl"]);
    assert_eq!(r["errno"], 38, "{r}");
    let r = probe(&mut b, &["syscall", "personality", "8"]);
    assert_eq!(r["errno"], 1, "{r}");
    let r = probe(&mut b, &["syscall", "personality", "0"]);
    assert_eq!(r["ok"], true, "{r}");
    let r = probe(&mut b, &["caps"]);
    assert_eq!(r["Seccomp"], 2, "{r}");
}

#[test]
fn dockers_default_seccomp_profile_loads() {
    let profile =
        std::fs::read(common::images_dir().join("../reference/docker-default-seccomp.json"))
            .expect("read ../shared/reference/docker-default-seccomp.json");
    let caps: Vec<String> = berth_runtime::seccomp::DOCKER_DEFAULT_CAPS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let seccomp =
        berth_runtime::seccomp::docker_profile(&profile, &caps, "amd64").expect("convert profile");
    let mut b = Bundle::busybox();
    b.spec_mut()["linux"]["seccomp"] = serde_json::to_value(&seccomp).unwrap();
    b.spec_mut()["process"]["noNewPrivileges"] = json!(false);
    b.spec_mut()["process"]["capabilities"] = json!({
        "bounding": caps, "permitted": caps, "effective": caps
    });
    let r = probe(&mut b, &["syscall", "unshare-user"]);
    assert_eq!(
        r["errno"], 1,
        "unshare(CLONE_NEWUSER) must be refused with EPERM: {r}"
    );
    let r = probe(&mut b, &["syscall", "getpid"]);
    assert_eq!(r["ok"], true, "{r}");
}

#[test]
fn masked_paths_and_read_only_paths() {
    let mut b = Bundle::busybox();
    // /proc/keys exists on this kernel and is in runc's default masked paths.
    let r = probe(&mut b, &["read", "/proc/keys"]);
    assert_eq!(r["data"], "", "/proc/keys readable: {r}");
    let r = probe(&mut b, &["stat", "/proc/keys"]);
    assert_eq!(
        (r["major"].as_u64(), r["minor"].as_u64()),
        (Some(1), Some(3)),
        "not masked by /dev/null: {r}"
    );
    let r = probe(&mut b, &["write", "/proc/acpi/x", "x"]);
    assert_eq!(r["ok"], false, "masked directory writable: {r}");
    let r = probe(&mut b, &["write", "/proc/sys/kernel/hostname", "x"]);
    assert_eq!(r["error"], "EROFS", "{r}");
    let r = probe(&mut b, &["write", "/proc/sysrq-trigger", "h"]);
    assert_eq!(r["ok"], false, "{r}");
}

#[test]
fn read_only_root_refuses_writes() {
    let mut b = Bundle::busybox();
    let r = probe(&mut b, &["write", "/newfile", "x"]);
    assert_eq!(r["error"], "EROFS", "{r}");
    b.spec_mut()["root"]["readonly"] = json!(false);
    let r = probe(&mut b, &["write", "/newfile", "x"]);
    assert_eq!(r["ok"], true, "{r}");
    assert!(b.rootfs().join("newfile").exists());
}

#[test]
fn rlimits_are_set_and_clamped() {
    let mut b = Bundle::busybox();
    b.spec_mut()["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "hard": 1048576u64, "soft": 1048576u64},
        {"type": "RLIMIT_CORE", "hard": 4096, "soft": 1024}
    ]);
    let r = probe(&mut b, &["rlimits"]);
    assert_eq!(r["RLIMIT_CORE"], json!({"hard": 4096, "soft": 1024}), "{r}");
    let own = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap()
        .1;
    let hard = r["RLIMIT_NOFILE"]["hard"].as_u64().unwrap();
    assert!(
        hard <= own.max(1048576) && hard > 1024,
        "NOFILE not clamped sanely: {r}"
    );
}

#[test]
fn oom_score_scheduler_io_priority_personality() {
    let mut b = Bundle::busybox();
    b.spec_mut()["process"]["oomScoreAdj"] = json!(123);
    assert_eq!(probe(&mut b, &["oom"])["oom_score_adj"], 123);
    b.spec_mut()["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    let r = probe(&mut b, &["sched"]);
    assert_eq!(
        (r["policy"].as_str(), r["nice"].as_i64()),
        (Some("SCHED_BATCH"), Some(5)),
        "{r}"
    );
    b.spec_mut()["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    let r = probe(&mut b, &["ioprio"]);
    assert_eq!(r["class"], "IOPRIO_CLASS_IDLE", "{r}");
    b.spec_mut()["linux"]["personality"] = json!({"domain": "LINUX32"});
    let r = probe(&mut b, &["personality"]);
    assert_eq!(r["domain"], "LINUX32", "{r}");
}

#[test]
fn sysctls_apply_in_the_containers_namespaces() {
    let mut b = Bundle::busybox();
    b.spec_mut()["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "4096"});
    let r = probe(&mut b, &["sysctl", "net.ipv4.ip_forward"]);
    assert_eq!(r["value"], "1", "{r}");
    let r = probe(&mut b, &["sysctl", "kernel.msgmax"]);
    assert_eq!(r["value"], "4096", "{r}");
    let host = std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap();
    assert_ne!(host.trim(), "4096", "the host's ipc namespace was changed");
}

#[test]
fn default_and_config_devices() {
    let mut b = Bundle::busybox();
    b.spec_mut()["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}]);
    for (path, major, minor) in [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/urandom", 1, 9),
        ("/dev/fuse", 10, 229),
    ] {
        let r = probe(&mut b, &["stat", path]);
        assert_eq!(
            (r["type"].as_str(), r["major"].as_u64(), r["minor"].as_u64()),
            (Some("char"), Some(major), Some(minor)),
            "{path}: {r}"
        );
    }
    let r = probe(&mut b, &["write", "/dev/null", "x"]);
    assert_eq!(
        r["ok"], true,
        "the default device rules must allow /dev/null: {r}"
    );
    let r = probe(&mut b, &["open", "/dev/fuse"]);
    assert_eq!(
        r["ok"], true,
        "a configured device must be allowed by the cgroup: {r}"
    );
    // A node the container makes itself is not in the allow list.
    let r = probe(&mut b, &["mknod-open", "/dev/kmsg-test", "1", "11"]);
    assert_eq!(
        r["error"], "EPERM",
        "the device cgroup let an unlisted device open: {r}"
    );
    let r = probe(&mut b, &["stat", "/dev/fd"]);
    assert_eq!(r["ok"], true, "{r}");
}

#[test]
fn mounts_tmpfs_and_bind() {
    let mut b = Bundle::busybox();
    let shared = tempfile::tempdir().unwrap();
    std::fs::write(shared.path().join("hello"), "from host").unwrap();
    let mounts = b.spec_mut()["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700"]}));
    mounts.push(json!({"destination": "/host", "type": "bind", "source": shared.path(), "options": ["rbind", "ro"]}));
    let r = probe(&mut b, &["read", "/host/hello"]);
    assert_eq!(r["ok"], true, "{r}");
    let r = probe(&mut b, &["write", "/host/new", "x"]);
    assert_eq!(r["error"], "EROFS", "{r}");
    let r = probe(&mut b, &["write", "/scratch/f", "x"]);
    assert_eq!(r["ok"], true, "{r}");
    let r = probe(&mut b, &["mounts"]);
    let text = r.to_string();
    assert!(
        text.contains("/scratch") && text.contains("size=1024k"),
        "{r}"
    );
}

#[test]
fn env_and_cwd() {
    let mut b = Bundle::busybox();
    b.spec_mut()["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
    b.spec_mut()["process"]["cwd"] = json!("/tmp");
    let r = probe(&mut b, &["env"]);
    assert!(r.to_string().contains("bar baz"), "{r}");
    let r = probe(&mut b, &["cwd"]);
    assert_eq!(r["cwd"], "/tmp", "{r}");
}

#[test]
fn no_host_descriptor_leaks_into_the_container() {
    let mut b = Bundle::busybox();
    let r = probe(&mut b, &["fds"]);
    for fd in r["fds"].as_array().unwrap() {
        let n = fd["fd"].as_u64().unwrap();
        assert!(
            n <= 2
                || fd["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("/proc")),
            "leaked fd: {r}"
        );
    }
}

#[test]
fn namespaces_are_new() {
    let mut b = Bundle::busybox();
    let r = probe(&mut b, &["ns"]);
    for ns in ["pid", "net", "ipc", "uts", "mnt"] {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(
            r[ns].as_str(),
            host.to_str(),
            "{ns} shared with the host: {r}"
        );
    }
    // A network namespace joined by path: one a helper process holds.
    let mut holder = std::process::Command::new("unshare")
        .args(["--net", "sleep", "30"])
        .spawn()
        .expect("spawn unshare --net sleep");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let path = format!("/proc/{}/ns/net", holder.id());
    let want = std::fs::read_link(&path).unwrap();
    let ns = b.spec_mut()["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "network");
    ns.push(json!({"type": "network", "path": path}));
    let r = probe(&mut b, &["ns"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(r["net"].as_str(), want.to_str(), "{r}");
}

#[test]
fn time_and_cgroup_namespaces() {
    let mut b = Bundle::busybox();
    let ns = b.spec_mut()["linux"]["namespaces"].as_array_mut().unwrap();
    ns.push(json!({"type": "time"}));
    ns.push(json!({"type": "cgroup"}));
    let year = 365 * 24 * 3600;
    b.spec_mut()["linux"]["timeOffsets"] = json!({"boottime": {"secs": year, "nanosecs": 0}});
    let r = probe(&mut b, &["read", "/proc/uptime"]);
    let uptime: f64 = r["data"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(uptime > year as f64, "boottime offset not applied: {r}");
    let r = probe(&mut b, &["read", "/proc/self/cgroup"]);
    let text = r["data"].as_str().unwrap();
    assert!(
        text.lines().all(|l| l.ends_with(":/")),
        "a cgroup namespace shows the container's cgroup as /: {text}"
    );
}

#[test]
fn cgroup_limits_as_the_kernel_reports_them() {
    let mut b = Bundle::busybox();
    b.spec_mut()["linux"]["resources"] = json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 100663296, "reservation": 50331648, "swap": 201326592},
        "cpu": {"shares": 256, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 42}
    });
    // A cgroup namespace makes the container's own cgroup the root of each hierarchy.
    b.spec_mut()["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
    let files = [
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "100663296"),
        (
            "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes",
            "50331648",
        ),
        (
            "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes",
            "201326592",
        ),
        ("/sys/fs/cgroup/cpu/cpu.shares", "256"),
        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "20000"),
        ("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000"),
        ("/sys/fs/cgroup/cpuset/cpuset.cpus", "0"),
        ("/sys/fs/cgroup/pids/pids.max", "42"),
    ];
    for (file, want) in files {
        let r = probe(&mut b, &["read", file]);
        assert_eq!(r["data"].as_str().map(str::trim), Some(want), "{file}: {r}");
    }
    let r = probe(&mut b, &["read", "/sys/fs/cgroup/devices/devices.list"]);
    let list = r["data"].as_str().unwrap();
    assert!(
        list.contains("c 1:3 rwm") && !list.contains("a *:* rwm"),
        "{list}"
    );
}
