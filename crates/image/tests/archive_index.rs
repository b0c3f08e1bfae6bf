//! Indexes inside archives: the host platform's manifest is chosen (containerd's
//! normalisation), docker 25 archives (manifest.json beside index.json) use the real
//! manifest, and a loaded image becomes a metadata record.

mod archive_support;

use std::fs::File;

use archive_support::*;
use berth_image::archive::{read_archive, ArchiveError};
use berth_image::content::LocalStore;
use berth_image::digest::Digest;
use berth_image::formats::Platform;
use berth_image::metadata::Db;

const MANIFEST: &str = "sha256:ab2c1091909327ce4354eb404f5a3af6501124c971c87fa9e5703f4ec0e7c8f3";
const LAYER: &str = "sha256:f7748cf6985497283909f21a307fa8139aa55043f216a41fa8f2201605690ce3";

fn missing(n: u8) -> String {
    Digest::of(&[n]).to_string()
}

/// The OCI test layout with its index.json replaced by one pointing to a nested index
/// that lists several platforms; only linux/amd64's manifest exists.
fn multi_platform_layout() -> Vec<u8> {
    let nested = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": missing(1), "size": 405,
             "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": missing(2), "size": 405,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": MANIFEST, "size": 405,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": missing(3), "size": 405,
             "platform": {"architecture": "unknown", "os": "unknown"}}
        ]
    });
    let nested = serde_json::to_vec(&nested).unwrap();
    let nested_digest = Digest::of(&nested);
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": nested_digest.to_string(), "size": nested.len(),
            "annotations": {"io.containerd.image.name": "docker.io/library/busybox:multi"}
        }]
    });
    let top = serde_json::to_vec(&top).unwrap();
    let mut out = rewrite(&oci_tar(), |path, _| {
        (path == "index.json").then(|| Some(top.clone()))
    });
    append(
        &mut out,
        &format!("blobs/sha256/{}", nested_digest.hex()),
        &nested,
    );
    out
}

/// Appends an entry to a finished tar (replacing its end-of-archive blocks).
fn append(tar_bytes: &mut Vec<u8>, path: &str, data: &[u8]) {
    let entries = entries(tar_bytes);
    let mut b = tar::Builder::new(Vec::new());
    for (p, h, d) in entries {
        b.append_data(&mut h.clone(), p, d.as_slice()).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, path, data).unwrap();
    *tar_bytes = b.into_inner().unwrap();
}

#[test]
fn platform_normalisation() {
    let amd64 = Platform::new("linux", "x86_64", "");
    assert_eq!(amd64.to_string(), "linux/amd64");
    assert_eq!(Platform::new("linux", "amd64", "v1"), amd64);
    let arm64 = Platform::new("linux", "aarch64", "");
    assert_eq!(Platform::new("linux", "arm64", "v8"), arm64);
    assert_eq!(arm64.to_string(), "linux/arm64");
    assert_eq!(
        Platform::new("linux", "armhf", "").to_string(),
        "linux/arm/v7"
    );
    assert_eq!(
        Platform::new("linux", "arm", "").to_string(),
        "linux/arm/v7"
    );
    let v7 = Platform::new("linux", "arm", "7");
    assert_eq!(v7.rank(&Platform::new("linux", "arm", "v6")), Some(1));
    assert_eq!(v7.rank(&Platform::new("linux", "arm", "v8")), None);
    assert_eq!(amd64.rank(&arm64), None);
    if std::env::consts::ARCH == "x86_64" {
        assert_eq!(Platform::host(), amd64);
    }
}

#[test]
fn nested_index_resolves_to_the_requested_platform() {
    let data = multi_platform_layout();
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let amd64 = Platform::new("linux", "amd64", "");
    let imgs = read_archive(data.as_slice(), &store, &amd64).unwrap();
    assert_eq!(imgs.len(), 1);
    assert_eq!(imgs[0].manifest_digest.to_string(), MANIFEST);
    assert_eq!(imgs[0].config.digest().to_string(), BUSYBOX_ID);
    assert_eq!(
        imgs[0].tags[0].to_string(),
        "docker.io/library/busybox:multi"
    );

    // arm64 (v8 written or not) picks the arm64 entry, whose manifest is not there.
    let err = read_archive(
        data.as_slice(),
        &store,
        &Platform::new("linux", "aarch64", ""),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ArchiveError::MissingBlob { digest, .. } if digest.to_string() == missing(2)),
        "{err}"
    );
    // arm v6 has no entry: v7 cannot run there.
    let err = read_archive(
        data.as_slice(),
        &store,
        &Platform::new("linux", "arm", "v6"),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("no match for platform linux/arm/v6"),
        "{err}"
    );
    assert_store_sound(dir.path());
}

#[test]
fn docker_25_archive_uses_its_real_manifest() {
    // docker 25+ writes manifest.json whose paths point into blobs/sha256, beside an
    // OCI index.json.
    let cfg = BUSYBOX_ID.trim_start_matches("sha256:");
    let layer = LAYER.trim_start_matches("sha256:");
    let manifest_json = serde_json::json!([{
        "Config": format!("blobs/sha256/{cfg}"),
        "RepoTags": ["busybox:1.35", "example.com/team/bb:v1"],
        "Layers": [format!("blobs/sha256/{layer}")]
    }]);
    let mut data = std::fs::read(oci_tar()).unwrap();
    append(
        &mut data,
        "manifest.json",
        &serde_json::to_vec(&manifest_json).unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let imgs = read_archive(gzip(&data).as_slice(), &store, &Platform::host()).unwrap();
    assert_eq!(imgs.len(), 1);
    assert_eq!(imgs[0].manifest_digest.to_string(), MANIFEST);
    let tags: Vec<String> = imgs[0].tags.iter().map(|t| t.to_string()).collect();
    assert_eq!(
        tags,
        ["docker.io/library/busybox:1.35", "example.com/team/bb:v1"]
    );
}

#[test]
fn loaded_images_become_records_and_both_forms_give_one_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&dir.path().join("content")).unwrap();
    let db = Db::open(&dir.path().join("berth.db")).unwrap();
    for path in [docker_tar(), oci_tar()] {
        for img in read_archive(File::open(&path).unwrap(), &store, &Platform::host()).unwrap() {
            let rec = img.to_record().unwrap();
            assert_eq!(rec.layers[0].chain_id, rec.layers[0].diff_id);
            db.put_image(&rec, &img.tags).unwrap();
        }
    }
    let list = db.list().unwrap();
    assert_eq!(list.len(), 1, "the same config is the same image");
    assert_eq!(list[0].image.id.to_string(), BUSYBOX_ID);
    assert_eq!(
        db.resolve("busybox:1.35").unwrap().id.to_string(),
        BUSYBOX_ID
    );
    assert_eq!(
        db.resolve("0ebe78266dec").unwrap().id.to_string(),
        BUSYBOX_ID
    );
    // Every blob the database references is in the store.
    for d in db.referenced_blobs().unwrap() {
        assert!(
            dir.path()
                .join("content/blobs/sha256")
                .join(d.hex())
                .exists(),
            "{d}"
        );
    }
}
