//! Image configs, kept as the exact bytes they arrived as: the image ID is their sha256,
//! so they are never re-serialised.

use oci_spec::image::ImageConfiguration;

use super::FormatError;
use crate::digest::Digest;

/// An image config: its bytes, their digest (the image ID) and the parsed form.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    bytes: Vec<u8>,
    digest: Digest,
    parsed: ImageConfiguration,
}

impl ImageConfig {
    /// Parses `bytes` as an OCI or Docker image config.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, FormatError> {
        let digest = Digest::of(&bytes);
        let parsed = serde_json::from_slice(&bytes).map_err(|source| FormatError::Json {
            what: format!("image config {digest}"),
            source,
        })?;
        Ok(Self {
            bytes,
            digest,
            parsed,
        })
    }

    /// The exact bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The sha256 of the bytes: the image ID.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The parsed config.
    pub fn parsed(&self) -> &ImageConfiguration {
        &self.parsed
    }

    /// The layers' diff IDs, bottom first.
    pub fn diff_ids(&self) -> Result<Vec<Digest>, FormatError> {
        self.parsed
            .rootfs()
            .diff_ids()
            .iter()
            .map(|s| {
                Digest::parse(s).map_err(|_| FormatError::Digest {
                    what: format!("image config {}: rootfs.diff_ids", self.digest),
                    value: s.clone(),
                })
            })
            .collect()
    }

    /// The chain IDs of the layer stack, bottom first.
    pub fn chain_ids(&self) -> Result<Vec<Digest>, FormatError> {
        Ok(Digest::chain_ids(&self.diff_ids()?))
    }
}
