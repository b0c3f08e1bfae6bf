//! `export` and `diff`: a container's merged filesystem as a tar stream, and the changes
//! of its writable layer.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_image::layer::{self, Change, ChangeKind};

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::record::Container;
use crate::rootfs;

impl Engine {
    /// Writes a tar of container `c`'s merged filesystem to `out`, mounting it for the
    /// time of the export if it is not mounted (then unmounting it again).
    pub fn export(&self, c: &Container, out: impl Write) -> Result<()> {
        self.with_mounted_root(c, |target| write_tree(target, out))
    }

    /// Runs `f` with container `c`'s root file system mounted at its mount point:
    /// mounted for the time of `f` (then unmounted again) if it is not mounted already.
    pub(crate) fn with_mounted_root<T>(
        &self,
        c: &Container,
        f: impl FnOnce(&Path) -> Result<T>,
    ) -> Result<T> {
        let target = self.containers().rootfs(&c.id);
        let mounted_here = !rootfs::is_mounted(&target)?;
        if mounted_here {
            let init = self.containers().init_layer(&c.id);
            rootfs::mount(self.images().snapshotter(), &c.snapshot_key, &target, &init)?;
        }
        let done = f(&target);
        if mounted_here {
            rootfs::unmount(&target)?;
        }
        done
    }

    /// The changes of container `c`'s writable layer, sorted by path (`docker diff`),
    /// without the files that are there only as mount points (see [`is_mount_file`]), nor
    /// the `/etc` they made changed when nothing else in it changed.
    pub fn diff(&self, c: &Container) -> Result<Vec<Change>> {
        let dirs = self.images().snapshotter().layer_dirs(&c.snapshot_key)?;
        let mut list = layer::changes(&dirs)?;
        list.retain(|ch| !is_mount_file(Path::new(ch.path.trim_start_matches('/'))));
        let etc_changed = list.iter().any(|ch| ch.path.starts_with("/etc/"));
        list.retain(|ch| etc_changed || ch.path != "/etc" || ch.kind != ChangeKind::Modified);
        Ok(list)
    }
}

/// Whether `rel` (relative to the root) is one of the mount points of the container's
/// /etc/hostname, /etc/hosts and /etc/resolv.conf. On overlay they live in the init layer
/// ([`rootfs::INIT_FILES`]); a copying snapshotter has no init layer and makes them in the
/// container's own layer, so `diff` and `commit` leave them out.
pub fn is_mount_file(rel: &Path) -> bool {
    rootfs::INIT_FILES.iter().any(|f| rel == Path::new(f))
}

/// A tar of the tree under `root` into `out`: entries in path order, symlinks stored as
/// links (never followed), devices and fifos kept, hard links as link entries to the first
/// name of the inode.
pub fn write_tree(root: &Path, out: impl Write) -> Result<()> {
    let mut tw = TreeWriter {
        root,
        builder: tar::Builder::new(out),
        links: HashMap::new(),
    };
    tw.builder.follow_symlinks(false);
    tw.dir(Path::new(""))?;
    let out_err = |e| EngineError::io("write tar of", root)(e);
    tw.builder
        .into_inner()
        .map_err(out_err)?
        .flush()
        .map_err(out_err)
}

struct TreeWriter<'a, W: Write> {
    root: &'a Path,
    builder: tar::Builder<W>,
    /// First name written of each multiply-linked inode.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> TreeWriter<'_, W> {
    fn dir(&mut self, rel: &Path) -> Result<()> {
        let dir = self.root.join(rel);
        let mut names = std::fs::read_dir(&dir)
            .and_then(|rd| {
                rd.map(|e| e.map(|e| e.file_name()))
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(EngineError::io("read directory", &dir))?;
        names.sort();
        for name in names {
            self.entry(&rel.join(name))?;
        }
        Ok(())
    }

    fn entry(&mut self, rel: &Path) -> Result<()> {
        let full = self.root.join(rel);
        let meta = std::fs::symlink_metadata(&full).map_err(EngineError::io("stat", &full))?;
        if meta.file_type().is_socket() {
            // Sockets cannot be stored in a tar.
            return Ok(());
        }
        if !meta.is_dir() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key).cloned() {
                return self.hard_link(rel, &first, &meta);
            }
            self.links.insert(key, rel.to_path_buf());
        }
        if is_special(&meta) {
            return self.special(rel, &meta);
        }
        self.builder
            .append_path_with_name(&full, rel)
            .map_err(EngineError::io("add to tar", &full))?;
        if meta.is_dir() {
            self.dir(rel)?;
        }
        Ok(())
    }

    /// A fifo or device node (the tar crate's own path for these loses the name).
    fn special(&mut self, rel: &Path, meta: &std::fs::Metadata) -> Result<()> {
        let ft = meta.file_type();
        let kind = if ft.is_fifo() {
            tar::EntryType::Fifo
        } else if ft.is_char_device() {
            tar::EntryType::Char
        } else {
            tar::EntryType::Block
        };
        let full = self.root.join(rel);
        let mut h = tar::Header::new_gnu();
        h.set_metadata(meta);
        h.set_mode(meta.mode() & 0o7777);
        h.set_entry_type(kind);
        h.set_size(0);
        let (major, minor) = (
            rustix::fs::major(meta.rdev()),
            rustix::fs::minor(meta.rdev()),
        );
        h.set_device_major(major)
            .and_then(|()| h.set_device_minor(minor))
            .map_err(EngineError::io("add to tar", &full))?;
        self.builder
            .append_data(&mut h, rel, std::io::empty())
            .map_err(EngineError::io("add to tar", &full))
    }

    fn hard_link(&mut self, rel: &Path, first: &Path, meta: &std::fs::Metadata) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_metadata(meta);
        h.set_mode(meta.mode() & 0o7777);
        h.set_entry_type(tar::EntryType::Link);
        h.set_size(0);
        self.builder
            .append_link(&mut h, rel, first)
            .map_err(EngineError::io(
                "add hard link to tar",
                &self.root.join(rel),
            ))
    }
}

/// Fifos and device nodes.
fn is_special(meta: &std::fs::Metadata) -> bool {
    let ft = meta.file_type();
    ft.is_fifo() || ft.is_char_device() || ft.is_block_device()
}
