//! Files in and out of a container (`cp`, the archive endpoints). Paths are resolved
//! inside the container's root with `openat2(RESOLVE_IN_ROOT)`: a symlink in the
//! container, even one it swaps in while the copy runs, never leads outside it. A running
//! container is reached through `/proc/<pid>/root` (its volumes and binds included); a
//! stopped one through its root file system, mounted for the time of the copy.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{openat2, statat, AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

use crate::error::{EngineError, Result};
use crate::record::{Container, Status};
use crate::Engine;

/// What docker's `X-Docker-Container-Path-Stat` header says of a path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PathStat {
    /// The last component.
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Go's `os.FileMode`: permission bits and type bits.
    pub mode: u32,
    /// Modification time (RFC 3339).
    pub mtime: String,
    /// A symlink's target (empty otherwise).
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.FileMode` type bits.
const GO_DIR: u32 = 1 << 31;
const GO_SYMLINK: u32 = 1 << 27;
const GO_DEVICE: u32 = 1 << 26;
const GO_PIPE: u32 = 1 << 25;
const GO_SOCKET: u32 = 1 << 24;
const GO_SETUID: u32 = 1 << 23;
const GO_SETGID: u32 = 1 << 22;
const GO_CHAR: u32 = 1 << 21;
const GO_STICKY: u32 = 1 << 20;

fn go_mode(st: &Stat) -> u32 {
    let m = st.st_mode;
    let mut out = m & 0o777;
    out |= match FileType::from_raw_mode(m) {
        FileType::Directory => GO_DIR,
        FileType::Symlink => GO_SYMLINK,
        FileType::Fifo => GO_PIPE,
        FileType::Socket => GO_SOCKET,
        FileType::BlockDevice => GO_DEVICE,
        FileType::CharacterDevice => GO_DEVICE | GO_CHAR,
        _ => 0,
    };
    for (bit, go) in [
        (0o4000, GO_SETUID),
        (0o2000, GO_SETGID),
        (0o1000, GO_STICKY),
    ] {
        if m & bit != 0 {
            out |= go;
        }
    }
    out
}

fn sys(op: &'static str, path: &str) -> impl FnOnce(Errno) -> EngineError {
    let path = PathBuf::from(path);
    move |e| EngineError::io(op, &path)(e.into())
}

/// `path` inside the container as a relative path (`/` is "").
fn relative(path: &str) -> &str {
    path.trim_start_matches('/')
}

/// The parent directory of `path` (resolved in the root, links followed) and its last
/// component ("." for the root itself). A path ending in `/` or `/.` names a directory:
/// all of it is resolved (a last component that is a link is followed) and "." is
/// returned with it.
fn parent_of(root: BorrowedFd<'_>, path: &str) -> Result<(OwnedFd, Vec<u8>)> {
    if path.ends_with('/') || path.ends_with("/.") {
        let fd = resolve_dir(root, relative(path), path)?;
        return Ok((fd, b".".to_vec()));
    }
    let rel = relative(path).trim_end_matches('/');
    let (dir, base) = match rel.rsplit_once('/') {
        Some((d, b)) => (d, b),
        None => ("", rel),
    };
    let base = if base.is_empty() { "." } else { base };
    let fd = resolve_dir(root, dir, path)?;
    Ok((fd, base.as_bytes().to_vec()))
}

/// Opens directory `rel` inside `root`, links followed but scoped to the root.
fn resolve_dir(root: BorrowedFd<'_>, rel: &str, shown: &str) -> Result<OwnedFd> {
    let rel = if rel.is_empty() { "." } else { rel };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    openat2(root, rel, flags, Mode::empty(), how).map_err(|e| match e {
        Errno::NOENT | Errno::NOTDIR => EngineError::NoSuchPath(shown.into()),
        e => sys("open", shown)(e),
    })
}

fn stat_of(dir: BorrowedFd<'_>, base: &[u8], shown: &str) -> Result<(Stat, PathStat)> {
    let st =
        statat(dir, OsStr::from_bytes(base), AtFlags::SYMLINK_NOFOLLOW).map_err(|e| match e {
            Errno::NOENT | Errno::NOTDIR => EngineError::NoSuchPath(shown.into()),
            e => sys("stat", shown)(e),
        })?;
    let link_target = if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        let t = rustix::fs::readlinkat(dir, OsStr::from_bytes(base), Vec::new())
            .map_err(sys("readlink", shown))?;
        String::from_utf8_lossy(t.as_bytes()).into_owned()
    } else {
        String::new()
    };
    let name = match base {
        b"." => "/".to_string(),
        b => String::from_utf8_lossy(b).into_owned(),
    };
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(st.st_mtime.max(0) as u64, st.st_mtime_nsec as u32);
    let stat = PathStat {
        name,
        size: st.st_size,
        mode: go_mode(&st),
        mtime: berth_runtime::state::rfc3339(mtime),
        link_target,
    };
    Ok((st, stat))
}

impl Engine {
    /// Runs `f` with container `c`'s root directory open.
    fn with_root<T>(
        &self,
        c: &Container,
        f: impl FnOnce(BorrowedFd<'_>) -> Result<T>,
    ) -> Result<T> {
        if c.state.status == Status::Running && c.state.pid > 0 {
            let path = PathBuf::from(format!("/proc/{}/root", c.state.pid));
            if let Ok(root) = std::fs::File::open(&path) {
                return f(root.as_fd());
            }
        }
        self.with_mounted_root(c, |target| {
            let root = std::fs::File::open(target).map_err(EngineError::io("open", target))?;
            f(root.as_fd())
        })
    }

    /// What `path` in container `c` is (a symlink itself, not its target).
    pub fn stat_path(&self, c: &Container, path: &str) -> Result<PathStat> {
        self.with_root(c, |root| {
            let (dir, base) = parent_of(root, path)?;
            Ok(stat_of(dir.as_fd(), &base, path)?.1)
        })
    }

    /// Writes a tar of `path` in container `c` to `out` (a directory with everything in
    /// it, named by its last component); returns what the path is. `before` is called
    /// with that first, so a caller can answer with it before the tar streams.
    pub fn archive_path(
        &self,
        c: &Container,
        path: &str,
        before: &mut dyn FnMut(&PathStat),
        out: impl Write,
    ) -> Result<PathStat> {
        self.with_root(c, |root| {
            let (dir, base) = parent_of(root, path)?;
            let (st, stat) = stat_of(dir.as_fd(), &base, path)?;
            before(&stat);
            let name = if base == b"." {
                b".".to_vec()
            } else {
                base.clone()
            };
            let mut tar = tar::Builder::new(out);
            tar.follow_symlinks(false);
            let mut w = TreeWriter {
                tar: &mut tar,
                shown: path,
            };
            w.add(dir.as_fd(), &base, &st, Path::new(OsStr::from_bytes(&name)))?;
            tar.finish()
                .map_err(EngineError::io("write the archive of", Path::new(path)))?;
            Ok(stat)
        })
    }

    /// Extracts the tar `input` into directory `path` of container `c`. Nothing in it
    /// can land outside that directory (see `berth_image::layer::apply`).
    pub fn extract_into(&self, c: &Container, path: &str, input: impl Read) -> Result<()> {
        self.with_root(c, |root| {
            let dir = match resolve_dir(root, relative(path), path) {
                Err(EngineError::NoSuchPath(p)) => {
                    // A path that is there but not a directory is the request's fault.
                    let (parent, base) = parent_of(root, path)?;
                    stat_of(parent.as_fd(), &base, path)?;
                    return Err(EngineError::NotADirectory(p));
                }
                r => r?,
            };
            let at = PathBuf::from(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&dir)
            ));
            berth_image::layer::apply(&at, input, berth_image::layer::Whiteouts::Delete)?;
            Ok(())
        })
    }
}

/// Writes a tree into a tar, opening every entry relative to its parent's descriptor
/// and never following a symlink.
struct TreeWriter<'a, W: Write> {
    tar: &'a mut tar::Builder<W>,
    shown: &'a str,
}

impl<W: Write> TreeWriter<'_, W> {
    fn err(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> EngineError {
        let path = PathBuf::from(self.shown);
        move |e| EngineError::io(op, &path)(e)
    }

    fn add(&mut self, dir: BorrowedFd<'_>, base: &[u8], st: &Stat, name: &Path) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(st.st_mtime.max(0) as u64);
        let os_base = OsStr::from_bytes(base);
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                let mut dname = name.to_path_buf().into_os_string();
                dname.push("/");
                self.tar
                    .append_data(&mut h, &dname, std::io::empty())
                    .map_err(self.err("write the archive of"))?;
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = rustix::fs::openat(dir, os_base, flags, Mode::empty())
                    .map_err(sys("open", self.shown))?;
                self.add_children(fd, name)?;
            }
            FileType::RegularFile => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = rustix::fs::openat(dir, os_base, flags, Mode::empty())
                    .map_err(sys("open", self.shown))?;
                let file = std::fs::File::from(fd).take(st.st_size as u64);
                self.tar
                    .append_data(&mut h, name, file)
                    .map_err(self.err("write the archive of"))?;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(dir, os_base, Vec::new())
                    .map_err(sys("readlink", self.shown))?;
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                self.tar
                    .append_link(&mut h, name, OsStr::from_bytes(target.as_bytes()))
                    .map_err(self.err("write the archive of"))?;
            }
            other => {
                let kind = match other {
                    FileType::Fifo => tar::EntryType::Fifo,
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => return Ok(()), // sockets are not archived
                };
                h.set_entry_type(kind);
                h.set_size(0);
                let dev = st.st_rdev;
                h.set_device_major(rustix::fs::major(dev)).ok();
                h.set_device_minor(rustix::fs::minor(dev)).ok();
                self.tar
                    .append_data(&mut h, name, std::io::empty())
                    .map_err(self.err("write the archive of"))?;
            }
        }
        Ok(())
    }

    fn add_children(&mut self, fd: OwnedFd, name: &Path) -> Result<()> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        let dir = Dir::read_from(&fd).map_err(sys("read directory", self.shown))?;
        for entry in dir {
            let entry = entry.map_err(sys("read directory", self.shown))?;
            let n = entry.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        names.sort();
        for n in names {
            let st = match statat(&fd, OsStr::from_bytes(&n), AtFlags::SYMLINK_NOFOLLOW) {
                Err(Errno::NOENT) => continue, // gone while we walked
                r => r.map_err(sys("stat", self.shown))?,
            };
            let child = name.join(OsStr::from_bytes(&n));
            self.add(fd.as_fd(), &n, &st, &child)?;
        }
        Ok(())
    }
}
