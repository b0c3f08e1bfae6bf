//! The on-disk registry both snapshotters share.
//!
//! Layout under the root:
//! - `snapshots/<encoded key>/` one directory per snapshot: `info.json`, `fs/` (and
//!   `work/` for overlay). A snapshot exists iff its directory exists *and* its
//!   `info.json` names the same key; registration is one `rename(2)` of a complete
//!   directory out of `tmp/`.
//! - `tmp/` directories being made or removed (emptied by `cleanup`).
//! - `locks/<encoded name>` lock files for [`NameLock`]; `lock` the registry lock.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustix::fs::{flock, FlockOperation, RenameFlags};

use super::{fsutil, Error, Info, Kind, Result};

/// What `info.json` holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Record {
    pub key: String,
    pub parent: Option<String>,
    pub kind: Kind,
    pub created: SystemTime,
    /// Every ancestor, nearest first (committed snapshots never change, so this is stable).
    pub ancestors: Vec<String>,
}

impl Record {
    pub fn info(&self) -> Info {
        Info {
            key: self.key.clone(),
            parent: self.parent.clone(),
            kind: self.kind,
            created: self.created,
        }
    }
}

/// An exclusive lock held until dropped (an `flock(2)` on a file under `<root>/locks`).
#[derive(Debug)]
pub struct NameLock {
    _file: File,
    path: PathBuf,
}

impl NameLock {
    /// Removes the lock file, then releases the lock: for a name used once (a working
    /// name), after the snapshot it guards is committed or removed, so that no process can
    /// still want the name. A failed removal only leaves the file.
    pub fn release(self) {
        fs::remove_file(&self.path).ok();
    }
}

/// The shared registry.
#[derive(Debug)]
pub(crate) struct Store {
    snaps: PathBuf,
    tmp: PathBuf,
    locks: PathBuf,
    lock_file: PathBuf,
    /// Directories made ahead for new snapshots (see [`Store::make_spare`]).
    spares: std::sync::Mutex<Vec<PathBuf>>,
}

const INFO: &str = "info.json";

impl Store {
    /// Opens (creating) the registry under `root`.
    pub fn open(root: &Path) -> Result<Self> {
        let text = root.to_string_lossy();
        if text.contains([':', ',']) || !root.is_absolute() {
            return Err(Error::BadRoot {
                path: root.into(),
                reason: "must be absolute without ':' or ',' (overlay mount options)",
            });
        }
        let store = Store {
            snaps: root.join("snapshots"),
            tmp: root.join("tmp"),
            locks: root.join("locks"),
            lock_file: root.join("lock"),
            spares: std::sync::Mutex::default(),
        };
        for dir in [&store.snaps, &store.tmp, &store.locks] {
            fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        }
        Ok(store)
    }

    /// The directory of `key` (whether or not it exists).
    pub fn dir(&self, key: &str) -> PathBuf {
        self.snaps.join(encode(key))
    }

    /// A fresh, empty directory under `tmp/` (same file system as the snapshots).
    pub fn temp_dir(&self, what: &str) -> Result<PathBuf> {
        let path = self.tmp.join(format!("{what}-{:016x}", fastrand::u64(..)));
        fs::create_dir(&path).map_err(Error::io("create directory", &path))?;
        Ok(path)
    }

    /// Takes the registry lock.
    pub fn lock_registry(&self) -> Result<NameLock> {
        lock_path(&self.lock_file, true)?.ok_or_else(|| unreachable_lock(&self.lock_file))
    }

    /// Takes the lock `name`, waiting for it.
    pub fn lock_name(&self, name: &str) -> Result<NameLock> {
        let path = self.locks.join(encode(name));
        lock_path(&path, true)?.ok_or_else(|| unreachable_lock(&path))
    }

    /// Takes the lock `name` if nobody holds it.
    pub fn try_lock_name(&self, name: &str) -> Result<Option<NameLock>> {
        lock_path(&self.locks.join(encode(name)), false)
    }

    /// The record of `key`.
    pub fn get(&self, key: &str) -> Result<Record> {
        let dir = self.dir(key);
        match read_record(&dir) {
            Ok(Some(rec)) if rec.key == key => Ok(rec),
            Ok(_) => Err(Error::NotFound { key: key.into() }),
            Err(e) => Err(e),
        }
    }

    /// Makes a spare directory for a new snapshot ahead of need, under `tmp/`: `fill`
    /// makes its content, and its record file is made empty. [`Store::create_spared`]
    /// takes one instead of making the directories then: on a file system that has freed
    /// many inodes lately (ext4 without a journal skips each recently freed one when it
    /// allocates), every directory or file made can cost tens of microseconds.
    pub fn make_spare(&self, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        let dir = self.temp_dir("spare")?;
        let made = fill(&dir).and_then(|()| {
            let info = dir.join(INFO);
            File::create(&info)
                .map(drop)
                .map_err(Error::io("create", &info))
        });
        match made {
            Ok(()) => {
                self.spared().push(dir);
                Ok(())
            }
            Err(e) => {
                fsutil::remove_all(&dir).ok();
                Err(e)
            }
        }
    }

    /// How many spare directories are ready.
    pub fn spares(&self) -> usize {
        self.spared().len()
    }

    fn spared(&self) -> std::sync::MutexGuard<'_, Vec<PathBuf>> {
        // A list of paths: still right after a panic elsewhere.
        self.spares.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`Store::create`] in a spare directory when one is ready (its content is what
    /// `fill` would have made), else as `create` does.
    pub fn create_spared(
        &self,
        key: &str,
        parent: Option<&str>,
        kind: Kind,
        fill: impl FnOnce(&Path, &[PathBuf]) -> Result<()>,
    ) -> Result<Record> {
        let spare = self.spared().pop();
        match spare {
            // A spare `cleanup` emptied away is no use: make one the usual way.
            Some(dir) if dir.is_dir() => self.create_in(key, parent, kind, Some(dir), fill),
            _ => self.create(key, parent, kind, fill),
        }
    }

    /// Registers a new snapshot `key` over `parent` (which must be committed): `fill` makes
    /// its contents in a temporary directory, then the directory is renamed into place.
    /// Holds the registry lock throughout.
    pub fn create(
        &self,
        key: &str,
        parent: Option<&str>,
        kind: Kind,
        fill: impl FnOnce(&Path, &[PathBuf]) -> Result<()>,
    ) -> Result<Record> {
        self.create_in(key, parent, kind, None, fill)
    }

    /// [`Store::create`] in `spare` (already filled) when given, else in a new directory.
    /// A spare that is not used is removed.
    fn create_in(
        &self,
        key: &str,
        parent: Option<&str>,
        kind: Kind,
        spare: Option<PathBuf>,
        fill: impl FnOnce(&Path, &[PathBuf]) -> Result<()>,
    ) -> Result<Record> {
        let made = self.register(key, parent, kind, spare.as_deref(), fill);
        if let (Err(_), Some(dir)) = (&made, &spare) {
            fsutil::remove_all(dir).ok();
        }
        made
    }

    fn register(
        &self,
        key: &str,
        parent: Option<&str>,
        kind: Kind,
        spare: Option<&Path>,
        fill: impl FnOnce(&Path, &[PathBuf]) -> Result<()>,
    ) -> Result<Record> {
        check_key(key)?;
        let _lock = self.lock_registry()?;
        if self.dir(key).exists() {
            return Err(Error::Exists { key: key.into() });
        }
        let ancestors = self.ancestors_of(parent)?;
        let rec = Record {
            key: key.into(),
            parent: parent.map(Into::into),
            kind,
            created: SystemTime::now(),
            ancestors,
        };
        let Some(spare) = spare else {
            let tmp = self.temp_dir("new")?;
            let made = self.fill_and_place(&tmp, &rec, fill);
            if made.is_err() {
                fsutil::remove_all(&tmp)?;
            }
            return made.map(|()| rec);
        };
        self.fill_and_place(spare, &rec, |_, _| Ok(()))?;
        Ok(rec)
    }

    fn fill_and_place(
        &self,
        tmp: &Path,
        rec: &Record,
        fill: impl FnOnce(&Path, &[PathBuf]) -> Result<()>,
    ) -> Result<()> {
        let lower_dirs: Vec<PathBuf> = rec.ancestors.iter().map(|k| self.dir(k)).collect();
        fill(tmp, &lower_dirs)?;
        // A new snapshot is active or a view: empty, or filled by the snapshotter from its
        // parents. It is registered without waiting for the disk, which keeps a
        // container's start fast; the journal makes it durable within seconds, and what a
        // crash before that can lose is only this empty snapshot (`cleanup` removes a
        // directory whose record did not reach the disk). Commits, which register layers,
        // wait for the disk.
        write_record_unsynced(tmp, rec)?;
        rename_noreplace(tmp, &self.dir(&rec.key), &rec.key)
    }

    /// The ancestors of a new snapshot over `parent`, nearest first.
    fn ancestors_of(&self, parent: Option<&str>) -> Result<Vec<String>> {
        let Some(parent) = parent else {
            return Ok(Vec::new());
        };
        let prec = self.get(parent)?;
        if prec.kind != Kind::Committed {
            return Err(Error::WrongKind {
                op: "use as parent",
                key: parent.into(),
                actual: prec.kind,
                wanted: "a committed snapshot",
            });
        }
        let mut ancestors = Vec::with_capacity(prec.ancestors.len() + 1);
        ancestors.push(prec.key);
        ancestors.extend(prec.ancestors);
        Ok(ancestors)
    }

    /// Commits the active `key` as `name`: rewrites its record, then renames its directory.
    pub fn commit(&self, name: &str, key: &str) -> Result<()> {
        self.commit_with(name, key, |_, _| Ok(()))
    }

    /// Commits the parentless active `key` as `name` over the committed `parent` (see
    /// [`super::Snapshotter::commit_over`]).
    pub fn commit_over(&self, name: &str, key: &str, parent: Option<&str>) -> Result<()> {
        self.commit_with(name, key, |store, rec| {
            if rec.parent.is_some() {
                return Err(Error::NotDetachable { key: key.into() });
            }
            rec.ancestors = store.ancestors_of(parent)?;
            rec.parent = parent.map(Into::into);
            Ok(())
        })
    }

    /// Commits `key` as `name` after `change` edits its record (under the registry lock).
    fn commit_with(
        &self,
        name: &str,
        key: &str,
        change: impl FnOnce(&Self, &mut Record) -> Result<()>,
    ) -> Result<()> {
        check_key(name)?;
        let _lock = self.lock_registry()?;
        let mut rec = self.get(key)?;
        if rec.kind != Kind::Active {
            return Err(Error::WrongKind {
                op: "commit",
                key: key.into(),
                actual: rec.kind,
                wanted: "an active snapshot",
            });
        }
        let target = self.dir(name);
        if target.exists() {
            return Err(Error::Exists { key: name.into() });
        }
        change(self, &mut rec)?;
        rec.key = name.into();
        rec.kind = Kind::Committed;
        rec.created = SystemTime::now();
        let dir = self.dir(key);
        write_record(&dir, &rec)?;
        rename_noreplace(&dir, &target, name)?;
        fsutil::sync_dir(&self.snaps)
    }

    /// Removes `key` unless it has children: unregisters it by renaming its directory
    /// into `tmp/`, then deletes the files. An active snapshot or a view (a container's) can
    /// have no children, and, as it was registered, is unregistered without waiting for
    /// the disk; a crash that loses the rename leaves a snapshot no container names.
    pub fn remove(&self, key: &str) -> Result<()> {
        let _lock = self.lock_registry()?;
        let layer = self.removable(key)?;
        self.discard_with(&self.dir(key), layer)
    }

    /// Removes `key` as [`Self::remove`] does, but by renaming its directory to `grave`,
    /// whose deletion is the caller's; where that rename fails (`grave` on another file
    /// system) the directory is discarded as `remove` does. True if it is at `grave`.
    pub fn remove_to(&self, key: &str, grave: &Path) -> Result<bool> {
        let _lock = self.lock_registry()?;
        let layer = self.removable(key)?;
        let dir = self.dir(key);
        if fs::rename(&dir, grave).is_err() {
            self.discard_with(&dir, layer)?;
            return Ok(false);
        }
        if layer {
            fsutil::sync_dir(&self.snaps)?;
        }
        Ok(true)
    }

    /// Whether `key` (which must exist and have no children) is a committed layer.
    fn removable(&self, key: &str) -> Result<bool> {
        let rec = self.get(key)?;
        let layer = rec.kind == Kind::Committed;
        if layer {
            let children = self
                .records()?
                .iter()
                .filter(|r| r.parent.as_deref() == Some(key))
                .count();
            if children > 0 {
                return Err(Error::HasChildren {
                    key: key.into(),
                    children,
                });
            }
        }
        Ok(layer)
    }

    /// Moves a snapshot directory out of the registry and deletes it.
    fn discard(&self, dir: &Path) -> Result<()> {
        self.discard_with(dir, true)
    }

    /// [`Self::discard`], syncing the registry after the move if `sync`.
    fn discard_with(&self, dir: &Path, sync: bool) -> Result<()> {
        let grave = self.tmp.join(format!("rm-{:016x}", fastrand::u64(..)));
        fs::rename(dir, &grave).map_err(Error::io("rename", dir))?;
        if sync {
            fsutil::sync_dir(&self.snaps)?;
        }
        fsutil::remove_all(&grave)
    }

    /// Every registered snapshot's record.
    pub fn records(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for (name, rec) in self.scan()? {
            if let Some(rec) = rec.filter(|r| encode(&r.key) == name) {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Every directory under `snapshots/` with its record, if readable.
    fn scan(&self) -> Result<Vec<(String, Option<Record>)>> {
        let rd = fs::read_dir(&self.snaps).map_err(Error::io("read directory", &self.snaps))?;
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent.map_err(Error::io("read directory", &self.snaps))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            let rec = read_record(&ent.path()).ok().flatten();
            out.push((name, rec));
        }
        Ok(out)
    }

    /// Removes leftovers (see [`super::Snapshotter::cleanup`]).
    pub fn cleanup(&self) -> Result<()> {
        let _lock = self.lock_registry()?;
        for (name, rec) in self.scan()? {
            let dir = self.snaps.join(&name);
            match rec {
                None => self.discard(&dir)?,
                Some(rec) if encode(&rec.key) != name => self.finish_commit(&dir, &rec)?,
                Some(rec) => self.drop_if_abandoned(&dir, &rec)?,
            }
        }
        self.empty_tmp()
    }

    /// A directory whose record names another key: a commit that crashed between writing
    /// the record and renaming. Rolls it forward, or drops it if the name is taken.
    fn finish_commit(&self, dir: &Path, rec: &Record) -> Result<()> {
        let target = self.dir(&rec.key);
        if rec.kind == Kind::Committed && !target.exists() {
            rename_noreplace(dir, &target, &rec.key)?;
            return fsutil::sync_dir(&self.snaps);
        }
        self.discard(dir)
    }

    /// Removes an `extract-*` active snapshot whose unpacker is gone (its name lock is
    /// free), and the lock file of its name if that was a working name used once
    /// (`early-*`, `new-*`: see `layer::EarlyUnpack` and `layer::unpack_new`).
    fn drop_if_abandoned(&self, dir: &Path, rec: &Record) -> Result<()> {
        let Some(rest) = rec.key.strip_prefix(super::EXTRACT_PREFIX) else {
            return Ok(());
        };
        if rec.kind != Kind::Active {
            return Ok(());
        }
        let name = rest.split_once('-').map_or(rest, |(_, name)| name);
        let Some(lock) = self.try_lock_name(name)? else {
            return Ok(());
        };
        self.discard(dir)?;
        if name.starts_with("early-") || name.starts_with("new-") {
            lock.release();
        }
        Ok(())
    }

    fn empty_tmp(&self) -> Result<()> {
        let rd = fs::read_dir(&self.tmp).map_err(Error::io("read directory", &self.tmp))?;
        for ent in rd {
            let ent = ent.map_err(Error::io("read directory", &self.tmp))?;
            fsutil::remove_all(&ent.path())?;
        }
        Ok(())
    }
}

/// Encodes a key as one file name: `[A-Za-z0-9_.-]` stay (but a leading `.`), the rest
/// become `%XX`. Never contains `/`, `:` or `,`.
pub(crate) fn encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 8);
    for (i, b) in key.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 200 {
        return Err(Error::BadKey {
            key: key.into(),
            reason: "must be 1 to 200 bytes",
        });
    }
    Ok(())
}

fn read_record(dir: &Path) -> Result<Option<Record>> {
    let path = dir.join(INFO);
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path)(e)),
    };
    serde_json::from_slice(&data)
        .map(Some)
        .map_err(|source| Error::Metadata { path, source })
}

/// Writes `dir/info.json` atomically: temp file, fsync, rename, fsync of the directory.
fn write_record(dir: &Path, rec: &Record) -> Result<()> {
    let path = dir.join(INFO);
    let data = record_bytes(&path, rec)?;
    let tmp = dir.join(".info.json.tmp");
    let mut f = File::create(&tmp).map_err(Error::io("create", &tmp))?;
    f.write_all(&data).map_err(Error::io("write", &tmp))?;
    f.sync_all().map_err(Error::io("fsync", &tmp))?;
    fs::rename(&tmp, &path).map_err(Error::io("rename", &tmp))?;
    fsutil::sync_dir(dir)
}

/// Writes `dir/info.json` of a directory not yet registered (so no reader can see a
/// partial file), without fsync.
fn write_record_unsynced(dir: &Path, rec: &Record) -> Result<()> {
    let path = dir.join(INFO);
    let data = record_bytes(&path, rec)?;
    fs::write(&path, data).map_err(Error::io("write", &path))
}

/// `rec` as the JSON written at `path`.
fn record_bytes(path: &Path, rec: &Record) -> Result<Vec<u8>> {
    serde_json::to_vec(rec).map_err(|source| Error::Metadata {
        path: path.to_path_buf(),
        source,
    })
}

fn rename_noreplace(from: &Path, to: &Path, key: &str) -> Result<()> {
    let cwd = rustix::fs::CWD;
    match rustix::fs::renameat_with(cwd, from, cwd, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Err(Error::Exists { key: key.into() }),
        Err(e) => Err(Error::io("rename", from)(e.into())),
    }
}

fn lock_path(path: &Path, wait: bool) -> Result<Option<NameLock>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(Error::io("open lock file", path))?;
    let op = if wait {
        FlockOperation::LockExclusive
    } else {
        FlockOperation::NonBlockingLockExclusive
    };
    loop {
        match flock(file.as_fd(), op) {
            Ok(()) => {
                let path = path.to_path_buf();
                return Ok(Some(NameLock { _file: file, path }));
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::WOULDBLOCK) if !wait => return Ok(None),
            Err(e) => return Err(Error::io("lock", path)(e.into())),
        }
    }
}

fn unreachable_lock(path: &Path) -> Error {
    Error::io("lock", path)(std::io::ErrorKind::WouldBlock.into())
}
