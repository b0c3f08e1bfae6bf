//! Directories made ahead of need: a thread keeps a few spare container directories
//! (`ContainerStore::make_spare`) and snapshot directories (`Snapshotter::make_spare`)
//! ready, so that a create renames them into place instead of making each directory and
//! file. It tops them up once creates pause for [`QUIET`] (at once when one kind is all
//! used), not to compete for the CPU and the file system with the create that took them.
//! Dropping it stops the thread; the spares left are removed when the stores open next.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use berth_image::snapshot::Snapshotter;

use crate::store::ContainerStore;

/// How long after the last take the spares are made again, while some are left: longer
/// than a short container's whole run here (~15 ms).
pub(crate) const QUIET: Duration = Duration::from_millis(40);

/// The thread that keeps `size` spares of each kind.
pub(crate) struct Spares {
    /// Wakes the thread; dropped to stop it.
    wake: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Spares {
    /// Starts keeping `size` spare container and snapshot directories.
    pub(crate) fn start(
        containers: ContainerStore,
        snapshots: Arc<dyn Snapshotter>,
        size: usize,
    ) -> Spares {
        let (wake, woken) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("spares".into())
            .spawn(move || {
                // Like the trash: making spares yields to the next container's start.
                crate::trash::idle_priority();
                keep(&containers, snapshots.as_ref(), size, &woken)
            })
            .ok();
        wake.send(()).ok();
        Spares {
            wake: Some(wake),
            thread,
        }
    }

    /// Tells the thread some were taken (it does not wait for it).
    pub(crate) fn wake(&self) {
        if let Some(wake) = &self.wake {
            wake.send(()).ok();
        }
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

/// The thread's loop: on every wake, once quiet, makes spares until `size` of each are
/// ready (a kind that fails to make one waits for the next wake).
fn keep(
    containers: &ContainerStore,
    snapshots: &dyn Snapshotter,
    size: usize,
    woken: &Receiver<()>,
) {
    let short = || containers.spares() == 0 || snapshots.spares() == 0;
    while woken.recv().is_ok() {
        if !until_quiet(woken, QUIET, short) {
            return;
        }
        while containers.spares() < size && containers.make_spare().is_ok() {}
        while snapshots.spares() < size && matches!(snapshots.make_spare(), Ok(true)) {}
    }
}

/// Waits until no wake came on `woken` for `quiet`, or `urgent` says not to wait. Wakes
/// that came meanwhile are consumed. False when the sender was dropped.
pub(crate) fn until_quiet(
    woken: &Receiver<()>,
    quiet: Duration,
    urgent: impl Fn() -> bool,
) -> bool {
    loop {
        if urgent() {
            while woken.try_recv().is_ok() {}
            return true;
        }
        match woken.recv_timeout(quiet) {
            Ok(()) => continue,
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}
