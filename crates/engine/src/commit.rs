//! `commit`: a container's writable layer becomes a new image. The layer tar (gzip) goes
//! into the content store, the parent image's config gets the new diffID, a history entry
//! and the `--change`s, an OCI manifest ties them up, the layer is registered as a
//! committed snapshot under its chain ID, and the image and its tag are recorded.

use berth_image::content::Expected;
use berth_image::digest::Digest;
use berth_image::formats::media;
use berth_image::layer::{self, Compression, Created};
use berth_image::metadata::{ImageRecord, LayerRecord};
use berth_image::reference::Reference;
use serde_json::{json, Map, Value};

use crate::change;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::record::{now, Container, Status};

/// The largest parent config read.
const CONFIG_LIMIT: u64 = 16 << 20;

/// What `commit` is asked for.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `REPO[:TAG]` to tag the new image with.
    pub reference: Option<String>,
    /// The history comment.
    pub message: Option<String>,
    /// The author.
    pub author: Option<String>,
    /// Dockerfile-like instructions applied to the config.
    pub changes: Vec<String>,
    /// Freeze a running container while its layer is read.
    pub pause: bool,
}

impl Engine {
    /// Commits container `c` as a new image; returns its id.
    pub fn commit(&self, c: &Container, req: &CommitRequest) -> Result<Digest> {
        let tags = match &req.reference {
            Some(r) => vec![Reference::parse(r).map_err(|_| EngineError::Change {
                line: r.clone(),
                reason: "invalid reference format",
            })?],
            None => Vec::new(),
        };
        let paused = req.pause && c.state.status == Status::Running;
        if paused {
            self.runtime()
                .pause(&c.id)
                .map_err(EngineError::runtime("pause", &c.id))?;
        }
        let made = self.commit_layer(c, req);
        if paused {
            self.runtime()
                .resume(&c.id)
                .map_err(EngineError::runtime("resume", &c.id))?;
        }
        let record = made?;
        self.images().db().put_image(&record, &tags)?;
        Ok(record.id)
    }

    fn commit_layer(&self, c: &Container, req: &CommitRequest) -> Result<ImageRecord> {
        let parent_id = Digest::parse(&c.image_id)
            .map_err(|_| berth_image::metadata::DbError::NotFound(c.image_id.clone()))?;
        let parent = self.images().db().get(&parent_id)?;
        let top = parent.layers.last().map(|l| l.chain_id.clone());
        let layer = self.write_layer(c, top.as_ref())?;
        let parent_config = self.images().content().read_all(&parent_id, CONFIG_LIMIT)?;
        let config = new_config(&parent_config, &parent_id, c, &layer.created, req)?;
        let config_blob = self.images().content().put(&config, Expected::unknown())?;
        let new_layer = LayerRecord {
            chain_id: layer.chain_id,
            diff_id: layer.created.diff_id.clone(),
            blob: layer.created.digest.clone(),
            blob_size: layer.created.size,
            media_type: media::OCI_LAYER.into(),
        };
        let mut layers = parent.layers.clone();
        layers.push(new_layer);
        let manifest = manifest(&config_blob.digest, config.len() as u64, &layers);
        let manifest_blob = self
            .images()
            .content()
            .put(&manifest, Expected::unknown())?;
        Ok(ImageRecord {
            id: config_blob.digest,
            manifest_digest: manifest_blob.digest,
            manifest_media_type: media::OCI_MANIFEST.into(),
            created: Some(now()),
            size: layers.iter().map(|l| l.blob_size).sum(),
            labels: labels_of(&config),
            layers,
        })
    }

    /// The container's changes as a new layer: a committed snapshot over `top`, made in
    /// one pass over the container's writable layer. As docker does, the layer is kept only
    /// unpacked: its tar (uncompressed, so its digest is its diffID) is made again from the
    /// snapshot, exactly, when `save` or push needs it. Writing and fsyncing a second copy
    /// here, or compressing it, would make commit several times slower.
    pub(crate) fn write_layer(
        &self,
        c: &Container,
        top: Option<&Digest>,
    ) -> Result<layer::Committed> {
        let snap = self.images().snapshotter();
        let dirs = snap.layer_dirs(&c.snapshot_key)?;
        Ok(layer::diff_and_unpack(
            snap,
            &dirs,
            top,
            std::io::sink(),
            Compression::None,
            &crate::export::is_mount_file,
        )?)
    }
}

/// The parent's config with the new layer, a history entry, the changes and a new time.
fn new_config(
    parent: &[u8],
    parent_id: &Digest,
    c: &Container,
    layer: &Created,
    req: &CommitRequest,
) -> Result<Vec<u8>> {
    let bad = |source| EngineError::ImageConfig {
        image: parent_id.to_string(),
        source,
    };
    let mut v: Value = serde_json::from_slice(parent).map_err(bad)?;
    let Some(root) = v.as_object_mut() else {
        return Err(bad(<serde_json::Error as serde::de::Error>::custom(
            "not a JSON object",
        )));
    };
    let created = now();
    push(root, "rootfs", "diff_ids", json!(layer.diff_id.to_string()));
    let mut entry = Map::new();
    entry.insert("created".into(), json!(created));
    entry.insert("created_by".into(), json!(c.command.join(" ")));
    if let Some(a) = req.author.as_ref().filter(|a| !a.is_empty()) {
        entry.insert("author".into(), json!(a));
        root.insert("author".into(), json!(a));
    }
    if let Some(m) = req.message.as_ref().filter(|m| !m.is_empty()) {
        entry.insert("comment".into(), json!(m));
    }
    push_value(root, "history", Value::Object(entry));
    root.insert("created".into(), json!(created));
    let config = object(root, "config");
    for line in &req.changes {
        change::apply(config, line)?;
    }
    serde_json::to_vec(&v).map_err(bad)
}

/// `root[outer][inner]`, an array, with `value` appended.
fn push(root: &mut Map<String, Value>, outer: &str, inner: &str, value: Value) {
    push_value(object(root, outer), inner, value);
}

fn push_value(map: &mut Map<String, Value>, key: &str, value: Value) {
    let slot = map.entry(key).or_insert_with(|| json!([]));
    match slot {
        Value::Array(a) => a.push(value),
        other => *other = json!([value]),
    }
}

fn object<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("made an object above")
}

/// The OCI manifest of a config and its layers.
pub(crate) fn manifest(config: &Digest, config_size: u64, layers: &[LayerRecord]) -> Vec<u8> {
    let layers: Vec<Value> = layers
        .iter()
        .map(|l| {
            json!({
                "mediaType": oci_layer_type(&l.media_type),
                "digest": l.blob.to_string(),
                "size": l.blob_size,
            })
        })
        .collect();
    let m = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": config.to_string(), "size": config_size},
        "layers": layers,
    });
    serde_json::to_vec(&m).unwrap_or_default()
}

/// The OCI media type of a layer recorded with a docker one.
fn oci_layer_type(t: &str) -> &str {
    match t {
        media::DOCKER_LAYER => media::OCI_LAYER,
        media::DOCKER_LAYER_GZIP => media::OCI_LAYER_GZIP,
        other => other,
    }
}

pub(crate) fn labels_of(config: &[u8]) -> std::collections::BTreeMap<String, String> {
    serde_json::from_slice::<Value>(config)
        .ok()
        .and_then(|v| v.pointer("/config/Labels").cloned())
        .and_then(|l| serde_json::from_value(l).ok())
        .unwrap_or_default()
}
