//! Garbage collection: `image prune`, and the removal of blobs and layers no image
//! references (left by failed or interrupted loads). Loads and imports hold the store's
//! GC lock shared while they stage blobs and unpack layers; collecting orphans takes it
//! exclusively, so it never removes what a load in progress is about to reference.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::{ImageStore, Removal, Result, StoreError};
use crate::digest::Digest;
use crate::snapshot::Kind;

/// What a prune removed.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    /// Untag and delete lines, in order.
    pub removals: Vec<Removal>,
    /// Bytes freed on disk (apparent sizes).
    pub reclaimed: u64,
}

/// Apparent bytes of every entry under `path` (directories and symlinks included,
/// hardlinked files once), as `du -sbx` counts them: a file system mounted inside (a
/// running container's root) is not entered. A missing path is 0.
pub fn tree_bytes(path: &Path) -> u64 {
    let mut seen = HashSet::new();
    walk_bytes(path, &mut seen)
}

/// Bytes of the files under `path` as docker sizes a layer: every entry but directories
/// (a symlink counts its target's length), hardlinked files once.
pub fn content_bytes(path: &Path) -> u64 {
    let mut seen = HashSet::new();
    walk(path, &mut seen, false)
}

fn walk_bytes(path: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    walk(path, seen, true)
}

fn walk(path: &Path, seen: &mut HashSet<(u64, u64)>, dirs: bool) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    walk_on(path, &meta, meta.dev(), seen, dirs)
}

fn walk_on(
    path: &Path,
    meta: &std::fs::Metadata,
    dev: u64,
    seen: &mut HashSet<(u64, u64)>,
    dirs: bool,
) -> u64 {
    if meta.dev() != dev {
        return 0;
    }
    if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
        return 0;
    }
    if !meta.is_dir() {
        return meta.len();
    }
    let mut total = if dirs { meta.len() } else { 0 };
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            let p = e.path();
            if let Ok(m) = std::fs::symlink_metadata(&p) {
                total += walk_on(&p, &m, dev, seen, dirs);
            }
        }
    }
    total
}

impl ImageStore {
    /// Takes the GC lock: shared for loads and imports, exclusive for collection.
    pub(super) fn gc_lock(&self, exclusive: bool) -> Result<Flock<File>> {
        let path = self.root.join("gc.lock");
        let io = |op| {
            let path = path.clone();
            move |source| StoreError::Io { op, path, source }
        };
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("open"))?;
        let arg = if exclusive {
            FlockArg::LockExclusive
        } else {
            FlockArg::LockShared
        };
        Flock::lock(file, arg).map_err(|(_, e)| io("lock")(e.into()))
    }

    /// Removes dangling images (with `all`: every image) that no container uses, then
    /// every blob and layer nothing references.
    pub fn prune(&self, all: bool) -> Result<Pruned> {
        let mut pruned = Pruned::default();
        for img in self.db.list()? {
            let unused = self.db.users(&img.image.id)?.is_empty();
            let named = !img.tags.is_empty() || !img.digests.is_empty();
            if !unused || (named && !all) {
                continue;
            }
            for r in img.tags.iter().chain(&img.digests) {
                self.db.untag(r)?;
                pruned.removals.push(Removal::Untagged(r.clone()));
            }
            let (removals, bytes) = self.delete_unreferenced(&img.image.id, false)?;
            pruned.removals.extend(removals);
            pruned.reclaimed += bytes;
        }
        pruned.reclaimed += self.collect_orphans()?;
        Ok(pruned)
    }

    /// Removes blobs and committed layers that no image or user references; returns the
    /// bytes freed.
    pub fn collect_orphans(&self) -> Result<u64> {
        let _lock = self.gc_lock(true)?;
        let mut blobs = HashSet::new();
        for img in self.db.list()? {
            blobs.insert(img.image.id.clone());
            blobs.insert(img.image.manifest_digest.clone());
            blobs.extend(img.image.layers.iter().map(|l| l.blob.clone()));
        }
        let mut freed = 0;
        for (digest, size) in self.content.list()? {
            if !blobs.contains(&digest) {
                self.content.delete(&digest)?;
                freed += size;
            }
        }
        Ok(freed + self.collect_orphan_layers()?)
    }

    /// Committed snapshots nothing references, children first.
    fn collect_orphan_layers(&self) -> Result<u64> {
        let mut freed = 0;
        loop {
            let infos = self.snap.list()?;
            let mut children: HashMap<&str, usize> = HashMap::new();
            for i in &infos {
                if let Some(p) = &i.parent {
                    *children.entry(p.as_str()).or_default() += 1;
                }
            }
            let mut removed = false;
            for info in infos.iter().filter(|i| i.kind == Kind::Committed) {
                let Ok(chain) = Digest::parse(&info.key) else {
                    continue;
                };
                if children.contains_key(info.key.as_str()) || self.db.layer_refcount(&chain)? > 0 {
                    continue;
                }
                freed += self.remove_layer(&chain)?;
                removed = true;
            }
            if !removed {
                return Ok(freed);
            }
        }
    }

    /// Removes the committed snapshot `chain`; returns its bytes on disk.
    pub(super) fn remove_layer(&self, chain: &Digest) -> Result<u64> {
        let key = chain.to_string();
        let bytes = match self.snap.layer_dirs(&key) {
            Ok(dirs) => dirs.upper.parent().map(tree_bytes).unwrap_or_default(),
            Err(crate::snapshot::Error::NotFound { .. }) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        match self.snap.remove(&key) {
            Ok(()) | Err(crate::snapshot::Error::NotFound { .. }) => Ok(bytes),
            Err(e) => Err(e.into()),
        }
    }
}
