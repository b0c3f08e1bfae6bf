//! One json-file line: `{"log":"hi\n","stream":"stdout","time":"2025-01-02T03:04:05.1Z"}`.
//! Encoding matches dockerd byte for byte: `"` and `\` escaped with a backslash, `\n` and
//! `\r` as themselves, other control characters and `<`, `>`, `&` as `\u00XX`, U+2028
//! and U+2029 as `\u2028`/`\u2029`, and every byte of an invalid UTF-8 sequence as one
//! `\ufffd`; an empty `log` is left out, as Go's `omitempty` does.

use std::borrow::Cow;
use std::time::SystemTime;

use serde::Deserialize;

use crate::time::{parse_timestamp, write_rfc3339_nano};
use crate::Stream;

/// One log line read back: which stream, when the shim read it, and its bytes (with
/// the trailing `\n` unless the line was a partial chunk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The stream the line came from.
    pub stream: Stream,
    /// When the line was read from the container.
    pub time: SystemTime,
    /// The line's bytes as the json `log` string holds them (invalid UTF-8 already
    /// replaced by U+FFFD when it was written).
    pub line: Vec<u8>,
}

/// Why a json-file line could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The line is not a json-file object.
    #[error("not a json-file log line: {0}")]
    Json(#[from] serde_json::Error),
    /// The `time` field is not an RFC 3339 UTC time.
    #[error("bad log time {0:?}")]
    Time(String),
    /// The `stream` field names neither stdout nor stderr.
    #[error("bad log stream {0:?}")]
    Stream(String),
}

/// Appends one complete json-file line, with its final `\n`, for `chunk` read from
/// `stream` at `time`.
pub fn encode_line(out: &mut Vec<u8>, stream: Stream, chunk: &[u8], time: SystemTime) {
    let mut stamp = Vec::with_capacity(32);
    write_rfc3339_nano(&mut stamp, time);
    encode_line_stamped(out, stream, chunk, &stamp);
}

/// [`encode_line`] with the time already written as [`write_rfc3339_nano`] does (the
/// lines of one read share it, and formatting it once is cheaper).
pub fn encode_line_stamped(out: &mut Vec<u8>, stream: Stream, chunk: &[u8], stamp: &[u8]) {
    out.push(b'{');
    if !chunk.is_empty() {
        out.extend_from_slice(b"\"log\":");
        push_json_string(out, chunk);
        out.push(b',');
    }
    out.extend_from_slice(b"\"stream\":\"");
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(stamp);
    out.extend_from_slice(b"\"}\n");
}

/// Appends `bytes` as a JSON string the way dockerd's json-file writer does.
fn push_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
        push_valid(out, bytes);
        out.push(b'"');
        return;
    }
    for chunk in bytes.utf8_chunks() {
        push_valid(out, chunk.valid().as_bytes());
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

/// Bytes that stand for themselves in a JSON string as dockerd writes it (0xE2 may
/// begin U+2028 or U+2029, which do not).
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x20;
    while b < 256 {
        t[b] = !matches!(b as u8, b'"' | b'\\' | b'<' | b'>' | b'&' | 0xe2);
        b += 1;
    }
    t
};

/// Appends valid UTF-8, escaping what dockerd escapes.
fn push_valid(out: &mut Vec<u8>, text: &[u8]) {
    let mut run = 0;
    let mut i = 0;
    while i < text.len() {
        while i < text.len() && PLAIN[usize::from(text[i])] {
            i += 1;
        }
        let Some(&b) = text.get(i) else {
            break;
        };
        let skip = match b {
            0x20..=0x7f if !matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&') => 0,
            0x80.. if !is_line_separator(&text[i..]) => 0,
            0x80.. => 3,
            _ => 1,
        };
        if skip == 0 {
            i += 1;
            continue;
        }
        out.extend_from_slice(&text[run..i]);
        if skip == 3 {
            out.extend_from_slice(if text[i + 2] == 0xa8 {
                b"\\u2028"
            } else {
                b"\\u2029"
            });
        } else {
            push_ascii_escape(out, b);
        }
        i += skip;
        run = i;
    }
    out.extend_from_slice(&text[run..]);
}

/// Whether valid UTF-8 `text` starts with U+2028 or U+2029 (`E2 80 A8`/`E2 80 A9`).
fn is_line_separator(text: &[u8]) -> bool {
    matches!(text, [0xe2, 0x80, 0xa8 | 0xa9, ..])
}

/// Appends the escape of one ASCII byte that cannot appear as itself.
fn push_ascii_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]),
    }
}

/// The fields of a json-file line that berth reads (docker's `attrs` is ignored).
#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(default, borrow)]
    log: Cow<'a, str>,
    #[serde(default, borrow)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Cow<'a, str>,
}

/// Parses one json-file line (with or without its final `\n`). A line without a
/// `stream` field is taken as stdout, as docker's reader does.
pub fn parse_line(line: &[u8]) -> Result<LogEntry, LineError> {
    let raw: RawLine<'_> = serde_json::from_slice(line)?;
    let time = parse_timestamp(&raw.time).ok_or_else(|| LineError::Time(raw.time.into()))?;
    let stream = match raw.stream.as_deref() {
        None | Some("stdout") => Stream::Stdout,
        Some("stderr") => Stream::Stderr,
        Some(other) => return Err(LineError::Stream(other.to_owned())),
    };
    Ok(LogEntry {
        stream,
        time,
        line: raw.log.into_owned().into_bytes(),
    })
}

/// Reads only the `time` of a json-file line; what `--since` bisects on.
pub fn parse_time(line: &[u8]) -> Result<SystemTime, LineError> {
    #[derive(Deserialize)]
    struct TimeOnly<'a> {
        #[serde(borrow)]
        time: Cow<'a, str>,
    }
    let raw: TimeOnly<'_> = serde_json::from_slice(line)?;
    parse_timestamp(&raw.time).ok_or_else(|| LineError::Time(raw.time.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn line(chunk: &[u8]) -> String {
        let mut out = Vec::new();
        let time = UNIX_EPOCH + Duration::new(1_735_787_045, 120_000_000);
        encode_line(&mut out, Stream::Stdout, chunk, time);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_dockerd() {
        let t = r#""stream":"stdout","time":"2025-01-02T03:04:05.12Z"}"#;
        assert_eq!(line(b"hi\n"), format!("{{\"log\":\"hi\\n\",{t}\n"));
        assert_eq!(
            line(b"a\"b\\c\td\re<f>&\x1b\x7f"),
            format!("{{\"log\":\"a\\\"b\\\\c\\u0009d\\re\\u003cf\\u003e\\u0026\\u001b\x7f\",{t}\n")
        );
        assert_eq!(
            line("x\u{2028}y\u{2029}é€😀".as_bytes()),
            format!("{{\"log\":\"x\\u2028y\\u2029é€😀\",{t}\n")
        );
        // Go replaces each byte of an invalid sequence: a truncated 3-byte sequence
        // is two replacements, a lone continuation byte one.
        assert_eq!(
            line(b"a\xe2\x82b\x80c\xff"),
            format!("{{\"log\":\"a\\ufffd\\ufffdb\\ufffdc\\ufffd\",{t}\n")
        );
        // Encoded surrogates are invalid UTF-8: three bytes, three replacements.
        assert_eq!(
            line(b"\xed\xa0\x80"),
            format!("{{\"log\":\"\\ufffd\\ufffd\\ufffd\",{t}\n")
        );
        assert_eq!(line(b""), format!("{{{t}\n"));
    }

    #[test]
    fn parse_reads_back() {
        let text = line(b"q\"\\\t\x01<>&\n");
        let entry = parse_line(text.as_bytes()).unwrap();
        assert_eq!(entry.line, b"q\"\\\t\x01<>&\n");
        assert_eq!(entry.stream, Stream::Stdout);
        assert_eq!(
            entry.time,
            UNIX_EPOCH + Duration::new(1_735_787_045, 120_000_000)
        );
        assert_eq!(parse_time(text.as_bytes()).unwrap(), entry.time);
        assert!(matches!(
            parse_line(b"{\"log\":1}"),
            Err(LineError::Json(_))
        ));
        assert!(matches!(
            parse_line(br#"{"time":"yesterday"}"#),
            Err(LineError::Time(_))
        ));
        assert!(matches!(
            parse_line(br#"{"stream":"stdin","time":"2025-01-02T03:04:05Z"}"#),
            Err(LineError::Stream(_))
        ));
    }
}
