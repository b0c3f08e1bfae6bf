//! Thin wrappers over the mount system calls nix does not cover (`open_tree`, `move_mount`,
//! `mount_setattr`) and allocation-free helpers for `/proc/self/fd/N` paths.

use std::ffi::{c_uint, OsStr};
use std::io::Write as _;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::NixPath;

/// `/proc/self/fd/N` for a descriptor, formatted on the stack.
pub(super) struct FdPath {
    buf: [u8; 32],
    len: usize,
}

impl FdPath {
    /// The magic-link path that names `fd` for path-based system calls.
    pub(super) fn new(fd: BorrowedFd<'_>) -> Self {
        let mut buf = [0u8; 32];
        let mut cursor = &mut buf[..];
        // 14 bytes of prefix plus at most 10 digits always fit in 32 bytes.
        let _ = write!(cursor, "/proc/self/fd/{}", fd.as_raw_fd());
        let len = 32 - cursor.len();
        Self { buf, len }
    }

    /// The path.
    pub(super) fn as_path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.buf[..self.len]))
    }
}

/// Reads where `/proc/self/fd/N` points (the descriptor's path as this process sees it) into
/// `buf`, without allocating.
pub(super) fn fd_real_path<'b>(fd: BorrowedFd<'_>, buf: &'b mut [u8]) -> Result<&'b Path, Errno> {
    let link = FdPath::new(fd);
    let n = link.as_path().with_nix_path(|c| {
        // SAFETY: `c` is a valid C string and `buf` is writable for `buf.len()` bytes; readlink
        // writes at most that many.
        unsafe { libc::readlink(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) }
    })?;
    let n = usize::try_from(Errno::result(n)?).map_err(|_| Errno::EINVAL)?;
    if n >= buf.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(Path::new(OsStr::from_bytes(&buf[..n])))
}

/// The attribute change of one `mount_setattr(2)` call.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Attr {
    /// `MOUNT_ATTR_*` bits to set.
    pub set: u64,
    /// `MOUNT_ATTR_*` bits to clear.
    pub clr: u64,
    /// One of `MS_PRIVATE`, `MS_SHARED`, `MS_SLAVE`, `MS_UNBINDABLE`, or 0 to keep it.
    pub propagation: u64,
    /// The user namespace for `MOUNT_ATTR_IDMAP`.
    pub userns: Option<RawFd>,
}

impl Attr {
    /// Whether this changes nothing.
    pub(super) fn is_empty(&self) -> bool {
        self.set == 0 && self.clr == 0 && self.propagation == 0
    }
}

/// `mount_setattr(dirfd, path, flags, attr)`.
pub(super) fn mount_setattr(
    dirfd: RawFd,
    path: &Path,
    flags: c_uint,
    attr: &Attr,
) -> Result<(), Errno> {
    let mut raw = libc::mount_attr {
        attr_set: attr.set,
        attr_clr: attr.clr,
        propagation: attr.propagation,
        userns_fd: attr.userns.map_or(0, |fd| fd as u64),
    };
    let res = path.with_nix_path(|c| {
        // SAFETY: `c` is a valid C string, `raw` is a properly sized and initialised mount_attr
        // that outlives the call; the kernel only reads it.
        unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                dirfd,
                c.as_ptr(),
                flags,
                &mut raw as *mut libc::mount_attr,
                std::mem::size_of::<libc::mount_attr>(),
            )
        }
    })?;
    Errno::result(res).map(drop)
}

/// `mount_setattr` on the mount a descriptor refers to (`AT_EMPTY_PATH`).
pub(super) fn setattr_fd(fd: BorrowedFd<'_>, recursive: bool, attr: &Attr) -> Result<(), Errno> {
    let mut flags = libc::AT_EMPTY_PATH as c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as c_uint;
    }
    mount_setattr(fd.as_raw_fd(), Path::new(""), flags, attr)
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE])`: a detached
/// copy of the mount (tree) at `path`.
pub(super) fn clone_tree(path: &Path, recursive: bool) -> Result<OwnedFd, Errno> {
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as c_uint;
    }
    let res = path.with_nix_path(|c| {
        // SAFETY: `c` is a valid C string for the duration of the call.
        unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) }
    })?;
    let fd = RawFd::try_from(Errno::result(res)?).map_err(|_| Errno::EBADF)?;
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `move_mount(from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)`: attaches
/// the detached mount `from` on top of whatever `to` refers to.
pub(super) fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    let empty = c"";
    // SAFETY: both descriptors are valid for the call and `empty` is a valid C string.
    let res = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            empty.as_ptr(),
            to.as_raw_fd(),
            empty.as_ptr(),
            flags,
        )
    };
    Errno::result(res).map(drop)
}

/// `move_mount(from, "", dir, name, MOVE_MOUNT_F_EMPTY_PATH)`: attaches the detached mount
/// `from` on `name` in the directory `dir` (a trailing symlink is not followed).
pub(super) fn move_mount_at(
    from: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &OsStr,
) -> Result<(), Errno> {
    let empty = c"";
    let res = name.with_nix_path(|c| {
        // SAFETY: both descriptors are valid for the call; `empty` and `c` are valid C
        // strings that outlive it.
        unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                from.as_raw_fd(),
                empty.as_ptr(),
                dir.as_raw_fd(),
                c.as_ptr(),
                libc::MOVE_MOUNT_F_EMPTY_PATH,
            )
        }
    })?;
    Errno::result(res).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn fd_path_formats() {
        let f = std::fs::File::open("/").unwrap();
        let p = FdPath::new(f.as_fd());
        assert_eq!(
            p.as_path(),
            Path::new(&format!("/proc/self/fd/{}", f.as_raw_fd()))
        );
        let mut buf = [0u8; 64];
        assert_eq!(fd_real_path(f.as_fd(), &mut buf).unwrap(), Path::new("/"));
    }
}
