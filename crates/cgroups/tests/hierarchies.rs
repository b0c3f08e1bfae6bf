//! Hierarchies found once ([`Hierarchies`]) and cgroups opened from them: the same
//! directories as a fresh discovery, and a new v1 cpuset cgroup seeded from its parent
//! whether its parent was there before, made with it, or it was left over empty. Root
//! needed; the host has cgroup v1 with a unified tree.

mod common;

use std::path::Path;

use berth_cgroups::{Hierarchies, Manager, Version};
use common::{dir_of, read, unique, Cleanup, ROOT, UNIFIED};

fn from(h: &Hierarchies, path: &Path) -> Manager {
    Manager::with_hierarchies(h, path).expect("manager from hierarchies")
}

#[test]
fn found_once_they_give_the_directories_a_fresh_discovery_gives() {
    let h = Hierarchies::discover(Path::new(ROOT)).expect("discover");
    assert_eq!(h.version(), Version::V1);
    assert_eq!(h.root(), Path::new(ROOT));
    let path = unique("layout").join("c");
    let fresh = Manager::new(Path::new(ROOT), &path).expect("manager");
    assert_eq!(from(&h, &path).paths(), fresh.paths());
    assert!(fresh.paths().len() > 1, "{:?}", fresh.paths());
    let v2 = Hierarchies::with_version(Path::new(UNIFIED), Version::V2).expect("v2");
    assert_eq!(
        from(&v2, &path).paths(),
        [Path::new(UNIFIED).join(path.strip_prefix("/").unwrap())]
    );
    let bad = Manager::with_hierarchies(&h, Path::new("/a/../../etc"));
    assert!(bad.is_err());
}

/// The cpuset values of `m`'s directory.
fn cpuset(m: &Manager) -> (String, String) {
    let dir = dir_of(m, "cpuset");
    (
        read(&dir.join("cpuset.cpus")),
        read(&dir.join("cpuset.mems")),
    )
}

#[test]
fn a_new_cpuset_cgroup_is_seeded_below_a_parent_that_was_there() {
    let h = Hierarchies::discover(Path::new(ROOT)).expect("discover");
    let parent = from(&h, &unique("seed"));
    let _gp = Cleanup(parent.clone());
    parent.create().expect("create the parent");
    let want = cpuset(&parent);
    assert!(!want.0.is_empty() && !want.1.is_empty(), "{want:?}");
    let child = from(&h, &unique("seed").join("leaf"));
    let _gc = Cleanup(child.clone());
    child.create().expect("create");
    assert_eq!(cpuset(&child), want);
    let kid = common::joined(&child, "exec sleep 30");
    assert!(child.pids().expect("pids").contains(&kid.pid()));
}

#[test]
fn a_cpuset_cgroup_left_over_empty_is_seeded() {
    let h = Hierarchies::discover(Path::new(ROOT)).expect("discover");
    let m = from(&h, &unique("leftover").join("leaf"));
    let _g = Cleanup(from(&h, &unique("leftover")));
    let _gm = Cleanup(m.clone());
    // Made by hand, as a run that ended abruptly between mkdir and seeding leaves it.
    let dir = dir_of(&m, "cpuset");
    std::fs::create_dir_all(&dir).expect("mkdir");
    assert_eq!(read(&dir.join("cpuset.cpus")), "");
    m.create().expect("create");
    assert_eq!(
        cpuset(&m),
        (
            read(&Path::new(ROOT).join("cpuset/cpuset.cpus")),
            read(&Path::new(ROOT).join("cpuset/cpuset.mems"))
        )
    );
}
