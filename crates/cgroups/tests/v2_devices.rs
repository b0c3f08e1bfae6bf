//! The cgroup v2 eBPF device filter on the real unified tree: children in the cgroup are
//! really refused or allowed `open` and `mknod` as the OCI rules say, and updates replace
//! the filter instead of stacking another one.

mod common;

use berth_cgroups::attached_device_programs;
use common::{res, run_in, unique, Cleanup};

const DENY_ALL: &str = r#"{"allow":false,"access":"rwm"}"#;

fn devices(rules: &[&str]) -> oci_spec::runtime::LinuxResources {
    res(&format!(r#"{{"devices":[{}]}}"#, rules.join(",")))
}

#[test]
fn open_follows_the_rules() {
    let m = common::v2(&unique("dev-open"));
    m.create().expect("create");
    let _guard = Cleanup(m.clone());
    let null = r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}"#;
    m.apply(&devices(&[DENY_ALL, null])).expect("apply");
    assert!(
        run_in(&m, ": < /dev/null").success(),
        "/dev/null is allowed"
    );
    assert!(
        !run_in(&m, ": < /dev/zero").success(),
        "/dev/zero is denied"
    );
    assert!(
        !run_in(&m, ": < /dev/full").success(),
        "/dev/full is denied"
    );

    // Update: read-only /dev/zero is added; the old program is replaced, not stacked.
    let zero_r = r#"{"allow":true,"type":"c","major":1,"minor":5,"access":"r"}"#;
    m.apply(&devices(&[DENY_ALL, null, zero_r]))
        .expect("update");
    let dir = &m.paths()[0];
    assert_eq!(attached_device_programs(dir).expect("query").len(), 1);
    assert!(
        run_in(&m, ": < /dev/zero").success(),
        "read /dev/zero is allowed now"
    );
    assert!(
        !run_in(&m, ": > /dev/zero").success(),
        "write /dev/zero stays denied"
    );
    assert!(run_in(&m, ": > /dev/null").success());
}

#[test]
fn later_rules_win() {
    let m = common::v2(&unique("dev-order"));
    m.create().expect("create");
    let _guard = Cleanup(m.clone());
    let allow_all = r#"{"allow":true,"access":"rwm"}"#;
    let deny_zero = r#"{"allow":false,"type":"c","major":1,"minor":5}"#;
    m.apply(&devices(&[allow_all, deny_zero])).expect("apply");
    assert!(run_in(&m, ": < /dev/null").success());
    assert!(!run_in(&m, ": < /dev/zero").success());
    // A wildcard major matches every char device; the final allow-all makes everything open.
    let deny_chars = r#"{"allow":false,"type":"c","access":"rw"}"#;
    m.apply(&devices(&[deny_chars])).expect("apply");
    assert!(
        !run_in(&m, ": < /dev/null").success(),
        "all char devices denied"
    );
    m.apply(&devices(&[deny_chars, allow_all])).expect("apply");
    assert!(
        run_in(&m, ": < /dev/zero").success(),
        "the later allow-all wins"
    );
    assert_eq!(
        attached_device_programs(&m.paths()[0])
            .expect("query")
            .len(),
        1
    );
}

#[test]
fn mknod_needs_m() {
    let m = common::v2(&unique("dev-mknod"));
    m.create().expect("create");
    let _guard = Cleanup(m.clone());
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = tmp.path().join("null");
    let mknod = format!("mknod {} c 1 3", node.display());
    let rw_only = r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}"#;
    m.apply(&devices(&[DENY_ALL, rw_only])).expect("apply");
    assert!(!run_in(&m, &mknod).success(), "mknod denied without m");
    assert!(!node.exists());
    let rwm = r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}"#;
    m.apply(&devices(&[DENY_ALL, rwm])).expect("apply");
    assert!(run_in(&m, &mknod).success(), "mknod allowed with m");
    assert!(node.exists());
}
