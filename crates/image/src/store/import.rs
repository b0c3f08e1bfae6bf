//! `import`: a root file system tar (plain or compressed) becomes a one-layer image. The
//! layer is stored gzipped; its diff ID is hashed from the uncompressed stream in the same
//! pass; the config is written as docker writes an imported image's.

use std::io::{Read, Write};

use serde::Serialize;
use serde_json::json;

use super::changes::ContainerConfig;
use super::{ImageStore, Result, StoreError};
use crate::content::{ContentWriter, Expected, Ingester};
use crate::digest::{Digest, Sha256Hasher};
use crate::formats::{media, Platform};
use crate::layer::{self, Compression, Encoder};
use crate::metadata::{ImageRecord, LayerRecord};
use crate::reference::Reference;

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `--change` instructions, applied in order.
    pub changes: Vec<String>,
    /// `--message`: the config's comment (default `Imported from -`).
    pub message: Option<String>,
    /// The name to give the image.
    pub reference: Option<Reference>,
}

/// An imported image's config, keys in the order docker's JSON has them.
#[derive(Serialize)]
struct ImportedConfig<'a> {
    architecture: &'a str,
    comment: &'a str,
    config: &'a ContainerConfig,
    container_config: ContainerConfig,
    created: &'a str,
    history: serde_json::Value,
    os: &'a str,
    rootfs: serde_json::Value,
    #[serde(skip_serializing_if = "str::is_empty")]
    variant: &'a str,
}

/// The stored layer blob: its digest and size, and the diff ID and size of the tar.
struct StoredLayer {
    blob: Digest,
    blob_size: u64,
    diff_id: Digest,
}

impl ImageStore {
    /// Imports the root file system tar `input` as a new image; returns its ID.
    pub fn import(
        &self,
        input: impl Read + Send + 'static,
        opts: &ImportOptions,
    ) -> Result<Digest> {
        let mut config = ContainerConfig::default();
        config.apply_changes(&opts.changes)?;
        let _gc = self.gc_lock(false)?;
        let stored = self.store_layer(input)?;
        let blob = crate::content::Provider::open(&self.content, &stored.blob)?;
        let tar = layer::decompress(blob).map_err(|e| unpack_err(&stored.blob, e))?;
        layer::unpack(
            self.snap.as_ref(),
            &stored.diff_id,
            None,
            tar,
            &stored.diff_id,
        )
        .map_err(|e| unpack_err(&stored.blob, e))?;
        let comment = opts.message.as_deref().unwrap_or("Imported from -");
        let config_bytes = imported_config(&config, comment, &stored.diff_id);
        let config_blob = self.content.put(&config_bytes, Expected::unknown())?;
        let manifest = manifest_bytes(&config_blob.digest, config_blob.size, &stored);
        let manifest_blob = self.content.put(&manifest, Expected::unknown())?;
        let mut record = imported_record(
            &config,
            &config_bytes,
            config_blob.digest,
            manifest_blob.digest,
            &stored,
        );
        record.size = self.layer_size(&stored.diff_id);
        let tags: Vec<Reference> = opts.reference.iter().cloned().collect();
        self.db.put_image(&record, &tags)?;
        Ok(record.id)
    }

    /// Streams `input` (decompressed) into a gzip blob, hashing the plain tar on the way.
    fn store_layer(&self, input: impl Read + Send + 'static) -> Result<StoredLayer> {
        let read_err = |source| StoreError::Io {
            op: "read",
            path: "import input".into(),
            source,
        };
        let mut tar = layer::decompress(input).map_err(read_err)?;
        let writer = self.content.writer(Expected::unknown())?;
        let mut enc = Encoder::new(writer, Compression::Gzip).map_err(write_err)?;
        let mut hasher = Sha256Hasher::new();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match tar.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            };
            hasher.update(&buf[..n]);
            enc.write_all(&buf[..n]).map_err(write_err)?;
        }
        let committed = enc.finish().map_err(write_err)?.commit()?;
        Ok(StoredLayer {
            blob: committed.digest,
            blob_size: committed.size,
            diff_id: hasher.digest(),
        })
    }
}

fn write_err(source: std::io::Error) -> StoreError {
    StoreError::Io {
        op: "write",
        path: "import layer blob".into(),
        source,
    }
}

fn unpack_err(blob: &Digest, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unpack {
        blob: blob.clone(),
        source: Box::new(e),
    }
}

/// The metadata record of an imported image.
fn imported_record(
    config: &ContainerConfig,
    config_bytes: &[u8],
    id: Digest,
    manifest: Digest,
    stored: &StoredLayer,
) -> ImageRecord {
    let labels = config
        .labels
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let created = serde_json::from_slice::<serde_json::Value>(config_bytes)
        .ok()
        .and_then(|v| v["created"].as_str().map(String::from));
    ImageRecord {
        id,
        manifest_digest: manifest,
        manifest_media_type: media::DOCKER_MANIFEST.into(),
        created,
        size: stored.blob_size,
        labels,
        layers: vec![LayerRecord {
            diff_id: stored.diff_id.clone(),
            chain_id: stored.diff_id.clone(),
            blob: stored.blob.clone(),
            blob_size: stored.blob_size,
            media_type: media::DOCKER_LAYER_GZIP.into(),
        }],
    }
}

/// The config JSON of an imported image made now.
fn imported_config(config: &ContainerConfig, comment: &str, diff_id: &Digest) -> Vec<u8> {
    let created = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
    let platform = Platform::host();
    let doc = ImportedConfig {
        architecture: &platform.arch,
        comment,
        config,
        container_config: ContainerConfig::default(),
        created: &created,
        history: json!([{ "created": created, "comment": comment }]),
        os: &platform.os,
        rootfs: json!({ "type": "layers", "diff_ids": [diff_id.to_string()] }),
        variant: &platform.variant,
    };
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// A Docker schema 2 manifest for the config and the one gzip layer.
fn manifest_bytes(config: &Digest, config_size: u64, layer: &StoredLayer) -> Vec<u8> {
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": media::DOCKER_MANIFEST,
        "config": { "mediaType": media::DOCKER_CONFIG, "size": config_size, "digest": config.to_string() },
        "layers": [{ "mediaType": media::DOCKER_LAYER_GZIP, "size": layer.blob_size, "digest": layer.blob.to_string() }],
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}
