//! Blobs as `save` (and, later, push) read them: from the content store, or, for a layer
//! berth committed itself, made again from its snapshot. A committed layer is kept only
//! unpacked (docker keeps committed layers that way too): its tar is what `layer::diff`
//! writes for that snapshot, which is deterministic, so the bytes come back exactly and are
//! checked against the layer's digest before anyone reads them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom};

use super::ImageStore;
use crate::content::{ContentError, Provider};
use crate::digest::Digest;
use crate::layer::{self, Compression};
use crate::metadata::LayerRecord;

/// The blobs of a set of images.
pub(crate) struct Blobs<'a> {
    store: &'a ImageStore,
    /// Uncompressed layer blobs by digest: their chain ID and size.
    layers: HashMap<Digest, (Digest, u64)>,
}

impl<'a> Blobs<'a> {
    /// The blobs of `store`, with `layers` known as possibly kept only unpacked.
    pub fn new<'l>(
        store: &'a ImageStore,
        layers: impl IntoIterator<Item = &'l LayerRecord>,
    ) -> Self {
        let layers = layers
            .into_iter()
            .filter(|l| l.blob == l.diff_id)
            .map(|l| (l.blob.clone(), (l.chain_id.clone(), l.blob_size)))
            .collect();
        Self { store, layers }
    }

    /// The tar of the committed snapshot `chain`, spooled to an unnamed temporary file and
    /// checked to have the digest `digest`.
    fn regenerate(&self, digest: &Digest, chain: &Digest) -> Result<File, ContentError> {
        let snap = self.store.snapshotter();
        let dirs = snap
            .layer_dirs(&chain.to_string())
            .map_err(|e| regen_err(&self.store.root, e))?;
        let tmp = self.store.root.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| io_err("create", &tmp, e))?;
        let mut spool = tempfile::tempfile_in(&tmp).map_err(|e| io_err("spool in", &tmp, e))?;
        let made = layer::diff(&dirs, &mut spool, Compression::None)
            .map_err(|e| regen_err(&dirs.upper, e))?;
        if made.diff_id != *digest {
            return Err(ContentError::DigestMismatch {
                expected: digest.clone(),
                actual: made.diff_id,
            });
        }
        spool
            .seek(SeekFrom::Start(0))
            .map_err(|e| io_err("rewind spool in", &tmp, e))?;
        Ok(spool)
    }
}

impl Provider for Blobs<'_> {
    type Reader = File;

    fn open(&self, digest: &Digest) -> Result<File, ContentError> {
        match (self.store.content.open(digest), self.layers.get(digest)) {
            (Err(ContentError::NotFound(_)), Some((chain, _))) => self.regenerate(digest, chain),
            (found, _) => found,
        }
    }

    fn size(&self, digest: &Digest) -> Result<u64, ContentError> {
        match (self.store.content.size(digest), self.layers.get(digest)) {
            (Err(ContentError::NotFound(_)), Some((_, size))) => Ok(*size),
            (found, _) => found,
        }
    }

    fn exists(&self, digest: &Digest) -> Result<bool, ContentError> {
        Ok(self.layers.contains_key(digest) || self.store.content.exists(digest)?)
    }
}

fn io_err(op: &'static str, path: &std::path::Path, source: std::io::Error) -> ContentError {
    ContentError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn regen_err(
    path: &std::path::Path,
    e: impl std::error::Error + Send + Sync + 'static,
) -> ContentError {
    io_err(
        "make the layer blob again from",
        path,
        std::io::Error::other(e),
    )
}
