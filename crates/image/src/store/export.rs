//! `image export` (a berth extension): an image's merged file system as one tar, read
//! through a read-only view of its top layer mounted in a private temporary directory.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::{ImageStore, Result, StoreError};
use crate::snapshot::{unmount, Mount};

/// Walks a tree into a tar, hardlinks as links to the first path seen.
struct TreeTar<'a, W: Write> {
    tar: tar::Builder<W>,
    root: &'a Path,
    inodes: HashMap<(u64, u64), String>,
}

impl ImageStore {
    /// Writes the merged file system of image `name` to `out` as a tar.
    pub fn export_image<W: Write>(&self, name: &str, out: W) -> Result<W> {
        let img = self.db.resolve(name)?;
        let Some(top) = img.layers.last() else {
            return tar::Builder::new(out)
                .into_inner()
                .map_err(io("write tar", self.root.clone()));
        };
        let key = format!("export-{:016x}", fastrand::u64(..));
        let mounts = self.snap.view(&key, Some(&top.chain_id.to_string()))?;
        let result = self.export_view(&mounts, out);
        self.snap.remove(&key)?;
        result
    }

    fn export_view<W: Write>(&self, mounts: &[Mount], out: W) -> Result<W> {
        let tmp = self.root.join("tmp");
        fs::create_dir_all(&tmp).map_err(io("create", tmp.clone()))?;
        let dir =
            tempfile::TempDir::new_in(&tmp).map_err(io("create temporary directory in", tmp))?;
        Mount::mount_at(mounts, dir.path())?;
        let written = write_tree(dir.path(), out);
        unmount(dir.path())?;
        written
    }
}

fn io(op: &'static str, path: std::path::PathBuf) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::Io { op, path, source }
}

fn write_tree<W: Write>(root: &Path, out: W) -> Result<W> {
    let mut t = TreeTar {
        tar: tar::Builder::new(out),
        root,
        inodes: HashMap::new(),
    };
    t.dir(root)?;
    t.tar.into_inner().map_err(io("write tar", root.into()))
}

impl<W: Write> TreeTar<'_, W> {
    fn dir(&mut self, dir: &Path) -> Result<()> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(io("read directory", dir.into()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(io("read directory", dir.into()))?;
        names.sort();
        for name in names {
            let path = dir.join(name);
            let meta = fs::symlink_metadata(&path).map_err(io("stat", path.clone()))?;
            self.entry(&path, &meta)?;
            if meta.is_dir() {
                self.dir(&path)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, meta: &Metadata) -> Result<()> {
        let rel = path
            .strip_prefix(self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        let err = io("write tar entry", path.into());
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
        h.set_mode(meta.mode() & 0o7777);
        let ft = meta.file_type();
        if !meta.is_dir() && meta.nlink() > 1 {
            if let Some(first) = self.inodes.get(&(meta.dev(), meta.ino())) {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                let first = first.clone();
                return self.tar.append_link(&mut h, &rel, first).map_err(err);
            }
            self.inodes.insert((meta.dev(), meta.ino()), rel.clone());
        }
        if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io("read link", path.into()))?;
            return self.tar.append_link(&mut h, &rel, target).map_err(err);
        }
        if ft.is_char_device() || ft.is_block_device() {
            let dev = meta.rdev();
            h.set_device_major(libc::major(dev))
                .map_err(io("device", path.into()))?;
            h.set_device_minor(libc::minor(dev))
                .map_err(io("device", path.into()))?;
        }
        if ft.is_file() {
            let file = File::open(path).map_err(io("open", path.into()))?;
            return self.tar.append_data(&mut h, &rel, file).map_err(err);
        }
        let name = if meta.is_dir() {
            format!("{rel}/")
        } else {
            rel
        };
        self.tar
            .append_data(&mut h, name, std::io::empty())
            .map_err(err)
    }
}
