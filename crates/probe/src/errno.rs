//! Errno values as JSON: the number plus its symbolic name, so tests can match `EPERM`.

use serde_json::{json, Value};
use std::io;

/// The symbolic name of an errno (`EPERM`), or `E<n>` for ones this table lacks.
pub fn name(errno: i32) -> String {
    let known = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::ENOTSUP => "ENOTSUP",
        _ => return format!("E{errno}"),
    };
    known.to_owned()
}

/// `{"ok": false, "errno": n, "error": "ENAME"}` for a failed operation.
pub fn failure(err: &io::Error) -> Value {
    let code = err.raw_os_error().unwrap_or(0);
    json!({ "ok": false, "errno": code, "error": name(code) })
}

/// The calling thread's current errno.
pub fn last() -> io::Error {
    io::Error::last_os_error()
}
