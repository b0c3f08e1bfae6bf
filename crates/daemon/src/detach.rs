//! Detach keys (`detachKeys=ctrl-p,ctrl-q`, docker's default): parsed as docker parses
//! them, and looked for in an attached terminal's input. Bytes that may begin the
//! sequence are held back until it is clear whether they do.

use crate::error::{ApiError, ApiResult};

/// docker's default: ctrl-p, ctrl-q.
pub const DEFAULT: [u8; 2] = [16, 17];

/// Parses `ctrl-p,ctrl-q` style keys; "" is the default.
pub fn parse(spec: &str) -> ApiResult<Vec<u8>> {
    if spec.is_empty() {
        return Ok(DEFAULT.to_vec());
    }
    spec.split(',').map(|k| key(k, spec)).collect()
}

fn key(k: &str, spec: &str) -> ApiResult<u8> {
    let bad = || ApiError::BadParameter(format!("Invalid detach keys ({spec}) provided"));
    if let Some(c) = k.strip_prefix("ctrl-") {
        let &[b] = c.as_bytes() else {
            return Err(bad());
        };
        return match b {
            b'a'..=b'z' => Ok(b - b'a' + 1),
            b'@' => Ok(0),
            b'[' => Ok(27),
            b'\\' => Ok(28),
            b']' => Ok(29),
            b'^' => Ok(30),
            b'_' => Ok(31),
            _ => Err(bad()),
        };
    }
    match k.as_bytes() {
        &[b] if b.is_ascii() => Ok(b),
        _ => Err(bad()),
    }
}

/// Watches input for the sequence.
#[derive(Debug, Clone)]
pub struct Scanner {
    keys: Vec<u8>,
    /// How many bytes of the sequence the input has matched so far (held back).
    matched: usize,
}

impl Scanner {
    /// A scanner for `keys` (not empty).
    pub fn new(keys: Vec<u8>) -> Scanner {
        Scanner { keys, matched: 0 }
    }

    /// Appends to `out` what of `input` goes to the container; true once the whole
    /// sequence was typed (the input after it is dropped).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return true;
                }
                continue;
            }
            // Not the sequence: what was held back goes on, then this byte (which may
            // itself begin the sequence).
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return true;
                }
            } else {
                out.push(b);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_like_dockers() {
        assert_eq!(parse("").unwrap(), DEFAULT);
        assert_eq!(parse("ctrl-a,x").unwrap(), [1, b'x']);
        assert_eq!(parse("ctrl-@,ctrl-[,ctrl-_").unwrap(), [0, 27, 31]);
        assert!(parse("ctrl-").is_err());
        assert!(parse("ctrl-1").is_err());
        assert!(parse("ab").is_err());
    }

    #[test]
    fn the_sequence_detaches_and_near_misses_pass() {
        let mut s = Scanner::new(DEFAULT.to_vec());
        let mut out = Vec::new();
        assert!(!s.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab");
        assert!(!s.feed(b"c\x10\x10", &mut out));
        assert_eq!(out, b"ab\x10c\x10");
        assert!(s.feed(b"\x11rest", &mut out));
        assert_eq!(out, b"ab\x10c\x10");
        let mut one = Scanner::new(vec![b'q']);
        let mut out = Vec::new();
        assert!(one.feed(b"abq", &mut out));
        assert_eq!(out, b"ab");
    }
}
