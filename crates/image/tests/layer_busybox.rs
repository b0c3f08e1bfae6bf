//! apply() of a real docker layer (busybox) gives exactly what GNU tar extracts.
//! Needs root and ../shared/images/busybox-1.35.docker.tar.

mod archive_support;
mod layer_util;

use std::fs::File;
use std::io::Read;

use berth_image::layer::{apply, Whiteouts};
use layer_util::{listing, tempdir};

#[test]
fn busybox_layer_matches_gnu_tar() {
    let image = archive_support::images_dir().join("busybox-1.35.docker.tar");
    assert!(image.exists(), "test image {} is missing", image.display());
    let mut outer = tar::Archive::new(File::open(&image).unwrap());
    let mut layer = Vec::new();
    for e in outer.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().ends_with("layer.tar") {
            e.read_to_end(&mut layer).unwrap();
        }
    }
    assert!(!layer.is_empty(), "no layer.tar in {}", image.display());
    let ours = tempdir("busybox-ours");
    let applied = apply(ours.path(), &layer[..], Whiteouts::Overlay).unwrap();
    assert_eq!(applied.size, layer.len() as u64);
    let gnu = tempdir("busybox-gnu");
    let mut child = std::process::Command::new("tar")
        .args(["-x", "-p", "--xattrs", "--numeric-owner", "-C"])
        .arg(gnu.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &layer).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let (want, got) = (listing(gnu.path()), listing(ours.path()));
    assert_eq!(want.len(), got.len());
    for (k, v) in &want {
        assert_eq!(Some(v), got.get(k), "{k}");
    }
}
