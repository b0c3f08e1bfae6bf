//! The image store end to end: loading both archive forms of busybox gives one image whose
//! single layer is unpacked once and whose files are there.

mod archive_support;

use std::fs::File;

use berth_image::store::ImageStore;

const BUSYBOX_ID: &str = "sha256:0ebe78266dec858d1daf51807eac28e2d90220e2f14088001a597919ab02955b";

#[test]
fn both_archive_forms_load_as_one_image_unpacked_once() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let images = archive_support::images_dir();
    let docker = store
        .load(File::open(images.join("busybox-1.35.docker.tar")).unwrap())
        .unwrap();
    assert_eq!(docker.len(), 1);
    assert_eq!(docker[0].id.to_string(), BUSYBOX_ID);
    assert_eq!(docker[0].unpacked_layers, 1);
    let oci = store
        .load(File::open(images.join("busybox-1.35.oci.tar")).unwrap())
        .unwrap();
    assert_eq!(oci[0].id.to_string(), BUSYBOX_ID);
    assert_eq!(
        oci[0].unpacked_layers, 0,
        "the shared layer was unpacked again"
    );
    let record = store.db().resolve("busybox:1.35").unwrap();
    assert_eq!(record.id.to_string(), BUSYBOX_ID);
    let chain = &record.layers[0].chain_id;
    let dirs = store.snapshotter().layer_dirs(&chain.to_string()).unwrap();
    assert!(dirs.upper.join("bin/busybox").is_file());
    // Reopening finds everything again.
    drop(store);
    let store = ImageStore::open(root.path()).unwrap();
    assert!(
        store.db().resolve("busybox").is_err(),
        "busybox:latest must not exist"
    );
    assert!(store.db().resolve("0ebe7826").is_ok());
}
