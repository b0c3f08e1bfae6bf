//! Reading the busybox test image in both archive forms, gzipped or not, and refusing
//! damaged archives without leaving anything partial in the content store.

mod archive_support;

use std::fs::File;

use archive_support::*;
use berth_image::archive::{read_archive, ArchiveError, LoadedImage};
use berth_image::content::{ContentError, LocalStore};
use berth_image::digest::Digest;
use berth_image::formats::{Compression, Platform};

fn load(bytes: impl std::io::Read) -> (tempfile::TempDir, Result<Vec<LoadedImage>, ArchiveError>) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let r = read_archive(bytes, &store, &Platform::host());
    (dir, r)
}

fn busybox_checks(images: &[LoadedImage]) {
    assert_eq!(images.len(), 1);
    let img = &images[0];
    assert_eq!(img.config.digest().to_string(), BUSYBOX_ID);
    assert_eq!(Digest::of(img.config.bytes()).to_string(), BUSYBOX_ID);
    assert_eq!(img.layers.len(), 1);
    assert_eq!(
        img.tags.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        vec!["docker.io/library/busybox:1.35"]
    );
    assert_eq!(Digest::of(&img.manifest_bytes), img.manifest_digest);
}

#[test]
fn docker_and_oci_archives_give_the_same_image() {
    let (ddir, docker) = load(File::open(docker_tar()).unwrap());
    let docker = docker.unwrap();
    busybox_checks(&docker);
    let (odir, oci) = load(File::open(oci_tar()).unwrap());
    let oci = oci.unwrap();
    busybox_checks(&oci);

    let (dl, ol) = (&docker[0].layers[0], &oci[0].layers[0]);
    assert_eq!(dl.diff_id, ol.diff_id);
    // The docker archive's layer is the uncompressed tar: its digest is the diff ID.
    assert_eq!(dl.compression, Compression::None);
    assert_eq!(dl.blob, dl.diff_id);
    assert_eq!(ol.compression, Compression::Gzip);
    assert_eq!(
        ol.blob.to_string(),
        "sha256:f7748cf6985497283909f21a307fa8139aa55043f216a41fa8f2201605690ce3"
    );
    assert_eq!(
        oci[0].manifest_digest.to_string(),
        "sha256:ab2c1091909327ce4354eb404f5a3af6501124c971c87fa9e5703f4ec0e7c8f3"
    );
    assert_store_sound(ddir.path());
    assert_store_sound(odir.path());
    // The legacy archive's synthesised manifest was stored too.
    let store = LocalStore::open(ddir.path()).unwrap();
    assert_eq!(
        store.read_all(&docker[0].manifest_digest, 1 << 20).unwrap(),
        docker[0].manifest_bytes
    );
}

#[test]
fn gzipped_archives() {
    for path in [docker_tar(), oci_tar()] {
        let gz = gzip(&std::fs::read(&path).unwrap());
        let (dir, r) = load(gz.as_slice());
        busybox_checks(&r.unwrap_or_else(|e| panic!("{path:?} gzipped: {e}")));
        assert_store_sound(dir.path());
    }
}

#[test]
fn truncated_archives_fail_and_leave_nothing_partial() {
    for path in [docker_tar(), oci_tar()] {
        let data = std::fs::read(&path).unwrap();
        for cut in [data.len() / 2, data.len() - 3000, 700] {
            let (dir, r) = load(&data[..cut]);
            let err = r.expect_err("a truncated archive must fail");
            assert!(
                matches!(
                    err,
                    ArchiveError::Read { .. }
                        | ArchiveError::MissingFile { .. }
                        | ArchiveError::NotAnArchive
                        | ArchiveError::MissingBlob { .. }
                ),
                "{path:?} cut at {cut}: {err}"
            );
            assert_store_sound(dir.path());
        }
        let gz = gzip(&data);
        let (dir, r) = load(&gz[..gz.len() / 2]);
        let err = r.expect_err("a truncated gzip archive must fail");
        assert!(matches!(err, ArchiveError::Read { .. }), "{err}");
        assert_store_sound(dir.path());
    }
}

#[test]
fn oci_blob_with_wrong_digest_is_refused() {
    let cfg = BUSYBOX_ID.trim_start_matches("sha256:");
    let bad = rewrite(&oci_tar(), |path, data| {
        path.ends_with(cfg).then(|| {
            let mut d = data.to_vec();
            d[10] ^= 1;
            Some(d)
        })
    });
    let (dir, r) = load(bad.as_slice());
    let err = r.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            &err,
            ArchiveError::Content {
                source: ContentError::DigestMismatch { .. },
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains(&format!("blobs/sha256/{cfg}")), "{msg}");
    assert!(msg.contains(BUSYBOX_ID), "{msg}");
    assert!(!dir.path().join("blobs/sha256").join(cfg).exists());
    assert_store_sound(dir.path());
}

#[test]
fn docker_layer_not_matching_its_diff_id_is_refused() {
    let bad = rewrite(&docker_tar(), |path, data| {
        path.ends_with("layer.tar").then(|| {
            let mut d = data.to_vec();
            let n = d.len();
            d[n - 2000] ^= 0x55;
            Some(d)
        })
    });
    let (dir, r) = load(bad.as_slice());
    let err = r.unwrap_err();
    assert!(matches!(err, ArchiveError::LayerDigest { .. }), "{err}");
    assert!(err.to_string().contains("layer.tar"), "{err}");
    assert_store_sound(dir.path());
}

#[test]
fn docker_config_damaged_is_refused() {
    let bad = rewrite(&docker_tar(), |path, data| {
        (path.ends_with(".json") && path != "manifest.json").then(|| {
            let mut d = data.to_vec();
            d[20] ^= 1;
            Some(d)
        })
    });
    let (_dir, r) = load(bad.as_slice());
    let err = r.unwrap_err();
    assert!(
        matches!(
            &err,
            ArchiveError::Content {
                source: ContentError::DigestMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn manifest_pointing_at_a_missing_blob_is_refused() {
    let layer = "f7748cf6985497283909f21a307fa8139aa55043f216a41fa8f2201605690ce3";
    let bad = rewrite(&oci_tar(), |path, _| path.ends_with(layer).then_some(None));
    let (dir, r) = load(bad.as_slice());
    let err = r.unwrap_err();
    assert!(matches!(err, ArchiveError::MissingBlob { .. }), "{err}");
    assert!(err.to_string().contains(layer), "{err}");
    assert_store_sound(dir.path());

    let bad = rewrite(&docker_tar(), |path, _| {
        path.ends_with("layer.tar").then_some(None)
    });
    let (dir, r) = load(bad.as_slice());
    let err = r.unwrap_err();
    assert!(matches!(err, ArchiveError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("layer.tar"), "{err}");
    assert_store_sound(dir.path());
}

#[test]
fn not_an_archive() {
    let (_d, r) = load(&b"definitely not a tar archive, just some words"[..]);
    assert!(r.is_err());
    let empty = tar::Builder::new(Vec::new()).into_inner().unwrap();
    let (_d, r) = load(empty.as_slice());
    assert!(matches!(r, Err(ArchiveError::NotAnArchive)));
}
