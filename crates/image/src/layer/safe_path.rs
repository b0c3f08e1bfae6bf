//! Safe path handling for layer entries: cleaning entry names, and opening directories
//! inside the layer root without ever following a symlink or leaving the root
//! (`openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`).

use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{openat2, AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Timestamps, Uid};
use rustix::io::Errno;

use crate::snapshot::fsutil;

/// Why an entry name or link target is refused.
pub(crate) type Refusal = &'static str;

/// Cleans an entry name: drops a leading `/` (as docker does), empty and `.` components;
/// refuses `..`. Returns the components joined by `/` (empty for the root itself).
pub(crate) fn clean(raw: &[u8]) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::with_capacity(raw.len());
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return Err("path has a `..` component"),
            _ => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(comp);
            }
        }
    }
    if out.contains(&0) {
        return Err("path has a NUL byte");
    }
    Ok(out)
}

/// Splits a cleaned path into its parent and its last component.
pub(crate) fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);
const CACHE: usize = 16;

/// An error opening a path: refused (a symlink or non-directory in the way) or an OS error.
#[derive(Debug)]
pub(crate) enum OpenError {
    Refused(Refusal),
    Os(std::io::Error),
}

impl From<Errno> for OpenError {
    fn from(e: Errno) -> Self {
        match e {
            Errno::LOOP => OpenError::Refused("a path component is a symlink"),
            Errno::XDEV => OpenError::Refused("path leaves the layer"),
            Errno::NOTDIR => OpenError::Refused("a path component is not a directory"),
            e => OpenError::Os(e.into()),
        }
    }
}

/// The layer root, the lower layers (for the metadata of parent directories a layer does
/// not carry), and a small cache of open directories.
pub(crate) struct Root {
    fd: Rc<OwnedFd>,
    lowers: Vec<OwnedFd>,
    cache: Vec<(Vec<u8>, Rc<OwnedFd>)>,
    /// Directories made for missing parents and not given by an entry since.
    implicit: HashSet<Vec<u8>>,
}

impl Root {
    /// Opens `dir` and the `lowers` (top first; may be empty).
    pub fn open(dir: &Path, lowers: &[PathBuf]) -> std::io::Result<Self> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(dir, flags, Mode::empty())?;
        let lowers = lowers
            .iter()
            .map(|l| rustix::fs::open(l, OFlags::PATH | flags, Mode::empty()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            fd: Rc::new(fd),
            lowers,
            cache: Vec::new(),
            implicit: HashSet::new(),
        })
    }

    /// The root directory.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Notes that the layer carries the directory `rel` itself (its metadata is the
    /// entry's, not the parents').
    pub fn explicit(&mut self, rel: &[u8]) {
        if !self.implicit.is_empty() {
            self.implicit.remove(rel);
        }
    }

    /// The directories made for missing parents that no entry gave since.
    pub fn take_implicit(&mut self) -> HashSet<Vec<u8>> {
        std::mem::take(&mut self.implicit)
    }

    /// Forgets cached directories (after anything was removed or replaced).
    pub fn forget(&mut self) {
        self.cache.clear();
    }

    /// Opens the directory `rel` (cleaned; empty = root) inside the root, never following
    /// a symlink. With `create`, makes missing directories (metadata from the lowers when
    /// they have the directory, else root-owned 0755). `Ok(None)`: missing, not created.
    pub fn dir(&mut self, rel: &[u8], create: bool) -> Result<Option<Rc<OwnedFd>>, OpenError> {
        if rel.is_empty() {
            return Ok(Some(Rc::clone(&self.fd)));
        }
        if let Some((_, fd)) = self.cache.iter().find(|(p, _)| p == rel) {
            return Ok(Some(Rc::clone(fd)));
        }
        let fd = match open_beneath(&self.fd, rel) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if create => self.make_dirs(rel)?,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if self.cache.len() == CACHE {
            self.cache.remove(0);
        }
        let fd = Rc::new(fd);
        self.cache.push((rel.to_vec(), Rc::clone(&fd)));
        Ok(Some(fd))
    }

    /// Makes every missing directory of `rel`, one component at a time.
    fn make_dirs(&mut self, rel: &[u8]) -> Result<OwnedFd, OpenError> {
        let mut cur = rustix::io::dup(&*self.fd)?;
        let mut end = 0;
        for comp in rel.split(|&b| b == b'/') {
            end += comp.len();
            let prefix = &rel[..end];
            end += 1;
            match rustix::fs::mkdirat(&cur, comp, Mode::from_raw_mode(0o755)) {
                Ok(()) => {
                    let fd = open_beneath(&cur, comp)?;
                    self.copy_lower_meta(prefix, &fd)?;
                    self.implicit.insert(prefix.to_vec());
                    cur = fd;
                }
                Err(Errno::EXIST) => cur = open_beneath(&cur, comp)?,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(cur)
    }

    /// Gives a directory made for a missing parent the owner, mode and times the same
    /// directory has in the topmost lower layer holding it. A symlink or a non-directory
    /// there is refused: the layer would write through or over it.
    pub fn copy_lower_meta(&self, rel: &[u8], fd: &OwnedFd) -> Result<(), OpenError> {
        for lower in &self.lowers {
            let st = match rustix::fs::statat(lower, rel, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT | Errno::NOTDIR) => continue,
                Err(e) => return Err(e.into()),
            };
            return match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => Ok(set_dir_meta(fd, &st)?),
                FileType::Symlink => Err(OpenError::Refused("a lower layer has a symlink here")),
                FileType::CharacterDevice if st.st_rdev == 0 => Ok(()),
                _ => Err(OpenError::Refused("a lower layer has a non-directory here")),
            };
        }
        Ok(())
    }
}

/// Opens a directory below `dir` without following symlinks or leaving `dir`.
pub(crate) fn open_beneath(dir: impl AsFd, rel: &[u8]) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    loop {
        match openat2(&dir, rel, flags, Mode::empty(), RESOLVE) {
            Err(Errno::AGAIN | Errno::INTR) => continue,
            other => return other,
        }
    }
}

fn set_dir_meta(fd: &OwnedFd, st: &rustix::fs::Stat) -> Result<(), Errno> {
    let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
    rustix::fs::fchown(fd, Some(uid), Some(gid))?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(st.st_mode))?;
    let mtime = fsutil::ts(st.st_mtime, st.st_mtime_nsec as i64);
    let times = Timestamps {
        last_access: mtime,
        last_modification: mtime,
    };
    rustix::fs::futimens(fd, &times)
}
