//! Snapshotters: the unpacked, read-only layers of images (keyed by chain ID and shared by
//! every image and container that uses them) and the writable layers of containers.
//!
//! # The snapshot lifecycle
//!
//! A snapshot is a directory tree identified by a *key*. It is in one of three kinds:
//!
//! - **Active**: writable. Made by [`Snapshotter::prepare`] on top of an optional committed
//!   parent. Its contents start as the parent's contents. A layer is unpacked into an active
//!   snapshot (through [`Snapshotter::writable_dir`]), and a container's root is an active
//!   snapshot.
//! - **Committed**: read-only and immutable. [`Snapshotter::commit`] turns an active snapshot
//!   into a committed one under a new name (for layers: the chain ID); the active key is gone
//!   afterwards. Only committed snapshots can be parents.
//! - **View**: a read-only window on a committed parent, made by [`Snapshotter::view`]; it
//!   can never be committed.
//!
//! A snapshotter never mounts anything for a container: [`Snapshotter::prepare`],
//! [`Snapshotter::view`] and [`Snapshotter::mounts`] return a list of [`Mount`]s that the
//! caller mounts (with [`Mount::mount_at`] or its own code) where it wants the tree.
//!
//! Unpacking a layer `L` with chain ID `C` over a parent chain `P` goes:
//!
//! ```text
//! prepare("extract-<random>-C", Some(P))  -> an active snapshot holding P's contents
//! apply the layer tar into writable_dir("extract-<random>-C")
//! commit("C", "extract-<random>-C")       -> committed "C"; parent P
//! ```
//!
//! and a container's root is `prepare(container_id, Some(top_chain_id))` and its mounts.
//! A snapshotter whose layer directories do not depend on their parents' files (overlay:
//! [`Snapshotter::detached_layers`]) also takes a layer applied into a parentless active
//! snapshot before its parent is known, committed over the parent afterwards with
//! [`Snapshotter::commit_over`].
//! [`Snapshotter::remove`] refuses a snapshot that still has children, so removing in the
//! reverse order of creation always works. Half-made snapshots left by a crash (temporary
//! directories, `extract-*` snapshots nobody is working on) are removed by
//! [`Snapshotter::cleanup`], which a daemon calls when it starts.
//!
//! Every registration is a single atomic `rename(2)` of a fully written snapshot directory,
//! so a crash never leaves a half-registered snapshot.

pub(crate) mod fsutil;
mod mount;
mod overlay;
mod store;
mod vfs;

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use mount::{unmount, Mount};
pub use overlay::{overlay_supported, Overlay};
pub use store::NameLock;
pub use vfs::Vfs;

/// The disk use of the tree at `root` (allocated bytes and inodes, hard links counted
/// once), measured as snapshots' usage is, so that figures agree with `du`.
pub fn tree_usage(root: &std::path::Path) -> Result<Usage> {
    fsutil::usage(root)
}

/// The kind of a snapshot; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// Writable; can be committed.
    Active,
    /// Read-only, immutable; can be a parent.
    Committed,
    /// Read-only window on a parent; cannot be committed.
    View,
}

/// What a snapshotter knows about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The snapshot's key (for committed layers: the chain ID).
    pub key: String,
    /// The committed parent's key.
    pub parent: Option<String>,
    /// Active, committed or view.
    pub kind: Kind,
    /// When the snapshot was made (for committed ones: when it was committed).
    pub created: SystemTime,
}

/// Disk use of a snapshot's own layer (not its parents').
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes allocated on disk (hardlinked files counted once).
    pub bytes: u64,
    /// Number of inodes (files, directories, links, devices).
    pub inodes: u64,
}

/// How the directories of a snapshot relate to its parents'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirStyle {
    /// `upper` holds only this layer's changes, with overlay whiteouts; `lowers` are the
    /// parents' layer directories, top first.
    Overlay,
    /// `upper` holds the full tree; `lowers` is the parent's full tree (if any).
    Full,
}

/// The directories behind a snapshot, for applying layers and computing differences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDirs {
    /// The snapshot's own directory (an overlay upper dir, or the full tree).
    pub upper: PathBuf,
    /// The parents' directories (see [`DirStyle`]).
    pub lowers: Vec<PathBuf>,
    /// Overlay layers or full copies.
    pub style: DirStyle,
}

/// Errors of the snapshotters, with the key or path concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No snapshot has this key.
    #[error("snapshot {key:?}: not found")]
    NotFound {
        /// The key looked up.
        key: String,
    },
    /// A snapshot with this key already exists.
    #[error("snapshot {key:?}: already exists")]
    Exists {
        /// The key.
        key: String,
    },
    /// The operation needs another kind of snapshot.
    #[error("snapshot {key:?} is {actual:?}: {op} needs {wanted}")]
    WrongKind {
        /// The operation.
        op: &'static str,
        /// The key.
        key: String,
        /// Its kind.
        actual: Kind,
        /// What the operation accepts.
        wanted: &'static str,
    },
    /// `remove` of a snapshot that still has children.
    #[error("remove snapshot {key:?}: it is the parent of {children} snapshot(s)")]
    HasChildren {
        /// The key.
        key: String,
        /// How many snapshots have it as parent.
        children: usize,
    },
    /// `commit_over` on a snapshot that cannot be re-parented (it has a parent already, or
    /// the snapshotter copies its parents' files).
    #[error("snapshot {key:?}: cannot be committed over another parent")]
    NotDetachable {
        /// The key.
        key: String,
    },
    /// A key that cannot be used.
    #[error("snapshot key {key:?}: {reason}")]
    BadKey {
        /// The key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// A snapshotter root path that overlay mount options cannot carry.
    #[error("snapshotter root {path}: {reason}")]
    BadRoot {
        /// The root.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation, e.g. `create directory`.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A snapshot's metadata file cannot be read or written.
    #[error("snapshot metadata {path}: {source}")]
    Metadata {
        /// The metadata file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// Mounting failed.
    #[error("mount {typ} on {target}: {source}")]
    Mount {
        /// The file system type (`overlay`, `bind`).
        typ: String,
        /// The mount point.
        target: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A mount has a type or option this helper does not know.
    #[error("mount {typ} on {target}: unsupported {what}")]
    Unsupported {
        /// The file system type.
        typ: String,
        /// The mount point.
        target: PathBuf,
        /// What is unsupported.
        what: String,
    },
}

/// Result of the snapshot operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
        move |source| Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A store of snapshots; see the module documentation for the lifecycle.
///
/// Implementations are safe to use from several threads and several processes at once on
/// the same root: registrations are serialised by a lock file under the root.
pub trait Snapshotter: Send + Sync {
    /// Makes an active (writable) snapshot `key` whose contents start as those of the
    /// committed snapshot `parent` (empty without a parent), and returns the mounts that
    /// show it. Fails if `key` exists or `parent` is not a committed snapshot.
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>>;

    /// Makes a read-only view `key` of the committed snapshot `parent` and returns its
    /// mounts. A view can be removed but never committed.
    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>>;

    /// The mounts of an active snapshot or a view (again; same as `prepare`/`view` gave).
    fn mounts(&self, key: &str) -> Result<Vec<Mount>>;

    /// Turns the active snapshot `key` into the committed snapshot `name` (keeping its
    /// parent). `key` no longer exists afterwards. Fails if `name` exists.
    fn commit(&self, name: &str, key: &str) -> Result<()>;

    /// Removes a snapshot of any kind and its files. Refuses a snapshot that is the parent
    /// of another one.
    fn remove(&self, key: &str) -> Result<()>;

    /// Removes snapshot `key` as [`Snapshotter::remove`] does, but moves its files to
    /// `grave` (a path that does not exist yet, on the file system of the snapshotter's
    /// root) instead of deleting them: one `rename(2)`, the files deleted by the caller
    /// when it likes (a container's removal answers first). True if the files are at
    /// `grave`; false if they could not be moved there and were deleted instead.
    fn remove_to(&self, key: &str, grave: &Path) -> Result<bool> {
        let _ = grave;
        self.remove(key).map(|()| false)
    }

    /// What is known about `key`.
    fn stat(&self, key: &str) -> Result<Info>;

    /// Disk use of the snapshot's own layer (for views: nothing).
    fn usage(&self, key: &str) -> Result<Usage>;

    /// Every snapshot, in no particular order.
    fn list(&self) -> Result<Vec<Info>>;

    /// The directories behind the snapshot `key` (its own layer and its parents').
    fn layer_dirs(&self, key: &str) -> Result<LayerDirs>;

    /// The directory a layer is applied into for the active snapshot `key` (overlay: its
    /// upper dir; vfs: its full tree).
    fn writable_dir(&self, key: &str) -> Result<PathBuf> {
        let info = self.stat(key)?;
        if info.kind != Kind::Active {
            return Err(Error::WrongKind {
                op: "writable_dir",
                key: key.into(),
                actual: info.kind,
                wanted: "an active snapshot",
            });
        }
        Ok(self.layer_dirs(key)?.upper)
    }

    /// Makes one spare directory for a future [`Snapshotter::prepare`] ahead of need, so
    /// that the prepare only registers it (see `Store::make_spare`). Returns false (and
    /// makes nothing) for a snapshotter that has no use for spares.
    fn make_spare(&self) -> Result<bool> {
        Ok(false)
    }

    /// How many spare directories are ready.
    fn spares(&self) -> usize {
        0
    }

    /// Whether a layer can be applied into a parentless active snapshot and committed over
    /// its parent afterwards ([`Snapshotter::commit_over`]): true when a snapshot's own
    /// directory does not depend on its parents' files (overlay), false when it holds
    /// a full copy of them (vfs).
    fn detached_layers(&self) -> bool {
        false
    }

    /// Turns the parentless active snapshot `key` into the committed snapshot `name` over
    /// the committed snapshot `parent`, for snapshotters with
    /// [`Snapshotter::detached_layers`]. Fails if `name` exists.
    fn commit_over(&self, name: &str, key: &str, parent: Option<&str>) -> Result<()> {
        let _ = (name, parent);
        Err(Error::NotDetachable { key: key.into() })
    }

    /// Takes the exclusive lock named `name` (a file under `<root>/locks`), waiting for it.
    /// Layer unpacking holds the lock of the chain ID it makes.
    fn lock(&self, name: &str) -> Result<NameLock>;

    /// Removes what a crash left half made: temporary directories, half-committed
    /// snapshots, and active snapshots whose key starts with [`EXTRACT_PREFIX`] when
    /// nobody holds the lock of the name that follows `extract-<random>-`.
    fn cleanup(&self) -> Result<()>;

    /// The storage driver name docker would show for this snapshotter (`overlay2`,
    /// `vfs`).
    fn driver_name(&self) -> &'static str;
}

/// Key prefix of the active snapshots that layers are unpacked into:
/// `extract-<random>-<chain id>`.
pub const EXTRACT_PREFIX: &str = "extract-";

/// Opens the default snapshotter under `root`: overlay when an overlay mount works there,
/// vfs otherwise.
pub fn open_default(root: &Path) -> Result<Box<dyn Snapshotter>> {
    let overlay_root = root.join("overlay");
    std::fs::create_dir_all(&overlay_root).map_err(Error::io("create directory", &overlay_root))?;
    if overlay_supported(&overlay_root) {
        return Ok(Box::new(Overlay::new(&overlay_root)?));
    }
    Ok(Box::new(Vfs::new(&root.join("vfs"))?))
}
