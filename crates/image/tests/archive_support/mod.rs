//! Helpers shared by the archive tests: the test images, tar rewriting, store checks.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

use berth_image::digest::Digest;

/// The busybox image's ID (sha256 of its config), as the test images' README gives it.
pub const BUSYBOX_ID: &str =
    "sha256:0ebe78266dec858d1daf51807eac28e2d90220e2f14088001a597919ab02955b";

/// `$BERTH_TEST_IMAGES`, else the first `shared/images` beside the repository or a parent.
pub fn images_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_TEST_IMAGES").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|d| d.join("shared/images"))
        .find(|d| d.join("busybox-1.35.docker.tar").is_file())
        .unwrap_or_else(|| {
            panic!("TEST IMAGES MISSING: no shared/images/busybox-1.35.docker.tar above {here:?}; set BERTH_TEST_IMAGES")
        })
}

/// The docker-save test archive.
pub fn docker_tar() -> PathBuf {
    images_dir().join("busybox-1.35.docker.tar")
}

/// The OCI-layout test archive.
pub fn oci_tar() -> PathBuf {
    images_dir().join("busybox-1.35.oci.tar")
}

/// Every file entry of a tar: path and bytes.
pub fn entries(tar_bytes: &[u8]) -> Vec<(String, tar::Header, Vec<u8>)> {
    let mut a = tar::Archive::new(tar_bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let header = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (path, header, data)
        })
        .collect()
}

/// A copy of the tar at `src` where `edit` may replace (Some(bytes)) or drop (None) each
/// file's content; other entries are kept as they are.
pub fn rewrite(src: &Path, edit: impl Fn(&str, &[u8]) -> Option<Option<Vec<u8>>>) -> Vec<u8> {
    let original = std::fs::read(src).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    for (path, mut header, data) in entries(&original) {
        let data = match edit(&path, &data) {
            None => data,
            Some(None) => continue,
            Some(Some(new)) => new,
        };
        header.set_size(data.len() as u64);
        header.set_cksum();
        b.append(&header, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// Every blob in the store hashes to its name, and no temporary file is left.
pub fn assert_store_sound(root: &Path) {
    for e in std::fs::read_dir(root.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let data = std::fs::read(e.path()).unwrap();
        assert_eq!(
            Digest::of(&data).hex(),
            name,
            "blob {name} is not what its name says"
        );
    }
    let left: Vec<_> = std::fs::read_dir(root.join("ingest")).unwrap().collect();
    assert!(left.is_empty(), "temporary files left in ingest/: {left:?}");
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
