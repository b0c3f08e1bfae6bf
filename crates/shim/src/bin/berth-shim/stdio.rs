//! The container process's stdio. Without a terminal: pipes for stdout and stderr, one for
//! stdin when asked (else /dev/null). With one: a console socket the runtime sends the
//! pty master to. The runtime's child inherits fds 0, 1 and 2 of the shim, so they point
//! at the child's ends while it is forked, and at /dev/null again after.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use berth_shim::CONSOLE_SOCKET;

/// How long to wait for the pty master once the process is created.
const MASTER_WAIT: Duration = Duration::from_secs(5);

/// The shim's ends of the container's stdio.
pub struct Stdio {
    /// Read end of the stdout pipe, or the pty master.
    pub out: Option<OwnedFd>,
    /// Read end of the stderr pipe (no terminal).
    pub err: Option<OwnedFd>,
    /// Write end of the stdin pipe (no terminal, stdin asked for).
    pub input: Option<OwnedFd>,
    /// The process has a terminal: `out` is its master, and stdin is written there.
    pub tty: bool,
    /// Whether stdin is forwarded at all.
    pub stdin: bool,
    child: Option<ChildEnds>,
    /// /dev/null, what fds 0-2 point at again once the child is forked.
    null: OwnedFd,
}

/// The ends the container process gets.
struct ChildEnds {
    /// None: /dev/null.
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: OwnedFd,
    console: Option<UnixListener>,
}

fn nonblocking(fd: &OwnedFd) -> Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe")
}

/// Opens /dev/null for reading and writing.
pub fn dev_null() -> Result<OwnedFd> {
    Ok(std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("open /dev/null")?
        .into())
}

/// Points fds 0, 1 and 2 at `fds`.
pub fn set_std(fds: [&OwnedFd; 3]) -> Result<()> {
    nix::unistd::dup2_stdin(fds[0]).context("dup2 stdin")?;
    nix::unistd::dup2_stdout(fds[1]).context("dup2 stdout")?;
    nix::unistd::dup2_stderr(fds[2]).context("dup2 stderr")?;
    Ok(())
}

/// What the stdio of a process without a terminal needs, made before its command is
/// known (a prepared shim makes it while it waits): /dev/null, and the stdout and stderr
/// pipes with the shim's ends non-blocking.
pub struct Spare {
    null: OwnedFd,
    out: (OwnedFd, OwnedFd),
    err: (OwnedFd, OwnedFd),
}

impl Spare {
    /// Opens /dev/null and makes the two pipes.
    pub fn make() -> Result<Spare> {
        let out = pipe()?;
        let err = pipe()?;
        nonblocking(&out.0)?;
        nonblocking(&err.0)?;
        Ok(Spare {
            null: dev_null()?,
            out,
            err,
        })
    }
}

impl Stdio {
    /// The shim's and the child's ends, before the process exists, made of `spare` (its
    /// pipes are dropped for a terminal).
    pub fn new(tty: bool, stdin: bool, spare: Spare) -> Result<Stdio> {
        let Spare { null, out, err } = spare;
        if tty {
            let _ = std::fs::remove_file(CONSOLE_SOCKET);
            let console = UnixListener::bind(CONSOLE_SOCKET).context("bind the console socket")?;
            let child = ChildEnds {
                stdin: None,
                stdout: null.try_clone()?,
                stderr: null.try_clone()?,
                console: Some(console),
            };
            return Ok(Stdio::with(tty, stdin, None, None, None, child, null));
        }
        let (out_r, out_w) = out;
        let (err_r, err_w) = err;
        let (input, child_in) = match stdin {
            true => {
                let (r, w) = pipe()?;
                nonblocking(&w)?;
                (Some(w), Some(r))
            }
            false => (None, None),
        };
        let child = ChildEnds {
            stdin: child_in,
            stdout: out_w,
            stderr: err_w,
            console: None,
        };
        Ok(Stdio::with(
            tty,
            stdin,
            Some(out_r),
            Some(err_r),
            input,
            child,
            null,
        ))
    }

    fn with(
        tty: bool,
        stdin: bool,
        out: Option<OwnedFd>,
        err: Option<OwnedFd>,
        input: Option<OwnedFd>,
        child: ChildEnds,
        null: OwnedFd,
    ) -> Stdio {
        Stdio {
            out,
            err,
            input,
            tty,
            stdin,
            child: Some(child),
            null,
        }
    }

    /// Runs `f`, which forks the process, with the child's ends as fds 0-2; `f` gets the
    /// console socket's path when there is a terminal. Afterwards fds 0-2 are /dev/null
    /// again, the child's ends are closed and the pty master (if any) is taken.
    pub fn spawn<T>(&mut self, f: impl FnOnce(Option<&Path>) -> Result<T>) -> Result<T> {
        let Some(child) = self.child.take() else {
            bail!("the process was already started");
        };
        let stdin = child.stdin.as_ref().unwrap_or(&self.null);
        set_std([stdin, &child.stdout, &child.stderr])?;
        let console = child.console.as_ref().map(|_| Path::new(CONSOLE_SOCKET));
        let out = f(console);
        set_std([&self.null, &self.null, &self.null])?;
        let _ = std::fs::remove_file(CONSOLE_SOCKET);
        let out = out?;
        if let Some(listener) = &child.console {
            let master = receive_master(listener)?;
            nonblocking(&master)?;
            self.out = Some(master);
        }
        Ok(out)
    }

    /// The fd that stdin bytes are written to.
    pub fn input_fd(&self) -> Option<&OwnedFd> {
        match self.tty {
            true => self.out.as_ref().filter(|_| self.stdin),
            false => self.input.as_ref(),
        }
    }
}

/// Takes the pty master the runtime's child sent to the console socket.
fn receive_master(listener: &UnixListener) -> Result<OwnedFd> {
    listener.set_nonblocking(true)?;
    let (stream, _) = listener
        .accept()
        .context("no terminal was sent to the console socket")?;
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(MASTER_WAIT))?;
    recv_fd(&stream)
}

fn recv_fd(stream: &UnixStream) -> Result<OwnedFd> {
    let mut name = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_fd().as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .context("receive the pty master")?;
    for c in msg.cmsgs().context("read the control message")? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us; nothing else
                // owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    bail!("console socket: no descriptor received")
}
