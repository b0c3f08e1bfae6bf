//! Image formats: OCI image manifests and indexes and Docker schema 2 manifests and
//! manifest lists, parsed into one model (oci-spec's types); image configs kept as their
//! exact bytes (the image ID is their sha256); layer compression; platform selection.

mod config;
pub mod media;
mod platform;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use crate::digest::Digest;

pub use config::ImageConfig;
pub use platform::{select_manifest, Platform};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// The compression a layer media type declares; `None` for a type that is not a layer.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            media::OCI_LAYER | media::DOCKER_LAYER | media::OCI_LAYER_NONDIST => Some(Self::None),
            media::OCI_LAYER_GZIP
            | media::DOCKER_LAYER_GZIP
            | media::DOCKER_LAYER_FOREIGN_GZIP
            | media::OCI_LAYER_NONDIST_GZIP => Some(Self::Gzip),
            media::OCI_LAYER_ZSTD | media::OCI_LAYER_NONDIST_ZSTD => Some(Self::Zstd),
            _ => None,
        }
    }

    /// Recognises compression by the first bytes of a blob (magic numbers).
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// The OCI layer media type for this compression.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Self::None => media::OCI_LAYER,
            Self::Gzip => media::OCI_LAYER_GZIP,
            Self::Zstd => media::OCI_LAYER_ZSTD,
        }
    }
}

/// One layer of an image: the blob as stored and the uncompressed tar's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    /// Digest of the blob in the content store (compressed or not).
    pub blob: Digest,
    /// Size of that blob in bytes.
    pub size: u64,
    /// The blob's media type as its manifest gives it.
    pub media_type: String,
    /// How the blob is compressed.
    pub compression: Compression,
    /// Digest of the uncompressed tar (from the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
}

/// A parsed manifest-like document.
#[derive(Debug, Clone)]
pub enum Document {
    /// A single-platform image manifest (OCI or Docker schema 2).
    Manifest(Box<ImageManifest>),
    /// An index or manifest list.
    Index(Box<ImageIndex>),
}

/// Errors of format parsing and selection.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// A JSON document did not parse.
    #[error("parse {what}: {source}")]
    Json {
        /// Which document (e.g. `manifest sha256:...`).
        what: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A media type berth does not handle in this place.
    #[error("{what}: unsupported media type {media_type:?}")]
    MediaType {
        /// Which document or descriptor.
        what: String,
        /// The media type found.
        media_type: String,
    },
    /// A digest field is not `sha256:<64 hex>`.
    #[error("{what}: invalid digest {value:?}")]
    Digest {
        /// Which field.
        what: String,
        /// The value found.
        value: String,
    },
    /// Config and manifest disagree on the number of layers.
    #[error("{what}: manifest has {manifest} layers but the config has {config} diff_ids")]
    LayerCount {
        /// Which image.
        what: String,
        /// Layers in the manifest.
        manifest: usize,
        /// diff_ids in the config.
        config: usize,
    },
    /// No manifest of an index fits the platform.
    #[error(
        "no match for platform {platform} in manifest {index}: not found (available: {available})"
    )]
    NoPlatform {
        /// The platform wanted.
        platform: String,
        /// The index.
        index: String,
        /// The platforms present, comma separated.
        available: String,
    },
}

/// Parses a manifest, index or manifest list. The document's own `mediaType` decides; a
/// document without one is told apart by its fields (`manifests` versus `layers`).
pub fn parse_document(bytes: &[u8], what: &str) -> Result<Document, FormatError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let json = |source| FormatError::Json {
        what: what.into(),
        source,
    };
    let probe: Probe = serde_json::from_slice(bytes).map_err(json)?;
    let is_index = match probe.media_type.as_deref() {
        Some(media::OCI_INDEX | media::DOCKER_MANIFEST_LIST) => true,
        Some(media::OCI_MANIFEST | media::DOCKER_MANIFEST) => false,
        None => probe.manifests.is_some(),
        Some(other) => {
            return Err(FormatError::MediaType {
                what: what.into(),
                media_type: other.into(),
            })
        }
    };
    if is_index {
        Ok(Document::Index(
            serde_json::from_slice(bytes).map_err(json)?,
        ))
    } else {
        Ok(Document::Manifest(
            serde_json::from_slice(bytes).map_err(json)?,
        ))
    }
}

/// Converts a descriptor's digest into berth's [`Digest`] (sha256 only).
pub fn descriptor_digest(desc: &Descriptor, what: &str) -> Result<Digest, FormatError> {
    let s = desc.digest().to_string();
    Digest::parse(&s).map_err(|_| FormatError::Digest {
        what: what.into(),
        value: s,
    })
}

/// The layers of `manifest` matched with the diff IDs of `config`.
pub fn layers_of(
    manifest: &ImageManifest,
    config: &ImageConfig,
    what: &str,
) -> Result<Vec<LayerRef>, FormatError> {
    let diff_ids = config.diff_ids()?;
    if diff_ids.len() != manifest.layers().len() {
        return Err(FormatError::LayerCount {
            what: what.into(),
            manifest: manifest.layers().len(),
            config: diff_ids.len(),
        });
    }
    manifest
        .layers()
        .iter()
        .zip(diff_ids)
        .map(|(desc, diff_id)| {
            let media_type = desc.media_type().to_string();
            let compression = Compression::from_media_type(&media_type).ok_or_else(|| {
                FormatError::MediaType {
                    what: format!("{what}: layer {}", desc.digest()),
                    media_type: media_type.clone(),
                }
            })?;
            Ok(LayerRef {
                blob: descriptor_digest(desc, what)?,
                size: desc.size(),
                media_type,
                compression,
                diff_id,
            })
        })
        .collect()
}
