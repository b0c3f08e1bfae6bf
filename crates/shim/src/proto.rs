//! The control socket's messages: the client's hello line, the shim's reply line, and
//! Docker's multiplexed stream frames used after an attach.

use serde::{Deserialize, Serialize};

/// The longest hello line the shim accepts.
pub const MAX_HELLO: usize = 4096;

/// A client's hello: what the connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Start the container (or run the exec).
    Start,
    /// Stream the chosen output to this connection and take stdin from it.
    Attach {
        /// Frames of stream 0 from the client go to the container's stdin.
        #[serde(default)]
        stdin: bool,
        /// Send the container's stdout (stream 1).
        #[serde(default)]
        stdout: bool,
        /// Send the container's stderr (stream 2).
        #[serde(default)]
        stderr: bool,
    },
    /// Set the terminal's size.
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// Reply with the exit status once the process has exited.
    Wait,
    /// Close the container's stdin (once what was sent before is written).
    CloseStdin,
}

/// The shim's reply line. Which fields are set depends on the request: `ok` (with `pid`
/// for a start), `error`, or the exit status fields for a wait.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The request was carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// The started process's host pid (start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Why the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The exit code (wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// When the process exited, RFC 3339 with nanoseconds (wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Whether the kernel's OOM killer ended it (wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_killed: Option<bool>,
}

impl Reply {
    /// `{"ok":true}`.
    pub fn ok() -> Reply {
        Reply {
            ok: Some(true),
            ..Reply::default()
        }
    }

    /// `{"error":message}`.
    pub fn error(message: impl Into<String>) -> Reply {
        Reply {
            error: Some(message.into()),
            ..Reply::default()
        }
    }

    /// The reply as one line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        // A struct of strings, numbers and booleans always serializes.
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// Docker's multiplexed stream framing (the `application/vnd.docker.multiplexed-stream`
/// of attach and logs): an 8-byte header, then the payload.
pub mod frame {
    /// The header's length.
    pub const HEADER: usize = 8;
    /// Stream number of stdin.
    pub const STDIN: u8 = 0;
    /// Stream number of stdout.
    pub const STDOUT: u8 = 1;
    /// Stream number of stderr.
    pub const STDERR: u8 = 2;

    /// The header of a frame of `len` bytes on `stream`.
    pub fn header(stream: u8, len: u32) -> [u8; HEADER] {
        let l = len.to_be_bytes();
        [stream, 0, 0, 0, l[0], l[1], l[2], l[3]]
    }

    /// The stream and payload length a header gives.
    pub fn parse(h: &[u8; HEADER]) -> (u8, u32) {
        (h[0], u32::from_be_bytes([h[4], h[5], h[6], h[7]]))
    }

    /// Splits a byte stream into frames, however it is cut into reads.
    #[derive(Debug, Default)]
    pub struct Decoder {
        header: [u8; HEADER],
        have: usize,
        stream: u8,
        left: u32,
        in_payload: bool,
    }

    /// A piece of decoded input.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Piece<'a> {
        /// Payload bytes of a frame on `stream` (a frame may come in several pieces).
        Data(u8, &'a [u8]),
        /// A frame with an empty payload on this stream.
        Empty(u8),
    }

    impl Decoder {
        /// Feeds `input`, calling `out` for each piece of payload (or empty frame) found.
        pub fn feed<'a>(&mut self, mut input: &'a [u8], mut out: impl FnMut(Piece<'a>)) {
            while !input.is_empty() {
                if self.in_payload {
                    let n = input.len().min(self.left as usize);
                    out(Piece::Data(self.stream, &input[..n]));
                    input = &input[n..];
                    self.left -= n as u32;
                    self.in_payload = self.left > 0;
                    continue;
                }
                let n = input.len().min(HEADER - self.have);
                self.header[self.have..self.have + n].copy_from_slice(&input[..n]);
                self.have += n;
                input = &input[n..];
                if self.have == HEADER {
                    self.have = 0;
                    (self.stream, self.left) = parse(&self.header);
                    self.in_payload = self.left > 0;
                    if self.left == 0 {
                        out(Piece::Empty(self.stream));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::frame::{self, Decoder, Piece};
    use super::*;

    #[test]
    fn hellos_read_as_documented() {
        let parse = |s: &str| serde_json::from_str::<Request>(s).unwrap();
        assert_eq!(parse(r#"{"op":"start"}"#), Request::Start);
        assert_eq!(
            parse(r#"{"op":"attach","stdin":true,"stdout":true}"#),
            Request::Attach {
                stdin: true,
                stdout: true,
                stderr: false
            }
        );
        assert_eq!(
            parse(r#"{"op":"resize","rows":30,"cols":100}"#),
            Request::Resize {
                rows: 30,
                cols: 100
            }
        );
        assert!(serde_json::from_str::<Request>(r#"{"op":"fly"}"#).is_err());
        assert_eq!(Reply::ok().to_line(), b"{\"ok\":true}\n");
        assert_eq!(Reply::error("no").to_line(), b"{\"error\":\"no\"}\n");
    }

    #[test]
    fn frames_decode_however_the_input_is_cut() {
        let mut wire = Vec::new();
        for (s, p) in [(1u8, &b"hello"[..]), (2, b""), (0, b"x\ny")] {
            wire.extend(frame::header(s, p.len() as u32));
            wire.extend(p);
        }
        for cut in 0..=wire.len() {
            let mut d = Decoder::default();
            let mut got: Vec<(u8, Vec<u8>, bool)> = Vec::new();
            let mut take = |p: Piece| match p {
                Piece::Data(s, b) => match got.last_mut() {
                    Some((ls, lb, false)) if *ls == s => lb.extend(b),
                    _ => got.push((s, b.to_vec(), false)),
                },
                Piece::Empty(s) => got.push((s, Vec::new(), true)),
            };
            d.feed(&wire[..cut], &mut take);
            d.feed(&wire[cut..], &mut take);
            let want = vec![
                (1, b"hello".to_vec(), false),
                (2, Vec::new(), true),
                (0, b"x\ny".to_vec(), false),
            ];
            assert_eq!(got, want, "cut at {cut}");
        }
    }
}
