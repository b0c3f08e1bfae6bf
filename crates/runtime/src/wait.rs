//! Waiting in the foreground for a child (`run`, `exec` without -d): signals the runtime
//! receives are passed on to the child, and its exit becomes the runtime's exit code.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Signals passed on to the child.
const FORWARDED: [Signal; 8] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
];

/// Exit code of a wait status as a shell reports it (128 + signal for a killed child).
pub fn exit_code(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => 1,
    }
}

fn pidfd(pid: Pid) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; it returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = nix::errno::Errno::result(fd)? as i32;
    // SAFETY: the descriptor was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits up to `timeout` for process `pid` (any process, not only a child) to exit.
/// True once it has (or was gone already), false when the time ran out.
pub fn wait_gone(pid: Pid, timeout: std::time::Duration) -> nix::Result<bool> {
    let pfd = match pidfd(pid) {
        Err(nix::errno::Errno::ESRCH) => return Ok(true),
        r => r?,
    };
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(pfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(0) if left.is_zero() => return Ok(false),
            Ok(0) => continue,
            Ok(_) => return Ok(true),
            Err(e) => return Err(e),
        }
    }
}

/// Waits for `pid` to exit, forwarding signals to it; returns its exit code.
pub fn wait_forwarding(pid: Pid) -> nix::Result<i32> {
    let mut set = SigSet::empty();
    FORWARDED.iter().for_each(|s| set.add(*s));
    set.thread_block()?;
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC)?;
    let pfd = pidfd(pid)?;
    loop {
        let mut fds = [
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(pfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r?,
        };
        if fds[0].any().unwrap_or(false) {
            if let Ok(Some(info)) = sfd.read_signal() {
                // The child may already be gone; that is what the pidfd will tell us.
                // SAFETY: kill(2) takes two integers.
                let _ = unsafe { libc::kill(pid.as_raw(), info.ssi_signo as i32) };
            }
        }
        if fds[1].any().unwrap_or(false) {
            let status = waitpid(pid, Some(WaitPidFlag::empty()))?;
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
            return Ok(exit_code(status));
        }
    }
}
