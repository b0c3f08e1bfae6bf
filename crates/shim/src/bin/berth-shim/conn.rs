//! One client connection of the control socket: its hello, then its role (attached,
//! waiting), and a bounded output buffer. Sends never block; output that does not fit
//! in the buffer is dropped whole frames at a time, and counted.

use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use berth_shim::proto::{frame, Reply, Request, MAX_HELLO};
use nix::sys::socket::{send, MsgFlags};

/// The most output held for one client.
pub const OUT_CAP: usize = 256 * 1024;
/// A drained buffer bigger than this is freed.
const KEEP: usize = 16 * 1024;

/// What a connection is for, once its hello is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Its hello line is not complete yet.
    Hello,
    /// Attached to the process's stdio.
    Attach {
        /// Takes stdin from it.
        stdin: bool,
        /// Gets stdout.
        stdout: bool,
        /// Gets stderr.
        stderr: bool,
    },
    /// Waits for the exit status.
    Wait,
    /// Replied; closes once its output is sent.
    Done,
}

/// A client connection.
pub struct Conn {
    /// The socket (non-blocking).
    pub sock: UnixStream,
    /// What it is for.
    pub role: Role,
    hello: Vec<u8>,
    /// Splits its stdin frames.
    pub decoder: frame::Decoder,
    out: Vec<u8>,
    sent: usize,
    /// Bytes of output dropped because it did not read fast enough.
    pub dropped: u64,
    /// Its read side is open (not at EOF) and wanted.
    pub reading: bool,
    /// Reading is paused until the container's stdin drains.
    pub paused: bool,
    /// Events it is registered for.
    pub events: u32,
}

/// What a read from a client gave.
pub enum Input {
    /// Nothing (yet).
    None,
    /// Its hello, and what followed it in the same read.
    Hello(Result<Request, String>, Vec<u8>),
    /// Bytes after the hello (stdin frames).
    Data(usize),
    /// It closed its side.
    Eof,
}

impl Conn {
    /// A new connection, reading its hello.
    pub fn new(sock: UnixStream) -> Conn {
        Conn {
            sock,
            role: Role::Hello,
            hello: Vec::new(),
            decoder: frame::Decoder::default(),
            out: Vec::new(),
            sent: 0,
            dropped: 0,
            reading: true,
            paused: false,
            events: 0,
        }
    }

    /// Whether it gets output of stream `stream` (1 or 2).
    pub fn wants(&self, stream: u8) -> bool {
        match self.role {
            Role::Attach { stdout, stderr, .. } => {
                (stream == frame::STDOUT && stdout) || (stream == frame::STDERR && stderr)
            }
            _ => false,
        }
    }

    /// Reads what is there into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> std::io::Result<Input> {
        let n = match self.sock.read(buf) {
            Ok(0) => return Ok(Input::Eof),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                return Ok(Input::None)
            }
            Err(e) => return Err(e),
        };
        if self.role != Role::Hello {
            return Ok(Input::Data(n));
        }
        let Some(end) = buf[..n].iter().position(|b| *b == b'\n') else {
            if self.hello.len() + n > MAX_HELLO {
                return Ok(Input::Hello(Err("hello line too long".into()), Vec::new()));
            }
            self.hello.extend_from_slice(&buf[..n]);
            return Ok(Input::None);
        };
        self.hello.extend_from_slice(&buf[..end]);
        let req = serde_json::from_slice(&self.hello).map_err(|e| format!("bad hello: {e}"));
        self.hello = Vec::new();
        Ok(Input::Hello(req, buf[end + 1..n].to_vec()))
    }

    /// Queues a reply line (always kept: it is small).
    pub fn reply(&mut self, reply: &Reply) {
        self.out.extend_from_slice(&reply.to_line());
    }

    /// Queues a frame of `data` on `stream`, or drops it if the buffer is full.
    pub fn frame(&mut self, stream: u8, data: &[u8]) {
        if self.out.len() - self.sent + frame::HEADER + data.len() > OUT_CAP {
            self.dropped += data.len() as u64;
            return;
        }
        self.out
            .extend_from_slice(&frame::header(stream, data.len() as u32));
        self.out.extend_from_slice(data);
    }

    /// How many bytes wait to be sent.
    pub fn unsent(&self) -> usize {
        self.out.len() - self.sent
    }

    /// Whether output waits to be sent.
    pub fn pending(&self) -> bool {
        self.sent < self.out.len()
    }

    /// Sends what it can. An error means the client is gone.
    pub fn flush(&mut self) -> nix::Result<()> {
        while self.pending() {
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
            match send(self.sock.as_raw_fd(), &self.out[self.sent..], flags) {
                Ok(n) => self.sent += n,
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e),
            }
        }
        if !self.pending() {
            self.sent = 0;
            self.out.clear();
            if self.out.capacity() > KEEP {
                self.out = Vec::new();
            }
        } else if self.sent > OUT_CAP / 2 {
            self.out.drain(..self.sent);
            self.sent = 0;
        }
        Ok(())
    }
}
