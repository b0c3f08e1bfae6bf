//! Network namespaces made ahead of need.
//!
//! Making a network namespace is most of what a container's bridge costs at start (the
//! kernel sets up a loopback device, sysctl tables and per-namespace state for every
//! protocol: about half a millisecond here). A [`NetnsPool`] keeps a few made by a
//! background thread, held by descriptors (no mount, no file: nothing is left behind when
//! the daemon goes), and [`NetnsPool::take`] hands one over at once. The thread makes
//! each with `unshare(CLONE_NEWNET)` on itself and opens `/proc/thread-self/ns/net`; the
//! thread's own namespace does not matter, it never uses the network. Each has its
//! loopback device up.
//!
//! Freeing one costs about as much, in a kernel worker at normal priority, and most of
//! it (waiting for RCU, unregistering devices, scanning the TCP hash for the
//! namespace's sockets) is paid once for every namespace freed together. So the last
//! reference to a released namespace can be handed to [`NetnsPool::bury`]: the pool's
//! thread drops the buried ones together, [`BURY_BATCH`] at a time or [`BURY_LINGER`]
//! after the first, whichever comes first. A buried namespace has no mount and no file;
//! nothing of it is visible, and it goes with the daemon.
//!
//! Unbinding a namespace from its file (a detached unmount) waits for an RCU grace
//! period, about a millisecond here, in whichever thread does it. A container's end need
//! not wait for that: [`NetnsPool::unbind_later`] leaves it to the pool's thread, which
//! does it at once, at its low priority. Before a file is bound again (the container
//! starts again) [`NetnsPool::settle`] finishes its pending unbind; dropping the pool,
//! or [`NetnsPool::settle_all`], finishes all of them. The host ends of an ended
//! container's veth pairs are deleted the same way ([`NetnsPool::delete_links_later`]):
//! addresses are handed out in turn, so none is given again before they are gone.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::host::HostError;

/// A few network namespaces made ahead, refilled in the background. Dropping it stops
/// the thread and releases the namespaces it holds.
#[derive(Debug)]
pub struct NetnsPool {
    shared: Arc<Shared>,
}

/// Callers that wait (settle) share the condition variable with the thread: every
/// change is announced to all.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    ready: Vec<OwnedFd>,
    size: usize,
    /// How many were handed out.
    taken: u64,
    /// The pool was dropped, or making a namespace failed (the pool stays empty).
    stopped: bool,
    /// Released namespaces (their last references), freed together.
    buried: Vec<OwnedFd>,
    /// When the oldest of `buried` came.
    first_buried: Option<Instant>,
    /// Namespace files to unbind.
    unbinds: Vec<PathBuf>,
    /// The one the thread unbinds now.
    unbinding: Option<PathBuf>,
    /// Host ends of veth pairs to delete.
    links: Vec<String>,
    /// The thread is deleting links now.
    deleting: bool,
    /// When the last one was taken.
    last_take: Option<Instant>,
}

/// How many buried namespaces are freed together at most.
pub const BURY_BATCH: usize = 8;
/// How long a buried namespace waits at most for others to be freed with.
pub const BURY_LINGER: Duration = Duration::from_millis(200);
/// How long after the last take the pool waits before it makes another, while it still
/// has one ready: making one competes for the CPU with the start that took one, and
/// takes longer than a short container's whole run.
pub const REFILL_QUIET: Duration = Duration::from_millis(40);

impl State {
    /// The buried namespaces, once there are enough or the oldest waited long enough.
    fn due(&mut self, now: Instant) -> Option<Vec<OwnedFd>> {
        let old = self.first_buried.is_some_and(|t| now >= t + BURY_LINGER);
        if self.buried.len() >= BURY_BATCH || (old && !self.buried.is_empty()) {
            self.first_buried = None;
            return Some(std::mem::take(&mut self.buried));
        }
        None
    }

    /// How long the thread may sleep before buried namespaces are due, or before it
    /// should make a namespace.
    fn until_due(&self, now: Instant) -> Option<Duration> {
        let buried = self
            .first_buried
            .map(|t| (t + BURY_LINGER).saturating_duration_since(now));
        let refill = (self.ready.len() < self.size)
            .then(|| self.refill_in(now))
            .flatten();
        buried.into_iter().chain(refill).min()
    }

    /// Whether one should be made now: the pool is short and empty, or short and no take
    /// came for [`REFILL_QUIET`].
    fn refill_now(&self, now: Instant) -> bool {
        self.ready.len() < self.size && (self.ready.is_empty() || self.refill_in(now).is_none())
    }

    /// How long until the quiet time after the last take is over (`None`: it is).
    fn refill_in(&self, now: Instant) -> Option<Duration> {
        let left = (self.last_take? + REFILL_QUIET).saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl NetnsPool {
    /// Starts a pool that keeps `size` namespaces ready.
    pub fn start(size: usize) -> NetnsPool {
        let shared = Arc::new(Shared::default());
        shared.lock().size = size;
        let filler = shared.clone();
        let started = std::thread::Builder::new()
            .name("netns-pool".into())
            .spawn(move || fill(&filler));
        if started.is_err() {
            shared.lock().stopped = true;
        }
        NetnsPool { shared }
    }

    /// A namespace made ahead (a descriptor of it), if one is ready.
    pub fn take(&self) -> Option<OwnedFd> {
        let mut s = self.shared.lock();
        let fd = s.ready.pop();
        s.taken += u64::from(fd.is_some());
        s.last_take = Some(Instant::now());
        drop(s);
        self.shared.wake.notify_all();
        fd
    }

    /// How many namespaces it has handed out.
    pub fn taken(&self) -> u64 {
        self.shared.lock().taken
    }

    /// How many are ready now.
    pub fn ready(&self) -> usize {
        self.shared.lock().ready.len()
    }

    /// Takes `ns`, a released namespace's last reference, and drops it later with others
    /// (see the module's documentation). A stopped pool drops it at once.
    pub fn bury(&self, ns: OwnedFd) {
        let mut s = self.shared.lock();
        if s.stopped {
            return;
        }
        s.first_buried.get_or_insert_with(Instant::now);
        s.buried.push(ns);
        // The thread learns of the first (to sleep no longer than its linger) and of a
        // full batch.
        let wake = s.buried.len() == 1 || s.buried.len() >= BURY_BATCH;
        drop(s);
        if wake {
            self.shared.wake.notify_all();
        }
    }

    /// How many buried namespaces wait to be freed.
    pub fn buried(&self) -> usize {
        self.shared.lock().buried.len()
    }

    /// Has the pool's thread unbind the namespace file at `path` and remove it (see the
    /// module's documentation); a stopped pool does it now.
    pub fn unbind_later(&self, path: PathBuf) -> Result<(), HostError> {
        let mut s = self.shared.lock();
        if s.stopped {
            drop(s);
            return unbind(&path);
        }
        s.unbinds.push(path);
        drop(s);
        self.shared.wake.notify_all();
        Ok(())
    }

    /// Finishes the pending unbind of `path`, if there is one, before returning.
    pub fn settle(&self, path: &Path) -> Result<(), HostError> {
        let mut s = self.shared.lock();
        if let Some(i) = s.unbinds.iter().position(|p| p == path) {
            s.unbinds.swap_remove(i);
            drop(s);
            return unbind(path);
        }
        while s.unbinding.as_deref() == Some(path) {
            s = self.shared.wake.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        Ok(())
    }

    /// Finishes every pending unbind and link deletion before returning.
    pub fn settle_all(&self) {
        let mut s = self.shared.lock();
        let pending = std::mem::take(&mut s.unbinds);
        let links = std::mem::take(&mut s.links);
        drop(s);
        for p in pending {
            unbind(&p).ok();
        }
        delete_links(&links);
        let mut s = self.shared.lock();
        while s.unbinding.is_some() || s.deleting {
            s = self.shared.wake.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Has the pool's thread delete the links `names` (host ends of veth pairs whose
    /// container ended): deleting one waits for an RCU grace period.
    pub fn delete_links_later(&self, names: Vec<String>) {
        let mut s = self.shared.lock();
        if s.stopped {
            drop(s);
            delete_links(&names);
            return;
        }
        s.links.extend(names);
        drop(s);
        self.shared.wake.notify_all();
    }

    /// How many links wait to be deleted.
    pub fn links(&self) -> usize {
        let s = self.shared.lock();
        s.links.len() + usize::from(s.deleting)
    }

    /// How many namespace files wait to be unbound.
    pub fn unbinds(&self) -> usize {
        let s = self.shared.lock();
        s.unbinds.len() + usize::from(s.unbinding.is_some())
    }
}

impl Drop for NetnsPool {
    fn drop(&mut self) {
        self.settle_all();
        let mut s = self.shared.lock();
        s.stopped = true;
        s.ready.clear();
        s.buried.clear();
        drop(s);
        self.shared.wake.notify_all();
    }
}

/// The background thread: keeps the pool full until it is dropped. It runs at the
/// lowest priority (nice 19), so a refill yields to the start that took a namespace.
fn fill(shared: &Shared) {
    let tid = nix::unistd::gettid().as_raw() as libc::id_t;
    // SAFETY: setpriority takes plain integers; a thread id with PRIO_PROCESS names just
    // that thread on Linux.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, 19) };
    loop {
        {
            let mut s = shared.lock();
            loop {
                if let Some(due) = s.due(Instant::now()) {
                    // Freed together, outside the lock.
                    drop(s);
                    drop(due);
                    s = shared.lock();
                    continue;
                }
                if !s.links.is_empty() {
                    let links = std::mem::take(&mut s.links);
                    s.deleting = true;
                    drop(s);
                    delete_links(&links);
                    s = shared.lock();
                    s.deleting = false;
                    shared.wake.notify_all();
                    continue;
                }
                if let Some(path) = s.unbinds.pop() {
                    s.unbinding = Some(path.clone());
                    drop(s);
                    // Nobody waits for it; a failure leaves the file (swept at start).
                    unbind(&path).ok();
                    s = shared.lock();
                    s.unbinding = None;
                    shared.wake.notify_all();
                    continue;
                }
                if s.stopped || s.refill_now(Instant::now()) {
                    break;
                }
                s = match s.until_due(Instant::now()) {
                    Some(d) => {
                        let waited = shared.wake.wait_timeout(s, d);
                        waited.unwrap_or_else(|p| p.into_inner()).0
                    }
                    None => shared.wake.wait(s).unwrap_or_else(|p| p.into_inner()),
                };
            }
            if s.stopped {
                return;
            }
        }
        match make_here() {
            Ok(fd) => {
                let mut s = shared.lock();
                if s.stopped {
                    return;
                }
                s.ready.push(fd);
            }
            // Namespaces are then made when needed, where the error is reported.
            Err(_) => {
                let mut s = shared.lock();
                s.stopped = true;
                s.buried.clear();
                return;
            }
        }
    }
}

/// Deletes the links `names` (gone already is fine: a namespace's end deletes both ends
/// of its veth pairs).
pub(crate) fn delete_links(names: &[String]) {
    if names.is_empty() {
        return;
    }
    if let Ok(mut nl) = crate::netlink::Netlink::open() {
        for n in names {
            nl.delete_link(n).ok();
        }
    }
}

/// Unmounts the namespace bound at `path` (detached) and removes the file; either gone
/// already is fine.
pub(crate) fn unbind(path: &Path) -> Result<(), HostError> {
    match nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(source) => {
            return Err(HostError::Netns {
                op: "unmount",
                path: path.into(),
                source,
            })
        }
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HostError::Io {
            op: "remove",
            path: path.into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Moves the calling thread into a new network namespace, brings its loopback device up
/// (as a container's namespace has it) and opens it. Every namespace berth makes for a
/// container is made here: by the pool's thread, or by a short-lived one when the pool
/// has none ready.
pub(crate) fn make_here() -> Result<OwnedFd, HostError> {
    let ns = |op| {
        move |source| HostError::Netns {
            op,
            path: "/proc/thread-self/ns/net".into(),
            source,
        }
    };
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(ns("unshare"))?;
    let mut nl = crate::netlink::Netlink::open()?;
    if let Some(lo) = nl.index("lo")? {
        nl.set_up(lo)?;
    }
    nix::fcntl::open(
        "/proc/thread-self/ns/net",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(ns("open"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buried(n: usize, first: Instant) -> State {
        let mut s = State::default();
        for _ in 0..n {
            s.buried
                .push(std::fs::File::open("/dev/null").unwrap().into());
        }
        s.first_buried = (n > 0).then_some(first);
        s
    }

    #[test]
    fn buried_ones_are_due_in_a_full_batch_or_after_the_linger() {
        let t = Instant::now();
        assert!(buried(0, t).due(t + BURY_LINGER * 2).is_none());
        let mut few = buried(2, t);
        assert!(few.due(t).is_none());
        assert_eq!(few.until_due(t), Some(BURY_LINGER));
        assert_eq!(few.due(t + BURY_LINGER).map(|v| v.len()), Some(2));
        assert!(few.buried.is_empty() && few.first_buried.is_none());
        let mut full = buried(BURY_BATCH, t);
        assert_eq!(full.due(t).map(|v| v.len()), Some(BURY_BATCH));
    }

    #[test]
    fn a_short_pool_refills_when_empty_or_once_takes_pause() {
        let t = Instant::now();
        let mut s = buried(0, t);
        s.size = 2;
        assert!(s.refill_now(t), "empty, never taken");
        s.last_take = Some(t);
        assert!(s.refill_now(t), "empty: at once, even right after a take");
        s.ready
            .push(std::fs::File::open("/dev/null").unwrap().into());
        assert!(!s.refill_now(t), "one left, just taken");
        assert_eq!(s.until_due(t), Some(REFILL_QUIET));
        assert!(s.refill_now(t + REFILL_QUIET));
        s.ready
            .push(std::fs::File::open("/dev/null").unwrap().into());
        assert!(
            !s.refill_now(t + REFILL_QUIET) && s.until_due(t).is_none(),
            "full"
        );
    }
}
