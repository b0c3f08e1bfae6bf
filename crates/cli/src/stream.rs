//! A hijacked attach or exec connection, pumped: standard input goes to the container on
//! its own thread (with the detach keys watched when there is a terminal, and EOF passed
//! on by closing the write half), the container's output comes back raw with a terminal
//! or in Docker's 8-byte frames without one. Window changes and (without a terminal)
//! signals are forwarded by a signal thread.

use std::io::{BufReader, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use berth_logs::frame::{self, Decoder};

use crate::client::{Client, Conn, Query};
use crate::tty::{EscapeProxy, Scan};

/// How the streams are attached.
pub struct Streams {
    /// Send our stdin to the container.
    pub stdin: bool,
    /// The container has a terminal: raw bytes, detach keys.
    pub tty: bool,
    /// The detach sequence (with a terminal only).
    pub detach_keys: Vec<u8>,
}

/// How a pumped stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The container's output ended.
    Ended,
    /// The user typed the detach keys.
    Detached,
}

/// Pumps `conn` until the output ends or the user detaches.
pub fn pump(conn: BufReader<Conn>, s: &Streams) -> anyhow::Result<Outcome> {
    let detached = Arc::new(AtomicBool::new(false));
    if s.stdin {
        let writer = conn.get_ref().try_clone().context("clone the connection")?;
        let keys = if s.tty {
            s.detach_keys.clone()
        } else {
            Vec::new()
        };
        let flag = detached.clone();
        std::thread::spawn(move || send_stdin(writer, keys, &flag));
    }
    let ended = if s.tty {
        copy_raw(conn)
    } else {
        copy_frames(conn)
    };
    match ended {
        _ if detached.load(Ordering::SeqCst) => Ok(Outcome::Detached),
        Ok(()) => Ok(Outcome::Ended),
        Err(e) => Err(e),
    }
}

/// Copies stdin to the connection until EOF (then half-closes it) or the detach keys.
fn send_stdin(mut conn: Conn, keys: Vec<u8>, detached: &AtomicBool) {
    let mut proxy = EscapeProxy::new(keys);
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; 32 << 10];
    let mut out = Vec::with_capacity(buf.len());
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => {
                conn.shutdown(Shutdown::Write).ok();
                return;
            }
            Ok(n) => n,
        };
        out.clear();
        let scan = proxy.feed(&buf[..n], &mut out);
        if conn.write_all(&out).is_err() {
            return;
        }
        if scan == Scan::Detach {
            detached.store(true, Ordering::SeqCst);
            conn.shutdown(Shutdown::Both).ok();
            return;
        }
    }
}

/// A terminal's bytes to stdout as they come.
fn copy_raw(mut conn: BufReader<Conn>) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 32 << 10];
    let mut out = std::io::stdout().lock();
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("read the attached stream"),
        };
        out.write_all(&buf[..n]).context("write to stdout")?;
        out.flush().context("write to stdout")?;
    }
}

/// Framed output to stdout and stderr.
fn copy_frames(mut conn: BufReader<Conn>) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 32 << 10];
    let mut decoder = Decoder::new();
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("read the attached stream"),
        };
        decoder.feed(&buf[..n]);
        while let Some(f) = decoder.next_frame()? {
            write_frame(f.stream, &f.payload)?;
        }
    }
}

/// Writes one frame's payload where its stream goes.
pub fn write_frame(stream: u8, payload: &[u8]) -> anyhow::Result<()> {
    match stream {
        frame::STDERR => {
            let mut err = std::io::stderr().lock();
            err.write_all(payload).context("write to stderr")?;
            err.flush().context("write to stderr")
        }
        frame::SYSTEMERR => anyhow::bail!("{}", String::from_utf8_lossy(payload).trim_end()),
        _ => {
            let mut out = std::io::stdout().lock();
            out.write_all(payload).context("write to stdout")?;
            out.flush().context("write to stdout")
        }
    }
}

/// What the signal thread resizes and signals.
#[derive(Clone)]
pub enum Target {
    /// A container (`/containers/{id}/resize`, `/kill`).
    Container(String),
    /// An exec (`/exec/{id}/resize`; signals are not forwarded).
    Exec(String),
}

impl Target {
    /// Sends the local window size, if there is a terminal.
    pub fn resize(&self, client: &Client) {
        let Some((rows, cols)) = crate::tty::window_size() else {
            return;
        };
        let path = match self {
            Target::Container(id) => format!("/containers/{id}/resize"),
            Target::Exec(id) => format!("/exec/{id}/resize"),
        };
        let q = Query::new()
            .add("h", &rows.to_string())
            .add("w", &cols.to_string());
        // A container that already exited cannot be resized; that is fine.
        client.post(&path, q).ok();
    }
}

/// Signals a proxy forwards to the container (docker's list less the ones about the
/// terminal and children).
const PROXIED: [i32; 8] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGCONT,
];

/// What the signal thread does.
pub struct Watch {
    /// Resize on SIGWINCH.
    pub tty: bool,
    /// Forward signals to the container.
    pub proxy: bool,
    /// Terminal settings to put back before dying of SIGTERM or SIGHUP.
    pub restore: Option<nix::sys::termios::Termios>,
}

/// Starts a thread that resizes on SIGWINCH, forwards signals, and restores the terminal
/// when berth is told to end, as `w` says.
pub fn watch_signals(client: &Client, target: Target, w: Watch) -> anyhow::Result<()> {
    let mut wanted = Vec::new();
    if w.tty {
        wanted.push(libc::SIGWINCH);
    }
    if w.proxy {
        wanted.extend_from_slice(&PROXIED);
    } else if w.restore.is_some() {
        wanted.extend_from_slice(&[libc::SIGTERM, libc::SIGHUP]);
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let mut signals = signal_hook::iterator::Signals::new(&wanted).context("watch signals")?;
    let client = client.clone();
    std::thread::spawn(move || {
        for sig in signals.forever() {
            match (sig, &target) {
                (libc::SIGWINCH, t) => t.resize(&client),
                (s, Target::Container(id)) if w.proxy => {
                    let q = Query::new().add("signal", &s.to_string());
                    client.post(&format!("/containers/{id}/kill"), q).ok();
                }
                (s, _) if !w.proxy => {
                    if let Some(saved) = &w.restore {
                        crate::tty::restore(saved);
                    }
                    std::process::exit(128 + s);
                }
                _ => {}
            }
        }
    });
    Ok(())
}
