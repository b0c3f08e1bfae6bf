//! Directories made ahead of need: a thread keeps a few spare container directories
//! (`ContainerStore::make_spare`) and snapshot directories (`Snapshotter::make_spare`)
//! ready, so that a create renames them into place instead of making each directory and
//! file. A removed container's directories come back to it to be made spares again
//! (`ContainerStore::adopt_spare`, `Snapshotter::adopt_spare`) while spares are short,
//! so their inodes are kept instead of freed and made anew: on ext4 without a journal,
//! every recently freed inode makes later allocations slower. What it cannot reuse goes
//! to the trash.
//!
//! It works once creates and removals pause for [`QUIET`] (at once when one kind of
//! spare is all used), not to compete for the CPU and the file system with the run that
//! woke it. Dropping it stops the thread; the spares left are removed when the stores
//! open next.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use berth_image::snapshot::Snapshotter;

use crate::store::ContainerStore;
use crate::trash::Trash;

/// How long after the last take the spares are made again, while some are left: longer
/// than a short container's whole run here (~15 ms).
pub(crate) const QUIET: Duration = Duration::from_millis(40);

/// What the thread is told.
enum Job {
    /// Spares were taken.
    Taken,
    /// A removed container's directory, at a path from `ContainerStore::recycle_path`.
    Container(PathBuf),
    /// A removed container's snapshot directory, at a path from
    /// `Snapshotter::recycle_path`.
    Snapshot(PathBuf),
}

/// The thread that keeps `size` spares of each kind.
pub(crate) struct Spares {
    /// Reaches the thread; dropped to stop it.
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

/// What the thread works with.
struct Keeper {
    containers: ContainerStore,
    snapshots: Arc<dyn Snapshotter>,
    trash: Trash,
    size: usize,
    /// Directories to reuse, kept until the thread works.
    used: Vec<Job>,
}

impl Spares {
    /// Starts keeping `size` spare container and snapshot directories; what cannot be
    /// reused goes to `trash`.
    pub(crate) fn start(
        containers: ContainerStore,
        snapshots: Arc<dyn Snapshotter>,
        trash: Trash,
        size: usize,
    ) -> Spares {
        let (jobs, inbox) = mpsc::channel();
        let mut keeper = Keeper {
            containers,
            snapshots,
            trash,
            size,
            used: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("spares".into())
            .spawn(move || {
                // Like the trash: what it deletes of removed containers (their files,
                // an upper layer's content) yields to the next container's start.
                crate::trash::idle_priority();
                keeper.run(&inbox)
            })
            .ok();
        jobs.send(Job::Taken).ok();
        Spares {
            jobs: Some(jobs),
            thread,
        }
    }

    /// Tells the thread spares were taken (it does not wait for it).
    pub(crate) fn wake(&self) {
        self.send(Job::Taken);
    }

    /// Hands the thread a removed container's directory (moved to
    /// `ContainerStore::recycle_path`); false when the thread is gone.
    pub(crate) fn reuse_container(&self, used: PathBuf) -> bool {
        self.send(Job::Container(used))
    }

    /// Hands the thread a removed snapshot's directory (moved to
    /// `Snapshotter::recycle_path`); false when the thread is gone.
    pub(crate) fn reuse_snapshot(&self, used: PathBuf) -> bool {
        self.send(Job::Snapshot(used))
    }

    fn send(&self, job: Job) -> bool {
        self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok())
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

impl Keeper {
    /// The thread's loop: on every message, once quiet, reuses what it was handed while
    /// spares are short (the rest to the trash), then makes spares until `size` of each
    /// are ready (a kind that fails to make one waits for the next message).
    fn run(&mut self, inbox: &Receiver<Job>) {
        while let Ok(job) = inbox.recv() {
            self.keep(job);
            let mut came = Vec::new();
            let quiet = until_quiet(inbox, QUIET, || self.short(), |job| came.push(job));
            came.into_iter().for_each(|job| self.keep(job));
            self.reuse();
            if !quiet {
                return;
            }
            self.make();
        }
        self.reuse();
    }

    fn keep(&mut self, job: Job) {
        if !matches!(job, Job::Taken) {
            self.used.push(job);
        }
    }

    /// Whether one kind of spare is all used.
    fn short(&self) -> bool {
        self.containers.spares() == 0 || self.snapshots.spares() == 0
    }

    fn reuse(&mut self) {
        for job in std::mem::take(&mut self.used) {
            let (path, reused) = match job {
                Job::Taken => continue,
                Job::Container(p) => {
                    let ok = self.containers.spares() < self.size
                        && self.containers.adopt_spare(&p).is_ok();
                    (p, ok)
                }
                Job::Snapshot(p) => {
                    let ok = self.snapshots.spares() < self.size
                        && self.snapshots.adopt_spare(&p).is_ok();
                    (p, ok)
                }
            };
            if !reused {
                // Nobody waits for it; a failure leaves it to the next sweep.
                self.trash.throw(&path, "reused").ok();
            }
        }
    }

    fn make(&self) {
        let (containers, snapshots) = (&self.containers, self.snapshots.as_ref());
        while containers.spares() < self.size && containers.make_spare().is_ok() {}
        while snapshots.spares() < self.size && matches!(snapshots.make_spare(), Ok(true)) {}
    }
}

/// Waits until nothing came on `inbox` for `quiet` (what comes goes to `got`), or
/// `urgent` says not to wait. False when the sender was dropped.
pub(crate) fn until_quiet<T>(
    inbox: &Receiver<T>,
    quiet: Duration,
    urgent: impl Fn() -> bool,
    mut got: impl FnMut(T),
) -> bool {
    loop {
        if urgent() {
            while let Ok(t) = inbox.try_recv() {
                got(t);
            }
            return true;
        }
        match inbox.recv_timeout(quiet) {
            Ok(t) => got(t),
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}
