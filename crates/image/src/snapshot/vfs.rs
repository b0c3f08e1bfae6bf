//! The vfs snapshotter: every active snapshot is a full copy of its parent, so it works on
//! any file system (the fallback where overlayfs is missing). Views bind the parent itself.

use std::fs;
use std::path::{Path, PathBuf};

use super::store::{NameLock, Record, Store};
use super::{fsutil, DirStyle, Error, Info, Kind, LayerDirs, Mount, Result, Snapshotter, Usage};

/// Copying snapshots under a root directory.
#[derive(Debug)]
pub struct Vfs {
    store: Store,
}

impl Vfs {
    /// Opens (creating) the vfs snapshotter rooted at `root` (an absolute path).
    pub fn new(root: &Path) -> Result<Self> {
        Ok(Self {
            store: Store::open(root)?,
        })
    }

    fn fs_dir(&self, key: &str) -> PathBuf {
        self.store.dir(key).join("fs")
    }

    fn mounts_of(&self, rec: &Record) -> Result<Vec<Mount>> {
        let (dir, readonly) = match (rec.kind, rec.parent.as_deref()) {
            (Kind::Active, _) => (self.fs_dir(&rec.key), false),
            (Kind::View, Some(parent)) => (self.fs_dir(parent), true),
            (Kind::View, None) => (self.fs_dir(&rec.key), true),
            (Kind::Committed, _) => {
                return Err(Error::WrongKind {
                    op: "mounts",
                    key: rec.key.clone(),
                    actual: rec.kind,
                    wanted: "an active snapshot or a view",
                })
            }
        };
        let rw = if readonly { "ro" } else { "rw" };
        Ok(vec![Mount {
            typ: "bind".into(),
            source: dir.to_string_lossy().into_owned(),
            options: vec!["rbind".into(), rw.into()],
        }])
    }
}

/// Makes `dir/fs`, a copy of the first lower's `fs` if there is one.
fn fill_copy(dir: &Path, lowers: &[PathBuf]) -> Result<()> {
    let fs_dir = dir.join("fs");
    fs::create_dir(&fs_dir).map_err(Error::io("create directory", &fs_dir))?;
    match lowers.first() {
        Some(parent) => fsutil::copy_tree(&parent.join("fs"), &fs_dir),
        None => Ok(()),
    }
}

fn fill_empty(dir: &Path, _: &[PathBuf]) -> Result<()> {
    let fs_dir = dir.join("fs");
    fs::create_dir(&fs_dir).map_err(Error::io("create directory", &fs_dir))
}

impl Snapshotter for Vfs {
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        let rec = self.store.create(key, parent, Kind::Active, fill_copy)?;
        self.mounts_of(&rec)
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        let rec = self.store.create(key, parent, Kind::View, fill_empty)?;
        self.mounts_of(&rec)
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        self.mounts_of(&self.store.get(key)?)
    }

    fn commit(&self, name: &str, key: &str) -> Result<()> {
        self.store.commit(name, key)
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.store.remove(key)
    }

    fn remove_to(&self, key: &str, grave: &std::path::Path) -> Result<bool> {
        self.store.remove_to(key, grave)
    }

    fn stat(&self, key: &str) -> Result<Info> {
        Ok(self.store.get(key)?.info())
    }

    fn usage(&self, key: &str) -> Result<Usage> {
        let rec = self.store.get(key)?;
        if rec.kind == Kind::View {
            return Ok(Usage::default());
        }
        fsutil::usage(&self.fs_dir(key))
    }

    fn list(&self) -> Result<Vec<Info>> {
        Ok(self.store.records()?.iter().map(Record::info).collect())
    }

    fn layer_dirs(&self, key: &str) -> Result<LayerDirs> {
        let rec = self.store.get(key)?;
        Ok(LayerDirs {
            upper: self.fs_dir(key),
            lowers: rec.parent.iter().map(|p| self.fs_dir(p)).collect(),
            style: DirStyle::Full,
        })
    }

    fn lock(&self, name: &str) -> Result<NameLock> {
        self.store.lock_name(name)
    }

    fn driver_name(&self) -> &'static str {
        "vfs"
    }

    fn cleanup(&self) -> Result<()> {
        self.store.cleanup()
    }
}
