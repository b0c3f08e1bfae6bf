//! Ingesting an image that arrives blob by blob (a registry pull): a [`Pull`] holds the
//! store's GC lock for its whole length, writes each blob verified from a stream and,
//! for layers, unpacks the same bytes on a worker thread as they arrive (with a
//! snapshotter that takes detached layers), so that nothing is read twice. Blobs may be
//! ingested from several threads at once; [`Pull::register`] then commits the layers in
//! order and records the image and its names in one transaction. A pull dropped before
//! `register` leaves only verified blobs behind (which the next pull reuses) and no
//! image.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::Mutex;

use nix::fcntl::Flock;

use super::early::EarlyLayers;
use super::{ImageStore, Loaded, StoreError};
use crate::archive::LoadedImage;
use crate::content::{Committed, ContentError, ContentWriter, Expected, Ingester, Provider};
use crate::digest::Digest;
use crate::layer::EarlyUnpack;
use crate::snapshot::Kind;

/// Bytes read from the source at a time (and handed to the unpacker as one chunk).
const CHUNK: usize = 256 << 10;

/// Errors of ingesting a blob.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Reading the source stream failed (the connection broke, the body was cut short).
    #[error("read blob {digest}: {source}")]
    Read {
        /// The blob expected (or `unknown`).
        digest: String,
        /// The reader's error.
        source: io::Error,
    },
    /// The content store refused the bytes (wrong digest or size) or failed.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// Another store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a layer of an image being pulled needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerNeed {
    /// Unpacked and its blob stored: nothing to fetch.
    Present,
    /// Unpacked, but its blob is not stored: fetch the blob only.
    BlobOnly,
    /// The blob is stored (an earlier pull verified it) but not unpacked: nothing to
    /// fetch; [`Pull::register`] unpacks it from the store.
    UnpackOnly,
    /// Fetch and unpack.
    Fetch,
}

/// One image being pulled into the store.
pub struct Pull<'s> {
    store: &'s ImageStore,
    _gc: Flock<File>,
    early: Mutex<EarlyLayers<'s>>,
}

impl ImageStore {
    /// Starts a pull: takes the GC lock (shared) until the [`Pull`] is dropped.
    pub fn begin_pull(&self) -> super::Result<Pull<'_>> {
        Ok(Pull {
            store: self,
            _gc: self.gc_lock(false)?,
            early: Mutex::new(EarlyLayers::new(self.snap.as_ref())),
        })
    }
}

impl<'s> Pull<'s> {
    /// Whether the blob `digest` is stored already.
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, IngestError> {
        Ok(self.store.content.exists(digest)?)
    }

    /// What the layer stored as `blob` with chain ID `chain` needs.
    pub fn layer_need(&self, blob: &Digest, chain: &Digest) -> Result<LayerNeed, IngestError> {
        let unpacked = self
            .store
            .snap
            .stat(&chain.to_string())
            .is_ok_and(|info| info.kind == Kind::Committed);
        Ok(match (unpacked, self.has_blob(blob)?) {
            (true, true) => LayerNeed::Present,
            (true, false) => LayerNeed::BlobOnly,
            (false, true) => LayerNeed::UnpackOnly,
            (false, false) => LayerNeed::Fetch,
        })
    }

    /// Writes a small blob held in memory (a manifest or config), verified against
    /// `expected`.
    pub fn put(&self, bytes: &[u8], expected: Expected) -> Result<Committed, IngestError> {
        Ok(self.store.content.put(bytes, expected)?)
    }

    /// Streams `src` into the content store as a blob that must match `expected`,
    /// calling `progress` with the byte count of each chunk written. With `unpack` (a
    /// layer blob) and a snapshotter that takes detached layers, the same chunks are
    /// unpacked on a worker thread as they arrive; [`Pull::register`] commits that layer.
    /// Nothing is published unless size and digest match.
    pub fn ingest(
        &self,
        expected: Expected,
        mut src: impl Read,
        unpack: bool,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Committed, IngestError> {
        let name = expected
            .digest
            .as_ref()
            .map_or_else(|| "unknown".to_string(), Digest::to_string);
        let mut writer = self.store.content.writer(expected)?;
        let mut buf = vec![0u8; CHUNK];
        let mut unpacker: Option<EarlyUnpack<'s>> = None;
        let mut first = true;
        loop {
            let n = crate::layer::fill(&mut src, &mut buf).map_err(|source| IngestError::Read {
                digest: name.clone(),
                source,
            })?;
            if n == 0 {
                break;
            }
            writer
                .write_all(&buf[..n])
                .map_err(|e| write_err(&name, e))?;
            if std::mem::take(&mut first) && unpack {
                // An early unpack that cannot start only loses its head start.
                unpacker = EarlyUnpack::start(self.store.snap.as_ref(), &buf[..n])
                    .ok()
                    .flatten();
            }
            if let Some(u) = &mut unpacker {
                u.feed(&mut buf, n);
            }
            progress(n as u64);
        }
        let committed = writer.commit()?;
        if let Some(u) = unpacker {
            let finished = u.finish();
            self.early
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .finished(&committed.digest, finished);
        }
        Ok(committed)
    }

    /// Commits the image's layers in order (those unpacked while ingested, the others
    /// from their blobs, which must all be stored) and records the image with its names.
    pub fn register(self, img: &LoadedImage) -> Result<Loaded, IngestError> {
        let mut early = self.early.into_inner().unwrap_or_else(|p| p.into_inner());
        Ok(self.store.register(img, &mut early)?)
    }
}

/// Turns a store write error back into the content error it carries (a size overrun).
fn write_err(name: &str, e: io::Error) -> IngestError {
    let kind = e.kind();
    let source = ContentError::Io {
        op: if kind == io::ErrorKind::InvalidData {
            "receive more bytes than expected for"
        } else {
            "write"
        },
        path: format!("blob {name}").into(),
        source: e,
    };
    IngestError::Content(source)
}

impl ImageStore {
    /// The manifest (exact bytes and media type) and record of the stored image `name`
    /// (a reference or ID), for a push.
    pub fn manifest_of(
        &self,
        name: &str,
    ) -> super::Result<(crate::metadata::ImageRecord, Vec<u8>)> {
        let record = self.db.resolve(name)?;
        let bytes = self
            .content
            .read_all(&record.manifest_digest, crate::archive::JSON_LIMIT)?;
        Ok((record, bytes))
    }

    /// Opens the stored blob `digest` for reading (a push's source).
    pub fn open_blob(&self, digest: &Digest) -> super::Result<File> {
        Ok(self.content.open(digest)?)
    }
}
