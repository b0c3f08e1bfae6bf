//! Garbage collection: every blob that no manifest of any repository references (as
//! config, layer, child manifest or the manifest itself) is removed, and so are upload
//! sessions untouched for a day. Run it while the registry takes no pushes: an upload
//! finished during the walk could lose its blob.

use std::collections::HashSet;

use berth_image::digest::Digest;
use serde_json::Value;

use super::{Storage, StorageError};

/// What a collection did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    /// Blobs removed.
    pub removed: Vec<Digest>,
    /// Blobs kept.
    pub kept: usize,
    /// Abandoned upload sessions removed.
    pub uploads: usize,
}

/// How long an upload session may sit untouched before collection removes it.
pub const UPLOAD_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Removes the blobs no manifest references; with `dry_run`, only says which.
pub fn collect(storage: &Storage, dry_run: bool) -> Result<Collected, StorageError> {
    let mut live = HashSet::new();
    for (_, manifest) in storage.all_manifests() {
        mark(storage, &manifest, &mut live);
    }
    let mut out = Collected::default();
    if !dry_run {
        out.uploads = storage.purge_uploads(UPLOAD_TTL)?;
    }
    for blob in storage.all_blobs() {
        if live.contains(&blob) {
            out.kept += 1;
            continue;
        }
        if !dry_run {
            storage.remove_blob(&blob)?;
        }
        out.removed.push(blob);
    }
    Ok(out)
}

/// Marks manifest `digest` and what it references as live.
fn mark(storage: &Storage, digest: &Digest, live: &mut HashSet<Digest>) {
    if !live.insert(digest.clone()) {
        return;
    }
    let Ok(bytes) = std::fs::read(storage.blob_path(digest)) else {
        return;
    };
    let Ok(doc) = serde_json::from_slice::<Value>(&bytes) else {
        return;
    };
    let descriptors = doc["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(doc.get("config"));
    for d in descriptors.filter_map(|d| Digest::parse(d["digest"].as_str()?).ok()) {
        live.insert(d);
    }
    let children: Vec<Digest> = doc["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| Digest::parse(d["digest"].as_str()?).ok())
        .collect();
    for child in children {
        mark(storage, &child, live);
    }
}
