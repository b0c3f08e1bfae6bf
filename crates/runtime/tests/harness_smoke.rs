//! Checks the integration-test harness itself (tests/common): bundles, the probe, the
//! runtime driver and the leftover check. Runs against berth-runtime, or against any
//! runtime named by BERTH_TEST_RUNTIME (e.g. /usr/sbin/runc) to validate the harness.

mod common;

use common::{assert_no_leftovers, check, Bundle, Runtime};
use std::time::Duration;

#[test]
fn probe_sees_the_container_identity() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox();
    let ids = rt.run_probe(&mut bundle, &["ids"]);
    assert_eq!(
        (ids["uid"].as_u64(), ids["gid"].as_u64()),
        (Some(0), Some(0)),
        "{ids}"
    );
    let host = rt.run_probe(&mut bundle, &["hostname"]);
    assert_eq!(host["hostname"], "runc", "{host}");
    let ns = rt.run_probe(&mut bundle, &["ns"]);
    let own_pid_ns = std::fs::read_link("/proc/self/ns/pid").expect("read own pid ns");
    assert_ne!(
        ns["pid"].as_str(),
        own_pid_ns.to_str(),
        "container shares the host pid namespace"
    );
}

#[test]
fn exit_code_is_passed_through() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox();
    let out = rt.run_probe_output(&mut bundle, &["exit", "3"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn create_start_kill_delete_leaves_nothing() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox();
    let id = bundle.id();
    let cgroup = format!("/{id}");
    bundle.spec_mut()["linux"]["cgroupsPath"] = cgroup.clone().into();
    bundle.set_args(&["/probe", "sleep", "60"]);
    bundle.save();
    check(rt.create(&id, &bundle), "create");
    let state = rt.state(&id);
    assert_eq!(state["status"], "created", "{state}");
    assert!(state["pid"].as_u64().is_some_and(|p| p > 0), "{state}");
    check(rt.start(&id), "start");
    rt.wait_status(&id, "running", Duration::from_secs(5));
    check(rt.kill(&id, "KILL"), "kill");
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    check(rt.delete(&id, false), "delete");
    assert_no_leftovers(rt.root(), &id, &cgroup, bundle.path());
}

#[test]
fn created_container_writes_to_the_bundle_stdio_files() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox();
    let id = bundle.id();
    bundle.set_args(&["/probe", "cwd"]);
    bundle.save();
    check(rt.create(&id, &bundle), "create");
    check(rt.start(&id), "start");
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    let report: serde_json::Value =
        serde_json::from_str(&bundle.stdout_of(&id)).expect("probe JSON in stdout file");
    assert_eq!(report["cwd"], "/");
    check(rt.delete(&id, false), "delete");
}
