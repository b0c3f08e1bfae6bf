//! The berthd process: one daemon per data root, daemon.json checks, socket mode, and a
//! clean exit on SIGTERM that leaves containers' records alone.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::Daemon;

#[test]
fn a_second_daemon_on_the_same_root_is_refused() {
    let d = Daemon::start();
    let out = d
        .command(&[
            "-H",
            &format!("unix://{}/other.sock", d.dir.path().display()),
            "--pidfile",
        ])
        .arg(d.dir.path().join("other.pid"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another berthd") && err.contains("data root"),
        "{err}"
    );
    assert_eq!(d.get("/_ping").status, 200);
}

#[test]
fn two_daemons_on_different_roots_run_side_by_side() {
    let a = Daemon::start();
    let b = Daemon::start();
    assert_eq!(a.get("/_ping").status, 200);
    assert_eq!(b.get("/_ping").status, 200);
    assert_ne!(a.get("/info").json()["ID"], b.get("/info").json()["ID"]);
}

#[test]
fn sigterm_stops_listening_and_removes_socket_and_pidfile() {
    let mut d = Daemon::start();
    d.load_busybox();
    assert_eq!(
        d.post(
            "/containers/create?name=keep",
            r#"{"Image":"busybox:1.35"}"#
        )
        .status,
        201
    );
    let mode = std::fs::metadata(d.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let pidfile = d.dir.path().join("exec/berthd.pid");
    assert!(pidfile.exists());
    let status = d.signal_and_wait(libc::SIGTERM);
    assert!(status.success(), "{status:?}: {}", d.log());
    assert!(!d.socket().exists());
    assert!(!pidfile.exists());
    d.restart();
    assert_eq!(d.get("/containers/keep/json").status, 200);
}

#[test]
fn daemon_json_conflicts_and_unknown_keys_are_refused() {
    let d = Daemon::start();
    // The daemon read its (missing) config file at start; later runs read this one.
    let cfg = d.dir.path().join("daemon.json");
    std::fs::write(&cfg, r#"{"data-root":"/somewhere"}"#).unwrap();
    let out = d.command(&[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("specified both as a flag and in the configuration file: data-root"),
        "{err}"
    );
    std::fs::write(&cfg, r#"{"no-such-key":true}"#).unwrap();
    let out = d.command(&[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("don't match any configuration option: no-such-key"),
        "{err}"
    );
    std::fs::write(&cfg, "{}").unwrap();
    let out = d.command(&["-H", "fd://"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("fd://"));
}

/// Anonymous resident memory of `pid`, in KiB.
fn rss_anon_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn memory_stays_small_after_a_load() {
    let d = Daemon::start();
    d.load_busybox();
    assert_eq!(
        d.post("/images/busybox:1.35/tag?repo=x&tag=y", "").status,
        201
    );
    assert_eq!(
        d.post("/containers/create", r#"{"Image":"busybox:1.35"}"#)
            .status,
        201
    );
    assert_eq!(d.get("/images/get?names=busybox:1.35").status, 200);
    let pid = d.child.as_ref().unwrap().id();
    let anon = rss_anon_kib(pid);
    // The goal is an idle daemon under 20 MB in all (the binary's pages included).
    assert!(
        anon < 10 * 1024,
        "berthd holds {anon} KiB of anonymous memory"
    );
}
