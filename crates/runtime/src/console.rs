//! The container's terminal: a pty made inside the container, its master sent to the
//! caller's console socket with SCM_RIGHTS (runc's protocol), its slave made the init's
//! controlling terminal and stdio.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;

/// Errors while setting up the terminal.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {source}")]
pub struct ConsoleError {
    op: String,
    source: nix::Error,
}

fn err(op: impl Into<String>) -> impl FnOnce(nix::Error) -> ConsoleError {
    let op = op.into();
    move |source| ConsoleError { op, source }
}

/// Connects to the console socket at `path` (done by the runtime before it forks).
pub fn connect(path: &Path) -> std::io::Result<UnixStream> {
    UnixStream::connect(path)
}

/// A new pty: the master and the path of its slave.
pub struct Pty {
    /// The master side.
    pub master: OwnedFd,
    /// The slave side, opened.
    pub slave: OwnedFd,
    /// The slave's path, e.g. /dev/pts/0.
    pub slave_path: PathBuf,
}

/// Opens a new pty from /dev/ptmx of the current mount namespace.
pub fn open_pty() -> Result<Pty, ConsoleError> {
    let fd = open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(err("open /dev/ptmx"))?;
    let master = fd;
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to an int that lives for the call.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) };
    nix::errno::Errno::result(r).map_err(err("unlock pty"))?;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes the pty number into the uint that lives for the call.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    nix::errno::Errno::result(r).map_err(err("get pty number"))?;
    // SAFETY: TIOCGPTPEER opens the slave of this master and returns a new descriptor.
    let r = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    let slave_fd = nix::errno::Errno::result(r).map_err(err("open pty slave"))?;
    // SAFETY: the ioctl returned a fresh descriptor that nothing else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(slave_fd) };
    Ok(Pty {
        master,
        slave,
        slave_path: PathBuf::from(format!("/dev/pts/{n}")),
    })
}

/// Sends `fd` over `socket` with the name runc sends, as containerd and podman expect.
pub fn send_master(socket: RawFd, fd: RawFd) -> Result<(), ConsoleError> {
    send_fd(socket, fd, b"/dev/ptmx")
}

/// Sends a pidfd of `pid` to the unix socket at `path` (runc's `--pidfd-socket`).
pub fn send_pidfd(path: &Path, pid: i32) -> Result<(), ConsoleError> {
    let stream = UnixStream::connect(path).map_err(|e| ConsoleError {
        op: format!("connect pidfd socket {}", path.display()),
        source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = nix::errno::Errno::result(fd).map_err(err(format!("pidfd_open {pid}")))? as RawFd;
    // SAFETY: the descriptor was just created and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    send_fd(stream.as_raw_fd(), fd.as_raw_fd(), b"pidfd")
}

fn send_fd(socket: RawFd, fd: RawFd, name: &[u8]) -> Result<(), ConsoleError> {
    let iov = [IoSlice::new(name)];
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(socket, &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(err("send a descriptor over the socket"))?;
    Ok(())
}

/// Makes `slave` the controlling terminal and the stdin, stdout and stderr of the caller.
pub fn make_controlling(slave: &OwnedFd) -> Result<(), ConsoleError> {
    nix::unistd::setsid().map_err(err("setsid"))?;
    // SAFETY: TIOCSCTTY takes an int argument; the fd is a valid open terminal.
    let r = unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) };
    nix::errno::Errno::result(r).map_err(err("set controlling terminal"))?;
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard descriptors; the source is a valid open fd.
        let r = unsafe { libc::dup2(slave.as_raw_fd(), target) };
        nix::errno::Errno::result(r).map_err(err(format!("dup2 pty slave to fd {target}")))?;
    }
    Ok(())
}

/// Gives the caller a new terminal: opens a pty, sends its master to `socket`, and makes
/// the slave the caller's controlling terminal and stdio. Returns the slave's path.
pub fn attach(socket: RawFd) -> Result<PathBuf, ConsoleError> {
    let pty = open_pty()?;
    send_master(socket, pty.master.as_raw_fd())?;
    make_controlling(&pty.slave)?;
    Ok(pty.slave_path)
}

/// Sets the window size of a terminal.
pub fn set_size(fd: RawFd, rows: u16, cols: u16) -> Result<(), ConsoleError> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize that lives for the call.
    let r = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    nix::errno::Errno::result(r).map_err(err("set terminal size"))?;
    Ok(())
}
