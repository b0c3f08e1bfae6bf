//! Applying an uncompressed layer tar to a directory, computing its diffID on the way.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use tar::EntryType;

use super::entry::Meta;
use super::hash::HashReader;
use super::safe_path::{clean, open_beneath, split, OpenError, Root};
use super::{Error, Result};
use crate::digest::Digest;
use crate::snapshot::{DirStyle, LayerDirs};

/// How whiteout entries (`.wh.<name>`, `.wh..wh..opq`) are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// Into an overlay upper dir: `.wh.<name>` becomes a 0:0 character device `<name>`,
    /// `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory.
    Overlay,
    /// Onto a full tree: `.wh.<name>` deletes `<name>`, `.wh..wh..opq` empties its
    /// directory except what this layer adds.
    Delete,
}

/// The result of applying a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// sha256 of the uncompressed tar stream.
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar stream.
    pub size: u64,
}

const OPAQUE: &[u8] = b".wh..wh..opq";
const WH_PREFIX: &[u8] = b".wh.";
const WH_META_PREFIX: &[u8] = b".wh..wh.";
const COPY_BUF: usize = 256 << 10;

/// Applies the uncompressed layer tar `tar` into `dir`, hashing the stream as it is read.
///
/// No entry can write outside `dir`: `..` components are refused, a leading `/` is
/// dropped, no symlink is ever followed while creating a path, and hardlink targets must be
/// inside `dir`. A refused entry fails the whole apply with an error naming it (the entries
/// before it stay applied: callers apply into a snapshot they remove on error).
pub fn apply(dir: &Path, tar: impl Read, style: Whiteouts) -> Result<Applied> {
    apply_with(dir, &[], tar, style)
}

/// Applies a layer into the directories of an active snapshot: into its upper dir with
/// overlay whiteouts (taking the metadata of parent directories the layer does not carry
/// from the lower layers), or onto its full tree with deleting whiteouts.
pub fn apply_layer(dirs: &LayerDirs, tar: impl Read) -> Result<Applied> {
    match dirs.style {
        DirStyle::Overlay => apply_with(&dirs.upper, &dirs.lowers, tar, Whiteouts::Overlay),
        DirStyle::Full => apply_with(&dirs.upper, &[], tar, Whiteouts::Delete),
    }
}

/// A layer applied into an overlay upper dir before its parents are known
/// ([`apply_detached`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detached {
    /// sha256 of the uncompressed tar stream, when it was asked for.
    pub diff_id: Option<Digest>,
    /// Bytes of the uncompressed tar stream.
    pub size: u64,
    /// Directories made for entries whose parent directories the layer does not carry
    /// (cleaned relative paths): they take their metadata from the parents, which
    /// [`adopt_parents`] gives them.
    pub implicit_dirs: Vec<Vec<u8>>,
    /// Bytes of the layer's files, when the caller measured them (0 otherwise).
    pub content_bytes: u64,
}

/// Applies the uncompressed layer tar `tar` into the empty overlay upper dir `dir` without
/// its parent layers (which only matter for directories the layer does not carry: see
/// [`Detached::implicit_dirs`]). Hashes the stream only if `hash`. The same checks as
/// [`apply`] hold.
pub fn apply_detached(dir: &Path, tar: impl Read, hash: bool) -> Result<Detached> {
    // The stream comes in large chunks already: no buffer (and copy) in between.
    let (diff_id, size, implicit) = apply_inner(dir, &[], tar, Whiteouts::Overlay, hash)?;
    Ok(Detached {
        diff_id,
        size,
        implicit_dirs: implicit.into_iter().collect(),
        content_bytes: 0,
    })
}

/// Gives the directories a detached layer made for missing parents (in `upper`) the owner,
/// mode and times they have in the topmost of `lowers` (top first) holding them, as
/// [`apply_layer`] does while applying. Refuses, as it does, a lower layer with a symlink
/// or a non-directory at such a path.
pub fn adopt_parents(upper: &Path, lowers: &[PathBuf], implicit: &[Vec<u8>]) -> Result<()> {
    if lowers.is_empty() || implicit.is_empty() {
        return Ok(());
    }
    let root = Root::open(upper, lowers).map_err(Error::io("open layer directory", upper))?;
    for rel in implicit {
        let fd = match open_beneath(root.fd(), rel) {
            Ok(fd) => fd,
            // Removed or replaced by a later entry of the layer.
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
            Err(e) => return Err(failed(rel, "open directory")(e)),
        };
        root.copy_lower_meta(rel, &fd).map_err(open_failed(rel))?;
    }
    Ok(())
}

fn apply_with(dir: &Path, lowers: &[PathBuf], tar: impl Read, style: Whiteouts) -> Result<Applied> {
    let buffered = BufReader::with_capacity(1 << 20, tar);
    let (diff_id, size, _) = apply_inner(dir, lowers, buffered, style, true)?;
    let diff_id = diff_id.ok_or_else(|| Error::Read(std::io::Error::other("no digest")))?;
    Ok(Applied { diff_id, size })
}

/// Applies `tar`; returns its digest (if `hash`), its size and the directories made for
/// missing parents (without lowers to take their metadata from).
fn apply_inner(
    dir: &Path,
    lowers: &[PathBuf],
    tar: impl Read,
    style: Whiteouts,
    hash: bool,
) -> Result<(Option<Digest>, u64, HashSet<Vec<u8>>)> {
    let root = Root::open(dir, lowers).map_err(Error::io("open layer directory", dir))?;
    let mut reader = if hash {
        HashReader::new(tar)
    } else {
        HashReader::counting(tar)
    };
    let mut ap = Applier {
        root,
        style,
        added: HashSet::new(),
        dir_times: Vec::new(),
        buf: vec![0; COPY_BUF],
    };
    {
        let mut archive = tar::Archive::new(&mut reader);
        for entry in archive.entries().map_err(Error::Read)? {
            ap.entry(&mut entry.map_err(Error::Read)?)?;
        }
    }
    ap.fix_dir_times()?;
    let (diff_id, size) = reader.finish().map_err(Error::Read)?;
    Ok((diff_id, size, ap.root.take_implicit()))
}

struct Applier {
    root: Root,
    style: Whiteouts,
    /// Paths this layer made (only for `Whiteouts::Delete`, for opaque directories).
    added: HashSet<Vec<u8>>,
    /// Directories and their mtimes, set at the end (adding entries changes them).
    dir_times: Vec<(Vec<u8>, Timespec)>,
    buf: Vec<u8>,
}

/// The name of an entry for messages.
fn shown(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

fn refused(raw: &[u8], reason: &'static str) -> Error {
    Error::Refused {
        entry: shown(raw),
        reason,
    }
}

fn failed<'a>(raw: &'a [u8], op: &'static str) -> impl FnOnce(Errno) -> Error + 'a {
    move |e| Error::Entry {
        entry: shown(raw),
        op,
        source: e.into(),
    }
}

fn open_failed(raw: &[u8]) -> impl FnOnce(OpenError) -> Error + '_ {
    move |e| match e {
        OpenError::Refused(reason) => refused(raw, reason),
        OpenError::Os(source) => Error::Entry {
            entry: shown(raw),
            op: "open parent directory",
            source,
        },
    }
}

impl Applier {
    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw = e.path_bytes().into_owned();
        let rel = clean(&raw).map_err(|r| refused(&raw, r))?;
        let (parent, base) = split(&rel);
        if base.starts_with(WH_PREFIX) {
            return self.whiteout(&raw, parent, base);
        }
        let kind = e.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let meta = Meta::of(e).map_err(|source| Error::Entry {
            entry: shown(&raw),
            op: "read header",
            source,
        })?;
        if rel.is_empty() {
            return self.root_entry(&raw, kind, &meta);
        }
        let pfd = self
            .parent(&raw, parent, true)?
            .ok_or_else(|| refused(&raw, "no parent"))?;
        self.make_room(&raw, &pfd, base, kind == EntryType::Directory)?;
        self.create(e, &raw, &rel, (&pfd, base), kind, &meta)?;
        if self.style == Whiteouts::Delete {
            self.added.insert(rel);
        }
        Ok(())
    }

    fn parent(&mut self, raw: &[u8], parent: &[u8], create: bool) -> Result<Option<Rc<OwnedFd>>> {
        self.root.dir(parent, create).map_err(open_failed(raw))
    }

    fn create<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        raw: &[u8],
        rel: &[u8],
        (pfd, base): (&OwnedFd, &[u8]),
        kind: EntryType,
        meta: &Meta,
    ) -> Result<()> {
        let pfd = pfd.as_fd();
        match kind {
            EntryType::Regular | EntryType::Continuous => self.file(e, raw, pfd, base, meta),
            EntryType::Directory => self.dir(raw, rel, pfd, base, meta),
            EntryType::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| refused(raw, "symlink without target"))?;
                rustix::fs::symlinkat(&*target, pfd, base).map_err(failed(raw, "symlink"))?;
                meta.set_at(pfd, base, true)
                    .map_err(|(op, e)| failed(raw, op)(e))
            }
            EntryType::Link => self.hardlink(e, raw, pfd, base),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let ft = match kind {
                    EntryType::Char => FileType::CharacterDevice,
                    EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rustix::fs::makedev(meta.rdev.0, meta.rdev.1);
                rustix::fs::mknodat(pfd, base, ft, Mode::from_raw_mode(meta.mode), dev)
                    .map_err(failed(raw, "mknod"))?;
                meta.set_at(pfd, base, false)
                    .map_err(|(op, e)| failed(raw, op)(e))
            }
            other => Err(Error::Unsupported {
                entry: shown(raw),
                typ: format!("{other:?}"),
            }),
        }
    }

    fn file<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        raw: &[u8],
        pfd: BorrowedFd<'_>,
        base: &[u8],
        meta: &Meta,
    ) -> Result<()> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(pfd, base, flags, Mode::from_raw_mode(0o600))
            .map_err(failed(raw, "create"))?;
        let mut file = File::from(fd);
        loop {
            let n = match e.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(Error::Read(err)),
            };
            file.write_all(&self.buf[..n])
                .map_err(|source| Error::Entry {
                    entry: shown(raw),
                    op: "write",
                    source,
                })?;
        }
        meta.set_on_fd(file.as_fd(), false)
            .map_err(|(op, e)| failed(raw, op)(e))
    }

    fn dir(
        &mut self,
        raw: &[u8],
        rel: &[u8],
        pfd: BorrowedFd<'_>,
        base: &[u8],
        meta: &Meta,
    ) -> Result<()> {
        match rustix::fs::mkdirat(pfd, base, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(failed(raw, "mkdir")(e)),
        }
        let fd = open_beneath(pfd, base).map_err(|e| open_failed(raw)(e.into()))?;
        meta.set_on_fd(fd.as_fd(), true)
            .map_err(|(op, e)| failed(raw, op)(e))?;
        self.root.explicit(rel);
        self.dir_times.push((rel.to_vec(), meta.mtime));
        Ok(())
    }

    fn hardlink<R: Read>(
        &mut self,
        e: &tar::Entry<'_, R>,
        raw: &[u8],
        pfd: BorrowedFd<'_>,
        base: &[u8],
    ) -> Result<()> {
        let target = e
            .link_name_bytes()
            .ok_or_else(|| refused(raw, "hardlink without target"))?;
        let trel = clean(&target).map_err(|r| refused(raw, r))?;
        if trel.is_empty() {
            return Err(refused(raw, "hardlink to the layer root"));
        }
        let (tparent, tbase) = split(&trel);
        let tpfd = self
            .parent(raw, tparent, false)?
            .ok_or_else(|| refused(raw, "hardlink target is not in the layer"))?;
        match rustix::fs::linkat(&*tpfd, tbase, pfd, base, AtFlags::empty()) {
            Err(Errno::NOENT) => Err(refused(raw, "hardlink target is not in the layer")),
            other => other.map_err(failed(raw, "link")),
        }
    }

    /// The layer root's own entry (`./`): only its metadata.
    fn root_entry(&mut self, raw: &[u8], kind: EntryType, meta: &Meta) -> Result<()> {
        if kind != EntryType::Directory {
            return Err(refused(raw, "the layer root must be a directory"));
        }
        let fd = self
            .parent(raw, b"", false)?
            .ok_or_else(|| refused(raw, "no root"))?;
        meta.set_on_fd(fd.as_fd(), true)
            .map_err(|(op, e)| failed(raw, op)(e))?;
        self.dir_times.push((Vec::new(), meta.mtime));
        Ok(())
    }

    /// Clears the way for a new entry `base`: an existing directory stays if the new entry
    /// is a directory too; anything else there is removed.
    fn make_room(&mut self, raw: &[u8], pfd: &OwnedFd, base: &[u8], is_dir: bool) -> Result<()> {
        let st = match rustix::fs::statat(pfd, base, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => return Ok(()),
            other => other.map_err(failed(raw, "stat"))?,
        };
        let existing_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        if is_dir && existing_dir {
            return Ok(());
        }
        if existing_dir {
            self.root.forget();
        }
        remove_at(pfd.as_fd(), base, existing_dir).map_err(failed(raw, "remove existing"))
    }

    fn whiteout(&mut self, raw: &[u8], parent: &[u8], base: &[u8]) -> Result<()> {
        if base == OPAQUE {
            return self.opaque(raw, parent);
        }
        if base.starts_with(WH_META_PREFIX) {
            return Ok(());
        }
        let victim = &base[WH_PREFIX.len()..];
        if victim.is_empty() || victim == b"." || victim == b".." {
            return Err(refused(raw, "whiteout of an invalid name"));
        }
        match self.style {
            Whiteouts::Overlay => {
                let pfd = self
                    .parent(raw, parent, true)?
                    .ok_or_else(|| refused(raw, "no parent"))?;
                self.make_room(raw, &pfd, victim, false)?;
                rustix::fs::mknodat(&*pfd, victim, FileType::CharacterDevice, Mode::empty(), 0)
                    .map_err(failed(raw, "make whiteout"))
            }
            Whiteouts::Delete => {
                let Some(pfd) = self.parent(raw, parent, false)? else {
                    return Ok(());
                };
                let is_dir = match rustix::fs::statat(&*pfd, victim, AtFlags::SYMLINK_NOFOLLOW) {
                    Err(Errno::NOENT) => return Ok(()),
                    other => {
                        FileType::from_raw_mode(other.map_err(failed(raw, "stat"))?.st_mode)
                            == FileType::Directory
                    }
                };
                self.root.forget();
                remove_at(pfd.as_fd(), victim, is_dir).map_err(failed(raw, "remove"))
            }
        }
    }

    fn opaque(&mut self, raw: &[u8], parent: &[u8]) -> Result<()> {
        match self.style {
            Whiteouts::Overlay => {
                let pfd = self
                    .parent(raw, parent, true)?
                    .ok_or_else(|| refused(raw, "no parent"))?;
                rustix::fs::fsetxattr(&*pfd, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                    .map_err(failed(raw, "set opaque"))
            }
            Whiteouts::Delete => {
                let Some(pfd) = self.parent(raw, parent, false)? else {
                    return Ok(());
                };
                self.root.forget();
                self.empty_except_added(raw, parent, pfd.as_fd())
            }
        }
    }

    /// Removes every entry of the directory `parent` this layer has not added.
    fn empty_except_added(&self, raw: &[u8], parent: &[u8], pfd: BorrowedFd<'_>) -> Result<()> {
        let dir = rustix::fs::Dir::read_from(pfd).map_err(failed(raw, "read directory"))?;
        let mut path = parent.to_vec();
        for ent in dir {
            let ent = ent.map_err(failed(raw, "read directory"))?;
            let name = ent.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            path.truncate(parent.len());
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name);
            if !self.added.contains(&path) {
                let is_dir = ent.file_type() == FileType::Directory;
                remove_at(pfd, name, is_dir).map_err(failed(raw, "remove"))?;
            }
        }
        Ok(())
    }

    /// Sets directories' mtimes last (children change them), deepest first.
    fn fix_dir_times(&mut self) -> Result<()> {
        let times = std::mem::take(&mut self.dir_times);
        for (rel, mtime) in times.iter().rev() {
            let fd = match self.root.dir(rel, false) {
                Ok(Some(fd)) => fd,
                // Removed or replaced by a later entry.
                Ok(None) | Err(OpenError::Refused(_)) => continue,
                Err(e) => return Err(open_failed(rel)(e)),
            };
            let ts = Timestamps {
                last_access: *mtime,
                last_modification: *mtime,
            };
            rustix::fs::futimens(&*fd, &ts).map_err(failed(rel, "set times"))?;
        }
        Ok(())
    }
}

/// Removes `name` in `dir` (a whole tree if it is a directory), never following symlinks.
pub(crate) fn remove_at(dir: BorrowedFd<'_>, name: &[u8], is_dir: bool) -> Result<(), Errno> {
    if !is_dir {
        return rustix::fs::unlinkat(dir, name, AtFlags::empty());
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::empty())?;
    for ent in rustix::fs::Dir::read_from(&fd)? {
        let ent = ent?;
        let child = ent.file_name().to_bytes();
        if child == b"." || child == b".." {
            continue;
        }
        let child_dir = match ent.file_type() {
            FileType::Unknown => {
                let st = rustix::fs::statat(&fd, child, AtFlags::SYMLINK_NOFOLLOW)?;
                FileType::from_raw_mode(st.st_mode) == FileType::Directory
            }
            t => t == FileType::Directory,
        };
        remove_at(fd.as_fd(), child, child_dir)?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}
