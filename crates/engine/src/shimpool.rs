//! A pool of prepared shims (see `berth_shim::launch::Prepared`): a long-lived caller
//! (berthd) keeps a few shims exec'd, forked and detached ahead of time, so that a
//! container's start only sends one its command. A start takes a ready shim without
//! waiting (or spawns one the usual way when none is ready); a background thread
//! refills the pool once starts pause for [`REFILL_QUIET`] (at once when it is empty):
//! spawning a shim (a fork of the daemon and an exec) would otherwise compete for the
//! CPU with the very start that took one. Dropping the pool closes the idle shims'
//! pipes, and they exit.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use berth_shim::args::ShimCommand;
use berth_shim::launch::{LaunchError, Prepared, Report};

use crate::Engine;

type Ready = Arc<Mutex<Vec<Prepared>>>;

/// How long after the last start the pool waits before it tops itself up, while it still
/// has a shim ready: longer than a short container's whole run here (~15 ms).
pub(crate) const REFILL_QUIET: Duration = Duration::from_millis(40);

/// Up to `size` prepared shims of one shim binary, refilled by a thread of its own.
pub(crate) struct ShimPool {
    /// What the shims were started from (a path, or the protected view's descriptor).
    exe: PathBuf,
    /// How many it keeps.
    size: usize,
    /// The ready ones.
    ready: Ready,
    /// Wakes the refiller; dropped to stop it.
    wake: Option<Sender<()>>,
    refiller: Option<JoinHandle<()>>,
}

/// The pool's lock (a panic while holding it leaves a list of pipes, still good).
fn lock(ready: &Ready) -> MutexGuard<'_, Vec<Prepared>> {
    ready.lock().unwrap_or_else(|p| p.into_inner())
}

impl ShimPool {
    /// Starts filling a pool of `size` shims started from `exe`.
    pub(crate) fn start(exe: PathBuf, size: usize) -> ShimPool {
        let ready: Ready = Arc::new(Mutex::new(Vec::with_capacity(size)));
        let (wake, woken) = mpsc::channel();
        let refiller = {
            let (ready, exe) = (ready.clone(), exe.clone());
            std::thread::Builder::new()
                .name("shim-pool".into())
                .spawn(move || refill(&exe, size, &ready, &woken))
                .ok()
        };
        wake.send(()).ok();
        ShimPool {
            exe,
            size,
            ready,
            wake: Some(wake),
            refiller,
        }
    }

    /// How many shims it keeps.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The idle shims' pids.
    fn pids(&self) -> Vec<i32> {
        lock(&self.ready).iter().map(Prepared::pid).collect()
    }

    /// A ready shim started from `exe`, if there is one.
    fn take(&self, exe: &Path) -> Option<Prepared> {
        if exe != self.exe {
            return None;
        }
        lock(&self.ready).pop()
    }

    /// Has the refiller top the pool up (it does not wait for it).
    fn wake(&self) {
        if let Some(wake) = &self.wake {
            wake.send(()).ok();
        }
    }
}

/// The refiller's loop: on every wake, spawns shims until `size` are ready (or one
/// cannot be spawned: the next wake tries again). Ends when the pool is dropped.
fn refill(exe: &Path, size: usize, ready: &Ready, woken: &Receiver<()>) {
    while woken.recv().is_ok() {
        if !crate::spares::until_quiet(woken, REFILL_QUIET, || lock(ready).is_empty()) {
            return;
        }
        while lock(ready).len() < size {
            match Prepared::spawn(exe) {
                Ok(shim) => lock(ready).push(shim),
                Err(_) => break,
            }
        }
    }
}

impl Drop for ShimPool {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(refiller) = self.refiller.take() {
            refiller.join().ok();
        }
        // Their pipes close: the idle shims exit.
        lock(&self.ready).clear();
    }
}

impl Engine {
    /// The pids of the prepared shims ready now (see [`Engine::keep_prepared_shims`]).
    pub fn prepared_shim_pids(&self) -> Vec<i32> {
        self.shim_pool
            .as_ref()
            .map_or_else(Vec::new, ShimPool::pids)
    }

    /// Starts a shim for `cmd`: a prepared one from the pool when one is ready (and
    /// was started from the current shim binary), else the usual way.
    pub(crate) fn launch_shim(&self, cmd: &ShimCommand) -> Result<Report, LaunchError> {
        let exe = self.shim_exec();
        let Some(pool) = &self.shim_pool else {
            return berth_shim::launch::spawn(&exe, cmd);
        };
        let launched = launch_with(pool.take(&exe), &exe, cmd);
        // Refilled once this shim has created its container, not to compete with it.
        pool.wake();
        launched
    }
}

/// Launches `cmd` on `prepared`, or spawns a shim from `exe` when there is none.
fn launch_with(
    prepared: Option<Prepared>,
    exe: &Path,
    cmd: &ShimCommand,
) -> Result<Report, LaunchError> {
    if let Some(prepared) = prepared {
        match prepared.launch(cmd) {
            // It was gone (killed) before it got the command: nothing started.
            Err(LaunchError::Send(_)) => {}
            done => return done,
        }
    }
    berth_shim::launch::spawn(exe, cmd)
}
