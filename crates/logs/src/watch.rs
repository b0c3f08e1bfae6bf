//! Waiting for a followed log to change: inotify on the log's directory (writes,
//! renames, creations and removals all wake the reader at once), or, where inotify is
//! unavailable (the per-user instance limit is reached, say), a plain sleep.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// Wakes a follower when the log directory changes.
pub(crate) struct Watch {
    inotify: Option<Inotify>,
}

impl Watch {
    /// Watches `dir`; falls back to sleeping when inotify cannot be set up.
    pub(crate) fn new(dir: &Path) -> Watch {
        let flags = AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_DELETE;
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .and_then(|inotify| inotify.add_watch(dir, flags).map(|_| inotify))
            .ok();
        Watch { inotify }
    }

    /// Whether changes wake the reader (rather than the timeout alone).
    pub(crate) fn is_notified(&self) -> bool {
        self.inotify.is_some()
    }

    /// Returns when the directory changed since the last call, or after `timeout`.
    pub(crate) fn wait(&self, timeout: Duration) {
        let Some(inotify) = &self.inotify else {
            std::thread::sleep(timeout);
            return;
        };
        let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        // An interrupted or failed poll only means an earlier look at the files.
        if poll(&mut fds, PollTimeout::from(millis)).unwrap_or(0) > 0 {
            // Drain the queue; the events themselves do not matter, only that the
            // files changed. EAGAIN ends it.
            while inotify.read_events().is_ok_and(|events| !events.is_empty()) {}
        }
    }
}
