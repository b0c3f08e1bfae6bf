//! Image metadata in one SQLite database (WAL, every change in a transaction): images,
//! their layers, references (tags and digests) and who uses what, so that deleting an
//! image tells which layers (by chain ID) and blobs nothing references any more. The
//! caller removes those from the snapshotter and the content store.

mod images;
mod remove;
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::digest::Digest;
use crate::reference::Reference;

pub use remove::{Deleted, UntagOutcome};

/// How long a writer waits for another connection's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The metadata database. Cheap to share between threads (one connection behind a mutex);
/// other processes open their own.
#[derive(Debug)]
pub struct Db {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// One layer of an image as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Chain ID of the stack up to and including this layer.
    pub chain_id: Digest,
    /// The blob in the content store.
    pub blob: Digest,
    /// The blob's size.
    pub blob_size: u64,
    /// The blob's media type.
    pub media_type: String,
}

/// An image as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// The image ID: the config's digest (also the config blob's digest).
    pub id: Digest,
    /// The manifest blob's digest.
    pub manifest_digest: Digest,
    /// The manifest's media type.
    pub manifest_media_type: String,
    /// The config's `created` time, as the config writes it.
    pub created: Option<String>,
    /// Size in bytes as `docker images` shows it (the caller's choice of measure).
    pub size: u64,
    /// The config's labels.
    pub labels: BTreeMap<String, String>,
    /// Layers, bottom first.
    pub layers: Vec<LayerRecord>,
}

/// An image with its names, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// The image record.
    pub image: ImageRecord,
    /// Tag references (`name:tag`), sorted.
    pub tags: Vec<Reference>,
    /// Digest references (`name@sha256:...`), sorted.
    pub digests: Vec<Reference>,
    /// Unix seconds when the image was stored here.
    pub added: i64,
}

/// What the database holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbUsage {
    /// Images.
    pub images: u64,
    /// Images without any reference.
    pub dangling: u64,
    /// Distinct layers (chain IDs) referenced by images or held by users.
    pub layers: u64,
    /// Total size of the distinct layer blobs images reference.
    pub layer_blob_bytes: u64,
}

/// What `put_image` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOutcome {
    /// The image was not in the database before.
    pub created: bool,
    /// References moved here from another image: the reference and that image's ID.
    pub moved: Vec<(Reference, Digest)>,
}

/// Errors of the metadata database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite failed.
    #[error("metadata {path}: {op}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database's directory could not be created.
    #[error("metadata: create directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No image by this name or ID.
    #[error("No such image: {0}")]
    NotFound(String),
    /// An ID prefix that matches more than one image.
    #[error("multiple images match prefix {0:?}")]
    Ambiguous(String),
    /// The image is used and the deletion was not forced.
    #[error(
        "conflict: unable to delete {image} (must be forced) - image is being used by {users}"
    )]
    InUse {
        /// Short image ID.
        image: String,
        /// Its users, comma separated.
        users: String,
    },
    /// The database holds a value this code cannot read back (damaged or newer).
    #[error("metadata {path}: corrupt {what}: {value:?}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// Which column.
        what: &'static str,
        /// The value found.
        value: String,
    },
    /// The database was written by a newer berth.
    #[error("metadata {path}: schema version {found} is newer than this berth's {supported}")]
    Version {
        /// The database file.
        path: PathBuf,
        /// Version found.
        found: i64,
        /// Version this code writes.
        supported: i64,
    },
}

impl Db {
    /// Opens (creating if needed) the database at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                path: dir.into(),
                source,
            })?;
        }
        let sql = |op| {
            move |source| DbError::Sqlite {
                path: path.into(),
                op,
                source,
            }
        };
        let conn = Connection::open(path).map_err(sql("open"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql("set busy timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql("enable WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql("set synchronous"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql("enable foreign keys"))?;
        let db = Db {
            conn: Mutex::new(conn),
            path: path.into(),
        };
        db.migrate()?;
        Ok(db)
    }

    fn migrate(&self) -> Result<(), DbError> {
        self.write("create schema", |tx| {
            tx.execute_batch(schema::CREATE)?;
            let found: Option<i64> =
                tx.query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))?;
            match found {
                None => {
                    tx.execute("INSERT INTO schema_version VALUES (?1)", [schema::VERSION])?;
                    Ok(Ok(()))
                }
                Some(v) if v > schema::VERSION => Ok(Err(DbError::Version {
                    path: self.path.clone(),
                    found: v,
                    supported: schema::VERSION,
                })),
                Some(_) => Ok(Ok(())),
            }
        })?
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (it rolls back
        // on drop), so a poisoned connection is still consistent.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in an immediate (write-locked) transaction and commits it.
    fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        let mut conn = self.lock();
        let sql = |source| self.sql_err(op, source);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let out = f(&tx).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(out)
    }

    /// [`Db::write`] without waiting for the disk: the commit is in the log (atomic, and
    /// ordered before every later commit, which syncs it) but may be lost to a power
    /// failure. For records that can be made again from elsewhere (which container uses
    /// which image: the container records say it, see `Engine::reconcile_users`); a sync
    /// on a busy file system can take tens of milliseconds on every container start.
    fn write_lazy<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        let mut conn = self.lock();
        let sql = |source| self.sql_err(op, source);
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        let done = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql)?;
            let out = f(&tx).map_err(sql)?;
            tx.commit().map_err(sql)?;
            Ok(out)
        })();
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        done
    }

    /// Runs `f` in a read transaction (a consistent snapshot).
    fn read<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        let mut conn = self.lock();
        let sql = |source| self.sql_err(op, source);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(sql)?;
        let out = f(&tx).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(out)
    }

    fn sql_err(&self, op: &'static str, source: rusqlite::Error) -> DbError {
        DbError::Sqlite {
            path: self.path.clone(),
            op,
            source,
        }
    }

    fn corrupt(&self, what: &'static str, value: &str) -> DbError {
        DbError::Corrupt {
            path: self.path.clone(),
            what,
            value: value.into(),
        }
    }

    fn digest(&self, what: &'static str, value: &str) -> Result<Digest, DbError> {
        Digest::parse(value).map_err(|_| self.corrupt(what, value))
    }
}

/// Unix seconds now.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
