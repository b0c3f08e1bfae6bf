//! Loads under stress through the real binary: concurrent loads sharing layers, a load
//! killed with SIGKILL midway, and hostile archives (truncated, wrong digest, missing blob,
//! `..` entries, symlink and hardlink escapes) that must fail cleanly and write nothing
//! outside the data root.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use support::{busybox_layer, docker_archive, docker_tar, RawTar, Root};

fn layer_with(name: &str, size: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..size).map(|i| (i * 7 + name.len()) as u8).collect();
    RawTar::default()
        .dir("data/")
        .file(&format!("data/{name}"), &data)
        .finish()
}

#[test]
fn concurrent_loads_sharing_layers_both_succeed() {
    let root = Root::new("concurrent");
    let base = busybox_layer();
    let a = root.dir.path().join("a.tar");
    let b = root.dir.path().join("b.tar");
    std::fs::write(
        &a,
        docker_archive("a:1", &[base.clone(), layer_with("a", 4 << 20)]),
    )
    .unwrap();
    std::fs::write(&b, docker_archive("b:1", &[base, layer_with("b", 4 << 20)])).unwrap();
    for _ in 0..3 {
        let spawn = |p: &Path| {
            root.cmd(&["load", "-i", p.to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (ca, cb) = (spawn(&a), spawn(&b));
        let (oa, ob) = (
            ca.wait_with_output().unwrap(),
            cb.wait_with_output().unwrap(),
        );
        assert!(
            oa.status.success(),
            "{}",
            String::from_utf8_lossy(&oa.stderr)
        );
        assert!(
            ob.status.success(),
            "{}",
            String::from_utf8_lossy(&ob.stderr)
        );
        assert_eq!(root.image_ids().len(), 2);
        assert_eq!(root.snapshot_count(), 3, "the shared base is unpacked once");
        root.run(&["rmi", "a:1", "b:1"]).ok();
        assert_eq!(root.snapshot_count(), 0);
    }
}

/// Entries directly under the snapshotter's and content store's work areas that a crash
/// could leave: half-made snapshots and temporary blobs.
fn leftovers(root: &Root) -> Vec<PathBuf> {
    let base = root.path();
    let mut out = Vec::new();
    for dir in [
        "snapshots/overlay/snapshots",
        "snapshots/overlay/tmp",
        "content/ingest",
    ] {
        for e in std::fs::read_dir(base.join(dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with("sha256") {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn a_killed_load_leaves_nothing_visible_and_the_next_load_works() {
    let root = Root::new("kill");
    let layers: Vec<Vec<u8>> = (0..4)
        .map(|i| layer_with(&format!("big{i}"), 40 << 20))
        .collect();
    let archive = root.dir.path().join("big.tar");
    std::fs::write(&archive, docker_archive("big:1", &layers)).unwrap();
    let mut child = root
        .cmd(&["load", "-i", archive.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the load was still running when killed");
    // berthd drops what the broken upload left half made.
    assert!(root.image_ids().is_empty(), "no image from a killed load");
    support::wait_until(10, || leftovers(&root).is_empty());
    assert_eq!(leftovers(&root), Vec::<PathBuf>::new());
    root.run(&["image", "prune", "-f"]).ok();
    assert_eq!(
        root.snapshot_count(),
        0,
        "no layer of the killed load survives a prune"
    );
    root.load(&archive);
    assert_eq!(root.image_ids().len(), 1);
    assert_eq!(root.snapshot_count(), 4);
}

/// A root beside a canary directory holding one file that must never change.
struct Sandbox {
    root: Root,
}

impl Sandbox {
    fn new(what: &str) -> Sandbox {
        let root = Root::new(what);
        std::fs::create_dir(root.dir.path().join("canary")).unwrap();
        std::fs::write(root.dir.path().join("canary/keep"), b"keep").unwrap();
        std::fs::create_dir(root.dir.path().join("input")).unwrap();
        Sandbox { root }
    }

    fn canary(&self) -> PathBuf {
        self.root.dir.path().join("canary")
    }

    /// `../` enough times to reach `/` from anywhere under the data root.
    fn up(&self) -> String {
        "../".repeat(12)
    }

    /// Loads `archive`: it must fail with one clear error and leave nothing behind.
    fn refused(&self, name: &str, archive: &[u8], message: &str) {
        let path = self.root.dir.path().join(format!("input/{name}.tar"));
        std::fs::write(&path, archive).unwrap();
        let r = self.root.run(&["load", "-i", path.to_str().unwrap()]);
        assert_ne!(r.code, 0, "{name}: load succeeded");
        assert!(
            r.stderr.starts_with("Error response from daemon: ") && r.stderr.lines().count() == 1,
            "{name}: {}",
            r.stderr
        );
        assert!(r.stderr.contains(message), "{name}: {}", r.stderr);
        assert!(
            self.root.image_ids().is_empty(),
            "{name}: an image is listed"
        );
        assert_eq!(
            self.root.snapshot_count(),
            0,
            "{name}: a layer was committed"
        );
        assert_eq!(leftovers(&self.root), Vec::<PathBuf>::new(), "{name}");
        self.check_canary(name);
        std::fs::remove_file(path).unwrap();
    }

    fn check_canary(&self, name: &str) {
        let entries: Vec<_> = std::fs::read_dir(self.canary())
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(entries.len(), 1, "{name}: files appeared in the canary");
        assert_eq!(
            std::fs::read(self.canary().join("keep")).unwrap(),
            b"keep",
            "{name}"
        );
        let meta = std::fs::metadata(self.canary().join("keep")).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::nlink(&meta),
            1,
            "{name}: hardlinked"
        );
        let mut top: Vec<String> = std::fs::read_dir(self.root.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        assert_eq!(
            top,
            [
                "berth.sock",
                "berthd.log",
                "canary",
                "exec",
                "input",
                "root"
            ],
            "{name}: files beside the data root"
        );
        assert!(!Path::new("/pwned-by-berth-test").exists(), "{name}");
    }
}

#[test]
fn damaged_archives_are_refused() {
    let sb = Sandbox::new("damaged");
    let good = std::fs::read(docker_tar()).unwrap();
    sb.refused("truncated", &good[..good.len() / 2], "read archive");
    // Flip a byte deep inside the layer: its digest no longer matches the config.
    let mut wrong = good.clone();
    let at = good.len() / 2;
    wrong[at] ^= 0x55;
    sb.refused("wrong-digest", &wrong, "digest");
    // A manifest naming a layer file that is not there.
    let ok = docker_archive("m:1", &[layer_with("m", 1000)]);
    let mut a = tar::Archive::new(ok.as_slice());
    let mut b = tar::Builder::new(Vec::new());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path_bytes().ends_with(b"layer.tar") {
            continue;
        }
        let mut h = e.header().clone();
        let p = e.path().unwrap().into_owned();
        b.append_data(&mut h, p, &mut e).unwrap();
    }
    sb.refused(
        "missing-blob",
        &b.into_inner().unwrap(),
        "not in the archive",
    );
}

#[test]
fn escaping_layers_are_refused() {
    let sb = Sandbox::new("escape");
    let canary = sb.canary().to_string_lossy().into_owned();
    let up = sb.up();
    let dotdot = RawTar::default()
        .file(&format!("{up}pwned-by-berth-test"), b"x")
        .finish();
    sb.refused("dotdot", &docker_archive("e:1", &[dotdot]), "refused");
    let rel = format!("{up}{}/pwned", canary.trim_start_matches('/'));
    let dotdot2 = RawTar::default().file(&rel, b"x").finish();
    sb.refused(
        "dotdot-canary",
        &docker_archive("e:1", &[dotdot2]),
        "refused",
    );
    let through = RawTar::default()
        .symlink("esc", &canary)
        .file("esc/pwned", b"x")
        .finish();
    sb.refused("symlink", &docker_archive("e:2", &[through]), "refused");
    let hard_abs = RawTar::default()
        .hardlink("hl", &format!("{canary}/keep"))
        .finish();
    sb.refused("hardlink-abs", &docker_archive("e:3", &[hard_abs]), "hl");
    let hard_up = RawTar::default()
        .hardlink(
            "hl",
            &format!("{up}{}/keep", canary.trim_start_matches('/')),
        )
        .finish();
    sb.refused("hardlink-up", &docker_archive("e:4", &[hard_up]), "refused");
    let via_link = RawTar::default()
        .symlink("s", &canary)
        .hardlink("hl", "s/keep")
        .finish();
    sb.refused(
        "hardlink-symlink",
        &docker_archive("e:5", &[via_link]),
        "hl",
    );
}
