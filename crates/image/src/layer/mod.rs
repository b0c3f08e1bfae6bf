//! Layers: applying a layer tar to a directory (whiteouts, every file type, metadata,
//! and never a write outside the directory), unpacking layers into snapshots keyed by
//! chain ID, and making layer tars from writable layers.

mod apply;
mod changes;
mod compress;
mod diff;
mod early;
mod entry;
mod hash;
mod safe_path;
mod tee;
mod unpack;

use std::io;
use std::path::{Path, PathBuf};

pub use apply::{adopt_parents, apply, apply_detached, apply_layer, Applied, Detached, Whiteouts};
pub use changes::{changes, Change, ChangeKind};
pub(crate) use compress::fill;
pub use compress::{decompress, detect, Compression, Encoder, Peeked};
pub use diff::{diff, diff_skipping, Created};
pub use early::{commit_early, EarlyLayer, EarlyUnpack, Finished};
pub use tee::{diff_and_unpack, Committed};
pub use unpack::{chain_id, unpack, unpack_new, Unpacked};

use crate::digest::Digest;

/// Errors of layer apply, unpack and creation, naming the entry or path concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An entry that would write outside the layer or is otherwise unsafe.
    #[error("layer entry {entry:?} refused: {reason}")]
    Refused {
        /// The entry's name as in the tar.
        entry: String,
        /// Why.
        reason: &'static str,
    },
    /// A file system operation for one entry failed.
    #[error("layer entry {entry:?}: {op}: {source}")]
    Entry {
        /// The entry's name as in the tar.
        entry: String,
        /// The operation, e.g. `mknod`.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// An entry type layers cannot carry.
    #[error("layer entry {entry:?}: unsupported entry type {typ}")]
    Unsupported {
        /// The entry's name.
        entry: String,
        /// Its type.
        typ: String,
    },
    /// Reading the layer tar failed (truncated, corrupt, or the source failed).
    #[error("read layer tar: {0}")]
    Read(io::Error),
    /// Writing a layer tar failed.
    #[error("write layer tar: {0}")]
    Write(io::Error),
    /// The layer's content does not match the diffID it was expected to have.
    #[error("layer diffID mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch {
        /// The diffID from the image config.
        expected: Digest,
        /// The sha256 of the tar stream received.
        actual: Digest,
    },
    /// The chain ID passed does not follow from the parent and the diffID.
    #[error("chain ID {given} does not match parent and diffID (want {computed})")]
    ChainIdMismatch {
        /// The chain ID passed in.
        given: Digest,
        /// The chain ID computed.
        computed: Digest,
    },
    /// A file system operation on a path failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A snapshot operation failed.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::Error),
}

/// Result of the layer operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
        move |source| Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}
