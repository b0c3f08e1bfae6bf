//! Fewer files per run: one init layer shared by every container of a data root (and an
//! older container's own one still used), and removal through the trash (a removed
//! container's directories renamed away at once, deleted after, a crash's leftovers
//! swept at start). Needs root (overlay mounts, containers under their shim).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_engine::record::{Config, Status};
use berth_engine::trash::Trash;
use berth_engine::{CreateRequest, Engine};

mod support;
use support::{images_dir, shim_path};

fn engine_with_busybox(what: &str) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("berth-lean-{what}-{}-", std::process::id()))
        .tempdir()
        .unwrap();
    let mut engine = Engine::open(dir.path()).unwrap();
    engine.set_shim_path(shim_path());
    let tar = std::fs::File::open(images_dir().join("busybox-1.35.docker.tar")).unwrap();
    engine.images().load(tar).unwrap();
    (dir, engine)
}

fn sleeper(engine: &Engine, name: &str) -> berth_engine::record::Container {
    let req = CreateRequest {
        image: "busybox:1.35".into(),
        name: Some(name.into()),
        config: Config {
            cmd: ["sleep", "60"].map(String::from).to_vec(),
            ..Default::default()
        },
    };
    engine.create(&req).unwrap()
}

/// The `lowerdir=` option of the overlay mounted on `target`.
fn lowerdir(target: &Path) -> String {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let target = target.to_str().unwrap();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(target))
        .unwrap_or_else(|| panic!("{target} is not mounted"));
    line.split([' ', ','])
        .find_map(|o| o.strip_prefix("lowerdir="))
        .unwrap_or_else(|| panic!("no lowerdir in {line}"))
        .to_string()
}

fn assert_running(engine: &Engine, id: &str) {
    assert_eq!(engine.find(id).unwrap().state.status, Status::Running);
}

#[test]
fn one_init_layer_serves_every_container_and_outlives_them() {
    let (dir, engine) = engine_with_busybox("init");
    let shared = dir.path().join("init");
    let a = sleeper(&engine, "first");
    let b = sleeper(&engine, "second");
    engine.start_detached(&a).unwrap();
    let made = std::fs::metadata(&shared).unwrap().ino();
    engine.start_detached(&b).unwrap();
    for c in [&a, &b] {
        assert_running(&engine, &c.id);
        let lower = lowerdir(&engine.containers().rootfs(&c.id));
        assert!(
            lower.starts_with(&format!("{}:", shared.display())),
            "{lower}"
        );
        assert!(!engine.containers().dir(&c.id).join("init").exists());
    }
    for f in [
        "dev",
        "proc",
        "sys",
        "etc/hostname",
        "etc/hosts",
        "etc/resolv.conf",
    ] {
        assert!(shared.join(f).exists(), "{f}");
    }
    engine.remove(&engine.find("first").unwrap(), true).unwrap();
    assert_eq!(std::fs::metadata(&shared).unwrap().ino(), made, "made once");
    assert_running(&engine, &b.id);
    let c = sleeper(&engine, "third");
    engine.start_detached(&c).unwrap();
    assert_running(&engine, &c.id);
    assert_eq!(std::fs::metadata(&shared).unwrap().ino(), made);
    for c in [&b, &c] {
        engine.remove(&engine.find(&c.id).unwrap(), true).unwrap();
    }
    assert!(shared.join("etc/resolv.conf").exists());
}

#[test]
fn a_container_with_its_own_init_layer_keeps_using_it() {
    let (_dir, engine) = engine_with_busybox("old");
    let c = sleeper(&engine, "old");
    // What an older berth made at the container's first start.
    let own = engine.containers().dir(&c.id).join("init");
    for d in ["dev", "proc", "sys", "etc"] {
        std::fs::create_dir_all(own.join(d)).unwrap();
    }
    for f in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
        std::fs::write(own.join(f), "").unwrap();
    }
    engine.start_detached(&c).unwrap();
    assert_running(&engine, &c.id);
    let lower = lowerdir(&engine.containers().rootfs(&c.id));
    assert!(lower.starts_with(&format!("{}:", own.display())), "{lower}");
    engine.remove(&engine.find(&c.id).unwrap(), true).unwrap();
}

/// The entries in `dir`.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

#[test]
fn a_removed_container_is_gone_at_once_and_its_files_after_the_trash_empties() {
    let (dir, mut engine) = engine_with_busybox("trash");
    let trash = Trash::background(dir.path(), |e| panic!("trash: {e}")).unwrap();
    engine.set_trash(trash.clone());
    let c = sleeper(&engine, "doomed");
    engine.start_detached(&c).unwrap();
    let cdir = engine.containers().dir(&c.id);
    let snapshots = dir.path().join("snapshots/overlay/snapshots");
    let before = entries(&snapshots).len();
    engine.remove(&engine.find(&c.id).unwrap(), true).unwrap();
    assert!(!cdir.exists(), "the container's directory is gone at once");
    assert_eq!(entries(&snapshots).len(), before - 1, "and its snapshot");
    assert!(engine.find(&c.id).is_err());
    // Its name and id are free at once.
    let again = sleeper(&engine, "doomed");
    assert!(
        trash.wait_empty(Duration::from_secs(20)),
        "the trash empties"
    );
    assert_eq!(entries(trash.dir()), Vec::<PathBuf>::new());
    engine.remove(&again, false).unwrap();
    assert!(trash.wait_empty(Duration::from_secs(20)));
    assert_eq!(entries(trash.dir()), Vec::<PathBuf>::new());
    assert_eq!(
        entries(&dir.path().join("containers")),
        [dir.path().join("containers/names")]
    );
    // A container removed at its exit (`--rm`) goes the same way.
    let mut req = CreateRequest {
        image: "busybox:1.35".into(),
        name: Some("brief".into()),
        config: Config {
            cmd: vec!["true".into()],
            ..Default::default()
        },
    };
    req.config.auto_remove = true;
    let r = engine.create(&req).unwrap();
    engine.start_detached(&r).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while engine.find(&r.id).is_ok() {
        assert!(Instant::now() < deadline, "never removed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(trash.wait_empty(Duration::from_secs(20)));
    assert_eq!(entries(trash.dir()), Vec::<PathBuf>::new());
    assert_eq!(mounts_under(dir.path()), Vec::<String>::new());
}

/// The mount points at or below `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(dir))
        .map(String::from)
        .collect()
}

#[test]
fn a_synchronous_trash_deletes_before_the_removal_returns() {
    let (dir, engine) = engine_with_busybox("sync");
    let c = sleeper(&engine, "now");
    engine.remove(&c, false).unwrap();
    assert_eq!(entries(&dir.path().join("trash")), Vec::<PathBuf>::new());
    assert!(!engine.containers().dir(&c.id).exists());
    // A running one: nothing of it is mounted or left once the removal returns.
    let r = sleeper(&engine, "running");
    engine.start_detached(&r).unwrap();
    engine.remove(&engine.find(&r.id).unwrap(), true).unwrap();
    assert_eq!(entries(&dir.path().join("trash")), Vec::<PathBuf>::new());
    assert_eq!(mounts_under(dir.path()), Vec::<String>::new());
}

#[test]
fn what_a_crash_left_in_the_trash_is_swept_at_start() {
    let dir = tempfile::Builder::new()
        .prefix(&format!("berth-lean-sweep-{}-", std::process::id()))
        .tempdir()
        .unwrap();
    let left = dir.path().join("trash");
    std::fs::create_dir_all(left.join("container-x-1/rootfs/deep")).unwrap();
    std::fs::write(left.join("container-x-1/rootfs/deep/f"), "data").unwrap();
    std::fs::write(left.join("stray-file"), "data").unwrap();
    // A removed container's root still mounted when berthd stopped.
    let mounted = left.join("container-y-2/rootfs");
    std::fs::create_dir_all(&mounted).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &mounted,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    std::fs::write(mounted.join("in-the-mount"), "data").unwrap();
    // A user's file beside the trash is never touched.
    std::fs::write(dir.path().join("keep"), "mine").unwrap();
    let trash = Trash::background(dir.path(), |e| panic!("trash: {e}")).unwrap();
    assert!(trash.wait_empty(Duration::from_secs(20)));
    assert_eq!(entries(&left), Vec::<PathBuf>::new());
    assert_eq!(mounts_under(dir.path()), Vec::<String>::new());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep")).unwrap(),
        "mine"
    );
}

#[test]
fn a_shim_run_keeps_no_copy_of_the_config_and_writes_its_state_once() {
    let (_dir, engine) = engine_with_busybox("state");
    let c = sleeper(&engine, "stateful");
    engine.start_detached(&c).unwrap();
    let rt = engine.runtime();
    let state = rt.root.container_dir(&c.id);
    assert!(state.join("state.json").exists());
    assert!(!state.join("config.json").exists(), "no copy of the config");
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("state.json")).unwrap()).unwrap();
    assert_eq!(raw["config_in_bundle"], true, "{raw}");
    assert_eq!(raw["started"], false, "written by create only: {raw}");
    let spec = rt.saved_spec(&c.id).unwrap();
    let args = spec.process().as_ref().unwrap().args().clone().unwrap();
    assert_eq!(args, ["sleep", "60"]);
    assert_eq!(rt.state(&c.id).unwrap().status, "running");
    engine.remove(&engine.find(&c.id).unwrap(), true).unwrap();
}
