//! Docker's multiplexed stream framing, used by attach and logs when the container has
//! no terminal: every payload is preceded by an 8-byte header, the stream type (0 stdin,
//! 1 stdout, 2 stderr, 3 an error from the daemon), three zero bytes and the payload's
//! length as a big-endian `u32`. [`Decoder`] splits a byte stream back into frames
//! however the bytes arrive.

use crate::json::LogEntry;
use crate::time::write_timestamp;

/// Stream type of standard input.
pub const STDIN: u8 = 0;
/// Stream type of standard output.
pub const STDOUT: u8 = 1;
/// Stream type of standard error.
pub const STDERR: u8 = 2;
/// Stream type of an error the daemon reports in the middle of a stream.
pub const SYSTEMERR: u8 = 3;
/// Length of a frame header.
pub const HEADER_LEN: usize = 8;

/// A frame that cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A payload longer than a header can describe.
    #[error("frame payload of {len} bytes is longer than 4 GiB")]
    TooLong {
        /// The payload's length.
        len: usize,
    },
    /// A header whose stream type is not 0 to 3 (the input is not framed).
    #[error("unrecognized stream type {stream} in frame header at byte {offset}")]
    BadStream {
        /// The stream type byte.
        stream: u8,
        /// Where the header starts in the decoded stream.
        offset: u64,
    },
}

/// The header of a frame carrying `len` bytes of `stream`.
pub fn header(stream: u8, len: u32) -> [u8; HEADER_LEN] {
    let [a, b, c, d] = len.to_be_bytes();
    [stream, 0, 0, 0, a, b, c, d]
}

/// The header for `payload` on `stream`.
pub fn encode(stream: u8, payload: &[u8]) -> Result<[u8; HEADER_LEN], FrameError> {
    let len =
        u32::try_from(payload.len()).map_err(|_| FrameError::TooLong { len: payload.len() })?;
    Ok(header(stream, len))
}

/// Appends `payload` on `stream` to `out` as one frame, or several if it is longer than
/// a header can describe.
pub fn encode_into(out: &mut Vec<u8>, stream: u8, payload: &[u8]) {
    let mut pieces = payload.chunks(u32::MAX as usize);
    if payload.is_empty() {
        out.extend_from_slice(&header(stream, 0));
    }
    for piece in &mut pieces {
        // chunks() keeps every piece within u32::MAX bytes.
        out.extend_from_slice(&header(stream, piece.len() as u32));
        out.extend_from_slice(piece);
    }
}

/// Appends a log entry as the logs endpoint sends it: with `timestamps`, the time as
/// `logs -t` shows it and a space before the line; `multiplexed` (a container without
/// a terminal) wraps it in a frame of its stream, otherwise the bytes go as they are.
pub fn encode_entry(out: &mut Vec<u8>, entry: &LogEntry, timestamps: bool, multiplexed: bool) {
    let header_at = out.len();
    if multiplexed {
        out.extend_from_slice(&[0; HEADER_LEN]);
    }
    if timestamps {
        write_timestamp(out, entry.time);
        out.push(b' ');
    }
    out.extend_from_slice(&entry.line);
    if multiplexed {
        let len = out.len() - header_at - HEADER_LEN;
        // A log line is at most ~1 MiB (the reader refuses longer ones).
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        out[header_at..header_at + HEADER_LEN]
            .copy_from_slice(&header(entry.stream.frame_type(), len));
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The stream type (see [`STDOUT`] and the other constants).
    pub stream: u8,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Splits a framed byte stream into frames, incrementally: [`feed`](Self::feed) it
/// what the socket gives, then take frames with [`next_frame`](Self::next_frame) until
/// it returns `None`.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    start: usize,
    consumed: u64,
}

impl Decoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the stream.
    pub fn feed(&mut self, data: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, `None` until enough bytes were fed. A header with an
    /// unknown stream type is an error (and stays one: the stream is not framed).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let avail = &self.buf[self.start..];
        let Some(head) = avail.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let stream = head[0];
        if stream > SYSTEMERR {
            return Err(FrameError::BadStream {
                stream,
                offset: self.consumed,
            });
        }
        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let Some(payload) = avail.get(HEADER_LEN..HEADER_LEN + len) else {
            return Ok(None);
        };
        let frame = Frame {
            stream,
            payload: payload.to_vec(),
        };
        self.start += HEADER_LEN + len;
        self.consumed += (HEADER_LEN + len) as u64;
        Ok(Some(frame))
    }

    /// Bytes fed and not yet returned in a frame (0 at a frame boundary).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout() {
        assert_eq!(header(STDERR, 0x0102_0304), [2, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(encode(STDOUT, b"hello"), Ok([1, 0, 0, 0, 0, 0, 0, 5]));
        let mut out = Vec::new();
        encode_into(&mut out, STDIN, b"");
        assert_eq!(out, [0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn entries_as_the_logs_endpoint_sends_them() {
        use crate::Stream;
        use std::time::{Duration, UNIX_EPOCH};
        let entry = LogEntry {
            stream: Stream::Stderr,
            time: UNIX_EPOCH + Duration::new(1_735_787_045, 5),
            line: b"boom\n".to_vec(),
        };
        let mut out = Vec::new();
        encode_entry(&mut out, &entry, false, false);
        assert_eq!(out, b"boom\n");
        out.clear();
        encode_entry(&mut out, &entry, true, true);
        let text = b"2025-01-02T03:04:05.000000005Z boom\n";
        assert_eq!(out[..HEADER_LEN], header(STDERR, text.len() as u32));
        assert_eq!(&out[HEADER_LEN..], text);
    }

    #[test]
    fn bad_stream_type() {
        let mut decoder = Decoder::new();
        decoder.feed(&header(STDOUT, 1));
        decoder.feed(b"x");
        decoder.feed(b"HTTP/1.1");
        assert_eq!(decoder.next_frame().unwrap().unwrap().payload, b"x");
        assert_eq!(
            decoder.next_frame(),
            Err(FrameError::BadStream {
                stream: b'H',
                offset: 9
            })
        );
    }
}
