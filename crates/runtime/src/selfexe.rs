//! Protection of the runtime binary against CVE-2019-5736.
//!
//! The container init is a fork of the runtime, so until it execs the container's
//! program, `/proc/<init>/exe` is the runtime binary of the host. A container process
//! can grab it (`#!/proc/self/exe` as an entrypoint, or an O_PATH descriptor of
//! `/proc/<pid>/exe`), wait for the runtime to exit and reopen it for writing, replacing
//! the host's runtime with its own code. [`ensure_protected_exe`], called first thing in
//! `main`, makes sure the running binary cannot be written through `/proc/self/exe`:
//! if it is not already (a sealed memfd, or a file on a read-only mount), the process
//! re-executes itself from a protected view of the same binary:
//!
//! - [`Method::Overlay`] (preferred, zero-copy): a private, read-only overlayfs mount
//!   that is never attached to any mount namespace, with the binary's directory as
//!   its lower layer. Nothing can make it writable, and it costs no memory.
//! - [`Method::Memfd`] (fallback, e.g. without overlayfs, the new mount API, Linux
//!   6.13's `lowerdir+` by descriptor, or `CAP_SYS_ADMIN`): a sealed copy of the binary
//!   in a memfd (`F_SEAL_WRITE` and friends).
//!
//! Cost, measured on the 2-core dev VM (Linux 6.18) with a 3.5 MB release binary,
//! medians of 300 spawn-to-exit runs: 0.85-1.0 ms unprotected, 1.9 ms for any re-exec
//! of itself, 2.0-2.2 ms with the overlay view (built in 60-90 us), 3.7-4.7 ms with the
//! memfd copy (copy 1.5-1.8 ms, and 3.5 MB of unshared memory per process). The check
//! that finds a binary already protected costs ~5 us, so installing the runtime on a
//! read-only mount skips the re-exec altogether.

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::fcntl::AtFlags;
use rustix::fs::{
    fcntl_add_seals, fcntl_get_seals, fstat, fstatvfs, memfd_create, openat, sendfile, MemfdFlags,
    Mode, OFlags, SealFlags, StatVfsMountFlags,
};
use rustix::io::Errno;
use rustix::mount::{
    fsconfig_create, fsconfig_set_fd, fsconfig_set_string, fsmount, fsopen, FsMountFlags,
    FsOpenFlags, MountAttrFlags,
};

/// The running binary, as the kernel sees it.
const SELF_EXE: &CStr = c"/proc/self/exe";

/// The seals that make a memfd immutable.
const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// A way to get a protected view of the running binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A private read-only overlayfs mount of the binary's directory (zero-copy).
    Overlay,
    /// A sealed memfd copy of the binary.
    Memfd,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Overlay => "overlayfs",
            Method::Memfd => "memfd",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors while protecting the runtime binary.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `/proc/self/exe` could not be opened or inspected.
    #[error("{op} /proc/self/exe: {source}")]
    SelfExe {
        /// What was being done.
        op: &'static str,
        /// The kernel's answer.
        source: Errno,
    },
    /// A step of building the protected view failed.
    #[error("protect the runtime binary ({method}): {op}: {source}")]
    Protect {
        /// The method tried.
        method: Method,
        /// The step that failed.
        op: &'static str,
        /// The kernel's answer.
        source: Errno,
    },
    /// The protected view is not the running binary (it changed on disk since).
    #[error("protect the runtime binary ({method}): {path} differs from the running binary")]
    Changed {
        /// The method tried.
        method: Method,
        /// The binary's path on disk.
        path: String,
    },
    /// The protected view does not check as protected (would loop re-executing).
    #[error("protect the runtime binary ({method}): the protected view is still writable")]
    NotProtected {
        /// The method tried.
        method: Method,
    },
    /// An argument or environment entry holds a NUL byte (cannot be passed to execve).
    #[error("re-exec the runtime binary: an argument or environment entry contains a NUL byte")]
    NulByte,
    /// [`ensure_protected_exe_with`] was given no method.
    #[error("the runtime binary is not protected and no method to protect it was given")]
    NoMethod,
    /// Executing the protected view failed.
    #[error("re-exec the runtime binary ({method}): {source}")]
    Reexec {
        /// The method used.
        method: Method,
        /// The kernel's answer.
        source: nix::errno::Errno,
    },
}

/// Makes sure the running binary cannot be overwritten through `/proc/self/exe`:
/// returns `Ok` at once if it is already protected, otherwise re-executes the process
/// (same arguments and environment) from a protected view of the binary, trying
/// [`Method::Overlay`] and then [`Method::Memfd`]. Call it at the top of `main`, before
/// any thread is started; it returns only when protected or on error (the last
/// method's).
pub fn ensure_protected_exe() -> Result<(), Error> {
    ensure_protected_exe_with(&[Method::Overlay, Method::Memfd])
}

/// [`ensure_protected_exe`] with the methods to try, in order.
pub fn ensure_protected_exe_with(methods: &[Method]) -> Result<(), Error> {
    let exe = rustix::fs::open(SELF_EXE, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|source| Error::SelfExe { op: "open", source })?;
    if is_protected(&exe) {
        return Ok(());
    }
    let mut last = Error::NoMethod;
    for &method in methods {
        match protected_view(method, exe.as_fd()) {
            Ok(view) => return Err(reexec(method, &view)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// True if `file` cannot be written through any path: it lives on a read-only mount,
/// or it is a memfd with the write, grow, shrink and seal seals.
pub fn is_protected<Fd: AsFd>(file: Fd) -> bool {
    let fd = file.as_fd();
    fstatvfs(fd).is_ok_and(|s| s.f_flag.contains(StatVfsMountFlags::RDONLY))
        || fcntl_get_seals(fd).is_ok_and(|s| s.contains(SEALS))
}

/// Builds a protected view of the binary open as `exe` with `method`, and checks it.
pub fn protected_view(method: Method, exe: BorrowedFd<'_>) -> Result<OwnedFd, Error> {
    let view = match method {
        Method::Overlay => overlay_view(exe)?,
        Method::Memfd => memfd_copy(exe)?,
    };
    if !is_protected(&view) {
        return Err(Error::NotProtected { method });
    }
    Ok(view)
}

/// Opens the binary through a private read-only overlayfs whose lower layers are the
/// binary's directory and an empty private tmpfs (overlayfs needs two lower layers to
/// run without an upper one).
fn overlay_view(exe: BorrowedFd<'_>) -> Result<OwnedFd, Error> {
    let target = rustix::fs::readlink(SELF_EXE, Vec::new()).map_err(|source| Error::SelfExe {
        op: "readlink",
        source,
    })?;
    let target = Path::new(OsStr::from_bytes(target.as_bytes()));
    overlay_view_of(exe, target)
}

/// A protected view (see [`Method::Overlay`]) of the binary at `path`, for a process
/// that starts it many times (berthd and the shim): started from the view (by its path
/// `/proc/self/fd/<fd>`), the binary finds itself protected and needs no re-execution.
/// The view lasts as long as the descriptor.
pub fn protected_binary(path: &Path) -> Result<OwnedFd, Error> {
    // The view holds the binary's directory: links are followed to the real file first.
    let path = std::fs::canonicalize(path).map_err(|e| Error::SelfExe {
        op: "resolve",
        source: Errno::from_io_error(&e).unwrap_or(Errno::NOENT),
    })?;
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    let exe = rustix::fs::open(&path, flags, Mode::empty())
        .map_err(|source| Error::SelfExe { op: "open", source })?;
    let view = overlay_view_of(exe.as_fd(), &path)?;
    if !is_protected(&view) {
        return Err(Error::NotProtected {
            method: Method::Overlay,
        });
    }
    Ok(view)
}

/// The overlay view of `exe`, found at `target`.
fn overlay_view_of(exe: BorrowedFd<'_>, target: &Path) -> Result<OwnedFd, Error> {
    let err = |op| {
        move |source| Error::Protect {
            method: Method::Overlay,
            op,
            source,
        }
    };
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return Err(err("split the binary's path")(Errno::NOENT));
    };
    let empty = private_mount("tmpfs", &[]).map_err(err("create an empty tmpfs"))?;
    let ctx = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).map_err(err("fsopen overlay"))?;
    fsconfig_set_string(&ctx, "lowerdir+", dir).map_err(err("fsconfig lowerdir+"))?;
    fsconfig_set_fd(&ctx, "lowerdir+", &empty).map_err(err("fsconfig lowerdir+ (tmpfs)"))?;
    let mnt = finish_mount(&ctx).map_err(err("create the overlay"))?;
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let view = openat(&mnt, name, flags, Mode::empty()).map_err(err("open the binary"))?;
    if !same_file_meta(exe, view.as_fd()) {
        let path = target.to_string_lossy().into_owned();
        return Err(Error::Changed {
            method: Method::Overlay,
            path,
        });
    }
    Ok(view)
}

/// Creates a detached mount of `fs` with string options `opts`; returns its fd.
fn private_mount(fs: &str, opts: &[(&str, &str)]) -> Result<OwnedFd, Errno> {
    let ctx = fsopen(fs, FsOpenFlags::FSOPEN_CLOEXEC)?;
    for (key, value) in opts {
        fsconfig_set_string(&ctx, *key, *value)?;
    }
    finish_mount(&ctx)
}

/// Creates the superblock of a configured context and a read-only detached mount of it.
fn finish_mount(ctx: &OwnedFd) -> Result<OwnedFd, Errno> {
    fsconfig_create(ctx)?;
    let attrs = MountAttrFlags::MOUNT_ATTR_RDONLY
        | MountAttrFlags::MOUNT_ATTR_NODEV
        | MountAttrFlags::MOUNT_ATTR_NOSUID;
    fsmount(ctx, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
}

/// True if `a` and `b` look like the same file content (size and modification time;
/// overlayfs gives its files their own device and inode numbers).
fn same_file_meta(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    match (fstat(a), fstat(b)) {
        (Ok(a), Ok(b)) => {
            (a.st_size, a.st_mtime, a.st_mtime_nsec) == (b.st_size, b.st_mtime, b.st_mtime_nsec)
        }
        _ => false,
    }
}

/// Copies the binary into a memfd and seals it.
fn memfd_copy(exe: BorrowedFd<'_>) -> Result<OwnedFd, Error> {
    let err = |op| {
        move |source| Error::Protect {
            method: Method::Memfd,
            op,
            source,
        }
    };
    let size = fstat(exe).map_err(err("stat the binary"))?.st_size;
    let base = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) keeps the memfd executable where vm.memfd_noexec says
    // otherwise; older kernels refuse the flag and make memfds executable anyway.
    let memfd = match memfd_create("berth-runtime", base | MemfdFlags::EXEC) {
        Err(Errno::INVAL) => memfd_create("berth-runtime", base),
        other => other,
    }
    .map_err(err("memfd_create"))?;
    let mut left = usize::try_from(size).map_err(|_| err("stat the binary")(Errno::FBIG))?;
    // An explicit offset: `exe`'s own file position is neither used nor moved.
    let mut offset = 0u64;
    while left > 0 {
        match sendfile(&memfd, exe, Some(&mut offset), left).map_err(err("copy the binary"))? {
            0 => return Err(err("copy the binary (file shrank)")(Errno::IO)),
            n => left -= n,
        }
    }
    fcntl_add_seals(&memfd, SEALS).map_err(err("seal the copy"))?;
    Ok(memfd)
}

/// Executes `view` with this process's arguments and environment; returns only on
/// failure.
fn reexec(method: Method, view: &OwnedFd) -> Error {
    let args: Result<Vec<CString>, _> = std::env::args_os()
        .map(|a| CString::new(a.into_vec()))
        .collect();
    let env: Result<Vec<CString>, _> = std::env::vars_os()
        .map(|(k, v)| {
            let mut entry = k.into_vec();
            entry.push(b'=');
            entry.extend_from_slice(v.as_bytes());
            CString::new(entry)
        })
        .collect();
    let (Ok(args), Ok(env)) = (args, env) else {
        return Error::NulByte;
    };
    match nix::unistd::execveat(view, c"", &args, &env, AtFlags::AT_EMPTY_PATH) {
        Err(source) => Error::Reexec { method, source },
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::FileExt;
    use std::process::{Command, Stdio};

    /// Set in the environment of a spawned copy of this test binary: which methods
    /// [`child_probe`] protects itself with ("overlay", "memfd" or "default").
    const CHILD_ENV: &str = "BERTH_SELFEXE_TEST";

    /// Not a test of its own: the body of the spawned child. In a normal run (no
    /// `CHILD_ENV`) it does nothing. In the child it protects itself (re-executing this
    /// very test), reports where /proc/self/exe points and whether it could be opened
    /// for writing, then waits for stdin to close so the parent can grab its exe.
    #[test]
    fn child_probe() {
        let Ok(mode) = std::env::var(CHILD_ENV) else {
            return;
        };
        let result = match mode.as_str() {
            "overlay" => ensure_protected_exe_with(&[Method::Overlay]),
            "memfd" => ensure_protected_exe_with(&[Method::Memfd]),
            _ => ensure_protected_exe(),
        };
        let mut out = std::io::stdout().lock();
        if let Err(e) = result {
            let _ = writeln!(out, "ERROR {e}");
            std::process::exit(1);
        }
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let direct = open_err(SELF_EXE);
        let opath = rustix::fs::open(SELF_EXE, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
            .expect("O_PATH /proc/self/exe");
        let via_fd = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&opath));
        let reopen = open_err(&CString::new(via_fd).unwrap());
        let _ = writeln!(
            out,
            "READY exe={} direct={direct} reopen={reopen}",
            exe.display()
        );
        let _ = out.flush();
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        std::process::exit(0);
    }

    /// Opens `path` for writing; returns the error name, or "opened".
    fn open_err(path: &CStr) -> String {
        match rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()) {
            Ok(_) => "opened".into(),
            Err(e) => errno_name(e.raw_os_error()),
        }
    }

    /// The errno's symbolic name ("EROFS").
    fn errno_name(raw: i32) -> String {
        format!("{:?}", nix::errno::Errno::from_raw(raw))
    }

    /// What happened to the late write attempt on an exited process's binary.
    #[derive(Debug, PartialEq)]
    enum Late {
        /// Refused at open (errno name).
        Open(String),
        /// Opened, but the write was refused.
        Write(String),
        /// Written: the binary could have been replaced.
        Written,
    }

    /// The CVE's second stage: holds an O_PATH descriptor of `/proc/<pid>/exe` while
    /// the child runs, lets it exit (closing its stdin), then reopens the descriptor
    /// for writing and rewrites the first byte with its own value (so even a success
    /// changes nothing).
    fn late_write(child: &mut std::process::Child) -> Late {
        let exe = format!("/proc/{}/exe", child.id());
        let opath = rustix::fs::open(exe.as_str(), OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
            .expect("O_PATH /proc/<child>/exe");
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        let via_fd = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&opath));
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&via_fd)
        {
            Ok(f) => f,
            Err(e) => return Late::Open(errno_name(e.raw_os_error().unwrap_or(0))),
        };
        let mut first = [0u8; 1];
        file.read_exact_at(&mut first, 0).unwrap();
        match file.write_at(&first, 0) {
            Ok(_) => Late::Written,
            Err(e) => Late::Write(errno_name(e.raw_os_error().unwrap_or(0))),
        }
    }

    /// Spawns this test binary running only [`child_probe`] in `mode`; returns it
    /// with the READY line.
    fn spawn_probe(mode: &str) -> (std::process::Child, String) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "selfexe::tests::child_probe",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        // libtest prints "test ... " before the probe's own line, on the same line.
        while reader.read_line(&mut line).unwrap() > 0 {
            if let Some(at) = line.find("READY ").or_else(|| line.find("ERROR ")) {
                return (child, line[at..].trim().to_owned());
            }
            line.clear();
        }
        (child, "EOF before READY".to_owned())
    }

    fn check_protected(mode: &str, exe_hint: &str) -> String {
        let (mut child, ready) = spawn_probe(mode);
        assert!(ready.starts_with("READY exe="), "{mode}: {ready}");
        assert!(ready.contains(exe_hint), "{mode}: {ready}");
        // While running, the binary is busy or read-only either way.
        assert!(!ready.contains("=opened"), "{mode}: {ready}");
        let late = late_write(&mut child);
        assert!(
            !matches!(late, Late::Written),
            "{mode}: binary writable after exit"
        );
        format!("{ready} late={late:?}")
    }

    #[test]
    fn overlay_view_cannot_be_written() {
        let report = check_protected("overlay", "exe=/");
        assert!(
            report.ends_with("direct=EROFS reopen=EROFS late=Open(\"EROFS\")"),
            "{report}"
        );
    }

    #[test]
    fn memfd_copy_cannot_be_written() {
        let report = check_protected("memfd", "exe=/memfd:berth-runtime");
        // Busy while it runs; once it exited it opens, but the seals refuse the write.
        let expect = "direct=ETXTBSY reopen=ETXTBSY late=Write(\"EPERM\")";
        assert!(report.ends_with(expect), "{report}");
    }

    #[test]
    fn default_prefers_overlay() {
        let report = check_protected("default", "exe=/");
        assert!(!report.contains("memfd"), "{report}");
    }

    /// The control: without protection the late write succeeds, so the checks above
    /// do detect the vulnerability. Uses a copy of sleep(1) in a temporary directory.
    #[test]
    fn unprotected_binary_is_writable_after_exit() {
        let dir = tempfile::tempdir().unwrap();
        let sleep = dir.path().join("sleep");
        std::fs::copy("/bin/sleep", &sleep).unwrap();
        let mut child = Command::new(&sleep)
            .arg("0.3")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        assert_eq!(late_write(&mut child), Late::Written);
    }

    #[test]
    fn plain_files_are_not_protected_sealed_memfds_are() {
        let exe = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        assert!(
            !is_protected(&exe),
            "the test binary should live on a writable mount"
        );
        let memfd = memfd_copy(exe.as_fd()).unwrap();
        assert!(is_protected(&memfd));
        let size = fstat(&memfd).unwrap().st_size;
        assert_eq!(size, fstat(&exe).unwrap().st_size);
    }

    #[test]
    fn a_protected_binary_runs_from_its_descriptor_and_is_protected_there() {
        let view = protected_binary(Path::new("/bin/sh")).expect("protected view of /bin/sh");
        assert!(is_protected(&view));
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&view));
        let out = Command::new(&path)
            .args(["-c", "readlink /proc/$$/exe; stat -f -c %T /proc/$$/exe"])
            .output()
            .expect("run the view");
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("/sh\n") || text.starts_with("/dash\n"),
            "{text}"
        );
    }
}
