//! A blocking client of a shim's control socket (see the crate doc for the protocol).
//! Every operation is one connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

use crate::exit::{ExitError, ExitStatus};
use crate::proto::{frame, Reply, Request};
use crate::SOCKET;

/// The longest socket path `connect` takes directly (sun_path holds 108 bytes).
const MAX_SOCKET_PATH: usize = 100;

/// Errors talking to a shim.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The state directory could not be opened.
    #[error("open the shim state directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The system's answer.
        source: nix::Error,
    },
    /// No shim listens there (it has exited, or never ran).
    #[error("connect to the shim at {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The system's answer.
        source: std::io::Error,
    },
    /// Reading or writing the connection failed.
    #[error("{op} the shim connection: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The system's answer.
        source: std::io::Error,
    },
    /// The shim closed the connection before replying.
    #[error("the shim closed the connection before replying to {0}")]
    NoReply(&'static str),
    /// The reply is not JSON the shim writes.
    #[error("the shim's reply {line:?}: {source}")]
    BadReply {
        /// The line read.
        line: String,
        /// The parser's answer.
        source: serde_json::Error,
    },
    /// The shim refused or failed the request.
    #[error("{op}: {message}")]
    Refused {
        /// The request.
        op: &'static str,
        /// The shim's message.
        message: String,
    },
    /// The shim is gone and left no exit status.
    #[error("the shim in {0} is gone and recorded no exit status")]
    NoExit(PathBuf),
    /// The exit status file could not be read.
    #[error(transparent)]
    Exit(#[from] ExitError),
}

/// A shim, addressed by its state directory.
#[derive(Debug)]
pub struct ShimClient {
    dir: PathBuf,
    /// The directory, opened: a long path is reached as /proc/self/fd/N/shim.sock.
    dirfd: OwnedFd,
}

fn name(req: &Request) -> &'static str {
    match req {
        Request::Start => "start",
        Request::Attach { .. } => "attach",
        Request::Resize { .. } => "resize",
        Request::Wait => "wait",
        Request::CloseStdin => "close stdin",
    }
}

impl ShimClient {
    /// A client of the shim whose state directory is `state_dir`; fails if no shim
    /// listens there.
    pub fn connect(state_dir: &Path) -> Result<ShimClient, ClientError> {
        let client = ShimClient::at(state_dir)?;
        // Check now that someone listens; every request connects anew.
        client.socket()?;
        Ok(client)
    }

    /// A client of the shim of `state_dir` without checking that it listens: for a
    /// caller that has just had the shim's report.
    pub fn at(state_dir: &Path) -> Result<ShimClient, ClientError> {
        let dirfd = open(
            state_dir,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|source| ClientError::Dir {
            path: state_dir.into(),
            source,
        })?;
        Ok(ShimClient {
            dir: state_dir.into(),
            dirfd,
        })
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    fn socket(&self) -> Result<UnixStream, ClientError> {
        let direct = self.dir.join(SOCKET);
        let path = if direct.as_os_str().len() <= MAX_SOCKET_PATH {
            direct
        } else {
            PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", self.dirfd.as_raw_fd()))
        };
        UnixStream::connect(&path).map_err(|source| ClientError::Connect {
            path: self.dir.join(SOCKET),
            source,
        })
    }

    /// Connects and sends `req`; returns the connection, its reply still to read.
    fn send(&self, req: &Request) -> Result<UnixStream, ClientError> {
        let mut sock = self.socket()?;
        // A plain enum of numbers and booleans always serializes.
        let mut hello = serde_json::to_vec(req).unwrap_or_default();
        hello.push(b'\n');
        sock.write_all(&hello).map_err(|source| ClientError::Io {
            op: "write to",
            source,
        })?;
        Ok(sock)
    }

    /// Sends `req` and reads the reply line; returns the connection for what follows.
    fn request(&self, req: &Request) -> Result<(BufReader<UnixStream>, Reply), ClientError> {
        let mut reader = BufReader::new(self.send(req)?);
        let reply = read_reply(&mut reader, name(req))?;
        if let Some(message) = reply.error.clone() {
            return Err(ClientError::Refused {
                op: name(req),
                message,
            });
        }
        Ok((reader, reply))
    }

    /// Starts the container (or runs the exec); returns its host pid.
    pub fn start(&self) -> Result<i32, ClientError> {
        let (_, reply) = self.request(&Request::Start)?;
        Ok(reply.pid.unwrap_or(0))
    }

    /// Attaches to the chosen streams.
    pub fn attach(
        &self,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<AttachStream, ClientError> {
        let req = Request::Attach {
            stdin,
            stdout,
            stderr,
        };
        let (reader, _) = self.request(&req)?;
        Ok(AttachStream { reader })
    }

    /// Sets the terminal's size.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<(), ClientError> {
        self.request(&Request::Resize { rows, cols }).map(drop)
    }

    /// Closes the container's stdin.
    pub fn close_stdin(&self) -> Result<(), ClientError> {
        self.request(&Request::CloseStdin).map(drop)
    }

    /// Asks for the exit status now and returns the connection the answer will come on
    /// (one line, when the process has ended): a waiter in place before a start cannot
    /// miss the end however soon it comes.
    pub fn send_wait(&self) -> Result<UnixStream, ClientError> {
        self.send(&Request::Wait)
    }

    /// Waits for the process to exit; returns its status. If the shim goes away
    /// without replying, the status is read from `exit.json`.
    pub fn wait(&self) -> Result<ExitStatus, ClientError> {
        match self.request(&Request::Wait) {
            Ok((_, reply)) => match (reply.exit_code, reply.finished_at) {
                (Some(exit_code), Some(finished_at)) => Ok(ExitStatus {
                    exit_code,
                    finished_at,
                    oom_killed: reply.oom_killed.unwrap_or(false),
                }),
                _ => await_exit(&self.dir),
            },
            Err(ClientError::NoReply(_) | ClientError::Connect { .. } | ClientError::Io { .. }) => {
                await_exit(&self.dir)
            }
            Err(e) => Err(e),
        }
    }
}

/// What is found of a shim in a state directory (a restarted daemon asks this).
#[derive(Debug)]
pub enum Found {
    /// A live shim answers on its socket.
    Live(ShimClient),
    /// The shim is gone; it recorded this exit status.
    Exited(ExitStatus),
    /// No shim answers and no exit status was recorded (the shim was killed).
    Lost,
}

/// Looks for the shim of `state_dir`: its socket, else its `exit.json`.
pub fn find(state_dir: &Path) -> Result<Found, ClientError> {
    match ShimClient::connect(state_dir) {
        Ok(client) => return Ok(Found::Live(client)),
        Err(ClientError::Connect { .. }) => {}
        Err(e) => return Err(e),
    }
    // No grace here (unlike `wait`): after a reboot every shim is gone without a status,
    // and a restarting daemon must not wait for each.
    Ok(match ExitStatus::read(state_dir)? {
        Some(status) => Found::Exited(status),
        None => Found::Lost,
    })
}

/// How long a gone shim's exit status may take to appear: a shim writes `exit.json` before
/// it removes its socket, but a client may find the shim gone (its pid) before that.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The exit status recorded in `state_dir`, waiting up to [`EXIT_GRACE`] for it.
fn await_exit(state_dir: &Path) -> Result<ExitStatus, ClientError> {
    let deadline = std::time::Instant::now() + EXIT_GRACE;
    loop {
        if let Some(status) = ExitStatus::read(state_dir)? {
            return Ok(status);
        }
        if std::time::Instant::now() >= deadline {
            return Err(ClientError::NoExit(state_dir.into()));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The exit status recorded in `state_dir`, which must be there.
pub fn read_exit(state_dir: &Path) -> Result<ExitStatus, ClientError> {
    ExitStatus::read(state_dir)?.ok_or_else(|| ClientError::NoExit(state_dir.into()))
}

fn read_reply(reader: &mut BufReader<UnixStream>, op: &'static str) -> Result<Reply, ClientError> {
    let mut line = String::new();
    let n = reader
        .read_line(&mut line)
        .map_err(|source| ClientError::Io {
            op: "read from",
            source,
        })?;
    if n == 0 {
        return Err(ClientError::NoReply(op));
    }
    serde_json::from_str(line.trim_end()).map_err(|source| ClientError::BadReply { line, source })
}

/// An attached connection: output frames from the shim, stdin frames to it.
#[derive(Debug)]
pub struct AttachStream {
    reader: BufReader<UnixStream>,
}

/// One frame of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// 1 stdout, 2 stderr.
    pub stream: u8,
    /// The bytes.
    pub data: Vec<u8>,
}

impl AttachStream {
    /// The next output frame; None once the shim has closed the stream (the process
    /// has exited and all its output was sent).
    pub fn read_frame(&mut self) -> std::io::Result<Option<Frame>> {
        let mut h = [0u8; frame::HEADER];
        match self.reader.read_exact(&mut h) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            r => r?,
        }
        let (stream, len) = frame::parse(&h);
        let mut data = vec![0u8; len as usize];
        self.reader.read_exact(&mut data)?;
        Ok(Some(Frame { stream, data }))
    }

    /// Sends `data` to the container's stdin.
    pub fn write_stdin(&mut self, data: &[u8]) -> std::io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let sock = self.reader.get_mut();
        sock.write_all(&frame::header(frame::STDIN, data.len() as u32))?;
        sock.write_all(data)
    }

    /// Closes the container's stdin (an empty stdin frame).
    pub fn close_stdin(&mut self) -> std::io::Result<()> {
        self.reader
            .get_mut()
            .write_all(&frame::header(frame::STDIN, 0))
    }

    /// Makes [`AttachStream::read_frame`] fail with `WouldBlock` or `TimedOut` when no
    /// output comes for `timeout` (None: wait for ever).
    pub fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
        self.reader.get_ref().set_read_timeout(timeout)
    }

    /// A second handle for writing stdin frames from another thread.
    pub fn try_clone(&self) -> std::io::Result<AttachStream> {
        Ok(AttachStream {
            reader: BufReader::new(self.reader.get_ref().try_clone()?),
        })
    }

    /// The raw connection, and the bytes already read from it (the start of the frame
    /// stream), for a caller that passes frames on without decoding them.
    pub fn into_parts(self) -> (UnixStream, Vec<u8>) {
        let buffered = self.reader.buffer().to_vec();
        (self.reader.into_inner(), buffered)
    }
}
