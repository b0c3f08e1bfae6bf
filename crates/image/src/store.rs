//! The image store: the content store, the snapshotter and the metadata database under one
//! data root, and the operations that touch more than one of them (load, delete with
//! garbage collection). Layout under the root: `content/`, `snapshots/`, `metadata.db`.
//!
//! The image operations beyond load live in submodules: deleting with garbage collection
//! ([`Removal`]), pruning, importing a root file system, saving, exporting an image's
//! files and measuring disk use.

mod blobs;
pub mod changes;
mod early;
mod export;
mod gc;
mod import;
mod pull;
mod remove;
mod save;
mod usage;

pub use gc::{content_bytes, tree_bytes, Pruned};
pub use import::ImportOptions;
pub use pull::{IngestError, LayerNeed, Pull};
pub use remove::Removal;
pub use usage::{DiskUsage, ImageUsage};

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::archive::{self, ArchiveError, LoadedImage};
use crate::content::{ContentError, LocalStore, Provider};
use crate::digest::Digest;
use crate::formats::Platform;
use crate::layer::{self, Unpacked};
use crate::metadata::{Db, DbError};
use crate::snapshot::{self, Snapshotter};
use early::EarlyLayers;

/// Errors of store-wide operations.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The metadata database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The snapshotter failed.
    #[error(transparent)]
    Snapshot(#[from] snapshot::Error),
    /// Reading an archive failed.
    #[error(transparent)]
    Archive(Box<ArchiveError>),
    /// Unpacking a layer failed.
    #[error("unpack layer {blob}: {source}")]
    Unpack {
        /// The layer blob.
        blob: Digest,
        /// What went wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A deletion that docker would refuse: `forcible` says whether `-f` overrides it.
    #[error("conflict: unable to delete {image} ({}) - {reason}", if *forcible { "must be forced" } else { "cannot be forced" })]
    Conflict {
        /// The short image ID.
        image: String,
        /// Why.
        reason: String,
        /// Whether force overrides it.
        forcible: bool,
    },
    /// Untagging the last name of an image a container uses, without force.
    #[error("conflict: unable to remove repository reference {reference:?} (must force) - container {user} is using its referenced image {image}")]
    ReferenceInUse {
        /// The reference as given.
        reference: String,
        /// The (short) container ID.
        user: String,
        /// The short image ID.
        image: String,
    },
    /// A `--change` instruction that cannot be applied.
    #[error("{0}")]
    Change(#[from] changes::ChangeError),
    /// An image config in the store that does not parse.
    #[error("image config {id}: {source}")]
    Config {
        /// The image ID.
        id: Digest,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl From<ArchiveError> for StoreError {
    fn from(e: ArchiveError) -> Self {
        StoreError::Archive(Box::new(e))
    }
}

/// Result alias for store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// An image a load made or updated.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The image ID.
    pub id: Digest,
    /// Its names from the archive, in full form.
    pub tags: Vec<String>,
    /// Layers unpacked by this load (the others were already present).
    pub unpacked_layers: usize,
}

/// Content, snapshots and metadata under one root.
pub struct ImageStore {
    root: PathBuf,
    content: LocalStore,
    db: Db,
    snap: std::sync::Arc<dyn Snapshotter>,
}

impl ImageStore {
    /// Opens (creating) the store under `root`, cleaning what a crash left half-made.
    pub fn open(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(|source| StoreError::Io {
            op: "create",
            path: root.to_path_buf(),
            source,
        })?;
        let content = LocalStore::open(&root.join("content"))?;
        let snap: std::sync::Arc<dyn Snapshotter> =
            snapshot::open_default(&root.join("snapshots"))?.into();
        snap.cleanup()?;
        let db = open_db(root)?;
        Ok(Self {
            root: root.to_path_buf(),
            content,
            db,
            snap,
        })
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content store.
    pub fn content(&self) -> &LocalStore {
        &self.content
    }

    /// The metadata database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The snapshotter.
    pub fn snapshotter(&self) -> &dyn Snapshotter {
        self.snap.as_ref()
    }

    /// The snapshotter, to share with readers on other threads (it is `Sync`).
    pub fn shared_snapshotter(&self) -> std::sync::Arc<dyn Snapshotter> {
        self.snap.clone()
    }

    /// Loads a `docker save` or OCI layout archive (gzipped or not): blobs are verified
    /// into the content store, layers unpacked once each, then the images and their tags
    /// recorded in one transaction per image.
    ///
    /// With a snapshotter that takes detached layers (overlay), each layer blob is also
    /// unpacked on a worker thread while the archive is read, and committed over its
    /// parent once the manifests are known; anything that early unpack cannot do is done
    /// the ordinary way afterwards.
    pub fn load(&self, input: impl Read) -> Result<Vec<Loaded>> {
        let _gc = self.gc_lock(false)?;
        let mut early = EarlyLayers::new(self.snap.as_ref());
        let images =
            archive::read_archive_with(input, &self.content, &Platform::host(), &mut early)?;
        images
            .iter()
            .map(|img| self.register(img, &mut early))
            .collect()
    }

    fn register(&self, img: &LoadedImage, early: &mut EarlyLayers<'_>) -> Result<Loaded> {
        let mut record = img
            .to_record()
            .map_err(|e| StoreError::from(ArchiveError::from(e)))?;
        let mut plan = self.plan(img, &record, early)?;
        let mut parent: Option<Digest> = None;
        let mut unpacked_layers = 0;
        // Sizes of the layers committed early, measured while unpacking.
        let mut sizes = HashMap::new();
        for ((layer, rec), unpacked) in img.layers.iter().zip(&record.layers).zip(&mut plan) {
            let done = match unpacked.take() {
                Some(unpacked) => {
                    sizes.insert(&rec.chain_id, unpacked.content_bytes());
                    let snap = self.snap.as_ref();
                    layer::commit_early(snap, &rec.chain_id, parent.as_ref(), unpacked).map_err(
                        |e| StoreError::Unpack {
                            blob: layer.blob.clone(),
                            source: Box::new(e),
                        },
                    )?
                }
                None => {
                    self.unpack_blob(&layer.blob, &rec.chain_id, parent.as_ref(), &rec.diff_id)?
                }
            };
            if matches!(done, Unpacked::Applied(_)) {
                unpacked_layers += 1;
            }
            parent = Some(rec.chain_id.clone());
        }
        record.size = record
            .layers
            .iter()
            .map(|l| match sizes.get(&l.chain_id) {
                Some(&size) => size,
                None => self.layer_size(&l.chain_id),
            })
            .sum();
        self.db.put_image(&record, &img.tags)?;
        Ok(Loaded {
            id: record.id.clone(),
            tags: img.tags.iter().map(|t| t.to_string()).collect(),
            unpacked_layers,
        })
    }
}

impl ImageStore {
    /// The layers of `img` unpacked early (`None` where a layer must be unpacked from its
    /// blob), checked before anything is committed: a layer refused early fails the load
    /// here, and so does one whose parents the ordinary unpack would refuse to write
    /// through, as far as the layers below it are known (committed or unpacked early).
    fn plan<'a>(
        &self,
        img: &LoadedImage,
        record: &crate::metadata::ImageRecord,
        early: &mut EarlyLayers<'a>,
    ) -> Result<Vec<Option<layer::EarlyLayer<'a>>>> {
        let unpack_err = |blob: &Digest| {
            let blob = blob.clone();
            move |e| StoreError::Unpack {
                blob,
                source: Box::new(e),
            }
        };
        for layer in &img.layers {
            if let Some(e) = early.refusal(&layer.blob) {
                return Err(unpack_err(&layer.blob)(e));
            }
        }
        let plan: Vec<_> = img
            .layers
            .iter()
            .zip(&record.layers)
            .map(|(l, rec)| early.take(&l.blob, &rec.diff_id))
            .collect();
        // The layer directories below the next layer, top first, while all are known.
        let mut lowers: Vec<PathBuf> = Vec::new();
        for ((layer, rec), unpacked) in img.layers.iter().zip(&record.layers).zip(&plan) {
            let upper = match (unpacked, self.snap.layer_dirs(&rec.chain_id.to_string())) {
                (_, Ok(dirs)) => dirs.upper,
                (Some(unpacked), Err(_)) => {
                    unpacked.adopt(&lowers).map_err(unpack_err(&layer.blob))?;
                    unpacked.upper().map_err(unpack_err(&layer.blob))?
                }
                (None, Err(_)) => break,
            };
            lowers.insert(0, upper);
        }
        Ok(plan)
    }

    /// Unpacks the layer blob `blob` (compressed or not) as the snapshot `chain` over
    /// `parent`, unless that exists.
    fn unpack_blob(
        &self,
        blob: &Digest,
        chain: &Digest,
        parent: Option<&Digest>,
        diff_id: &Digest,
    ) -> Result<Unpacked> {
        let unpack_err = |e: layer::Error| StoreError::Unpack {
            blob: blob.clone(),
            source: Box::new(e),
        };
        let reader = self.content.open(blob)?;
        let tar = layer::decompress(reader)
            .map_err(layer::Error::Read)
            .map_err(unpack_err)?;
        layer::unpack(self.snap.as_ref(), chain, parent, tar, diff_id).map_err(unpack_err)
    }
}

/// Opens the database with other processes' opens serialised: switching a new database
/// to WAL does not wait for a concurrent opener (SQLite answers "database is locked").
fn open_db(root: &Path) -> Result<Db> {
    let path = root.join("metadata.lock");
    let io = |op| {
        let path = path.clone();
        move |source| StoreError::Io { op, path, source }
    };
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("open"))?;
    let _lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| io("lock")(e.into()))?;
    Ok(Db::open(&root.join("metadata.db"))?)
}
