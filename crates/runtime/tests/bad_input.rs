//! Bad input: each gets a one-line error naming what is wrong, exit status 1, and leaves no
//! state directory, mount or cgroup behind.

mod common;

use common::{assert_no_leftovers, check, Bundle, Runtime};
use serde_json::json;

/// Creates the bundle's container (with its own cgroup path), expects failure with a
/// single-line message containing `needle`, then checks that nothing was left behind.
fn refused(b: &mut Bundle, needle: &str) {
    let rt = Runtime::new();
    let id = b.id();
    let cgroup = format!("/berth-test/{id}");
    if b.spec().is_object() {
        b.spec_mut()["linux"]["cgroupsPath"] = json!(cgroup);
    }
    let out = rt.create(&id, b);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(needle), "{needle:?} not in: {err}");
    assert_no_leftovers(rt.root(), &id, &cgroup, b.path());
}

#[test]
fn invalid_json() {
    let mut b = Bundle::busybox();
    std::fs::write(
        b.path().join("config.json"),
        "{\"ociVersion\": \"1.2.0\", \"process\": {",
    )
    .unwrap();
    let rt = Runtime::new();
    let out = rt.create(&b.id(), &b);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("config.json") && err.contains("EOF"), "{err}");
    assert_no_leftovers(rt.root(), &b.id(), "/berth-test/none", b.path());
    // A field of the wrong type is named by its path.
    b.spec_mut()["process"]["user"]["uid"] = json!("root");
    b.save();
    refused(&mut b, "process.user.uid");
}

#[test]
fn missing_rootfs() {
    let mut b = Bundle::busybox();
    b.spec_mut()["root"]["path"] = json!("no-such-dir");
    b.save();
    refused(&mut b, "root.path");
}

#[test]
fn unknown_namespace_type() {
    let mut b = Bundle::busybox();
    b.spec_mut()["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "bogus"}));
    b.save();
    refused(&mut b, "linux.namespaces[5].type");
}

#[test]
fn out_of_range_cgroup_values() {
    let mut b = Bundle::busybox();
    b.spec_mut()["linux"]["resources"]["cpu"] = json!({"shares": 1});
    b.save();
    refused(&mut b, "linux.resources.cpu.shares");
    let mut b = Bundle::busybox();
    b.spec_mut()["linux"]["resources"]["blockIO"] = json!({"weight": 5000});
    b.save();
    refused(&mut b, "linux.resources.blockIO.weight");
    let mut b = Bundle::busybox();
    b.spec_mut()["linux"]["resources"]["memory"] = json!({"limit": -5});
    b.save();
    refused(&mut b, "linux.resources.memory.limit");
}

#[test]
fn missing_executable_is_reported_by_create() {
    let mut b = Bundle::busybox();
    b.set_args(&["no-such-program"]);
    b.save();
    refused(&mut b, "no-such-program");
}

#[test]
fn bad_mount_is_reported_with_its_destination() {
    let mut b = Bundle::busybox();
    b.spec_mut()["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/x", "type": "nosuchfs", "source": "none"}));
    b.save();
    refused(&mut b, "/x");
}

#[test]
fn unknown_capability_and_rlimit() {
    let mut b = Bundle::busybox();
    b.spec_mut()["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}]);
    b.save();
    refused(&mut b, "RLIMIT_BOGUS");
    let mut b = Bundle::busybox();
    b.spec_mut()["process"]["capabilities"]["bounding"] = json!(["CAP_BOGUS"]);
    b.save();
    refused(&mut b, "CAP_BOGUS");
}

#[test]
fn duplicate_id_keeps_the_first_container() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let cgroup = format!("/berth-test/{}", b.id());
    b.spec_mut()["linux"]["cgroupsPath"] = json!(cgroup);
    b.set_args(&["/probe", "sleep", "30"]);
    b.save();
    let id = b.id();
    check(rt.create(&id, &b), "first create");
    let out = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("already exists") && err.contains(&id), "{err}");
    assert_eq!(
        rt.state(&id)["status"],
        "created",
        "the first container was disturbed"
    );
    check(rt.delete(&id, false), "delete");
    assert_no_leftovers(rt.root(), &id, &cgroup, b.path());
}

#[test]
fn bad_ids_and_unknown_containers() {
    let rt = Runtime::new();
    let b = Bundle::busybox();
    let out = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), "../evil"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid container id"));
    for cmd in [
        &["start", "nope"][..],
        &["state", "nope"],
        &["kill", "nope"],
        &["delete", "nope"],
        &["pause", "nope"],
    ] {
        let out = rt.run(cmd);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("does not exist"),
            "{cmd:?}: {out:?}"
        );
    }
}

#[test]
fn unsupported_flags_are_refused() {
    let rt = Runtime::new();
    for args in [
        &["--systemd-cgroup", "list"][..],
        &["--criu", "/x", "list"],
        &["checkpoint", "x"],
    ] {
        let out = rt.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not supported"),
            "{args:?}: {out:?}"
        );
    }
    let out = rt.run(&["update", "--l3-cache-schema", "x", "id"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not supported"));
}

#[test]
fn labels_the_host_lacks() {
    let mut b = Bundle::busybox();
    b.spec_mut()["process"]["apparmorProfile"] = json!("docker-default");
    b.save();
    refused(&mut b, "process.apparmorProfile");
    let mut b = Bundle::busybox();
    b.spec_mut()["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    b.save();
    refused(&mut b, "process.selinuxLabel");
}

#[test]
fn errors_go_to_the_log_as_json() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let out = rt.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let entry: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(entry["level"], "error");
    assert!(
        entry["msg"].as_str().unwrap().contains("does not exist"),
        "{entry}"
    );
}
