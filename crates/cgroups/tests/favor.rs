//! The `favordynmods` holder on the real kernel: the named hierarchy exists while a holder
//! lives (every process's `/proc/self/cgroup` lists it), it is in no mount table outside
//! the holder's namespace, the mount point is unchanged, two holders share it, and moving
//! a process into a v1 cgroup still works while it is held.

mod common;

use berth_cgroups::{held_by_berth, FavorDynMods, HIERARCHY_NAME};
use common::{run_in, unique, Cleanup};

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo")
}

#[test]
fn held_while_alive_and_invisible_in_mount_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = FavorDynMods::enable(dir.path()).expect("enable");
    let second = FavorDynMods::enable(dir.path()).expect("a second holder shares it");
    assert!(
        held_by_berth(),
        "/proc/self/cgroup lists name={HIERARCHY_NAME}"
    );
    assert!(
        !mountinfo().contains(HIERARCHY_NAME),
        "the mount is private to the holder's namespace"
    );
    let entries = std::fs::read_dir(dir.path())
        .expect("read the mount point")
        .count();
    assert_eq!(entries, 0, "the mount point looks unchanged from here");
    drop(first);
    assert!(held_by_berth(), "the second holder keeps it");
    drop(second);
}

#[test]
fn processes_still_move_into_v1_cgroups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _held = FavorDynMods::enable(dir.path()).expect("enable");
    let m = common::v1(&unique("favor"));
    m.create().expect("create");
    let _g = Cleanup(m.clone());
    let name = unique("favor");
    let script = format!("grep -q 'pids:{}$' /proc/self/cgroup", name.display());
    assert!(
        run_in(&m, &script).success(),
        "placed in {}",
        name.display()
    );
}
