//! [`LocalStore`]: the content store on a local filesystem.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::fcntl::{Flock, FlockArg};

use super::writer::sync_dir;
use super::{Committed, ContentError, Expected, Ingester, LocalWriter, Provider};
use crate::digest::Digest;

/// A temporary file this young and still empty may belong to a writer that has created
/// it but not locked it yet; cleanup leaves it alone.
const FRESH: Duration = Duration::from_secs(5);

/// Blobs under `<root>/blobs/sha256/<hex>`, writes in progress under `<root>/ingest/`.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    blobs: PathBuf,
    ingest: PathBuf,
}

/// What the store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Number of committed blobs.
    pub blobs: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Bytes in temporary files of writes in progress (or abandoned).
    pub ingest_bytes: u64,
}

impl LocalStore {
    /// Opens (creating if needed) the store at `root` and removes temporary files left by
    /// writers that died.
    pub fn open(root: &Path) -> Result<Self, ContentError> {
        let store = Self {
            root: root.to_path_buf(),
            blobs: root.join("blobs").join("sha256"),
            ingest: root.join("ingest"),
        };
        for dir in [&store.blobs, &store.ingest] {
            fs::create_dir_all(dir).map_err(|e| ContentError::io("create directory", dir, e))?;
        }
        store.cleanup()?;
        Ok(store)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path a committed blob has (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Removes temporary files no live writer holds. Returns how many were removed.
    pub fn cleanup(&self) -> Result<usize, ContentError> {
        let mut removed = 0;
        for entry in read_dir(&self.ingest)? {
            let path = entry.path();
            if self.remove_if_stale(&path)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn remove_if_stale(&self, path: &Path) -> Result<bool, ContentError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(ContentError::io("open", path, e)),
        };
        let Ok(locked) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            return Ok(false); // a live writer holds it
        };
        let meta = locked
            .metadata()
            .map_err(|e| ContentError::io("stat", path, e))?;
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        if meta.len() == 0 && age < FRESH {
            return Ok(false);
        }
        remove_file(path)?;
        Ok(true)
    }

    /// Removes the blob `digest`; [`ContentError::NotFound`] when absent.
    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.blobs),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(digest.clone()))
            }
            Err(e) => Err(ContentError::io("remove", path, e)),
        }
    }

    /// Every committed blob with its size, in no particular order. Files whose names are
    /// not digests are not blobs and are left out.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>, ContentError> {
        let mut out = Vec::new();
        for entry in read_dir(&self.blobs)? {
            let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::sha256_hex(n).ok())
            else {
                continue;
            };
            let meta = entry
                .metadata()
                .map_err(|e| ContentError::io("stat", entry.path(), e))?;
            out.push((digest, meta.len()));
        }
        Ok(out)
    }

    /// Counts blobs and bytes, including temporary files.
    pub fn usage(&self) -> Result<Usage, ContentError> {
        let mut usage = Usage::default();
        for (_, size) in self.list()? {
            usage.blobs += 1;
            usage.bytes += size;
        }
        for entry in read_dir(&self.ingest)? {
            if let Ok(meta) = entry.metadata() {
                usage.ingest_bytes += meta.len();
            }
        }
        Ok(usage)
    }

    /// Writes `bytes` as one blob (see [`super::put`]).
    pub fn put(&self, bytes: &[u8], expected: Expected) -> Result<Committed, ContentError> {
        super::put(self, bytes, expected)
    }

    /// Reads a whole blob into memory (see [`super::read_all`]).
    pub fn read_all(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, ContentError> {
        super::read_all(self, digest, limit)
    }
}

impl Provider for LocalStore {
    type Reader = File;

    fn open(&self, digest: &Digest) -> Result<File, ContentError> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| not_found_or(digest, "open", path, e))
    }

    fn size(&self, digest: &Digest) -> Result<u64, ContentError> {
        let path = self.blob_path(digest);
        fs::metadata(&path)
            .map(|m| m.len())
            .map_err(|e| not_found_or(digest, "stat", path, e))
    }

    fn exists(&self, digest: &Digest) -> Result<bool, ContentError> {
        let path = self.blob_path(digest);
        path.try_exists()
            .map_err(|e| ContentError::io("stat", path, e))
    }
}

impl Ingester for LocalStore {
    type Writer = LocalWriter;

    fn writer(&self, expected: Expected) -> Result<LocalWriter, ContentError> {
        LocalWriter::create(&self.ingest, &self.blobs, expected)
    }
}

fn not_found_or(digest: &Digest, op: &'static str, path: PathBuf, e: io::Error) -> ContentError {
    if e.kind() == io::ErrorKind::NotFound {
        ContentError::NotFound(digest.clone())
    } else {
        ContentError::io(op, path, e)
    }
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, ContentError> {
    fs::read_dir(dir)
        .and_then(|it| it.collect::<io::Result<Vec<_>>>())
        .map_err(|e| ContentError::io("read directory", dir, e))
}

fn remove_file(path: &Path) -> Result<(), ContentError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ContentError::io("remove", path, e)),
    }
}
