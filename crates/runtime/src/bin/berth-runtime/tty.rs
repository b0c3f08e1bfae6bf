//! A terminal for foreground `run` and `exec` when no console socket is given: berth-runtime
//! receives the pty master itself and copies between it and its own stdin/stdout, with the
//! caller's terminal in raw mode and window size changes passed on.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// A listening console socket in a private temporary path.
pub struct ConsoleListener {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleListener {
    /// Listens on `<dir>/<id>.console.sock`.
    pub fn bind(dir: &Path, id: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let path = dir.join(format!(".{id}.console.sock"));
        let _ = std::fs::remove_file(&path);
        let listener =
            UnixListener::bind(&path).with_context(|| format!("listen on {}", path.display()))?;
        Ok(Self { listener, path })
    }

    /// The socket's path, to hand to `create`/`exec`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts the runtime's connection and receives the pty master.
    pub fn receive(&self) -> anyhow::Result<OwnedFd> {
        let (stream, _) = self
            .listener
            .accept()
            .context("accept on the console socket")?;
        recv_fd(&stream)
    }
}

impl Drop for ConsoleListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn recv_fd(stream: &UnixStream) -> anyhow::Result<OwnedFd> {
    let mut name = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .context("receive the pty master")?;
    for c in msg.cmsgs().context("read control message")? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us; we own it.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    anyhow::bail!("console socket: no descriptor received")
}

/// Restores the caller's terminal settings when dropped.
struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    fn enter() -> Self {
        let stdin = std::io::stdin();
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return Self { saved: None };
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        Self { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, t);
        }
    }
}

fn copy_size(master: BorrowedFd) {
    let mut ws: libc::winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize that lives for the call.
    if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0 {
        // SAFETY: TIOCSWINSZ reads the winsize filled in above.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
}

/// Copies one chunk from `from` to `to`; false at end of input.
fn pump(from: BorrowedFd, to: BorrowedFd) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => nix::unistd::write(to, &buf[..n]).is_ok(),
    }
}

/// Proxies between the caller's terminal and `master` until `pid` exits; returns its exit code.
pub fn proxy(master: OwnedFd, pid: Pid) -> anyhow::Result<i32> {
    let _raw = RawMode::enter();
    copy_size(master.as_fd());
    let mut set = SigSet::empty();
    set.add(Signal::SIGWINCH);
    set.add(Signal::SIGCHLD);
    set.thread_block()?;
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC)?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut stdin_open = true;
    loop {
        let status = waitpid(pid, Some(WaitPidFlag::WNOHANG))?;
        if let WaitStatus::Exited(..) | WaitStatus::Signaled(..) = status {
            // Drain what the process wrote before it exited.
            while poll_one(master.as_fd(), 0) && pump(master.as_fd(), stdout.as_fd()) {}
            return Ok(berth_runtime::wait::exit_code(status));
        }
        let mut fds = vec![
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r?,
        };
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        if ready[0] {
            if let Ok(Some(info)) = sfd.read_signal() {
                if info.ssi_signo == libc::SIGWINCH as u32 {
                    copy_size(master.as_fd());
                }
            }
        }
        if ready[1] && !pump(master.as_fd(), stdout.as_fd()) {
            return wait_code(pid);
        }
        if stdin_open && ready.get(2).copied().unwrap_or(false) {
            stdin_open = pump(stdin.as_fd(), master.as_fd());
        }
    }
}

fn poll_one(fd: BorrowedFd, ms: u16) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::from(ms)).unwrap_or(0) > 0
}

fn wait_code(pid: Pid) -> anyhow::Result<i32> {
    Ok(berth_runtime::wait::exit_code(waitpid(pid, None)?))
}
