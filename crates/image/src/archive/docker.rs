//! Reading a `docker save` archive: `manifest.json` names each image's config and layer
//! files (legacy `<id>/layer.tar` paths, or docker 25's `blobs/sha256/<hex>`).

use std::str::FromStr;

use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};

use super::oci::{self, check_layer, manifests_by_config, read_blob, sniff, Resolved};
use super::stage::Staged;
use super::{ArchiveError, LoadedImage};
use crate::content::{self, ContentError, Expected, Ingester, Provider};
use crate::digest::Digest;
use crate::formats::{media, FormatError, ImageConfig, LayerRef, Platform};
use crate::reference::Reference;

/// One entry of `manifest.json`.
#[derive(Debug, serde::Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Every image `manifest.json` lists.
pub(super) fn interpret<S: Provider + Ingester>(
    staged: &Staged,
    store: &S,
    platform: &Platform,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let bytes = staged
        .file("manifest.json")
        .ok_or(ArchiveError::NotAnArchive)?;
    let entries: Vec<Entry> =
        serde_json::from_slice(bytes).map_err(|source| ArchiveError::Json {
            file: "manifest.json".into(),
            source,
        })?;
    let mut known = manifests_by_config(staged, store, platform)?;
    let mut images = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let what = format!("manifest.json: image {i}");
        let tags = tags_of(entry, &what)?;
        let (config_digest, config_size) = staged_blob(staged, &entry.config, &what)?;
        check_config_name(&entry.config, &config_digest, &what)?;
        let image = match known.remove(&config_digest) {
            Some(resolved) => oci::load_image(store, resolved, tags, &what)?,
            None => {
                let bytes = read_blob(store, &config_digest, config_size, &what)?;
                legacy_image(
                    staged,
                    store,
                    entry,
                    ImageConfig::parse(bytes)?,
                    tags,
                    &what,
                )?
            }
        };
        images.push(image);
    }
    Ok(images)
}

/// An image from a legacy entry: layers from their files, a manifest made up for it.
fn legacy_image<S: Provider + Ingester>(
    staged: &Staged,
    store: &S,
    entry: &Entry,
    config: ImageConfig,
    tags: Vec<Reference>,
    what: &str,
) -> Result<LoadedImage, ArchiveError> {
    let diff_ids = config.diff_ids()?;
    if diff_ids.len() != entry.layers.len() {
        return Err(FormatError::LayerCount {
            what: what.into(),
            manifest: entry.layers.len(),
            config: diff_ids.len(),
        }
        .into());
    }
    let mut layers = Vec::with_capacity(diff_ids.len());
    for (path, diff_id) in entry.layers.iter().zip(diff_ids) {
        let layer_what = format!("{what}: layer {path}");
        let (blob, size) = staged_blob(staged, path, &layer_what)?;
        let compression = sniff(store, &blob, &layer_what)?;
        let layer = LayerRef {
            blob,
            size,
            media_type: compression.oci_media_type().into(),
            compression,
            diff_id,
        };
        check_layer(store, &layer, &layer_what)?;
        layers.push(layer);
    }
    let resolved = synthesize_manifest(store, &config, &layers, what)?;
    Ok(LoadedImage {
        config,
        manifest_bytes: resolved.bytes,
        manifest_digest: resolved.digest,
        manifest_media_type: resolved.media_type,
        layers,
        tags,
    })
}

/// Writes an OCI manifest for an image that came without one, and stores it.
fn synthesize_manifest<S: Ingester>(
    store: &S,
    config: &ImageConfig,
    layers: &[LayerRef],
    what: &str,
) -> Result<Resolved, ArchiveError> {
    let descriptor = |media_type: &str, digest: &Digest, size: u64| {
        oci_spec::image::Digest::from_str(&digest.to_string())
            .map(|d| Descriptor::new(MediaType::from(media_type), size, d))
            .map_err(|_| FormatError::Digest {
                what: what.into(),
                value: digest.to_string(),
            })
    };
    let config_desc = descriptor(
        media::OCI_CONFIG,
        config.digest(),
        config.bytes().len() as u64,
    )?;
    let layer_descs = layers
        .iter()
        .map(|l| descriptor(&l.media_type, &l.blob, l.size))
        .collect::<Result<Vec<_>, _>>()?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_desc)
        .layers(layer_descs)
        .build()
        .map_err(|e| ArchiveError::Synthesize(format!("{what}: {e}")))?;
    let bytes = serde_json::to_vec(&manifest).map_err(|source| ArchiveError::Json {
        file: format!("{what}: manifest"),
        source,
    })?;
    let committed = content::put(store, &bytes, Expected::unknown()).map_err(|source| {
        ArchiveError::Content {
            what: format!("{what}: manifest"),
            source,
        }
    })?;
    Ok(Resolved {
        digest: committed.digest,
        media_type: media::OCI_MANIFEST.into(),
        bytes,
        manifest,
    })
}

fn tags_of(entry: &Entry, what: &str) -> Result<Vec<Reference>, ArchiveError> {
    let tags = entry.repo_tags.as_deref().unwrap_or_default();
    tags.iter()
        .map(|t| {
            Reference::parse(t).map_err(|source| ArchiveError::Reference {
                file: format!("{what}: RepoTags"),
                value: t.clone(),
                source,
            })
        })
        .collect()
}

fn staged_blob(staged: &Staged, path: &str, what: &str) -> Result<(Digest, u64), ArchiveError> {
    staged
        .blob(path)
        .cloned()
        .ok_or_else(|| ArchiveError::MissingFile {
            what: what.into(),
            path: path.into(),
        })
}

/// A legacy config file is named after its digest (`<hex>.json`): a mismatch means the
/// file was damaged.
fn check_config_name(path: &str, digest: &Digest, what: &str) -> Result<(), ArchiveError> {
    let named = path
        .strip_suffix(".json")
        .and_then(|hex| Digest::sha256_hex(hex).ok());
    match named {
        Some(named) if named != *digest => Err(ArchiveError::Content {
            what: format!("{what}: config {path}"),
            source: ContentError::DigestMismatch {
                expected: named,
                actual: digest.clone(),
            },
        }),
        _ => Ok(()),
    }
}
