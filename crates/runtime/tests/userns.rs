//! User namespaces: the container's root maps to an unprivileged host uid.

mod common;

use std::time::Duration;

use common::{check, Bundle, Runtime};
use serde_json::json;

fn userns_bundle() -> Bundle {
    let mut b = Bundle::busybox();
    let spec = b.spec_mut();
    spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    // cgroup v1 cannot be mounted from a user namespace: leave /sys/fs/cgroup out.
    spec["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["type"] != "cgroup");
    b.save();
    b
}

#[test]
fn mappings_are_applied() {
    let rt = Runtime::new();
    let mut b = userns_bundle();
    let r = rt.run_probe(&mut b, &["read", "/proc/self/uid_map"]);
    let map: Vec<&str> = r["data"].as_str().unwrap().split_whitespace().collect();
    assert_eq!(map, ["0", "100000", "65536"], "{r}");
    let r = rt.run_probe(&mut b, &["ids"]);
    assert_eq!(
        (r["uid"].as_u64(), r["gid"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
    // Files owned by host root are unmapped inside: they show as the overflow id.
    let r = rt.run_probe(&mut b, &["stat", "/bin/busybox"]);
    assert_eq!(r["uid"], 65534, "{r}");
}

#[test]
fn the_host_sees_the_mapped_uid() {
    let rt = Runtime::new();
    let mut b = userns_bundle();
    b.set_args(&["/probe", "sleep", "30"]);
    b.save();
    let id = b.next_id();
    check(rt.create(&id, &b), "create");
    check(rt.start(&id), "start");
    let st = rt.wait_status(&id, "running", Duration::from_secs(5));
    let pid = st["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == "100000"),
        "{uid_line}"
    );
    let out = check(rt.run(&["exec", &id, "/probe", "ids"]), "exec in userns");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["uid"], 0, "{r}");
    check(rt.delete(&id, true), "delete");
}
