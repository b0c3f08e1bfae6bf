//! The registry's directory: blobs by digest, upload sessions, and per repository the
//! manifests, tags, blob links and referrers. Layout under the root:
//!
//! - `blobs/sha256/<hex>`: every blob and manifest, written to `uploads/` first, verified,
//!   fsynced and renamed, so no wrong content is ever visible under a digest;
//! - `uploads/<id>`: the bytes of an upload session so far;
//! - `repositories/<name>/_blobs/<hex>`, `_manifests/<hex>` (content: the media type),
//!   `_tags/<tag>` (content: the digest), `_referrers/<subject hex>/<hex>` (content: the
//!   referrer's descriptor as JSON).
//!
//! Every function here is blocking; the HTTP layer calls them on blocking threads.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use berth_image::digest::{Digest, Sha256Hasher};

/// Errors of the registry's storage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// An upload's bytes do not hash to the digest the client gave.
    #[error("upload digest mismatch: client gave {given}, content is {actual}")]
    DigestMismatch {
        /// The digest the client named.
        given: Digest,
        /// The content's digest.
        actual: Digest,
    },
    /// No such upload session.
    #[error("upload {0}: unknown")]
    UnknownUpload(String),
}

type Result<T> = std::result::Result<T, StorageError>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A registry directory.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
}

impl Storage {
    /// Opens (creating) the registry directory `root`. Upload sessions survive restarts.
    pub fn open(root: &Path) -> Result<Self> {
        for dir in ["blobs/sha256", "uploads", "repositories"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_err("create", &path))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// The path of the blob `digest`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    fn repo(&self, name: &str) -> PathBuf {
        self.root.join("repositories").join(name)
    }

    /// The size of the blob `digest` if it is stored and linked into repository `name`.
    pub fn blob_size(&self, name: &str, digest: &Digest) -> Option<u64> {
        let linked = self.repo(name).join("_blobs").join(digest.hex()).exists()
            || self
                .repo(name)
                .join("_manifests")
                .join(digest.hex())
                .exists();
        linked
            .then(|| fs::metadata(self.blob_path(digest)).ok())
            .flatten()
            .map(|m| m.len())
    }

    /// Links the stored blob `digest` into repository `name`.
    pub fn link_blob(&self, name: &str, digest: &Digest) -> Result<()> {
        write_small(&self.repo(name).join("_blobs"), digest.hex(), b"")
    }

    /// Unlinks the blob `digest` from repository `name`; false if it was not linked.
    pub fn unlink_blob(&self, name: &str, digest: &Digest) -> Result<bool> {
        remove(&self.repo(name).join("_blobs").join(digest.hex()))
    }

    /// Starts an upload session; returns its ID.
    pub fn new_upload(&self) -> Result<String> {
        let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let path = self.upload_path(&id);
        fs::File::create(&path).map_err(io_err("create", &path))?;
        Ok(id)
    }

    /// The file of upload session `id`.
    pub fn upload_path(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    /// Bytes received by upload session `id`.
    pub fn upload_len(&self, id: &str) -> Result<u64> {
        if !valid_id(id) {
            return Err(StorageError::UnknownUpload(id.into()));
        }
        fs::metadata(self.upload_path(id))
            .map(|m| m.len())
            .map_err(|_| StorageError::UnknownUpload(id.into()))
    }

    /// Ends upload session `id` without storing anything.
    pub fn cancel_upload(&self, id: &str) -> Result<bool> {
        if !valid_id(id) {
            return Ok(false);
        }
        remove(&self.upload_path(id))
    }

    /// Verifies that upload `id` hashes to `digest`, then publishes it as that blob
    /// (durably) and links it into repository `name`. The session ends either way.
    pub fn finish_upload(&self, name: &str, id: &str, digest: &Digest) -> Result<u64> {
        self.upload_len(id)?;
        let path = self.upload_path(id);
        let done = hash_file(&path).and_then(|(actual, size)| {
            if actual != *digest {
                return Err(StorageError::DigestMismatch {
                    given: digest.clone(),
                    actual,
                });
            }
            self.publish(&path, digest)?;
            Ok(size)
        });
        remove(&path).ok();
        let size = done?;
        self.link_blob(name, digest)?;
        Ok(size)
    }

    /// Moves the verified file `from` to the blob `digest`, made durable first.
    fn publish(&self, from: &Path, digest: &Digest) -> Result<()> {
        let target = self.blob_path(digest);
        if target.exists() {
            return Ok(());
        }
        fs::File::open(from)
            .and_then(|f| f.sync_all())
            .map_err(io_err("fsync", from))?;
        fs::rename(from, &target).map_err(io_err("rename into place", &target))?;
        sync_dir(target.parent().unwrap_or(&self.root))
    }

    /// Stores `bytes` as a blob (a manifest); returns its digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        if self.blob_path(&digest).exists() {
            return Ok(digest);
        }
        let id = self.new_upload()?;
        let path = self.upload_path(&id);
        let written = fs::write(&path, bytes).map_err(io_err("write", &path));
        let done = written.and_then(|()| self.publish(&path, &digest));
        remove(&path).ok();
        done.map(|()| digest)
    }
}

impl Storage {
    /// Records the stored manifest `digest` (of `media_type`) in repository `name`,
    /// tagged `tag` if given.
    pub fn put_manifest(
        &self,
        name: &str,
        digest: &Digest,
        media_type: &str,
        tag: Option<&str>,
    ) -> Result<()> {
        let repo = self.repo(name);
        write_small(
            &repo.join("_manifests"),
            digest.hex(),
            media_type.as_bytes(),
        )?;
        if let Some(tag) = tag {
            write_small(&repo.join("_tags"), tag, digest.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// The digest and media type of manifest `reference` (a tag or digest) in `name`.
    pub fn manifest(&self, name: &str, reference: &str) -> Option<(Digest, String)> {
        let repo = self.repo(name);
        let digest = match Digest::parse(reference) {
            Ok(d) => d,
            Err(_) if valid_tag(reference) => {
                let text = fs::read_to_string(repo.join("_tags").join(reference)).ok()?;
                Digest::parse(text.trim()).ok()?
            }
            Err(_) => return None,
        };
        let media = fs::read_to_string(repo.join("_manifests").join(digest.hex())).ok()?;
        Some((digest, media))
    }

    /// Deletes tag `tag` of `name`; false if absent.
    pub fn delete_tag(&self, name: &str, tag: &str) -> Result<bool> {
        if !valid_tag(tag) {
            return Ok(false);
        }
        remove(&self.repo(name).join("_tags").join(tag))
    }

    /// Deletes manifest `digest` of `name` and the tags that point at it; false if absent.
    pub fn delete_manifest(&self, name: &str, digest: &Digest) -> Result<bool> {
        let repo = self.repo(name);
        for tag in self.tags(name) {
            let points = fs::read_to_string(repo.join("_tags").join(&tag))
                .is_ok_and(|t| t.trim() == digest.to_string());
            if points {
                remove(&repo.join("_tags").join(&tag))?;
            }
        }
        remove(&repo.join("_manifests").join(digest.hex()))
    }

    /// The tags of `name`, sorted.
    pub fn tags(&self, name: &str) -> Vec<String> {
        sorted_names(&self.repo(name).join("_tags"))
    }

    /// Whether repository `name` has any manifest.
    pub fn repo_exists(&self, name: &str) -> bool {
        self.repo(name).join("_manifests").is_dir()
    }

    /// Every repository name with at least one manifest, sorted.
    pub fn catalog(&self) -> Vec<String> {
        let root = self.root.join("repositories");
        let mut out = Vec::new();
        walk_repos(&root, &root, &mut out);
        out.sort();
        out
    }

    /// The manifests of every repository: (repository, digest).
    pub fn all_manifests(&self) -> Vec<(String, Digest)> {
        self.catalog()
            .into_iter()
            .flat_map(|name| {
                sorted_names(&self.repo(&name).join("_manifests"))
                    .into_iter()
                    .filter_map(|hex| Digest::sha256_hex(&hex).ok())
                    .map(move |d| (name.clone(), d))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Records `descriptor` (JSON) as a referrer of `subject` in `name`.
    pub fn add_referrer(
        &self,
        name: &str,
        subject: &Digest,
        digest: &Digest,
        descriptor: &[u8],
    ) -> Result<()> {
        let dir = self.repo(name).join("_referrers").join(subject.hex());
        write_small(&dir, digest.hex(), descriptor)
    }

    /// The descriptors (JSON) of the referrers of `subject` in `name` whose manifests
    /// are still present.
    pub fn referrers(&self, name: &str, subject: &Digest) -> Vec<serde_json::Value> {
        let dir = self.repo(name).join("_referrers").join(subject.hex());
        sorted_names(&dir)
            .into_iter()
            .filter(|hex| self.repo(name).join("_manifests").join(hex).exists())
            .filter_map(|hex| fs::read(dir.join(hex)).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect()
    }

    /// Every stored blob.
    pub fn all_blobs(&self) -> Vec<Digest> {
        sorted_names(&self.root.join("blobs/sha256"))
            .into_iter()
            .filter_map(|hex| Digest::sha256_hex(&hex).ok())
            .collect()
    }

    /// Removes upload sessions untouched for `age`; returns how many.
    pub fn purge_uploads(&self, age: std::time::Duration) -> Result<usize> {
        let dir = self.root.join("uploads");
        let now = std::time::SystemTime::now();
        let mut purged = 0;
        for name in sorted_names(&dir) {
            let path = dir.join(&name);
            let old = fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|d| d >= age));
            if old && remove(&path)? {
                purged += 1;
            }
        }
        Ok(purged)
    }

    /// Removes the blob `digest` from the store (garbage collection).
    pub fn remove_blob(&self, digest: &Digest) -> Result<bool> {
        remove(&self.blob_path(digest))
    }
}

/// Finds directories holding `_manifests` below `dir`, as names relative to `root`.
fn walk_repos(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name == "_manifests" {
            if let Ok(rel) = dir.strip_prefix(root) {
                out.push(rel.to_string_lossy().into_owned());
            }
        } else if !name.starts_with('_') && path.is_dir() {
            walk_repos(root, &path, out);
        }
    }
}

/// The entry names of `dir`, sorted (none if it is absent).
fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with(".tmp"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Writes a small file atomically (temp file and rename) in `dir`, creating `dir`.
fn write_small(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp")
        .tempfile_in(dir)
        .map_err(io_err("create temporary file in", dir))?;
    tmp.write_all(bytes).map_err(io_err("write", dir))?;
    let target = dir.join(name);
    tmp.persist(&target)
        .map_err(|e| io_err("rename into place", &target)(e.error))?;
    Ok(())
}

/// Removes a file; false if it was absent.
fn remove(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("remove", path)(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// The sha256 and length of a file.
fn hash_file(path: &Path) -> Result<(Digest, u64)> {
    let mut file = fs::File::open(path).map_err(io_err("open", path))?;
    let mut hasher = Sha256Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err("read", path))?;
        if n == 0 {
            return Ok((hasher.digest(), hasher.len()));
        }
        hasher.update(&buf[..n]);
    }
}

/// An upload ID as this registry makes them (32 hex characters).
fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A tag as the distribution spec allows: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    first_ok
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A repository name as the distribution spec allows (lowercase path components
/// separated by `/`, each `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
                && c.as_bytes()[0].is_ascii_alphanumeric()
                && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
        })
}
