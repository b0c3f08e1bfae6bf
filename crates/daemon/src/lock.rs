//! One berthd per data root: an exclusive `flock` on `<data-root>/berthd.lock` (held for
//! the daemon's life, released by the kernel even on `kill -9`), and the pidfile, which
//! names the running daemon and is refused while the process it names lives.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Why the daemon may not run.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another berthd holds the data root.
    #[error("another berthd (pid {pid}) is running on data root {root}; stop it first or choose another --data-root")]
    Busy {
        /// The data root.
        root: PathBuf,
        /// The other daemon's pid, as its lock file says.
        pid: String,
    },
    /// The pidfile names a live process.
    #[error("pid file found, ensure berthd is not running or delete {path} (process {pid} is still running)")]
    PidfileInUse {
        /// The pidfile.
        path: PathBuf,
        /// The pid in it.
        pid: i32,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> LockError + 'a {
    move |source| LockError::Io {
        op,
        path: path.into(),
        source,
    }
}

/// The held lock and the written pidfile; the pidfile is removed on drop.
pub struct DaemonLock {
    _lock: Flock<File>,
    pidfile: PathBuf,
}

impl DaemonLock {
    /// Takes the data root's lock and writes the pidfile.
    pub fn acquire(data_root: &Path, pidfile: &Path) -> Result<DaemonLock, LockError> {
        std::fs::create_dir_all(data_root).map_err(io("create directory", data_root))?;
        let path = data_root.join("berthd.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io("open", &path))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, _)) => {
                let mut pid = String::new();
                file.read_to_string(&mut pid).ok();
                return Err(LockError::Busy {
                    root: data_root.into(),
                    pid: pid.trim().to_string(),
                });
            }
        };
        write_pid(&mut lock, &path)?;
        check_pidfile(pidfile)?;
        if let Some(dir) = pidfile.parent() {
            std::fs::create_dir_all(dir).map_err(io("create directory", dir))?;
        }
        std::fs::write(pidfile, std::process::id().to_string()).map_err(io("write", pidfile))?;
        Ok(DaemonLock {
            _lock: lock,
            pidfile: pidfile.into(),
        })
    }
}

fn write_pid(file: &mut File, path: &Path) -> Result<(), LockError> {
    file.set_len(0).map_err(io("truncate", path))?;
    file.rewind().map_err(io("seek", path))?;
    file.write_all(std::process::id().to_string().as_bytes())
        .map_err(io("write", path))
}

/// Refuses a pidfile naming a live process other than this one.
fn check_pidfile(path: &Path) -> Result<(), LockError> {
    let Ok(raw) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let Ok(pid) = raw.trim().parse::<i32>() else {
        return Ok(());
    };
    let me = std::process::id() as i32;
    if pid > 0 && pid != me && Path::new(&format!("/proc/{pid}")).exists() {
        return Err(LockError::PidfileInUse {
            path: path.into(),
            pid,
        });
    }
    Ok(())
}

impl Drop for DaemonLock {
    fn drop(&mut self) {
        let ours = std::fs::read_to_string(&self.pidfile)
            .is_ok_and(|s| s.trim() == std::process::id().to_string());
        if ours {
            std::fs::remove_file(&self.pidfile).ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_a_root_is_refused_and_pidfile_goes_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let pid = dir.path().join("run/berthd.pid");
        let held = DaemonLock::acquire(&root, &pid).unwrap();
        assert_eq!(
            std::fs::read_to_string(&pid).unwrap(),
            std::process::id().to_string()
        );
        let e = DaemonLock::acquire(&root, &dir.path().join("other.pid"))
            .err()
            .unwrap();
        assert!(matches!(e, LockError::Busy { .. }), "{e}");
        assert!(e.to_string().contains(&std::process::id().to_string()));
        drop(held);
        assert!(!pid.exists());
        DaemonLock::acquire(&root, &pid).unwrap();
    }

    #[test]
    fn a_pidfile_of_a_live_process_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("berthd.pid");
        std::fs::write(&pid, "1").unwrap();
        let e = DaemonLock::acquire(&dir.path().join("root"), &pid)
            .err()
            .unwrap();
        assert!(matches!(e, LockError::PidfileInUse { pid: 1, .. }), "{e}");
    }
}
