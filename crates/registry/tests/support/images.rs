//! Small images planted straight into a test registry's storage: real layer tars, a
//! config naming their diff IDs, a manifest; and ways to break each part.

use berth_image::digest::Digest;
use berth_registry::server::Storage;
use serde_json::json;

/// A layer tar holding `files` (path, content); `whiteouts` are empty `.wh.` entries.
pub fn layer_tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, content.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

/// `bytes` gzipped.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// One layer as planted: the blob's media type, the blob, the uncompressed tar.
pub struct Layer {
    pub media_type: String,
    pub blob: Vec<u8>,
    pub tar: Vec<u8>,
}

impl Layer {
    /// A zstd-compressed layer of `files`.
    pub fn zst(files: &[(&str, &str)]) -> Self {
        let tar = layer_tar(files);
        Self {
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd".into(),
            blob: zstd::encode_all(tar.as_slice(), 3).unwrap(),
            tar,
        }
    }

    /// An uncompressed layer of `files`.
    pub fn plain(files: &[(&str, &str)]) -> Self {
        let tar = layer_tar(files);
        Self {
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            blob: tar.clone(),
            tar,
        }
    }

    /// A gzipped layer of `files`.
    pub fn gz(files: &[(&str, &str)]) -> Self {
        let tar = layer_tar(files);
        Self {
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            blob: gzip(&tar),
            tar,
        }
    }
}

/// The host's architecture as images name it.
pub fn host_arch() -> String {
    std::env::consts::ARCH
        .replace("x86_64", "amd64")
        .replace("aarch64", "arm64")
}

/// Plants an OCI image `name:tag` of `layers`; returns (manifest digest, config digest).
/// Each layer blob is stored as `stored(i, blob)` returns it (to break it).
pub fn plant(
    storage: &Storage,
    name: &str,
    tag: &str,
    layers: &[Layer],
    stored: impl Fn(usize, &[u8]) -> Vec<u8>,
) -> (Digest, Digest) {
    plant_for(storage, name, Some(tag), layers, stored, &host_arch())
}

/// Plants an image manifest for `arch`, tagged `tag` if given (untagged: for an index).
pub fn plant_for(
    storage: &Storage,
    name: &str,
    tag: Option<&str>,
    layers: &[Layer],
    stored: impl Fn(usize, &[u8]) -> Vec<u8>,
    arch: &str,
) -> (Digest, Digest) {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| Digest::of(&l.tar).to_string())
        .collect();
    let config = json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = put(storage, name, &config);
    let mut descs = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let digest = Digest::of(&l.blob);
        let bytes = stored(i, &l.blob);
        std::fs::write(storage.blob_path(&digest), &bytes).unwrap();
        storage.link_blob(name, &digest).unwrap();
        descs.push(
            json!({"mediaType": l.media_type, "digest": digest.to_string(), "size": l.blob.len()}),
        );
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": config.len()},
        "layers": descs,
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let digest = storage.put_bytes(&manifest).unwrap();
    storage
        .put_manifest(
            name,
            &digest,
            "application/vnd.oci.image.manifest.v1+json",
            tag,
        )
        .unwrap();
    (digest, config_digest)
}

/// Plants an OCI index `name:tag` over manifests (digest, architecture) already planted.
pub fn plant_index(
    storage: &Storage,
    name: &str,
    tag: &str,
    manifests: &[(Digest, &str)],
) -> Digest {
    let entries: Vec<_> = manifests
        .iter()
        .map(|(d, arch)| {
            let size = std::fs::metadata(storage.blob_path(d)).unwrap().len();
            json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d.to_string(),
                   "size": size, "platform": {"architecture": arch, "os": "linux"}})
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries});
    let bytes = serde_json::to_vec(&index).unwrap();
    let digest = storage.put_bytes(&bytes).unwrap();
    storage
        .put_manifest(
            name,
            &digest,
            "application/vnd.oci.image.index.v1+json",
            Some(tag),
        )
        .unwrap();
    digest
}

fn put(storage: &Storage, name: &str, bytes: &[u8]) -> Digest {
    let d = storage.put_bytes(bytes).unwrap();
    storage.link_blob(name, &d).unwrap();
    d
}
