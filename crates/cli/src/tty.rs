//! The local terminal: raw mode for `-t` (restored when the guard drops, on every return
//! path), its window size, and docker's detach keys (`ctrl-p,ctrl-q`).

use std::io::IsTerminal;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::termios::{self, SetArg, Termios};

/// Why a terminal setting failed.
#[derive(Debug, thiserror::Error)]
pub enum TtyError {
    /// tcgetattr/tcsetattr failed.
    #[error("{op} on the terminal: {source}")]
    Termios {
        /// The operation.
        op: &'static str,
        /// The error.
        source: nix::Error,
    },
    /// `--detach-keys` that do not parse.
    #[error("Invalid detach keys ({0}) provided")]
    BadDetachKeys(String),
}

/// Raw mode on standard input while it lives.
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    /// Puts stdin in raw mode if `on` and it is a terminal (nothing happens otherwise).
    pub fn enable(on: bool) -> Result<RawMode, TtyError> {
        let stdin = std::io::stdin();
        if !on || !stdin.is_terminal() {
            return Ok(RawMode { saved: None });
        }
        let fd = stdin.as_fd();
        let saved = termios::tcgetattr(fd).map_err(|source| TtyError::Termios {
            op: "tcgetattr",
            source,
        })?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).map_err(|source| TtyError::Termios {
            op: "tcsetattr",
            source,
        })?;
        Ok(RawMode { saved: Some(saved) })
    }
}

impl RawMode {
    /// The settings to go back to (`None` when nothing was changed).
    pub fn saved(&self) -> Option<Termios> {
        self.saved.clone()
    }
}

/// Puts the terminal settings `saved` back on stdin.
pub fn restore(saved: &Termios) {
    // Nothing more can be done if the terminal went away.
    termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved).ok();
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            restore(saved);
        }
    }
}

/// The window size of the terminal on stdout (else stdin): `(rows, columns)`.
pub fn window_size() -> Option<(u16, u16)> {
    size_of(std::io::stdout().as_fd()).or_else(|| size_of(std::io::stdin().as_fd()))
}

fn size_of(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    use std::os::fd::AsRawFd;
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we own; the fd is borrowed
    // from a live stdio handle.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// docker's default detach keys.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Parses docker's detach key list: comma-separated `ctrl-<key>` (a-z, @, [, \, ], ^, _)
/// or single characters.
pub fn detach_keys(spec: &str) -> Result<Vec<u8>, TtyError> {
    let bad = || TtyError::BadDetachKeys(spec.to_string());
    let mut out = Vec::new();
    for key in spec.split(',') {
        let lower = key.to_ascii_lowercase();
        if let Some(k) = lower.strip_prefix("ctrl-") {
            let [c] = k.as_bytes() else {
                return Err(bad());
            };
            let code = match c {
                b'a'..=b'z' => c - b'a' + 1,
                b'@' => 0,
                b'[' | b'\\' | b']' | b'^' | b'_' => c - b'@',
                _ => return Err(bad()),
            };
            out.push(code);
        } else if key.len() == 1 {
            out.push(key.as_bytes()[0]);
        } else {
            return Err(bad());
        }
    }
    Ok(out)
}

/// Watches typed bytes for the detach sequence, holding back a partial match.
pub struct EscapeProxy {
    keys: Vec<u8>,
    matched: usize,
}

/// What [`EscapeProxy::feed`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// Bytes to pass on.
    Pass,
    /// The whole sequence was typed: detach (the bytes before it are to be passed on).
    Detach,
}

impl EscapeProxy {
    /// A proxy for `keys` (empty: never detaches).
    pub fn new(keys: Vec<u8>) -> Self {
        EscapeProxy { keys, matched: 0 }
    }

    /// Scans `input`, appending what is to be sent on to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Scan {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return Scan::Pass;
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Scan::Detach;
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = usize::from(b == self.keys[0]);
            if self.matched == 0 {
                out.push(b);
            }
        }
        Scan::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_key_specs() {
        assert_eq!(detach_keys("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(detach_keys("ctrl-a,x").unwrap(), [1, b'x']);
        assert_eq!(detach_keys("ctrl-@,ctrl-[").unwrap(), [0, 27]);
        assert!(detach_keys("ctrl-").is_err());
        assert!(detach_keys("abc").is_err());
        assert!(detach_keys("ctrl-1").is_err());
    }

    #[test]
    fn escape_proxy_holds_partial_matches() {
        let mut p = EscapeProxy::new(vec![16, 17]);
        let mut out = Vec::new();
        assert_eq!(p.feed(b"ab\x10", &mut out), Scan::Pass);
        assert_eq!(out, b"ab");
        assert_eq!(p.feed(b"c", &mut out), Scan::Pass);
        assert_eq!(out, b"ab\x10c");
        out.clear();
        assert_eq!(p.feed(b"\x10\x10", &mut out), Scan::Pass);
        assert_eq!(out, b"\x10");
        out.clear();
        assert_eq!(p.feed(b"\x11tail", &mut out), Scan::Detach);
        assert!(out.is_empty());
        let mut none = EscapeProxy::new(vec![]);
        assert_eq!(none.feed(b"\x10\x11", &mut out), Scan::Pass);
    }
}
