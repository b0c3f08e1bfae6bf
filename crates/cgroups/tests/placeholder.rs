//! Cgroups made ahead under a placeholder name ([`Placeholder`]): renamed to the
//! container's cgroup by [`Manager::create_from`] (seeded, joinable, the unified directory
//! made beside), made as usual where a rename cannot be done, removed when not taken, and
//! swept when their process is gone. Root needed; the host has cgroup v1 with a unified tree.

mod common;

use std::path::{Path, PathBuf};

use berth_cgroups::{sweep_placeholders, Hierarchies, Manager, Placeholder, PLACEHOLDER_PREFIX};
use common::{dir_of, read, unique, Cleanup, ROOT};

fn hierarchies() -> Hierarchies {
    Hierarchies::discover(Path::new(ROOT)).expect("discover")
}

fn from(h: &Hierarchies, path: &Path) -> Manager {
    Manager::with_hierarchies(h, path).expect("manager from hierarchies")
}

/// The placeholder's directory in every v1 hierarchy (as a manager on the same path sees).
fn placeholder_dirs(h: &Hierarchies, parent: &Path, pid: u32) -> Vec<PathBuf> {
    let m = from(h, &parent.join(format!("{PLACEHOLDER_PREFIX}{pid}")));
    let unified = m.unified_dir().map(Path::to_path_buf);
    m.paths()
        .into_iter()
        .filter(|p| Some(p) != unified.as_ref())
        .collect()
}

#[test]
fn a_placeholder_is_renamed_into_the_container_cgroup() {
    let h = hierarchies();
    let parent = unique("ahead");
    let _gp = Cleanup(from(&h, &parent));
    let p = Placeholder::make(&h, &parent, std::process::id()).expect("make");
    let made = placeholder_dirs(&h, &parent, std::process::id());
    assert!(
        made.len() > 1 && made.iter().all(|d| d.is_dir()),
        "{made:?}"
    );
    let m = from(&h, &parent.join("c1"));
    let _gm = Cleanup(m.clone());
    m.create_from(Some(&p))
        .expect("create from the placeholder");
    assert!(
        made.iter().all(|d| !d.exists()),
        "placeholder left: {made:?}"
    );
    assert!(m.paths().iter().all(|d| d.is_dir()), "{:?}", m.paths());
    let cpuset = dir_of(&m, "cpuset");
    assert_eq!(
        read(&cpuset.join("cpuset.cpus")),
        read(&Path::new(ROOT).join("cpuset/cpuset.cpus"))
    );
    let kid = common::joined(&m, "exec sleep 30");
    assert!(m.pids().expect("pids").contains(&kid.pid()));
    // Nothing left to remove, and removing is harmless.
    p.remove().expect("remove what is left");
    assert!(m.paths().iter().all(|d| d.is_dir()));
}

#[test]
fn a_cgroup_elsewhere_or_already_there_is_made_and_the_placeholder_removed() {
    let h = hierarchies();
    let parent = unique("ahead-elsewhere");
    let _gp = Cleanup(from(&h, &parent));
    let p = Placeholder::make(&h, &parent, std::process::id()).expect("make");
    let made = placeholder_dirs(&h, &parent, std::process::id());
    // Another parent: no rename.
    let other = from(&h, &parent.join("sub").join("c2"));
    let _go = Cleanup(other.clone());
    other.create_from(Some(&p)).expect("create elsewhere");
    assert!(other.paths().iter().all(|d| d.is_dir()));
    assert!(
        made.iter().all(|d| d.is_dir()),
        "placeholder taken: {made:?}"
    );
    // Already there in one hierarchy (left by a run that ended abruptly): that one made.
    let m = from(&h, &parent.join("c3"));
    let _gm = Cleanup(m.clone());
    std::fs::create_dir(dir_of(&m, "pids")).expect("mkdir");
    m.create_from(Some(&p)).expect("create beside");
    assert!(m.paths().iter().all(|d| d.is_dir()));
    p.remove().expect("remove");
    assert!(
        made.iter().all(|d| !d.exists()),
        "placeholder left: {made:?}"
    );
}

#[test]
fn placeholders_of_processes_that_are_gone_are_swept() {
    let h = hierarchies();
    let parent = unique("ahead-sweep");
    let _gp = Cleanup(from(&h, &parent));
    let mut gone = std::process::Command::new("true").spawn().expect("spawn");
    let gone_pid = gone.id();
    gone.wait().expect("wait");
    let stale = Placeholder::make(&h, &parent, gone_pid).expect("make stale");
    // A live process that is no shim: its placeholder is stale too.
    let mut kid = common::sleeper();
    let _live = Placeholder::make(&h, &parent, kid.pid() as u32).expect("make");
    let mine = Placeholder::make(&h, &parent, std::process::id()).expect("make mine");
    sweep_placeholders(&h, &parent);
    assert!(placeholder_dirs(&h, &parent, gone_pid)
        .iter()
        .all(|d| !d.exists()));
    assert!(placeholder_dirs(&h, &parent, kid.pid() as u32)
        .iter()
        .all(|d| !d.exists()));
    // The test process is no shim either (its name is the test binary's).
    assert!(placeholder_dirs(&h, &parent, std::process::id())
        .iter()
        .all(|d| !d.exists()));
    drop((stale, mine));
    kid.0.kill().ok();
    kid.wait();
}

#[test]
fn on_cgroup_v2_there_is_no_placeholder() {
    let v2 = Hierarchies::with_version(Path::new(common::UNIFIED), berth_cgroups::Version::V2)
        .expect("v2");
    assert!(Placeholder::make(&v2, &unique("ahead-v2"), std::process::id()).is_err());
}
