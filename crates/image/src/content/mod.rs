//! The content store: immutable blobs addressed by digest.
//!
//! Two small traits split reading from writing, as containerd's content service does:
//!
//! - a [`Provider`] opens a committed blob by digest and tells its size and presence;
//! - an [`Ingester`] hands out a [`ContentWriter`]: bytes written to it go to a private
//!   temporary file and are hashed on the way. [`ContentWriter::commit`] checks the size
//!   and digest against what the caller expected, makes the bytes durable and only then
//!   publishes the blob under its digest, atomically. A writer dropped or aborted before
//!   commit leaves nothing behind, and a blob is never visible under a wrong name, even if
//!   the process is killed mid-write.
//!
//! [`LocalStore`] is the on-disk implementation (`<root>/blobs/sha256/<hex>` and
//! `<root>/ingest/`).

mod local;
mod writer;

use std::io::{Read, Seek, Write};
use std::path::PathBuf;

use crate::digest::Digest;

pub use local::{LocalStore, Usage};
pub use writer::LocalWriter;

/// What a writer must receive before it may commit. `None` fields are not checked: a
/// writer with no expected digest commits under the digest of whatever it was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// The digest the content must have.
    pub digest: Option<Digest>,
    /// The exact size in bytes the content must have.
    pub size: Option<u64>,
}

impl Expected {
    /// Nothing known in advance.
    pub fn unknown() -> Self {
        Self::default()
    }

    /// A known digest and size (a descriptor's).
    pub fn exact(digest: Digest, size: u64) -> Self {
        Self {
            digest: Some(digest),
            size: Some(size),
        }
    }
}

/// The result of a successful commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The digest the blob is stored under.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// `false` when an identical blob was already present (the new copy was discarded).
    pub created: bool,
}

/// Opens committed blobs for reading.
pub trait Provider {
    /// A reader over one blob.
    type Reader: Read + Seek + Send;

    /// Opens the blob `digest`; [`ContentError::NotFound`] when it is absent.
    fn open(&self, digest: &Digest) -> Result<Self::Reader, ContentError>;

    /// The size of the blob `digest`.
    fn size(&self, digest: &Digest) -> Result<u64, ContentError>;

    /// Whether the blob `digest` is present.
    fn exists(&self, digest: &Digest) -> Result<bool, ContentError>;
}

/// Writes new blobs.
pub trait Ingester {
    /// A writer for one blob.
    type Writer: ContentWriter;

    /// Starts a blob that must match `expected` to be committed.
    fn writer(&self, expected: Expected) -> Result<Self::Writer, ContentError>;
}

/// A blob being written. Dropping it without commit discards the bytes.
pub trait ContentWriter: Write {
    /// Bytes accepted so far.
    fn written(&self) -> u64;

    /// Verifies size and digest, makes the blob durable and publishes it under its digest.
    /// On any error nothing is published and the temporary file is removed.
    fn commit(self) -> Result<Committed, ContentError>
    where
        Self: Sized;

    /// Discards the bytes written so far.
    fn abort(self) -> Result<(), ContentError>
    where
        Self: Sized;
}

/// Writes `bytes` as one blob (small content such as manifests and configs).
pub fn put<I: Ingester>(
    ingester: &I,
    bytes: &[u8],
    expected: Expected,
) -> Result<Committed, ContentError> {
    let want = expected.size;
    let mut w = ingester.writer(expected)?;
    if let Err(e) = w.write_all(bytes) {
        return Err(match (e.kind(), want) {
            (std::io::ErrorKind::InvalidData, Some(want)) => ContentError::SizeMismatch {
                digest: Digest::of(bytes),
                expected: want,
                actual: bytes.len() as u64,
            },
            _ => ContentError::io("write blob", PathBuf::new(), e),
        });
    }
    w.commit()
}

/// Reads a whole blob into memory, refusing blobs larger than `limit` bytes.
pub fn read_all<P: Provider>(
    provider: &P,
    digest: &Digest,
    limit: u64,
) -> Result<Vec<u8>, ContentError> {
    let size = provider.size(digest)?;
    if size > limit {
        return Err(ContentError::TooLarge {
            digest: digest.clone(),
            size,
            limit,
        });
    }
    let mut buf = Vec::with_capacity(size as usize);
    provider
        .open(digest)?
        .read_to_end(&mut buf)
        .map_err(|e| ContentError::io("read blob", PathBuf::from(digest.to_string()), e))?;
    Ok(buf)
}

/// Errors of the content store.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// A filesystem operation failed.
    #[error("content store: {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No blob with this digest.
    #[error("content {0}: not found")]
    NotFound(Digest),
    /// The bytes do not hash to the expected digest.
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the caller expected.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },
    /// The bytes are not as long as expected.
    #[error("content {digest}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The digest of the bytes received (or expected, when known).
        digest: Digest,
        /// The size the caller expected.
        expected: u64,
        /// The size received.
        actual: u64,
    },
    /// A blob is larger than the caller is willing to read into memory.
    #[error("content {digest}: {size} bytes is more than the {limit} allowed here")]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The most the caller accepts.
        limit: u64,
    },
}

impl ContentError {
    fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
