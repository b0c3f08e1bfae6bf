//! Inherited file descriptors: none may reach the container process.

use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};

use super::Error;

/// Where the kernel lists this process's open descriptors.
const PROC_SELF_FD: &str = "/proc/self/fd";

/// Marks every descriptor `>= from` close-on-exec, so no host file leaks into the
/// container through `execve`. Uses close_range(2) with `CLOSE_RANGE_CLOEXEC` (Linux
/// 5.11) and falls back to walking `/proc/self/fd` where that is missing.
pub fn close_range_cloexec(from: RawFd) -> Result<(), Error> {
    let first = u32::try_from(from).map_err(|_| Error::Cloexec {
        from,
        op: "close_range",
        source: Errno::EBADF.into(),
    })?;
    // SAFETY: close_range only changes flags of this process's descriptors; it touches
    // no memory of ours.
    let rc = unsafe { libc::close_range(first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    match Errno::result(rc) {
        Ok(_) => Ok(()),
        Err(Errno::ENOSYS | Errno::EINVAL) => cloexec_by_walking(from),
        Err(e) => Err(Error::Cloexec {
            from,
            op: "close_range",
            source: e.into(),
        }),
    }
}

/// The fallback: reads `/proc/self/fd` and sets `FD_CLOEXEC` on each entry `>= from`.
fn cloexec_by_walking(from: RawFd) -> Result<(), Error> {
    let err = |op, source| Error::Cloexec { from, op, source };
    // read_dir opens its own descriptor close-on-exec.
    let entries = std::fs::read_dir(PROC_SELF_FD).map_err(|e| err("read /proc/self/fd", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| err("read /proc/self/fd", e))?;
        let fd: RawFd = match entry.file_name().to_str().and_then(|n| n.parse().ok()) {
            Some(fd) if fd >= from => fd,
            _ => continue,
        };
        match set_cloexec(fd) {
            // The directory's own descriptor is gone by the time we reach it.
            Ok(()) | Err(Errno::EBADF) => {}
            Err(e) => return Err(err("fcntl(F_SETFD)", e.into())),
        }
    }
    Ok(())
}

fn set_cloexec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: only the descriptor flags of `fd` change; a closed `fd` gives EBADF.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::testutil::in_child;
    use std::os::fd::IntoRawFd;

    /// Opens /dev/null without O_CLOEXEC and returns its descriptor (left open).
    fn inheritable_fd() -> RawFd {
        let f = std::fs::File::open("/dev/null").unwrap();
        fcntl(&f, FcntlArg::F_SETFD(FdFlag::empty())).unwrap();
        f.into_raw_fd()
    }

    fn is_cloexec(fd: RawFd) -> Result<bool, String> {
        // SAFETY: fd is open in the child for the duration of the call.
        let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let flags = fcntl(b, FcntlArg::F_GETFD).map_err(|e| e.to_string())?;
        Ok(FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC))
    }

    fn check(mark: fn(RawFd) -> Result<(), Error>) -> Result<String, String> {
        in_child(move || {
            let a = inheritable_fd();
            let b = inheritable_fd();
            let before = (is_cloexec(a)?, is_cloexec(b)?);
            mark(b).map_err(|e| e.to_string())?;
            let after = (is_cloexec(a)?, is_cloexec(b)?);
            Ok(format!("{before:?} {after:?}"))
        })
    }

    #[test]
    fn close_range_marks_fds_from_the_given_one() {
        assert_eq!(
            check(close_range_cloexec).as_deref(),
            Ok("(false, false) (false, true)")
        );
    }

    #[test]
    fn proc_walk_fallback_marks_fds_from_the_given_one() {
        assert_eq!(
            check(cloexec_by_walking).as_deref(),
            Ok("(false, false) (false, true)")
        );
    }

    #[test]
    fn negative_start_is_refused() {
        assert!(close_range_cloexec(-1).is_err());
    }
}
