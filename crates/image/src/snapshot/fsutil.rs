//! File-tree helpers for snapshot directories (trees the store itself made): removal, disk
//! use, full copies with every piece of metadata, and extended attributes.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Gid, Mode, Timespec, Timestamps, Uid, CWD};

use super::{Error, Result, Usage};

/// fsyncs a directory (so a rename in it is durable).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).map_err(Error::io("open", dir))?;
    f.sync_all().map_err(Error::io("fsync", dir))
}

/// Removes a tree; a missing tree is fine.
pub(crate) fn remove_all(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Disk use of a tree: allocated bytes and inodes, hardlinks counted once.
pub(crate) fn usage(root: &Path) -> Result<Usage> {
    let mut usage = Usage::default();
    let mut seen = HashSet::new();
    let meta = fs::symlink_metadata(root).map_err(Error::io("stat", root))?;
    add_usage(root, &meta, &mut usage, &mut seen)?;
    Ok(usage)
}

fn add_usage(
    path: &Path,
    meta: &Metadata,
    usage: &mut Usage,
    seen: &mut HashSet<(u64, u64)>,
) -> Result<()> {
    if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
        return Ok(());
    }
    usage.inodes += 1;
    usage.bytes += meta.blocks() * 512;
    if meta.is_dir() {
        for ent in fs::read_dir(path).map_err(Error::io("read directory", path))? {
            let ent = ent.map_err(Error::io("read directory", path))?;
            let child = ent.path();
            let cmeta = fs::symlink_metadata(&child).map_err(Error::io("stat", &child))?;
            add_usage(&child, &cmeta, usage, seen)?;
        }
    }
    Ok(())
}

/// Copies the tree `src` into the existing empty directory `dst`, keeping file types,
/// hardlinks, modes, owners, extended attributes and times. Never follows symlinks.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(src).map_err(Error::io("stat", src))?;
    let mut links = HashMap::new();
    copy_dir_contents(src, dst, &mut links)?;
    copy_meta(src, dst, &meta)
}

fn copy_dir_contents(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<()> {
    for ent in fs::read_dir(src).map_err(Error::io("read directory", src))? {
        let ent = ent.map_err(Error::io("read directory", src))?;
        let (s, d) = (ent.path(), dst.join(ent.file_name()));
        let meta = fs::symlink_metadata(&s).map_err(Error::io("stat", &s))?;
        copy_entry(&s, &d, &meta, links)?;
    }
    Ok(())
}

fn copy_entry(
    src: &Path,
    dst: &Path,
    meta: &Metadata,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<()> {
    let ft = meta.file_type();
    if meta.nlink() > 1 && !ft.is_dir() {
        if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
            return fs::hard_link(first, dst).map_err(Error::io("link", dst));
        }
        links.insert((meta.dev(), meta.ino()), dst.to_path_buf());
    }
    if ft.is_dir() {
        fs::create_dir(dst).map_err(Error::io("create directory", dst))?;
        copy_dir_contents(src, dst, links)?;
    } else if ft.is_file() {
        fs::copy(src, dst).map_err(Error::io("copy", src))?;
    } else if ft.is_symlink() {
        let target = fs::read_link(src).map_err(Error::io("read link", src))?;
        std::os::unix::fs::symlink(&target, dst).map_err(Error::io("symlink", dst))?;
    } else {
        let kind = FileType::from_raw_mode(meta.mode());
        let mode = Mode::from_raw_mode(meta.mode());
        rustix::fs::mknodat(CWD, dst, kind, mode, meta.rdev())
            .map_err(|e| Error::io("mknod", dst)(e.into()))?;
    }
    copy_meta(src, dst, meta)
}

/// Owner, mode, extended attributes, then times (in that order: chown clears set-id bits
/// and capabilities).
fn copy_meta(src: &Path, dst: &Path, meta: &Metadata) -> Result<()> {
    let nofollow = AtFlags::SYMLINK_NOFOLLOW;
    let owner = (
        Some(Uid::from_raw(meta.uid())),
        Some(Gid::from_raw(meta.gid())),
    );
    rustix::fs::chownat(CWD, dst, owner.0, owner.1, nofollow)
        .map_err(|e| Error::io("chown", dst)(e.into()))?;
    let symlink = meta.file_type().is_symlink();
    if !symlink {
        rustix::fs::chmodat(CWD, dst, Mode::from_raw_mode(meta.mode()), AtFlags::empty())
            .map_err(|e| Error::io("chmod", dst)(e.into()))?;
    }
    for (name, value) in list_xattrs(src).map_err(Error::io("list xattrs", src))? {
        rustix::fs::lsetxattr(
            dst,
            name.as_slice(),
            &value,
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(|e| Error::io("set xattr", dst)(e.into()))?;
    }
    let times = Timestamps {
        last_access: ts(meta.atime(), meta.atime_nsec()),
        last_modification: ts(meta.mtime(), meta.mtime_nsec()),
    };
    rustix::fs::utimensat(CWD, dst, &times, nofollow)
        .map_err(|e| Error::io("set times", dst)(e.into()))
}

pub(crate) fn ts(sec: i64, nsec: i64) -> Timespec {
    Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    }
}

/// The extended attributes of `path` (not following a final symlink): names and values.
pub(crate) fn list_xattrs(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut names = vec![0u8; 1024];
    let n = loop {
        match rustix::fs::llistxattr(path, &mut names[..]) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) => names.resize(names.len() * 4, 0),
            Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
    };
    let mut out = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if let Some(value) = get_xattr(path, name)? {
            out.push((name.to_vec(), value));
        }
    }
    Ok(out)
}

/// One extended attribute of `path` (not following a final symlink); `None` if absent.
pub(crate) fn get_xattr(path: &Path, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let name = OsStr::from_bytes(name);
    let mut value = vec![0u8; 256];
    loop {
        match rustix::fs::lgetxattr(path, name, &mut value[..]) {
            Ok(n) => {
                value.truncate(n);
                return Ok(Some(value));
            }
            Err(rustix::io::Errno::RANGE) => value.resize(value.len() * 16, 0),
            Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether the metadata is an overlay whiteout (a 0:0 character device).
pub(crate) fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether `dir` is marked opaque for overlay (`trusted.overlay.opaque=y`).
pub(crate) fn is_opaque(dir: &Path) -> io::Result<bool> {
    Ok(get_xattr(dir, b"trusted.overlay.opaque")?.as_deref() == Some(b"y"))
}
