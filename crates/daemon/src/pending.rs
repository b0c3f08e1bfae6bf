//! Attach requests that wait for a container's next start. Docker clients attach
//! *before* they start a container (`docker run`, `start -a`), and must see all of its
//! output: such a request is parked here, and the start connects it to the new shim
//! after the shim is up and before the container's process begins.
//!
//! Parking and starting both run under the engine lock, so a request either is parked
//! before a start takes the parked ones, or finds the container running and attaches
//! to its shim at once.

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

use berth_shim::ShimClient;
use tokio::sync::oneshot;

/// Which streams an attach wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Streams {
    /// Send the client's input to the container's stdin.
    pub stdin: bool,
    /// Send the container's stdout.
    pub stdout: bool,
    /// Send the container's stderr.
    pub stderr: bool,
}

/// An attached shim connection (after the shim's reply) and the bytes of the frame
/// stream already read from it; or why attaching failed.
pub type Attached = Result<(UnixStream, Vec<u8>), String>;

/// Attaches to `shim` now.
pub fn attach(shim: &ShimClient, s: Streams) -> Attached {
    shim.attach(s.stdin, s.stdout, s.stderr)
        .map(|a| a.into_parts())
        .map_err(|e| e.to_string())
}

struct Waiter {
    streams: Streams,
    tx: oneshot::Sender<Attached>,
}

/// Parked attaches by container id.
#[derive(Default)]
pub struct Pending {
    map: Mutex<HashMap<String, Vec<Waiter>>>,
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Waiter>>> {
        // Plain values: a panic elsewhere leaves the map consistent.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks an attach to container `id`'s next start; requests whose client has gone
    /// are dropped on the way.
    pub fn park(&self, id: &str, streams: Streams) -> oneshot::Receiver<Attached> {
        let (tx, rx) = oneshot::channel();
        let mut map = self.lock();
        let list = map.entry(id.to_string()).or_default();
        list.retain(|w| !w.tx.is_closed());
        list.push(Waiter { streams, tx });
        rx
    }

    /// Connects every attach parked for container `id` to its new `shim`.
    pub fn connect_all(&self, id: &str, shim: &ShimClient) {
        let waiters = self.lock().remove(id).unwrap_or_default();
        for w in waiters {
            if !w.tx.is_closed() {
                // The client may go in between: then the stream is simply dropped.
                w.tx.send(attach(shim, w.streams)).ok();
            }
        }
    }

    /// Drops what is parked for container `id` (it was removed).
    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }
}
