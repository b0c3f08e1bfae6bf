//! Layer creation: round trips of every file type and piece of metadata through diff() and
//! apply(), determinism, gzip/zstd/plain, full-tree (vfs) diffs, and changes() (A/C/D)
//! on overlay and vfs snapshots, committed and run again.
//! Needs root (owners, devices, security.capability, overlay mounts).

mod layer_util;

use std::fs;
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use berth_image::digest::Digest;
use berth_image::layer::{
    self, apply, changes, decompress, diff, ChangeKind, Compression, Whiteouts,
};
use berth_image::snapshot::{self, DirStyle, LayerDirs, Mount, Snapshotter};
use layer_util::{listing, private_mounts, tempdir};
use nix::sys::stat::{mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

fn set_mtime(path: &Path, secs: i64) {
    let t = TimeSpec::new(secs, 0);
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &t,
        &t,
        UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A tree with every kind of entry and odd metadata, times set last.
fn build_tree(root: &Path) {
    let p = |s: &str| root.join(s);
    fs::create_dir(p("d")).unwrap();
    fs::write(p("d/f"), b"setuid file").unwrap();
    lchown(p("d/f"), Some(0), Some(0)).unwrap();
    chmod(&p("d/f"), 0o4755);
    rustix::fs::lsetxattr(
        p("d/f"),
        "user.test",
        b"hello",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(p("big"), &big).unwrap();
    // vfs_cap_data v2: effective, permitted = CAP_NET_BIND_SERVICE.
    let mut cap = Vec::new();
    for word in [0x0200_0001u32, 1 << 10, 0, 0, 0] {
        cap.extend_from_slice(&word.to_le_bytes());
    }
    rustix::fs::lsetxattr(
        p("big"),
        "security.capability",
        &cap,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    symlink("../big", p("d/link")).unwrap();
    lchown(p("d/link"), Some(5), Some(5)).unwrap();
    fs::hard_link(p("d/f"), p("d/hl")).unwrap();
    nix::unistd::mkfifo(&p("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
    mknod(
        &p("null"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    let long = format!("d/{}", "n".repeat(150));
    fs::write(p(&long), b"long name").unwrap();
    symlink("t".repeat(150), p("longlink")).unwrap();
    fs::write(p("bigid"), b"x").unwrap();
    lchown(p("bigid"), Some(3_000_000), Some(4_000_000)).unwrap();
    fs::create_dir(p("empty")).unwrap();
    chmod(&p("empty"), 0o1777);
    lchown(p("d"), Some(1000), Some(1001)).unwrap();
    chmod(&p("d"), 0o750);
    for (i, rel) in [
        "big", "d/f", "d/link", "fifo", "null", &long, "longlink", "bigid", "empty", "d",
    ]
    .iter()
    .enumerate()
    {
        set_mtime(&p(rel), 1_500_000_000 + i as i64 * 1000);
    }
}

fn upper_only(dir: &Path) -> LayerDirs {
    LayerDirs {
        upper: dir.to_path_buf(),
        lowers: Vec::new(),
        style: DirStyle::Overlay,
    }
}

fn make_layer(dirs: &LayerDirs, c: Compression) -> (Vec<u8>, layer::Created) {
    let mut blob = Vec::new();
    let created = diff(dirs, &mut blob, c).unwrap();
    (blob, created)
}

fn sha(data: &[u8]) -> Digest {
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Digest::sha256_hex(&hex).unwrap()
}

#[test]
fn round_trip_every_kind() {
    let src = tempdir("src");
    build_tree(src.path());
    for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
        let (blob, created) = make_layer(&upper_only(src.path()), c);
        assert_eq!(created.size, blob.len() as u64);
        assert_eq!(
            created.digest,
            sha(&blob),
            "{c:?}: digest is the blob's sha256"
        );
        let dst = tempdir("dst");
        let tar = decompress(std::io::Cursor::new(blob)).unwrap();
        let applied = apply(dst.path(), tar, Whiteouts::Overlay).unwrap();
        assert_eq!(
            applied.diff_id, created.diff_id,
            "{c:?}: one-pass diffID matches apply's"
        );
        let (want, got) = (listing(src.path()), listing(dst.path()));
        for (k, v) in &want {
            assert_eq!(Some(v), got.get(k), "{c:?}: {k}");
        }
        assert_eq!(want.len(), got.len(), "{c:?}: same entries");
        assert!(got["big"]
            .xattrs
            .iter()
            .any(|(k, _)| k == "security.capability"));
        assert_eq!((got["bigid"].uid, got["bigid"].gid), (3_000_000, 4_000_000));
        assert_eq!((got["d/f"].mode, got["d/f"].nlink), (0o4755, 2));
        assert_eq!(got["null"].rdev, nix::sys::stat::makedev(1, 3));
    }
}

#[test]
fn same_tree_same_digest() {
    let src = tempdir("src");
    build_tree(src.path());
    let (_, a) = make_layer(&upper_only(src.path()), Compression::Gzip);
    let (_, b) = make_layer(&upper_only(src.path()), Compression::Gzip);
    assert_eq!(a, b);
    let (_, z) = make_layer(&upper_only(src.path()), Compression::Zstd);
    assert_eq!(
        z.diff_id, a.diff_id,
        "diffID does not depend on compression"
    );
    assert_ne!(z.digest, a.digest);
}

#[test]
fn full_tree_diff_round_trip() {
    let lower = tempdir("lower");
    build_tree(lower.path());
    let upper = tempdir("upper");
    copy(lower.path(), upper.path());
    let u = upper.path();
    fs::remove_file(u.join("big")).unwrap();
    fs::remove_dir_all(u.join("d")).unwrap();
    fs::create_dir(u.join("d")).unwrap();
    fs::write(u.join("d/fresh"), "f").unwrap();
    fs::write(u.join("added"), "a").unwrap();
    chmod(&u.join("fifo"), 0o640);
    let dirs = LayerDirs {
        upper: u.to_path_buf(),
        lowers: vec![lower.path().to_path_buf()],
        style: DirStyle::Full,
    };
    let (blob, _) = make_layer(&dirs, Compression::Gzip);
    let target = tempdir("target");
    copy(lower.path(), target.path());
    apply(
        target.path(),
        decompress(std::io::Cursor::new(blob)).unwrap(),
        Whiteouts::Delete,
    )
    .unwrap();
    let (want, got) = (listing(u), listing(target.path()));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (k, v) in &want {
        if v.kind != "dir" {
            assert_eq!(Some(v), got.get(k), "{k}");
        }
    }
}

fn copy(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

type Make = fn(&Path) -> Arc<dyn Snapshotter>;
const BACKENDS: [(&str, Make); 2] = [
    ("overlay", |r| Arc::new(snapshot::Overlay::new(r).unwrap())),
    ("vfs", |r| Arc::new(snapshot::Vfs::new(r).unwrap())),
];

fn mounted<T>(mounts: &[Mount], f: impl FnOnce(&Path) -> T) -> T {
    let target = tempdir("mnt");
    Mount::mount_at(mounts, target.path()).unwrap();
    let out = f(target.path());
    snapshot::unmount(target.path()).unwrap();
    out
}

/// A container adds, changes and deletes files and deletes and recreates a directory;
/// changes() lists them; the layer made by diff() committed over the base shows exactly
/// the container's tree.
#[test]
fn changes_and_commit() {
    private_mounts();
    for (name, make) in BACKENDS {
        let root = tempdir("commit");
        let s = make(root.path());
        let base = layer_util::TarBuilder::new()
            .dir("a/")
            .file("a/x", b"x")
            .file("gone", b"g")
            .dir("d/")
            .file("d/old", b"o")
            .finish();
        let d1 = apply(tempdir("sha").path(), &base[..], Whiteouts::Delete)
            .unwrap()
            .diff_id;
        layer::unpack(s.as_ref(), &d1, None, &base[..], &d1).unwrap();
        let mounts = s.prepare("ctr", Some(&d1.to_string())).unwrap();
        let before = mounted(&mounts, |m| {
            fs::write(m.join("new"), "n").unwrap();
            fs::write(m.join("a/x"), "changed").unwrap();
            fs::remove_file(m.join("gone")).unwrap();
            fs::remove_dir_all(m.join("d")).unwrap();
            fs::create_dir(m.join("d")).unwrap();
            fs::write(m.join("d/fresh"), "f").unwrap();
            listing(m)
        });
        let dirs = s.layer_dirs("ctr").unwrap();
        let got: Vec<String> = changes(&dirs)
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect();
        for want in [
            "A /new",
            "C /a/x",
            "D /gone",
            "C /d",
            "D /d/old",
            "A /d/fresh",
        ] {
            assert!(got.iter().any(|g| g == want), "{name}: {want} in {got:?}");
        }
        assert_eq!(
            got.len(),
            if name == "overlay" { 7 } else { 6 },
            "{name}: {got:?}"
        );
        assert!(changes(&dirs)
            .unwrap()
            .iter()
            .all(|c| c.kind != ChangeKind::Deleted || c.path != "/d"));

        let (blob, created) = make_layer(&dirs, Compression::Gzip);
        let c2 = layer::chain_id(Some(&d1), &created.diff_id);
        let tar = decompress(std::io::Cursor::new(blob)).unwrap();
        layer::unpack(s.as_ref(), &c2, Some(&d1), tar, &created.diff_id).unwrap();
        let mounts = s.view("run", Some(&c2.to_string())).unwrap();
        let after = mounted(&mounts, listing);
        let paths = |l: &std::collections::BTreeMap<String, layer_util::Entry>| {
            l.keys().cloned().collect::<Vec<_>>()
        };
        assert_eq!(paths(&after), paths(&before), "{name}");
        for (k, v) in &before {
            if v.kind == "file" {
                assert_eq!(Some(v), after.get(k), "{name}: {k}");
            }
        }
    }
}

/// diff_and_unpack makes the blob and the committed snapshot in one pass, on both
/// backends and with or without compression; a second run finds the chain and reuses it.
#[test]
fn diff_and_unpack_one_pass() {
    private_mounts();
    for (name, make) in BACKENDS {
        for c in [Compression::None, Compression::Gzip] {
            let root = tempdir("tee");
            let s = make(root.path());
            let base = layer_util::TarBuilder::new()
                .dir("a/")
                .file("a/x", b"x")
                .file("gone", b"g")
                .finish();
            let d1 = apply(tempdir("sha").path(), &base[..], Whiteouts::Delete)
                .unwrap()
                .diff_id;
            layer::unpack(s.as_ref(), &d1, None, &base[..], &d1).unwrap();
            let mounts = s.prepare("ctr", Some(&d1.to_string())).unwrap();
            let before = mounted(&mounts, |m| {
                fs::write(m.join("new"), "n").unwrap();
                fs::write(m.join("a/x"), "changed").unwrap();
                fs::remove_file(m.join("gone")).unwrap();
                listing(m)
            });
            let dirs = s.layer_dirs("ctr").unwrap();
            let mut blob = Vec::new();
            let made =
                layer::diff_and_unpack(s.as_ref(), &dirs, Some(&d1), &mut blob, c, &|_| false)
                    .unwrap();
            assert_eq!(made.created.digest, sha(&blob), "{name} {c:?}: blob digest");
            if c == Compression::None {
                assert_eq!(
                    made.created.digest, made.created.diff_id,
                    "{name}: plain tar"
                );
            }
            assert_eq!(
                made.chain_id,
                layer::chain_id(Some(&d1), &made.created.diff_id)
            );
            let mounts = s.view("run", Some(&made.chain_id.to_string())).unwrap();
            let after = mounted(&mounts, listing);
            assert_eq!(
                after.keys().collect::<Vec<_>>(),
                before.keys().collect::<Vec<_>>()
            );
            for (k, v) in before.iter().filter(|(_, v)| v.kind == "file") {
                assert_eq!(Some(v), after.get(k), "{name} {c:?}: {k}");
            }
            let again =
                layer::diff_and_unpack(s.as_ref(), &dirs, Some(&d1), Vec::new(), c, &|_| false)
                    .unwrap();
            assert_eq!(again.chain_id, made.chain_id, "{name} {c:?}: reused");
            let extracts = s.list().unwrap();
            assert!(
                extracts.iter().all(|i| !i.key.starts_with("extract-")),
                "{name} {c:?}: no extract snapshot left: {extracts:?}"
            );
        }
    }
}
