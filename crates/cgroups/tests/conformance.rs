//! One conformance suite run against every backend on the real kernel: v1 on
//! /sys/fs/cgroup (with the hybrid unified tree) and v2 on /sys/fs/cgroup/unified.
//! Placement, recursion, freezing, signalling and removal are checked with real processes.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use berth_cgroups::Manager;
use common::{read, sh, sleeper, unique, Cleanup};

/// Builds a backend's manager for a cgroup path.
type Factory = fn(&Path) -> Manager;

fn lifecycle(make: Factory, tag: &str) {
    let m = make(&unique(tag));
    assert!(!m.exists());
    m.create().expect("create");
    let guard = Cleanup(m.clone());
    assert!(m.exists());
    assert!(m.paths().iter().all(|p| p.is_dir()), "{:?}", m.paths());
    m.destroy().expect("destroy");
    assert!(!m.exists());
    assert!(m.paths().iter().all(|p| !p.exists()));
    m.destroy().expect("destroying a missing cgroup is fine");
    let err = m.signal_all(999).expect_err("not a signal");
    assert!(
        matches!(err, berth_cgroups::Error::InvalidSignal { signal: 999 }),
        "{err}"
    );
    drop(guard);
}

fn placement(make: Factory, tag: &str) {
    let m = make(&unique(tag));
    m.create().expect("create");
    let _guard = Cleanup(m.clone());
    assert!(m.pids().expect("pids").is_empty());
    let kid = sleeper();
    m.add_process(kid.pid()).expect("add");
    assert_eq!(m.pids().expect("pids"), vec![kid.pid()]);
    // A second process in a nested cgroup is still listed, and destroy removes the nesting.
    let nested_kid = sleeper();
    let nested = make(&unique(tag).join("nested"));
    nested.create().expect("create nested");
    nested.add_process(nested_kid.pid()).expect("add to nested");
    let mut pids = m.pids().expect("pids");
    pids.sort_unstable();
    let mut want = vec![kid.pid(), nested_kid.pid()];
    want.sort_unstable();
    assert_eq!(pids, want);
    m.signal_all(libc::SIGKILL).expect("kill");
    drop((kid, nested_kid));
    m.destroy().expect("destroy nested");
    assert!(!m.exists());
}

/// The CPU ticks (utime + stime) `pid` has used, after letting it run a little.
fn cpu_ticks(pid: i32) -> u64 {
    std::thread::sleep(Duration::from_millis(150));
    let stat = read(Path::new(&format!("/proc/{pid}/stat")));
    let after_comm = &stat[stat.rfind(')').expect("stat comm") + 2..];
    let fields: Vec<&str> = after_comm.split(' ').collect();
    // utime and stime are fields 14 and 15 of /proc/pid/stat; `after_comm` starts at field 3.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn freeze_thaw(make: Factory, tag: &str, kernel_says_frozen: fn(&Manager) -> bool) {
    let m = make(&unique(tag));
    m.create().expect("create");
    let _guard = Cleanup(m.clone());
    let kid = sh("while :; do :; done");
    m.add_process(kid.pid()).expect("add");
    assert!(cpu_ticks(kid.pid()) > 0, "the child runs");
    m.freeze().expect("freeze");
    assert!(m.is_frozen().expect("is_frozen"));
    assert!(
        kernel_says_frozen(&m),
        "the kernel reports the cgroup frozen"
    );
    let a = cpu_ticks(kid.pid());
    assert_eq!(a, cpu_ticks(kid.pid()), "a frozen child uses no CPU");
    m.thaw().expect("thaw");
    assert!(!m.is_frozen().expect("is_frozen"));
    assert!(!kernel_says_frozen(&m));
    assert!(cpu_ticks(kid.pid()) > a, "the thawed child runs again");
}

fn kill_all(make: Factory, tag: &str) {
    let m = make(&unique(tag));
    m.create().expect("create");
    let _guard = Cleanup(m.clone());
    let mut kids = [sleeper(), sleeper()];
    for k in &kids {
        m.add_process(k.pid()).expect("add");
    }
    m.signal_all(libc::SIGKILL).expect("signal_all");
    for k in &mut kids {
        assert_eq!(k.wait().signal(), Some(libc::SIGKILL));
    }
    assert!(m.pids().expect("pids").is_empty());
    m.destroy().expect("destroy");
}

fn term_all(make: Factory, tag: &str) {
    let m = make(&unique(tag));
    m.create().expect("create");
    let _guard = Cleanup(m.clone());
    let mut kid = sleeper();
    m.add_process(kid.pid()).expect("add");
    m.signal_all(libc::SIGTERM).expect("signal_all");
    assert_eq!(kid.wait().signal(), Some(libc::SIGTERM));
    assert!(
        !m.is_frozen().expect("is_frozen"),
        "left thawed after signalling"
    );
}

fn stats_running(make: Factory, tag: &str) {
    let m = make(&unique(tag));
    m.create().expect("create");
    let _guard = Cleanup(m.clone());
    let kid = sh("while :; do :; done");
    m.add_process(kid.pid()).expect("add");
    std::thread::sleep(Duration::from_millis(300));
    let s = m.stats().expect("stats");
    assert!(
        s.cpu.usage.total > 50_000_000,
        "cpu ns: {}",
        s.cpu.usage.total
    );
    assert!(s.cpu.usage.user + s.cpu.usage.kernel > 0);
    let json = serde_json::to_value(&s).expect("json");
    for key in ["cpu", "memory", "pids", "blkio", "hugetlb"] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
}

#[test]
fn detects_the_version_of_each_tree() {
    use berth_cgroups::{detect, Version};
    assert_eq!(
        detect(Path::new(common::ROOT)).expect("detect"),
        Version::V1
    );
    assert_eq!(
        detect(Path::new(common::UNIFIED)).expect("detect"),
        Version::V2
    );
    let m = Manager::new(Path::new(common::UNIFIED), &unique("detect")).expect("new");
    assert_eq!(m.version(), Version::V2);
    assert_eq!(
        m.paths(),
        vec![Path::new(common::UNIFIED).join(unique("detect").strip_prefix("/").expect("abs"))]
    );
}

macro_rules! conformance {
    ($name:ident, $factory:expr, $frozen:expr) => {
        mod $name {
            use super::*;

            const TAG: &str = stringify!($name);

            #[test]
            fn lifecycle() {
                super::lifecycle($factory, &format!("{TAG}-life"));
            }

            #[test]
            fn placement() {
                super::placement($factory, &format!("{TAG}-place"));
            }

            #[test]
            fn freeze_thaw() {
                super::freeze_thaw($factory, &format!("{TAG}-freeze"), $frozen);
            }

            #[test]
            fn kill_all() {
                super::kill_all($factory, &format!("{TAG}-kill"));
            }

            #[test]
            fn term_all() {
                super::term_all($factory, &format!("{TAG}-term"));
            }

            #[test]
            fn stats_running() {
                super::stats_running($factory, &format!("{TAG}-stats"));
            }
        }
    };
}

conformance!(v1, common::v1, |m| read(
    &common::dir_of(m, "freezer").join("freezer.state")
) == "FROZEN");

conformance!(v2, common::v2, |m| read(
    &m.paths()[0].join("cgroup.events")
)
.lines()
.any(|l| l == "frozen 1"));
