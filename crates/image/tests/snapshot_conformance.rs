//! One conformance suite for every snapshotter (overlay and vfs): the lifecycle, parents
//! and children, real mounts of active snapshots and views, cleanup and usage.
//! Needs root (mounts, in a private mount namespace per test thread).

mod layer_util;

use std::fs;
use std::path::Path;

use berth_image::snapshot::{self, Error, Kind, Mount, Snapshotter};
use layer_util::{private_mounts, tempdir};

/// Commits a layer `name` over `parent` holding `files` (path, contents).
fn layer(s: &dyn Snapshotter, name: &str, parent: Option<&str>, files: &[(&str, &str)]) {
    let key = format!("build-{name}");
    s.prepare(&key, parent).unwrap();
    let dir = s.writable_dir(&key).unwrap();
    for (path, data) in files {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }
    s.commit(name, &key).unwrap();
}

/// Mounts `mounts` on a fresh directory, runs `f` on it, unmounts.
fn with_mounted(mounts: &[Mount], f: impl FnOnce(&Path)) {
    let target = tempdir("mnt");
    Mount::mount_at(mounts, target.path()).unwrap();
    f(target.path());
    snapshot::unmount(target.path()).unwrap();
}

fn lifecycle(s: &dyn Snapshotter, _root: &Path) {
    let mounts = s.prepare("a", None).unwrap();
    assert!(!mounts.is_empty());
    assert_eq!(s.stat("a").unwrap().kind, Kind::Active);
    fs::write(s.writable_dir("a").unwrap().join("f"), "1").unwrap();
    s.commit("L1", "a").unwrap();
    assert!(matches!(s.stat("a"), Err(Error::NotFound { .. })));
    let info = s.stat("L1").unwrap();
    assert_eq!((info.kind, info.parent), (Kind::Committed, None));
    assert!(
        s.mounts("L1").is_err(),
        "committed snapshots have no mounts"
    );
    assert!(s.writable_dir("L1").is_err());

    s.prepare("b", None).unwrap();
    assert!(matches!(s.commit("L1", "b"), Err(Error::Exists { .. })));
    assert!(matches!(s.prepare("b", None), Err(Error::Exists { .. })));
    s.view("v", Some("L1")).unwrap();
    assert_eq!(s.stat("v").unwrap().kind, Kind::View);
    assert!(s.commit("L2", "v").is_err(), "a view cannot be committed");
    let mut keys: Vec<String> = s.list().unwrap().into_iter().map(|i| i.key).collect();
    keys.sort();
    assert_eq!(keys, ["L1", "b", "v"]);
    for key in ["v", "b", "L1"] {
        s.remove(key).unwrap();
    }
    assert!(s.list().unwrap().is_empty());
    assert!(matches!(s.remove("L1"), Err(Error::NotFound { .. })));
}

fn parents_and_children(s: &dyn Snapshotter, _root: &Path) {
    layer(s, "sha256:p", None, &[("p", "p")]);
    s.prepare("child", Some("sha256:p")).unwrap();
    assert_eq!(s.stat("child").unwrap().parent.as_deref(), Some("sha256:p"));
    assert!(matches!(
        s.remove("sha256:p"),
        Err(Error::HasChildren { children: 1, .. })
    ));
    assert!(matches!(
        s.prepare("x", Some("child")),
        Err(Error::WrongKind { .. })
    ));
    assert!(matches!(
        s.prepare("x", Some("missing")),
        Err(Error::NotFound { .. })
    ));
    s.remove("child").unwrap();
    s.remove("sha256:p").unwrap();
}

fn mounts_show_layers(s: &dyn Snapshotter, _root: &Path) {
    layer(
        s,
        "L1",
        None,
        &[("a/x", "x1"), ("a/y", "y1"), ("d/old", "o")],
    );
    layer(s, "L2", Some("L1"), &[("b", "b2"), ("a/y", "y2")]);
    let mounts = s.prepare("c", Some("L2")).unwrap();
    with_mounted(&mounts, |m| {
        assert_eq!(fs::read_to_string(m.join("a/x")).unwrap(), "x1");
        assert_eq!(fs::read_to_string(m.join("a/y")).unwrap(), "y2");
        assert_eq!(fs::read_to_string(m.join("b")).unwrap(), "b2");
        fs::write(m.join("new"), "n").unwrap();
        fs::remove_file(m.join("a/x")).unwrap();
        fs::remove_dir_all(m.join("d")).unwrap();
        fs::create_dir(m.join("d")).unwrap();
        fs::write(m.join("d/fresh"), "f").unwrap();
    });
    let upper = s.writable_dir("c").unwrap();
    assert_eq!(
        fs::read_to_string(upper.join("new")).unwrap(),
        "n",
        "writes land in the writable dir"
    );
    s.commit("L3", "c").unwrap();
    let mounts = s.view("v", Some("L3")).unwrap();
    with_mounted(&mounts, |m| {
        assert!(!m.join("a/x").exists(), "deleted lower file stays deleted");
        assert_eq!(fs::read_to_string(m.join("a/y")).unwrap(), "y2");
        assert_eq!(fs::read_to_string(m.join("new")).unwrap(), "n");
        let d: Vec<_> = fs::read_dir(m.join("d"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(d, ["fresh"], "recreated directory hides the old contents");
        assert!(fs::write(m.join("ro"), "x").is_err(), "views are read-only");
    });
    let mounts = s.view("v1", Some("L1")).unwrap();
    with_mounted(&mounts, |m| {
        assert_eq!(fs::read_to_string(m.join("a/x")).unwrap(), "x1")
    });
}

fn many_layers(s: &dyn Snapshotter, _root: &Path) {
    // 60 layers: absolute lowerdir paths exceed mount(2)'s 4 KiB option limit.
    let mut parent: Option<String> = None;
    for i in 0..60 {
        let name = format!("sha256:{i:064x}");
        layer(s, &name, parent.as_deref(), &[(&format!("f{i}"), "x")]);
        parent = Some(name);
    }
    let mounts = s.prepare("top", parent.as_deref()).unwrap();
    with_mounted(&mounts, |m| {
        for i in 0..60 {
            assert!(m.join(format!("f{i}")).exists(), "f{i} visible");
        }
    });
}

fn cleanup_removes_leftovers(s: &dyn Snapshotter, root: &Path) {
    s.prepare("extract-0123456789abcdef-sha256:dead", None)
        .unwrap();
    s.prepare("extract-1111111111111111-sha256:busy", None)
        .unwrap();
    s.prepare("container", None).unwrap();
    // An early unpack whose process died: its working name's lock file goes too.
    s.prepare("extract-2222222222222222-early-00000000000000aa", None)
        .unwrap();
    drop(s.lock("early-00000000000000aa").unwrap());
    layer(s, "L", None, &[("f", "1")]);
    let stray = root.join("tmp/new-stray");
    fs::create_dir_all(stray.join("fs/deep")).unwrap();
    let busy = s.lock("sha256:busy").unwrap();
    s.cleanup().unwrap();
    let mut keys: Vec<String> = s.list().unwrap().into_iter().map(|i| i.key).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["L", "container", "extract-1111111111111111-sha256:busy"]
    );
    assert!(!stray.exists());
    assert!(!root.join("locks/early-00000000000000aa").exists());
    drop(busy);
    s.cleanup().unwrap();
    assert_eq!(s.list().unwrap().len(), 2);
}

/// `remove_to` unregisters with one rename and leaves the files at the grave; it refuses
/// what `remove` refuses; a grave it cannot rename to (its directory missing) makes it
/// delete the files instead.
fn remove_to_moves_the_files(s: &dyn Snapshotter, root: &Path) {
    layer(s, "L", None, &[("f", "1")]);
    s.prepare("c", Some("L")).unwrap();
    fs::write(s.writable_dir("c").unwrap().join("mine"), "x").unwrap();
    let graves = tempdir("graves");
    let grave = root.join("grave-c");
    assert!(matches!(
        s.remove_to("L", &grave),
        Err(Error::HasChildren { .. })
    ));
    assert!(!grave.exists());
    assert!(s.remove_to("c", &grave).unwrap());
    assert!(matches!(s.stat("c"), Err(Error::NotFound { .. })));
    assert!(grave.is_dir(), "the files are at the grave");
    assert!(matches!(
        s.remove_to("c", &grave),
        Err(Error::NotFound { .. })
    ));
    fs::remove_dir_all(&grave).unwrap();
    s.prepare("d", Some("L")).unwrap();
    let nowhere = graves.path().join("missing/grave-d");
    assert!(!s.remove_to("d", &nowhere).unwrap());
    assert!(matches!(s.stat("d"), Err(Error::NotFound { .. })));
    assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    assert!(
        s.remove_to("L", &grave).unwrap(),
        "a layer without children"
    );
    assert!(s.list().unwrap().is_empty());
}

/// A layer made without its parent and committed over it afterwards (overlay), or refused
/// (vfs, whose snapshots copy their parents).
fn commit_over_a_parent(s: &dyn Snapshotter, _root: &Path) {
    layer(s, "P", None, &[("below", "p")]);
    s.prepare("x", None).unwrap();
    fs::write(s.writable_dir("x").unwrap().join("above"), "x").unwrap();
    if !s.detached_layers() {
        assert!(matches!(
            s.commit_over("C", "x", Some("P")),
            Err(Error::NotDetachable { .. })
        ));
        return;
    }
    s.commit_over("C", "x", Some("P")).unwrap();
    let info = s.stat("C").unwrap();
    assert_eq!(
        (info.kind, info.parent.as_deref()),
        (Kind::Committed, Some("P"))
    );
    assert!(matches!(s.stat("x"), Err(Error::NotFound { .. })));
    assert!(matches!(s.remove("P"), Err(Error::HasChildren { .. })));
    let mounts = s.view("v", Some("C")).unwrap();
    with_mounted(&mounts, |m| {
        assert_eq!(fs::read_to_string(m.join("below")).unwrap(), "p");
        assert_eq!(fs::read_to_string(m.join("above")).unwrap(), "x");
    });
    // Only a parentless snapshot can be given a parent.
    s.prepare("y", Some("C")).unwrap();
    assert!(matches!(
        s.commit_over("D", "y", Some("P")),
        Err(Error::NotDetachable { .. })
    ));
}

fn spares_serve_prepares(s: &dyn Snapshotter, root: &Path) {
    layer(s, "L", None, &[("etc/f", "1")]);
    let kept = s.make_spare().unwrap();
    assert_eq!(s.make_spare().unwrap(), kept);
    let spares = if kept { 2 } else { 0 };
    assert_eq!(s.spares(), spares);
    assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), spares);
    let mounts = s.prepare("c", Some("L")).unwrap();
    assert_eq!(s.spares(), spares.saturating_sub(1));
    assert_eq!(s.stat("c").unwrap().kind, Kind::Active);
    assert_eq!(s.stat("c").unwrap().parent.as_deref(), Some("L"));
    with_mounted(&mounts, |m| {
        assert_eq!(fs::read_to_string(m.join("etc/f")).unwrap(), "1");
        fs::write(m.join("new"), "2").unwrap();
    });
    let upper = s.writable_dir("c").unwrap();
    assert_eq!(fs::read_to_string(upper.join("new")).unwrap(), "2");
    // A key taken already: the spare it would have used is not left behind.
    assert!(matches!(
        s.prepare("c", Some("L")),
        Err(Error::Exists { .. })
    ));
    assert_eq!(s.spares(), 0);
    assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
}

fn usage_counts_bytes(s: &dyn Snapshotter, _root: &Path) {
    s.prepare("u", None).unwrap();
    let dir = s.writable_dir("u").unwrap();
    fs::write(dir.join("big"), vec![7u8; 1 << 20]).unwrap();
    fs::create_dir(dir.join("sub")).unwrap();
    fs::hard_link(dir.join("big"), dir.join("sub/again")).unwrap();
    let u = s.usage("u").unwrap();
    assert!(
        u.bytes >= 1 << 20 && u.bytes < 2 << 20,
        "hardlink counted once: {u:?}"
    );
    assert_eq!(u.inodes, 3, "root, big, sub");
}

macro_rules! conformance {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            fn run(test: fn(&dyn Snapshotter, &Path)) {
                private_mounts();
                let dir = tempdir(concat!("snap-", stringify!($backend)));
                let make: fn(&Path) -> Box<dyn Snapshotter> = $make;
                let s = make(dir.path());
                test(s.as_ref(), dir.path());
            }

            #[test]
            fn lifecycle() {
                run(super::lifecycle)
            }
            #[test]
            fn parents_and_children() {
                run(super::parents_and_children)
            }
            #[test]
            fn mounts_show_layers() {
                run(super::mounts_show_layers)
            }
            #[test]
            fn many_layers() {
                run(super::many_layers)
            }
            #[test]
            fn cleanup_removes_leftovers() {
                run(super::cleanup_removes_leftovers)
            }
            #[test]
            fn remove_to_moves_the_files() {
                run(super::remove_to_moves_the_files)
            }
            #[test]
            fn commit_over_a_parent() {
                run(super::commit_over_a_parent)
            }
            #[test]
            fn usage_counts_bytes() {
                run(super::usage_counts_bytes)
            }
            #[test]
            fn spares_serve_prepares() {
                run(super::spares_serve_prepares)
            }
        }
    };
}

conformance!(overlay, |root| Box::new(
    snapshot::Overlay::new(root).unwrap()
));
conformance!(vfs, |root| Box::new(snapshot::Vfs::new(root).unwrap()));

#[test]
fn overlay_is_detected_here() {
    let dir = tempdir("probe");
    assert!(
        snapshot::overlay_supported(dir.path()),
        "overlayfs works on this machine"
    );
    assert!(
        layer_util::is_empty_dir(dir.path()),
        "the probe leaves nothing behind"
    );
}
