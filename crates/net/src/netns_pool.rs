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

use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::host::HostError;

/// A few network namespaces made ahead, refilled in the background. Dropping it stops
/// the thread and releases the namespaces it holds.
#[derive(Debug)]
pub struct NetnsPool {
    shared: Arc<Shared>,
}

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
        drop(s);
        self.shared.wake.notify_one();
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
}

impl Drop for NetnsPool {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.stopped = true;
        s.ready.clear();
        drop(s);
        self.shared.wake.notify_one();
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
            while !s.stopped && s.ready.len() >= s.size {
                s = shared.wake.wait(s).unwrap_or_else(|p| p.into_inner());
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
                shared.lock().stopped = true;
                return;
            }
        }
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
