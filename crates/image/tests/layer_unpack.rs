//! unpack(): once per chain ID under concurrency, diffID verification, crash leftovers,
//! and OCI whiteouts through real overlay and vfs snapshots.
//! Needs root (overlay mounts in a private mount namespace per test thread).

mod layer_util;

use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Barrier};

use berth_image::digest::Digest;
use berth_image::layer::{self, apply, chain_id, Unpacked, Whiteouts};
use berth_image::snapshot::{self, Kind, Mount, Snapshotter};
use layer_util::{private_mounts, tempdir, TarBuilder};

fn diff_id(tar: &[u8]) -> Digest {
    let dir = tempdir("sha");
    apply(dir.path(), tar, Whiteouts::Delete).unwrap().diff_id
}

type Make = fn(&Path) -> Arc<dyn Snapshotter>;
const BACKENDS: [(&str, Make); 2] = [
    ("overlay", |r| Arc::new(snapshot::Overlay::new(r).unwrap())),
    ("vfs", |r| Arc::new(snapshot::Vfs::new(r).unwrap())),
];

#[test]
fn concurrent_unpack_applies_once() {
    for (name, make) in BACKENDS {
        let root = tempdir("unpack");
        let s = make(root.path());
        let mut tb = TarBuilder::new();
        for i in 0..200 {
            tb.file(&format!("f{i}"), &[b'x'; 3000]);
        }
        let tar = Arc::new(tb.finish());
        let d = diff_id(&tar);
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (s, tar, d, barrier) = (s.clone(), tar.clone(), d.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    layer::unpack(s.as_ref(), &d, None, &tar[..], &d).unwrap()
                })
            })
            .collect();
        let results: Vec<Unpacked> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let applied = results
            .iter()
            .filter(|r| matches!(r, Unpacked::Applied(_)))
            .count();
        assert_eq!(applied, 1, "{name}: applied once: {results:?}");
        let keys: Vec<String> = s.list().unwrap().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, [d.to_string()], "{name}");
    }
}

/// A reader that fails the test if anyone reads it.
struct Untouchable;
impl Read for Untouchable {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        panic!("an existing layer's stream must not be read");
    }
}

#[test]
fn existing_layer_is_skipped_unread() {
    let root = tempdir("unpack");
    let s = snapshot::Overlay::new(root.path()).unwrap();
    let tar = TarBuilder::new().file("f", b"1").finish();
    let d = diff_id(&tar);
    assert!(matches!(
        layer::unpack(&s, &d, None, &tar[..], &d).unwrap(),
        Unpacked::Applied(_)
    ));
    assert_eq!(
        layer::unpack(&s, &d, None, Untouchable, &d).unwrap(),
        Unpacked::Skipped
    );
}

#[test]
fn diff_id_mismatch_leaves_nothing() {
    for (name, make) in BACKENDS {
        let root = tempdir("unpack");
        let s = make(root.path());
        let tar = TarBuilder::new().file("f", b"1").finish();
        let wrong = diff_id(&TarBuilder::new().file("f", b"2").finish());
        let err = layer::unpack(s.as_ref(), &wrong, None, &tar[..], &wrong).unwrap_err();
        assert!(
            err.to_string().contains("layer diffID mismatch"),
            "{name}: {err}"
        );
        assert!(s.list().unwrap().is_empty(), "{name}: no snapshot left");
        // A truncated stream fails too.
        let d = diff_id(&tar);
        let err = layer::unpack(s.as_ref(), &d, None, &tar[..700], &d).unwrap_err();
        assert!(s.list().unwrap().is_empty(), "{name}: {err}");
    }
}

#[test]
fn chain_ids_follow_oci() {
    let a = Digest::sha256_hex(&"a".repeat(64)).unwrap();
    let b = Digest::sha256_hex(&"b".repeat(64)).unwrap();
    assert_eq!(chain_id(None, &a), a);
    let got = chain_id(Some(&a), &b).to_string();
    let shell = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s' '{a} {b}' | sha256sum"))
        .output()
        .unwrap();
    let shell = String::from_utf8(shell.stdout).unwrap();
    assert_eq!(got, format!("sha256:{}", &shell[..64]));
}

#[test]
fn crashed_extract_is_cleaned_up() {
    for (name, make) in BACKENDS {
        let root = tempdir("unpack");
        let s = make(root.path());
        let key = format!(
            "extract-00000000deadbeef-{}",
            Digest::sha256_hex(&"c".repeat(64)).unwrap()
        );
        s.prepare(&key, None).unwrap();
        fs::write(s.writable_dir(&key).unwrap().join("half"), "x").unwrap();
        s.cleanup().unwrap();
        assert!(s.list().unwrap().is_empty(), "{name}");
        assert!(
            layer_util::is_empty_dir(&root.path().join("snapshots")),
            "{name}"
        );
    }
}

/// Layer 1: /a/x, /a/y, /d/old1, /d/old2; layer 2 deletes /a/x and makes /d opaque with
/// /d/new: through the snapshot's mounts /a/x is gone, /a/y stays, /d has only new.
#[test]
fn whiteouts_through_mounts() {
    private_mounts();
    for (name, make) in BACKENDS {
        let root = tempdir("unpack");
        let s = make(root.path());
        let l1 = TarBuilder::new()
            .dir("a/")
            .file("a/x", b"x")
            .file("a/y", b"y")
            .dir("d/")
            .file("d/old1", b"1")
            .file("d/old2", b"2")
            .finish();
        let l2 = TarBuilder::new()
            .dir("a/")
            .file("a/.wh.x", b"")
            .dir("d/")
            .file("d/.wh..wh..opq", b"")
            .file("d/new", b"n")
            .finish();
        let (d1, d2) = (diff_id(&l1), diff_id(&l2));
        let c2 = chain_id(Some(&d1), &d2);
        layer::unpack(s.as_ref(), &d1, None, &l1[..], &d1).unwrap();
        layer::unpack(s.as_ref(), &c2, Some(&d1), &l2[..], &d2).unwrap();
        assert_eq!(s.stat(&c2.to_string()).unwrap().kind, Kind::Committed);
        let mounts = s.view("v", Some(&c2.to_string())).unwrap();
        let target = tempdir("mnt");
        Mount::mount_at(&mounts, target.path()).unwrap();
        let m = target.path();
        let names = |d: &str| {
            let mut v: Vec<String> = fs::read_dir(m.join(d))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names("a"), ["y"], "{name}: /a/x whited out");
        assert_eq!(names("d"), ["new"], "{name}: /d opaque");
        snapshot::unmount(m).unwrap();
    }
}
