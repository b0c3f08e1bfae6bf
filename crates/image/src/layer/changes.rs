//! What a writable layer changed: a sorted walk shared by [`changes`] (`berth diff`) and
//! layer creation.
//!
//! Overlay layers are read from the upper dir alone (whiteout devices are deletions,
//! opaque directories hide their lower contents); full trees (vfs) are compared with their
//! parent's tree by metadata.

use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{Error, Result};
use crate::snapshot::fsutil::{self, is_whiteout};
use crate::snapshot::{DirStyle, LayerDirs};

/// The kind of a change, as `docker diff` prints it (`A`, `C`, `D`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// `A`: the path is new.
    Added,
    /// `C`: the path existed and changed.
    Modified,
    /// `D`: the path was deleted.
    Deleted,
}

/// One change of a writable layer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// The absolute path in the container, e.g. `/etc/hosts`.
    pub path: String,
}

impl ChangeKind {
    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Modified => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One step of the walk, in path order (a directory before its contents).
pub(crate) enum Event<'a> {
    /// A file, directory, link or device present in the layer; `full` is its path on disk.
    Present {
        rel: &'a Path,
        full: &'a Path,
        meta: &'a Metadata,
    },
    /// `rel` was deleted.
    Deleted { rel: &'a Path },
    /// The directory `rel` hides its lower contents (sent right after its `Present`).
    Opaque { rel: &'a Path },
}

type Visit<'f> = dyn FnMut(Event<'_>) -> Result<()> + 'f;

/// Walks the changes of a layer in sorted order.
pub(crate) fn walk(dirs: &LayerDirs, visit: &mut Visit<'_>) -> Result<()> {
    match dirs.style {
        DirStyle::Overlay => walk_upper(&dirs.upper, Path::new(""), visit),
        DirStyle::Full => {
            let lower = dirs.lowers.first().map(PathBuf::as_path);
            walk_full(&dirs.upper, lower, Path::new(""), visit)
        }
    }
}

/// Sorted names in a directory.
fn sorted_names(dir: &Path) -> Result<Vec<OsString>> {
    let rd = fs::read_dir(dir).map_err(Error::io("read directory", dir))?;
    let mut names = rd
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::io("read directory", dir))?;
    names.sort();
    Ok(names)
}

fn lstat(path: &Path) -> Result<Metadata> {
    fs::symlink_metadata(path).map_err(Error::io("stat", path))
}

fn walk_upper(upper: &Path, rel: &Path, visit: &mut Visit<'_>) -> Result<()> {
    let dir = upper.join(rel);
    for name in sorted_names(&dir)? {
        let (crel, full) = (rel.join(&name), dir.join(&name));
        let meta = lstat(&full)?;
        if is_whiteout(&meta) {
            visit(Event::Deleted { rel: &crel })?;
            continue;
        }
        visit(Event::Present {
            rel: &crel,
            full: &full,
            meta: &meta,
        })?;
        if meta.is_dir() {
            if fsutil::is_opaque(&full).map_err(Error::io("read xattr", &full))? {
                visit(Event::Opaque { rel: &crel })?;
            }
            walk_upper(upper, &crel, visit)?;
        }
    }
    Ok(())
}

fn walk_full(upper: &Path, lower: Option<&Path>, rel: &Path, visit: &mut Visit<'_>) -> Result<()> {
    let udir = upper.join(rel);
    let mut names = sorted_names(&udir)?;
    let ldir = lower.map(|l| l.join(rel));
    let lnames = match &ldir {
        Some(l) => sorted_names(l)?,
        None => Vec::new(),
    };
    names.extend(lnames.iter().cloned());
    names.sort();
    names.dedup();
    for name in names {
        let crel = rel.join(&name);
        let full = udir.join(&name);
        let lmeta = match (&ldir, lnames.binary_search(&name).is_ok()) {
            (Some(l), true) => Some(lstat(&l.join(&name))?),
            _ => None,
        };
        let umeta = match fs::symlink_metadata(&full) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                visit(Event::Deleted { rel: &crel })?;
                continue;
            }
            Err(e) => return Err(Error::io("stat", &full)(e)),
        };
        let both_dirs = umeta.is_dir() && lmeta.as_ref().is_some_and(Metadata::is_dir);
        let changed = match &lmeta {
            None => true,
            Some(l) => differs(&full, &umeta, l, lower.map(|lw| lw.join(&crel)).as_deref())?,
        };
        if changed {
            visit(Event::Present {
                rel: &crel,
                full: &full,
                meta: &umeta,
            })?;
        }
        if umeta.is_dir() {
            walk_full(upper, if both_dirs { lower } else { None }, &crel, visit)?;
        }
    }
    Ok(())
}

/// Whether an entry differs from the same path in the lower tree (by metadata, as docker's
/// naive differ: type, mode, owner, size, mtime, device, link target, xattrs).
fn differs(upath: &Path, u: &Metadata, l: &Metadata, lpath: Option<&Path>) -> Result<bool> {
    let same = u.mode() == l.mode()
        && u.uid() == l.uid()
        && u.gid() == l.gid()
        && u.rdev() == l.rdev()
        && (u.is_dir() || u.size() == l.size())
        && u.mtime() == l.mtime()
        && u.mtime_nsec() == l.mtime_nsec();
    if !same {
        return Ok(true);
    }
    let Some(lpath) = lpath else {
        return Ok(true);
    };
    if u.file_type().is_symlink() {
        let ut = fs::read_link(upath).map_err(Error::io("read link", upath))?;
        let lt = fs::read_link(lpath).map_err(Error::io("read link", lpath))?;
        if ut != lt {
            return Ok(true);
        }
    }
    let ux = fsutil::list_xattrs(upath).map_err(Error::io("list xattrs", upath))?;
    let lx = fsutil::list_xattrs(lpath).map_err(Error::io("list xattrs", lpath))?;
    Ok(ux != lx)
}

/// The changes of a writable layer over its parents, sorted by path, as `docker diff`
/// lists them: `A` new paths, `C` changed ones (directories whose contents changed
/// included), `D` deleted ones (a deleted directory's contents are not listed).
pub fn changes(dirs: &LayerDirs) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    walk(dirs, &mut |ev| {
        match ev {
            Event::Present { rel, .. } => {
                let existed = match dirs.style {
                    DirStyle::Overlay => in_lowers(&dirs.lowers, rel)?,
                    DirStyle::Full => in_full_lower(dirs, rel),
                };
                let kind = if existed {
                    ChangeKind::Modified
                } else {
                    ChangeKind::Added
                };
                out.push(change(kind, rel));
            }
            Event::Deleted { rel } => out.push(change(ChangeKind::Deleted, rel)),
            Event::Opaque { rel } => opaque_deletions(dirs, rel, &mut out)?,
        }
        Ok(())
    })?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn change(kind: ChangeKind, rel: &Path) -> Change {
    Change {
        kind,
        path: format!("/{}", rel.display()),
    }
}

fn in_full_lower(dirs: &LayerDirs, rel: &Path) -> bool {
    dirs.lowers
        .first()
        .is_some_and(|l| fs::symlink_metadata(l.join(rel)).is_ok())
}

/// Whether `rel` exists in the merged lowers (top first; a whiteout hides it).
fn in_lowers(lowers: &[PathBuf], rel: &Path) -> Result<bool> {
    for lower in lowers {
        let path = lower.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(m) => return Ok(!is_whiteout(&m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(false),
            Err(e) => return Err(Error::io("stat", &path)(e)),
        }
    }
    Ok(false)
}

/// An opaque upper directory: the lower entries it no longer shows are deletions.
fn opaque_deletions(dirs: &LayerDirs, rel: &Path, out: &mut Vec<Change>) -> Result<()> {
    let upper = dirs.upper.join(rel);
    let mut seen = std::collections::BTreeSet::new();
    for lower in &dirs.lowers {
        let ldir = lower.join(rel);
        if !ldir.is_dir() {
            continue;
        }
        for name in sorted_names(&ldir)? {
            let crel = rel.join(&name);
            let gone = fs::symlink_metadata(upper.join(&name)).is_err();
            if gone && in_lowers(&dirs.lowers, &crel)? && seen.insert(name) {
                out.push(change(ChangeKind::Deleted, &crel));
            }
        }
    }
    Ok(())
}
