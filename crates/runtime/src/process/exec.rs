//! Finding and starting the container's program: `process.args`, `process.env` and
//! `process.cwd`.

use std::ffi::{CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{stat, SFlag};
use nix::unistd::{faccessat, AccessFlags};

use super::{syscall_err, Error};

/// `$PATH` when `process.env` has none (the one Docker and runc put in images' configs).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Resolves `process.args[0]` as execvp(3) would, inside the container (call it after
/// `pivot_root` and [`super::switch_user`], so paths and permissions are the
/// container's):
/// a name with a `/` is used as is (relative to `cwd`); otherwise each directory of
/// `$PATH` from `env` (or a default) is tried in order. The file must be a regular file
/// the current user may execute.
pub fn find_executable(arg0: &str, env: &[String], cwd: &Path) -> Result<CString, Error> {
    let not_found = || Error::ExecutableNotFound {
        name: arg0.to_owned(),
    };
    if arg0.contains('/') {
        let path = cwd.join(arg0);
        return check_executable(&path)
            .map(|()| path_cstring(&path))
            .map_err(|source| Error::Executable {
                name: arg0.to_owned(),
                path,
                source,
            });
    }
    if arg0.is_empty() || arg0.contains('\0') {
        return Err(not_found());
    }
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut candidate = cwd.to_path_buf();
    for dir in path_var.split(':') {
        candidate.clear();
        candidate.push(cwd);
        candidate.push(if dir.is_empty() { "." } else { dir });
        candidate.push(arg0);
        if check_executable(&candidate).is_ok() {
            return Ok(path_cstring(&candidate));
        }
    }
    Err(not_found())
}

/// Ok if `path` is a regular file the caller may execute (effective ids); else why not.
fn check_executable(path: &Path) -> Result<(), Errno> {
    let st = stat(path)?;
    match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFREG => {}
        SFlag::S_IFDIR => return Err(Errno::EISDIR),
        _ => return Err(Errno::EACCES),
    }
    faccessat(
        nix::fcntl::AT_FDCWD,
        path,
        AccessFlags::X_OK,
        AtFlags::AT_EACCESS,
    )
}

fn path_cstring(path: &Path) -> CString {
    // Paths built from `&str`s without NUL bytes (checked by stat) hold none.
    CString::new(path.as_os_str().as_bytes()).unwrap_or_default()
}

/// Changes into `process.cwd` and checks that the result is inside the container's
/// root: getcwd(2) must give an absolute path, not one starting "(unreachable)". This
/// catches a host directory reached through a leaked descriptor (e.g. a cwd of
/// `/proc/self/fd/7`, CVE-2024-21626). Call it after `pivot_root`.
pub fn chdir_in_root(cwd: &Path) -> Result<(), Error> {
    nix::unistd::chdir(cwd).map_err(|source| Error::Chdir {
        path: cwd.into(),
        source,
    })?;
    let outside = |got: &str| Error::CwdOutsideRoot {
        path: cwd.into(),
        cwd: got.to_owned(),
    };
    match nix::unistd::getcwd() {
        Ok(now) if now.as_os_str().as_bytes().starts_with(b"/") => Ok(()),
        Ok(now) => Err(outside(&now.to_string_lossy())),
        // glibc reports an unreachable cwd as ENOENT.
        Err(Errno::ENOENT) => Err(outside("(unreachable)")),
        Err(e) => Err(syscall_err("process.cwd", "getcwd")(e)),
    }
}

/// Replaces the process with `path`, arguments `args` and environment `env` (execve).
/// Returns only if that fails, with the reason.
pub fn exec(path: &CStr, args: &[String], env: &[String]) -> Error {
    let args = match to_cstrings("process.args", args) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let env = match to_cstrings("process.env", env) {
        Ok(e) => e,
        Err(e) => return e,
    };
    let source = match nix::unistd::execve(path, &args, &env) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let path = OsStr::from_bytes(path.to_bytes())
        .to_string_lossy()
        .into_owned();
    Error::Exec { path, source }
}

fn to_cstrings(field: &'static str, list: &[String]) -> Result<Vec<CString>, Error> {
    list.iter()
        .enumerate()
        .map(|(index, s)| CString::new(s.as_str()).map_err(|_| Error::NulByte { field, index }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::testutil::in_child;
    use std::os::unix::fs::PermissionsExt;

    /// A directory with `bin/tool` (0755), `bin/data` (0644) and `bin/sub/`.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(bin.join("sub")).unwrap();
        std::fs::write(bin.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(bin.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join("data"), "x").unwrap();
        std::fs::set_permissions(bin.join("data"), std::fs::Permissions::from_mode(0o644)).unwrap();
        dir
    }

    #[test]
    fn searches_path_from_env() {
        let t = tree();
        let bin = t.path().join("bin");
        let env = vec![format!("PATH=/nonexistent:{}", bin.display()), "A=b".into()];
        let got = find_executable("tool", &env, Path::new("/")).unwrap();
        assert_eq!(got.to_bytes(), bin.join("tool").as_os_str().as_bytes());
        let got = find_executable("sh", &[], Path::new("/")).unwrap();
        assert!(got.to_bytes().ends_with(b"/sh"), "{got:?}");
    }

    #[test]
    fn not_found_matches_runc() {
        let t = tree();
        let env = vec![format!("PATH={}", t.path().join("bin").display())];
        let err = find_executable("nope", &env, Path::new("/")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "exec: \"nope\": executable file not found in $PATH"
        );
        // Not executable, and a directory, are skipped in a $PATH search.
        for name in ["data", "sub", ""] {
            let err = find_executable(name, &env, Path::new("/")).unwrap_err();
            assert!(
                matches!(err, Error::ExecutableNotFound { .. }),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn names_with_a_slash_are_relative_to_cwd() {
        let t = tree();
        let got = find_executable("./bin/tool", &[], t.path()).unwrap();
        assert_eq!(
            got.to_bytes(),
            t.path().join("./bin/tool").as_os_str().as_bytes()
        );
        let err = find_executable("bin/data", &[], t.path()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Executable {
                    source: Errno::EACCES,
                    ..
                }
            ),
            "{err}"
        );
        let err = find_executable("bin/sub", &[], t.path()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Executable {
                    source: Errno::EISDIR,
                    ..
                }
            ),
            "{err}"
        );
        let err = find_executable("./missing", &[], t.path())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("exec: \"./missing\": "), "{err}");
        assert!(err.contains("ENOENT"), "{err}");
    }

    #[test]
    fn chdir_into_missing_dir_fails() {
        let got = in_child(|| {
            chdir_in_root(Path::new("/nonexistent-berth"))
                .map(|()| "ok".into())
                .map_err(|e| e.to_string())
        });
        assert_eq!(
            got.unwrap_err(),
            "process.cwd: chdir /nonexistent-berth: ENOENT: No such file or directory"
        );
    }

    /// CVE-2024-21626: a cwd of /proc/self/fd/N, where N is a leaked host directory,
    /// must be refused. The child makes a private root (tmpfs with /proc), keeps a
    /// descriptor of a host directory open, chroots and tries to chdir through it.
    #[test]
    fn leaked_host_dir_as_cwd_is_refused() {
        // Made here, so it is removed here: the child leaves with _exit.
        let root_dir = tempfile::tempdir().unwrap();
        let got = in_child(|| {
            use nix::mount::{mount, MsFlags};
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|e| e.to_string())?;
            let none: Option<&str> = None;
            mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
                .map_err(|e| format!("make / private: {e}"))?;
            let root = root_dir.path();
            mount(Some("tmpfs"), root, Some("tmpfs"), MsFlags::empty(), none)
                .map_err(|e| format!("mount tmpfs: {e}"))?;
            std::fs::create_dir(root.join("proc")).map_err(|e| e.to_string())?;
            mount(
                Some("proc"),
                &root.join("proc"),
                Some("proc"),
                MsFlags::empty(),
                none,
            )
            .map_err(|e| format!("mount proc: {e}"))?;
            let host = nix::fcntl::open(
                "/tmp",
                nix::fcntl::OFlag::O_DIRECTORY,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| e.to_string())?;
            let fd = std::os::fd::AsRawFd::as_raw_fd(&host);
            nix::unistd::chroot(root).map_err(|e| format!("chroot: {e}"))?;
            chdir_in_root(Path::new("/")).map_err(|e| format!("plain /: {e}"))?;
            let leaked = format!("/proc/self/fd/{fd}");
            chdir_in_root(Path::new(&leaked))
                .map(|()| "accepted".into())
                .map_err(|e| e.to_string())
        });
        let err = got.unwrap_err();
        assert!(err.starts_with("process.cwd: /proc/self/fd/"), "{err}");
        assert!(err.contains("resolves outside the container root"), "{err}");
    }

    #[test]
    fn exec_runs_the_program_or_reports_why_not() {
        let got = in_child(|| {
            let args = vec!["true".to_owned()];
            Err(exec(c"/nonexistent-berth", &args, &[]).to_string())
        });
        assert_eq!(
            got.unwrap_err(),
            "exec /nonexistent-berth: ENOENT: No such file or directory"
        );
        let err = exec(c"/bin/true", &["a\0b".to_owned()], &[]).to_string();
        assert_eq!(err, "process.args[0]: contains a NUL byte");
        let got = in_child(|| {
            let path = find_executable("sh", &[], Path::new("/")).map_err(|e| e.to_string())?;
            let args = ["sh".to_owned(), "-c".to_owned(), "exit 0".to_owned()];
            Err(exec(&path, &args, &["PATH=/bin".to_owned()]).to_string())
        });
        // A successful exec never reports back: the child's pipe end is closed by exec
        // (it is O_CLOEXEC) and sh exits 0.
        assert_eq!(got.unwrap_err(), "child sent nothing");
    }
}
