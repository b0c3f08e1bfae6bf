//! Layer apply never writes outside its directory: crafted tars with `..`, absolute
//! paths, symlink and hardlink escapes, and symlinks in lower layers, each refused with an
//! error naming the entry, while a canary directory outside stays empty.
//! Needs root (overlay mounts are not needed, but lower-layer tests use real snapshotters).

mod layer_util;

use std::fs;
use std::path::Path;

use berth_image::layer::{self, apply, chain_id, Whiteouts};
use berth_image::snapshot::{self, Snapshotter};
use layer_util::{is_empty_dir, tempdir, TarBuilder};

/// A sandbox with `target/` (where layers go) and `canary/` (must stay empty).
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempdir("safety");
        fs::create_dir(dir.path().join("target")).unwrap();
        fs::create_dir(dir.path().join("canary")).unwrap();
        Self { dir }
    }
    fn target(&self) -> std::path::PathBuf {
        self.dir.path().join("target")
    }
    fn canary(&self) -> std::path::PathBuf {
        self.dir.path().join("canary")
    }
    /// Nothing appeared outside `target/`.
    fn check_untouched(&self) {
        assert!(is_empty_dir(&self.canary()), "canary stays empty");
        let mut top: Vec<_> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        top.sort();
        assert_eq!(top, ["canary", "target"], "nothing new beside target");
    }
}

fn refused(tar: Vec<u8>, entry: &str) {
    for style in [Whiteouts::Overlay, Whiteouts::Delete] {
        let sb = Sandbox::new();
        let err = apply(&sb.target(), &tar[..], style).expect_err("apply must fail");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{entry:?}")),
            "error names {entry:?}: {msg}"
        );
        sb.check_untouched();
    }
}

#[test]
fn dotdot_is_refused() {
    refused(TarBuilder::new().file("../evil", b"x").finish(), "../evil");
    refused(
        TarBuilder::new().file("ok/../../evil", b"x").finish(),
        "ok/../../evil",
    );
}

#[test]
fn absolute_with_dotdot_is_refused() {
    refused(
        TarBuilder::new().file("/abs/../../evil", b"x").finish(),
        "/abs/../../evil",
    );
}

#[test]
fn absolute_path_stays_inside() {
    let sb = Sandbox::new();
    let tar = TarBuilder::new().file("/etc/inside", b"x").finish();
    apply(&sb.target(), &tar[..], Whiteouts::Delete).unwrap();
    assert_eq!(fs::read(sb.target().join("etc/inside")).unwrap(), b"x");
    sb.check_untouched();
}

#[test]
fn write_through_symlink_is_refused() {
    let sb = Sandbox::new();
    let canary = sb.canary().to_string_lossy().into_owned();
    let tar = TarBuilder::new()
        .symlink("link", &canary)
        .file("link/file", b"x")
        .finish();
    let err = apply(&sb.target(), &tar[..], Whiteouts::Overlay).unwrap_err();
    assert!(err.to_string().contains("\"link/file\""), "{err}");
    sb.check_untouched();
    // A relative symlink climbing out, and a directory entry through it.
    refused(
        TarBuilder::new()
            .symlink("up", "../..")
            .dir("up/d")
            .finish(),
        "up/d",
    );
}

#[test]
fn hardlink_escape_is_refused() {
    refused(
        TarBuilder::new()
            .hardlink("hl", "../../etc/passwd")
            .finish(),
        "hl",
    );
    // An absolute target is taken inside the layer, where it does not exist.
    refused(
        TarBuilder::new().hardlink("hl", "/etc/passwd").finish(),
        "hl",
    );
    // Through a symlink of the layer.
    let tar = TarBuilder::new()
        .symlink("s", "/etc")
        .hardlink("hl", "s/passwd")
        .finish();
    refused(tar, "hl");
}

#[test]
fn whiteout_of_dotdot_is_refused() {
    refused(
        TarBuilder::new().dir("a").file("a/.wh...", b"").finish(),
        "a/.wh...",
    );
}

#[test]
fn symlink_target_is_only_data() {
    let sb = Sandbox::new();
    let tar = TarBuilder::new()
        .symlink("abs", "/etc/passwd")
        .symlink("rel", "../../x")
        .finish();
    apply(&sb.target(), &tar[..], Whiteouts::Overlay).unwrap();
    assert_eq!(
        fs::read_link(sb.target().join("abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        fs::read_link(sb.target().join("rel")).unwrap(),
        Path::new("../../x")
    );
    sb.check_untouched();
}

/// A lower layer has `link -> <canary>`; the next layer writes `link/file`.
fn lower_symlink(make: fn(&Path) -> Box<dyn Snapshotter>) {
    let sb = Sandbox::new();
    let s = make(&sb.target());
    let canary = sb.canary().to_string_lossy().into_owned();
    let l1 = TarBuilder::new().symlink("link", &canary).finish();
    let d1 = sha(&l1);
    layer::unpack(s.as_ref(), &d1, None, &l1[..], &d1).unwrap();
    let l2 = TarBuilder::new().file("link/file", b"x").finish();
    let d2 = sha(&l2);
    let c2 = chain_id(Some(&d1), &d2);
    let err = layer::unpack(s.as_ref(), &c2, Some(&d1), &l2[..], &d2).unwrap_err();
    assert!(err.to_string().contains("\"link/file\""), "{err}");
    sb.check_untouched();
    let keys: Vec<String> = s.list().unwrap().into_iter().map(|i| i.key).collect();
    assert_eq!(keys, [d1.to_string()], "the failed layer left nothing");
}

#[test]
fn lower_layer_symlink_overlay() {
    lower_symlink(|root| Box::new(snapshot::Overlay::new(root).unwrap()));
}

#[test]
fn lower_layer_symlink_vfs() {
    lower_symlink(|root| Box::new(snapshot::Vfs::new(root).unwrap()));
}

fn sha(data: &[u8]) -> berth_image::digest::Digest {
    let sb = tempdir("sha");
    let applied = apply(sb.path(), data, Whiteouts::Delete).unwrap();
    applied.diff_id
}
