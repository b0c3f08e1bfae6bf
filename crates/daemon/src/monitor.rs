//! What berthd knows of each container's runs as they end: a count of exits with the
//! last exit code, and whether the container is gone. `wait`, `stop`, `restart`,
//! `kill` and `rm -f` watch it instead of polling; the per-run wait tasks (see
//! [`crate::runs`]) feed it. A watcher subscribes *before* it looks at the container or
//! acts on it, so an exit between the two is never missed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

/// A container's ends so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Life {
    /// Runs that ended since berthd began watching.
    pub exits: u64,
    /// The exit code of the last one.
    pub code: i32,
    /// The container has been removed.
    pub removed: bool,
}

/// The lives of every watched container, and which runs have a wait task.
#[derive(Debug, Default)]
pub struct Monitor {
    lives: Mutex<HashMap<String, watch::Sender<Life>>>,
    /// Container id → the shim pid of the run a task waits for.
    armed: Mutex<HashMap<String, i32>>,
}

impl Monitor {
    /// Watches container `id`.
    pub fn watch(&self, id: &str) -> watch::Receiver<Life> {
        let mut lives = lock(&self.lives);
        lives
            .entry(id.to_string())
            .or_insert_with(|| watch::channel(Life::default()).0)
            .subscribe()
    }

    /// Records the end of a run of `id` with `code`.
    pub fn exited(&self, id: &str, code: i32) {
        if let Some(tx) = lock(&self.lives).get(id) {
            tx.send_modify(|l| {
                l.exits += 1;
                l.code = code;
            });
        }
    }

    /// Records the removal of `id`; watchers see it, and the entry goes.
    pub fn removed(&self, id: &str) {
        if let Some(tx) = lock(&self.lives).remove(id) {
            tx.send_modify(|l| l.removed = true);
        }
        lock(&self.armed).remove(id);
    }

    /// Notes that a task waits for the run of `id` whose shim is `shim_pid`; false if
    /// one does already.
    pub fn arm(&self, id: &str, shim_pid: i32) -> bool {
        lock(&self.armed).insert(id.to_string(), shim_pid) != Some(shim_pid)
    }

    /// Whether a task waits for the run of `id` (and so records its end).
    pub fn is_armed(&self, id: &str) -> bool {
        lock(&self.armed).contains_key(id)
    }

    /// Notes that the task for the run of `id` whose shim was `shim_pid` has ended.
    pub fn disarm(&self, id: &str, shim_pid: i32) {
        let mut armed = lock(&self.armed);
        if armed.get(id) == Some(&shim_pid) {
            armed.remove(id);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps hold plain values; a panic elsewhere leaves them consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits until `rx` shows more than `before` exits (or the removal), up to `timeout`
/// (None: no limit). Returns the life then, or None on timeout.
pub async fn next_exit(
    rx: &mut watch::Receiver<Life>,
    before: u64,
    timeout: Option<Duration>,
) -> Option<Life> {
    let wait = rx.wait_for(|l| l.exits > before || l.removed);
    let life = match timeout {
        None => wait.await.ok().map(|l| *l),
        Some(t) => tokio::time::timeout(t, wait).await.ok()?.ok().map(|l| *l),
    };
    // A closed channel: the entry was replaced, which only a removal does.
    Some(life.unwrap_or(Life {
        removed: true,
        ..*rx.borrow()
    }))
}

/// Waits until `rx` shows the removal.
pub async fn removal(rx: &mut watch::Receiver<Life>) -> Life {
    let life = rx.wait_for(|l| l.removed).await.ok().map(|l| *l);
    life.unwrap_or(Life {
        removed: true,
        ..*rx.borrow()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watchers_see_exits_and_removals() {
        let m = Monitor::default();
        let mut rx = m.watch("a");
        let before = rx.borrow().exits;
        m.exited("a", 3);
        let l = next_exit(&mut rx, before, None).await.unwrap();
        assert_eq!((l.exits, l.code, l.removed), (1, 3, false));
        let timed = next_exit(&mut rx, 1, Some(Duration::from_millis(10))).await;
        assert_eq!(timed, None);
        let mut rx2 = m.watch("a");
        m.removed("a");
        assert!(removal(&mut rx2).await.removed);
        assert!(m.arm("b", 5));
        assert!(!m.arm("b", 5));
        m.disarm("b", 6);
        assert!(!m.arm("b", 5));
        m.disarm("b", 5);
        assert!(m.arm("b", 5));
    }
}
