//! The trash: where a removed container's directories go (`<data-root>/trash`) so that a
//! removal is over after one `rename(2)` each, and their files are deleted later.
//!
//! A [`Trash`] deletes what it is given at once ([`Trash::open`]: the CLI's in-process
//! engine, which has nothing to delete later with) or on a background thread
//! ([`Trash::background`]: berthd, which answers the removal first). Only what a removal
//! hands over goes there, each under a fresh name, so nothing a user keeps is ever in it;
//! whatever a crash left there is deleted when a background trash is opened
//! ([`Trash::sweep`]). Whether everything given to it is gone can be asked
//! ([`Trash::wait_empty`]) and seen on disk: the directory is empty.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{EngineError, Result};

/// The trash directory's name under the data root.
pub const TRASH_DIR: &str = "trash";

/// Where removed directories go to be deleted; clones share the same deleter.
#[derive(Debug, Clone)]
pub struct Trash {
    dir: PathBuf,
    reaper: Option<Reaper>,
}

/// The background deleter: a thread fed through a channel, and how many paths it has
/// still to delete.
#[derive(Debug, Clone)]
struct Reaper {
    queue: Sender<PathBuf>,
    pending: Arc<(Mutex<usize>, Condvar)>,
}

impl Trash {
    /// The trash under `data_root` (made if missing), deleting synchronously.
    pub fn open(data_root: &Path) -> Result<Trash> {
        let dir = data_root.join(TRASH_DIR);
        fs::create_dir_all(&dir).map_err(EngineError::io("create directory", &dir))?;
        Ok(Trash { dir, reaper: None })
    }

    /// The trash under `data_root` (made if missing), deleting on a thread of its own,
    /// which tells `failed` of what it could not delete (the next sweep tries again);
    /// what an earlier process left in it is queued for deletion first.
    pub fn background(
        data_root: &Path,
        failed: impl Fn(EngineError) + Send + 'static,
    ) -> Result<Trash> {
        let mut trash = Trash::open(data_root)?;
        let (queue, inbox) = mpsc::channel::<PathBuf>();
        let pending = Arc::new((Mutex::new(0usize), Condvar::new()));
        let counter = Arc::clone(&pending);
        std::thread::Builder::new()
            .name("berth-trash".into())
            .spawn(move || {
                idle_priority();
                for path in inbox {
                    remove_all(&path).unwrap_or_else(&failed);
                    let (count, done) = &*counter;
                    *lock(count) -= 1;
                    done.notify_all();
                }
            })
            .map_err(EngineError::io("spawn the trash thread for", &trash.dir))?;
        trash.reaper = Some(Reaper { queue, pending });
        trash.sweep()?;
        Ok(trash)
    }

    /// The trash directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A fresh path in the trash for a directory of `what` (e.g. a container's id).
    pub fn grave(&self, what: &str) -> PathBuf {
        self.dir.join(format!("{what}-{:016x}", fastrand::u64(..)))
    }

    /// Throws the directory `path` away: renames it into the trash and deletes it there
    /// (now or later). A directory that cannot be renamed there (another file system) is
    /// deleted where it is, now; a missing one is fine.
    pub fn throw(&self, path: &Path, what: &str) -> Result<()> {
        let grave = self.grave(what);
        match fs::rename(path, &grave) {
            Ok(()) => self.dispose(grave),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(_) => remove_all(path),
        }
    }

    /// Deletes `grave`, a path already in the trash: now (its error is returned), or
    /// queued for the background thread.
    pub fn dispose(&self, grave: PathBuf) -> Result<()> {
        let Some(r) = &self.reaper else {
            return remove_all(&grave);
        };
        *lock(&r.pending.0) += 1;
        if let Err(unsent) = r.queue.send(grave) {
            // The thread is gone (it never panics on its own): delete here.
            *lock(&r.pending.0) -= 1;
            return remove_all(&unsent.0);
        }
        Ok(())
    }

    /// Queues every entry in the trash for deletion (what a crash left there).
    pub fn sweep(&self) -> Result<()> {
        // A removal unmounts before it throws anything here; only a crash can leave a
        // mount inside, so the mount table is read here, once, not at every deletion.
        unmount_under(&self.dir)?;
        let entries =
            fs::read_dir(&self.dir).map_err(EngineError::io("read directory", &self.dir))?;
        for entry in entries {
            let entry = entry.map_err(EngineError::io("read directory", &self.dir))?;
            self.dispose(entry.path())?;
        }
        Ok(())
    }

    /// Waits up to `timeout` until everything given to this trash (and its clones) is
    /// deleted; true if it is. A synchronous trash is always empty.
    pub fn wait_empty(&self, timeout: Duration) -> bool {
        let Some(r) = &self.reaper else {
            return true;
        };
        let deadline = Instant::now() + timeout;
        let (count, done) = &*r.pending;
        let mut n = lock(count);
        while *n > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            n = done
                .wait_timeout(n, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

/// Locks the pending count (a plain number: a poisoned lock still holds it).
fn lock(m: &Mutex<usize>) -> MutexGuard<'_, usize> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes the tree (or file) at `path`; a missing one is fine.
fn remove_all(path: &Path) -> Result<()> {
    let removed = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match removed {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(EngineError::io("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Gives the calling thread the lowest priority (nice 19): deleting what removals left
/// yields to the next container's start.
pub(crate) fn idle_priority() {
    let tid = nix::unistd::gettid().as_raw() as libc::id_t;
    // SAFETY: setpriority takes plain integers; a thread id with PRIO_PROCESS names just
    // that thread on Linux.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, 19) };
}

/// Unmounts (detached) whatever is mounted at or below `dir`, deepest first: what a
/// crash left in the trash may still have a container's root mounted in it.
fn unmount_under(dir: &Path) -> Result<()> {
    let mut points: Vec<PathBuf> = berth_runtime::rootfs::mount_points()
        .map_err(|e| {
            EngineError::io("read", Path::new("/proc/self/mountinfo"))(std::io::Error::other(e))
        })?
        .into_iter()
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        match nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(e) => return Err(EngineError::io("unmount", &p)(e.into())),
        }
    }
    Ok(())
}
