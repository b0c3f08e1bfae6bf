//! A container's create settings, checked from inside real busybox containers started
//! under the shim: cgroup limits, ulimits, capabilities, privileged, read-only root,
//! no-new-privileges, the default seccomp profile, `--init`, hostname and the network
//! modes; and the settings refused at create time. Needs root; builds a static berth-init.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use berth_engine::options::{HostOptions, Ulimit};
use berth_engine::record::{Config, Status};
use berth_engine::spec::SpecError;
use berth_engine::{CreateRequest, Engine, EngineError};
use serde_json::Value;

mod support;
use support::{images_dir, shim_path};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A static berth-init (`$BERTH_INIT`, else built once with cargo), exported as
/// `BERTH_INIT` for the engine. Every test calls this first, before any other thread of
/// this process reads the environment.
fn init_binary() -> &'static Path {
    static INIT: OnceLock<PathBuf> = OnceLock::new();
    INIT.get_or_init(|| {
        let path = match std::env::var_os("BERTH_INIT").filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => build_static_init(),
        };
        std::env::set_var("BERTH_INIT", &path);
        path
    })
}

fn build_static_init() -> PathBuf {
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let out = Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args([
            "rustc",
            "-p",
            "berth-init",
            "--bin",
            "berth-init",
            "--release",
        ])
        .args([
            "--target",
            &target,
            "--message-format=json-render-diagnostics",
        ])
        .args(["--", "-C", "target-feature=+crt-static"])
        .stderr(Stdio::inherit())
        .output()
        .expect("spawn cargo to build berth-init");
    assert!(
        out.status.success(),
        "building the static berth-init failed"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "berth-init")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no berth-init executable")
}

/// An engine on a fresh data root with busybox loaded, running containers under the shim.
fn engine() -> (tempfile::TempDir, Engine) {
    init_binary();
    let dir = tempfile::Builder::new()
        .prefix(&format!("berth-settings-{}-", std::process::id()))
        .tempdir()
        .unwrap();
    let mut engine = Engine::open(dir.path()).unwrap();
    let tar = std::fs::File::open(images_dir().join("busybox-1.35.docker.tar")).unwrap();
    engine.images().load(tar).unwrap();
    engine.set_shim_path(shim_path());
    (dir, engine)
}

/// Creates a container running `script` with `sh -c` and these settings.
fn create(engine: &Engine, script: &str, host: HostOptions) -> Result<String, EngineError> {
    create_with(
        engine,
        script,
        Config {
            host,
            ..Default::default()
        },
    )
}

fn create_with(engine: &Engine, script: &str, mut config: Config) -> Result<String, EngineError> {
    config.cmd = vec!["sh".into(), "-c".into(), script.into()];
    let req = CreateRequest {
        image: "busybox:1.35".into(),
        name: None,
        config,
    };
    engine.create(&req).map(|c| c.id)
}

/// Starts container `id`, waits for it, removes it; returns its exit code and stdout.
fn run(engine: &Engine, id: &str) -> (i32, String) {
    let c = engine.find(id).unwrap();
    engine.start_detached(&c).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let done = loop {
        let c = engine.find(id).unwrap();
        if c.state.status != Status::Running {
            break c;
        }
        assert!(Instant::now() < deadline, "still running: {c:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = engine.containers().dir(id).join(format!("{id}-json.log"));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let out: String = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["stream"] == "stdout")
        .filter_map(|e| e["log"].as_str().map(String::from))
        .collect();
    engine.remove(&done, false).unwrap();
    (done.state.exit_code.unwrap(), out)
}

/// Runs `script` with `host` settings; returns its stdout, which must be its only result.
fn output(engine: &Engine, script: &str, host: HostOptions) -> String {
    let id = create(engine, script, host).unwrap();
    let (code, out) = run(engine, &id);
    assert_eq!(code, 0, "{script}: {out}");
    out
}

/// The value of `field` in a /proc/<pid>/status text.
fn status_field<'a>(status: &'a str, field: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map_or("", str::trim)
}

#[test]
fn cgroup_limits_and_ulimits() {
    let (_dir, engine) = engine();
    let settings = HostOptions {
        memory: 64 << 20,
        nano_cpus: 1_500_000_000,
        pids_limit: Some(50),
        ulimits: vec![Ulimit {
            name: "nofile".into(),
            soft: 1000,
            hard: 1001,
        }],
        ..Default::default()
    };
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes \
        /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes \
        /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us; \
        grep 'open files' /proc/self/limits";
    let out = output(&engine, script, settings);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..4],
        ["67108864", "134217728", "50", "150000"],
        "{out}"
    );
    let words: Vec<&str> = lines[4].split_whitespace().collect();
    assert_eq!(words[3..5], ["1000", "1001"], "{out}");
}

#[test]
fn capabilities_privileged_and_security_options() {
    let (_dir, engine) = engine();
    let caps = "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status";
    let status = output(&engine, caps, HostOptions::default());
    // docker's default set, no-new-privileges off, the default filter loaded.
    assert_eq!(
        status_field(&status, "CapEff"),
        "00000000a80425fb",
        "{status}"
    );
    assert_eq!(status_field(&status, "NoNewPrivs"), "0", "{status}");
    assert_eq!(status_field(&status, "Seccomp"), "2", "{status}");
    let tweaked = HostOptions {
        cap_add: vec!["net_admin".into()],
        cap_drop: vec!["CAP_CHOWN".into()],
        security_opt: vec!["no-new-privileges".into()],
        ..Default::default()
    };
    let status = output(&engine, caps, tweaked);
    // + CAP_NET_ADMIN (12), - CAP_CHOWN (0).
    assert_eq!(
        status_field(&status, "CapEff"),
        "00000000a80435fa",
        "{status}"
    );
    assert_eq!(status_field(&status, "NoNewPrivs"), "1", "{status}");
    let none = HostOptions {
        cap_drop: vec!["ALL".into()],
        security_opt: vec!["seccomp=unconfined".into()],
        ..Default::default()
    };
    let status = output(&engine, caps, none);
    assert_eq!(
        status_field(&status, "CapEff"),
        "0000000000000000",
        "{status}"
    );
    assert_eq!(status_field(&status, "Seccomp"), "0", "{status}");
    // Privileged: the host's capabilities, its devices, no filter, writable /sys.
    let host_status = std::fs::read_to_string("/proc/self/status").unwrap();
    let privileged = HostOptions {
        privileged: true,
        ..Default::default()
    };
    let script = format!("{caps}; test -c /dev/loop-control && echo loop-control; touch /sys/fs/cgroup/x 2>&1; grep -c ' /sys sysfs rw' /proc/mounts");
    let out = output(&engine, &script, privileged);
    assert_eq!(
        status_field(&out, "CapEff"),
        status_field(&host_status, "CapBnd"),
        "{out}"
    );
    assert_eq!(status_field(&out, "Seccomp"), "0", "{out}");
    assert!(out.contains("loop-control\n"), "{out}");
    assert!(out.trim_end().ends_with('1'), "{out}");
    // Without privileges the host's devices are not there.
    let out = output(
        &engine,
        "test -e /dev/loop-control || echo absent",
        HostOptions::default(),
    );
    assert_eq!(out, "absent\n");
}

#[test]
fn the_default_seccomp_profile_blocks_what_docker_blocks() {
    let (_dir, engine) = engine();
    // A user namespace needs no capability, only the filter stops it.
    let script = "unshare -U true && echo allowed || echo refused";
    assert_eq!(output(&engine, script, HostOptions::default()), "refused\n");
    let unconfined = HostOptions {
        security_opt: vec!["seccomp=unconfined".into()],
        ..Default::default()
    };
    assert_eq!(output(&engine, script, unconfined), "allowed\n");
}

#[test]
fn read_only_root() {
    let (_dir, engine) = engine();
    let ro = HostOptions {
        readonly_rootfs: true,
        ..Default::default()
    };
    let script =
        "touch /new 2>&1; echo hi > /etc/hostname 2>&1; echo x > /dev/shm/ok && echo shm-ok";
    let out = output(&engine, script, ro);
    assert!(out.contains("touch: /new: Read-only file system"), "{out}");
    assert!(out.contains("Read-only file system\nshm-ok"), "{out}");
    let out = output(
        &engine,
        "touch /new && echo written",
        HostOptions::default(),
    );
    assert_eq!(out, "written\n");
}

#[test]
fn init_is_pid_one_reaps_and_passes_the_exit_code() {
    let (_dir, engine) = engine();
    let init = HostOptions {
        init: Some(true),
        ..Default::default()
    };
    // An orphan (the subshell's sleep) is re-parented to pid 1 and must be reaped.
    let script = "(sleep 0.1 &); sleep 0.6; tr '\\0' ' ' < /proc/1/cmdline; echo; \
        ps -o stat,comm | grep -c '^Z'; exit 7";
    let id = create(&engine, script, init).unwrap();
    let (code, out) = run(&engine, &id);
    assert_eq!(code, 7, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("/sbin/docker-init -- sh -c "), "{out}");
    assert_eq!(lines[1], "0", "zombies: {out}");
    // Without it, the shell is pid 1 (a pipeline keeps it from exec'ing the command).
    let script = "cat /proc/1/cmdline | tr '\\0' ' '";
    let out = output(&engine, script, HostOptions::default());
    assert!(out.starts_with("sh -c "), "{out}");
}

#[test]
fn hostname_and_network_modes() {
    let (_dir, engine) = engine();
    let config = Config {
        hostname: Some("box-one".into()),
        ..Default::default()
    };
    let script = "hostname; cat /etc/hostname; ls /sys/class/net; cat /sys/class/net/lo/flags";
    let id = create_with(&engine, script, config).unwrap();
    let (code, out) = run(&engine, &id);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["box-one", "box-one", "lo"], "{out}");
    let flags = u32::from_str_radix(lines[3].trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "lo is up: {out}");
    // The default hostname is the short id; `none` has loopback names in /etc/hosts.
    let id = create(&engine, "hostname; cat /etc/hosts", HostOptions::default()).unwrap();
    let (_, out) = run(&engine, &id);
    assert!(
        out.starts_with(&format!("{}\n127.0.0.1\tlocalhost\n", &id[..12])),
        "{out}"
    );
    // `host`: the host's interfaces, name and hosts file.
    let host = HostOptions {
        network_mode: "host".into(),
        ..Default::default()
    };
    let out = output(
        &engine,
        "hostname; ls /sys/class/net | wc -l; cat /etc/hosts",
        host,
    );
    let me = nix::unistd::gethostname().unwrap().into_string().unwrap();
    let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    let host_links = std::fs::read_dir("/sys/class/net").unwrap().count();
    assert_eq!(out, format!("{me}\n{host_links}\n{host_hosts}"));
}

#[test]
fn impossible_settings_fail_at_create_and_leave_nothing() {
    let (_dir, engine) = engine();
    let cases: [(HostOptions, &str); 6] = [
        (
            HostOptions {
                memory: 1 << 20,
                ..Default::default()
            },
            "Minimum memory limit allowed is 6MB",
        ),
        (
            HostOptions {
                nano_cpus: -1,
                ..Default::default()
            },
            "Range of CPUs is from 0.01",
        ),
        (
            HostOptions {
                cap_add: vec!["FOO".into()],
                ..Default::default()
            },
            "invalid CapAdd: unknown capability: \"CAP_FOO\"",
        ),
        (
            HostOptions {
                security_opt: vec!["bogus".into()],
                ..Default::default()
            },
            "invalid --security-opt \"bogus\"",
        ),
        (
            HostOptions {
                ulimits: vec![Ulimit {
                    name: "nofile".into(),
                    soft: 10,
                    hard: 2,
                }],
                ..Default::default()
            },
            "invalid ulimit nofile",
        ),
        (
            HostOptions {
                network_mode: "mynet".into(),
                ..Default::default()
            },
            "network mode \"mynet\"",
        ),
    ];
    for (settings, message) in cases {
        let err = create(&engine, "true", settings).unwrap_err();
        assert!(err.to_string().starts_with(message), "{err}");
        match err {
            EngineError::Spec(e) => assert!(e.is_bad_input(), "{e}"),
            other => panic!("not a spec error: {other}"),
        }
    }
    assert!(engine.list().unwrap().is_empty());
    assert!(matches!(
        create(
            &engine,
            "true",
            HostOptions {
                memory: 1,
                ..Default::default()
            }
        ),
        Err(EngineError::Spec(SpecError::Memory { bytes: 1 }))
    ));
}

/// The median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..runs).map(|_| f()).collect();
    times.sort();
    times[runs / 2]
}

#[test]
fn the_cost_of_the_default_seccomp_profile_on_start_is_printed() {
    let (_dir, engine) = engine();
    let time_start = |security_opt: &[&str]| {
        let host = HostOptions {
            security_opt: security_opt.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let id = create(&engine, "true", host).unwrap();
        let c = engine.find(&id).unwrap();
        let begin = Instant::now();
        engine.start_detached(&c).unwrap();
        let took = begin.elapsed();
        assert_eq!(run_rest(&engine, &id), 0);
        took
    };
    // The first start compiles the filter into the runtime's cache.
    time_start(&[]);
    let filtered = median(11, || time_start(&[]));
    let unconfined = median(11, || time_start(&["seccomp=unconfined"]));
    println!(
        "start_detached (shim, create + start) median of 11: default seccomp profile {filtered:?}, unconfined {unconfined:?}"
    );
}

/// Waits for a started container `id` to end and removes it; returns its exit code.
fn run_rest(engine: &Engine, id: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = engine.find(id).unwrap();
        if c.state.status != Status::Running {
            engine.remove(&c, false).unwrap();
            return c.state.exit_code.unwrap();
        }
        assert!(Instant::now() < deadline, "still running: {c:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_etc_mount_points_are_not_the_containers_changes() {
    let (_dir, engine) = engine();
    let id = create(
        &engine,
        "echo new > /added; echo 1.2.3.4 x >> /etc/hosts",
        HostOptions::default(),
    )
    .unwrap();
    let c = engine.find(&id).unwrap();
    engine.start_detached(&c).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let done = loop {
        let c = engine.find(&id).unwrap();
        if c.state.status != Status::Running {
            break c;
        }
        assert!(Instant::now() < deadline, "still running: {c:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(done.state.exit_code, Some(0));
    let changes: Vec<String> = engine
        .diff(&done)
        .unwrap()
        .iter()
        .map(|c| format!("{c:?}"))
        .collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0].contains("added"), "{changes:?}");
    // The write to /etc/hosts went to the container's own file.
    let hosts = std::fs::read_to_string(engine.containers().dir(&id).join("hosts")).unwrap();
    assert!(hosts.ends_with("1.2.3.4 x\n"), "{hosts}");
    engine.remove(&done, false).unwrap();
}
