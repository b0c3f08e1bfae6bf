//! Opening and creating paths inside the rootfs without ever leaving it. Every lookup is an
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from the rootfs descriptor, so `..` and
//! symlinks (absolute or relative) resolve as they will after pivot_root, and a path the image
//! points elsewhere (`/evil -> /etc`) can never reach the host.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, Mode};

/// What to create when a path is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A directory (mode 0755).
    Dir,
    /// An empty regular file (mode 0644), e.g. the target of a file bind mount.
    File,
}

/// Symlinks followed while creating one path before giving up (as the kernel's ELOOP).
const MAX_SYMLINKS: u32 = 40;

/// Opens `path` (absolute or relative, both taken from the rootfs) inside `root`.
pub(super) fn open(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let path: &Path = if path.as_os_str().is_empty() {
        Path::new("/")
    } else {
        path
    };
    openat2(root, path, how)
}

/// Opens `path` inside `root` as an `O_PATH` descriptor, creating it (and missing parents, as
/// directories) if needed. A dangling symlink on the way is followed inside the rootfs and
/// its target created. Returns the descriptor and whether the path already existed.
pub(super) fn open_or_create(
    root: BorrowedFd<'_>,
    path: &Path,
    kind: Kind,
) -> Result<(OwnedFd, bool), Errno> {
    let mut links = 0;
    open_or_create_in(root, path, kind, &mut links)
}

fn open_or_create_in(
    root: BorrowedFd<'_>,
    path: &Path,
    kind: Kind,
    links: &mut u32,
) -> Result<(OwnedFd, bool), Errno> {
    match open(root, path, OFlag::O_PATH) {
        Ok(fd) => return Ok((fd, true)),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let name = path.file_name().ok_or(Errno::ENOENT)?;
    let parent = path.parent().unwrap_or(Path::new("/"));
    let (dir, _) = open_or_create_in(root, parent, Kind::Dir, links)?;
    match create(dir.as_fd(), name, kind) {
        Ok(fd) => Ok((fd, false)),
        Err(Errno::EEXIST) => follow_dangling(root, dir.as_fd(), parent, name, kind, links),
        Err(e) => Err(e),
    }
}

/// `name` exists in `dir` but did not resolve: a symlink to a missing path. Creates what it
/// points to, inside the rootfs.
fn follow_dangling(
    root: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    parent: &Path,
    name: &OsStr,
    kind: Kind,
    links: &mut u32,
) -> Result<(OwnedFd, bool), Errno> {
    *links += 1;
    if *links > MAX_SYMLINKS {
        return Err(Errno::ELOOP);
    }
    let target = match readlinkat(dir, name) {
        Ok(t) => PathBuf::from(t),
        // Not a symlink: something raced us; report it as existing.
        Err(Errno::EINVAL) => return Err(Errno::EEXIST),
        Err(e) => return Err(e),
    };
    let next = if target.is_absolute() {
        target
    } else {
        parent.join(target)
    };
    open_or_create_in(root, &clean(&next), kind, links)
}

/// Creates `name` in `dir` and returns a descriptor for it.
fn create(dir: BorrowedFd<'_>, name: &OsStr, kind: Kind) -> Result<OwnedFd, Errno> {
    match kind {
        Kind::Dir => {
            mkdirat(dir, name, Mode::from_bits_truncate(0o755))?;
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            openat(dir, name, flags, Mode::empty())
        }
        Kind::File => {
            let flags = OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_NOFOLLOW
                | OFlag::O_WRONLY
                | OFlag::O_CLOEXEC;
            openat(dir, name, flags, Mode::from_bits_truncate(0o644))
        }
    }
}

/// Lexically cleans an absolute path inside the rootfs: drops `.`, resolves `..` (never above
/// `/`), makes relative paths absolute. Borrows when the path is already clean.
pub(super) fn clean(path: &Path) -> Cow<'_, Path> {
    let dirty = !path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir));
    if !dirty {
        return Cow::Borrowed(path);
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn clean_paths() {
        assert_eq!(clean(Path::new("/a/b")), Path::new("/a/b"));
        assert!(matches!(clean(Path::new("/a/b")), Cow::Borrowed(_)));
        assert_eq!(clean(Path::new("/a/../../b/./c")), Path::new("/b/c"));
        assert_eq!(clean(Path::new("x/y")), Path::new("/x/y"));
        assert_eq!(clean(Path::new("/..")), Path::new("/"));
    }

    #[test]
    fn create_inside_root_through_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let root_dir = tmp.path().join("root");
        std::fs::create_dir(&root_dir).unwrap();
        let outside = tmp.path().join("outside");
        // Absolute, relative-with-.., and chained symlinks, all pointing "out".
        symlink(&outside, root_dir.join("abs")).unwrap();
        symlink("../../../../outside-rel", root_dir.join("rel")).unwrap();
        symlink("/abs/deeper", root_dir.join("chain")).unwrap();
        let root = std::fs::File::open(&root_dir).unwrap();

        let (_, existed) = open_or_create(root.as_fd(), Path::new("/abs/x"), Kind::Dir).unwrap();
        assert!(!existed);
        assert!(root_dir
            .join(outside.strip_prefix("/").unwrap())
            .join("x")
            .is_dir());
        open_or_create(root.as_fd(), Path::new("/rel"), Kind::File).unwrap();
        assert!(root_dir.join("outside-rel").is_file());
        open_or_create(root.as_fd(), Path::new("/chain/f"), Kind::File).unwrap();
        assert!(root_dir
            .join(outside.strip_prefix("/").unwrap())
            .join("deeper/f")
            .is_file());
        assert!(!outside.exists(), "created outside the root");

        let (_, existed) = open_or_create(root.as_fd(), Path::new("/abs/x"), Kind::Dir).unwrap();
        assert!(existed);
        symlink("loop", root_dir.join("loop")).unwrap();
        assert_eq!(
            open_or_create(root.as_fd(), Path::new("/loop"), Kind::Dir).unwrap_err(),
            Errno::ELOOP
        );
    }
}
