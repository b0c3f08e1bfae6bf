//! sha256 over a stream while it passes: a hashing reader and a hashing writer.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;

/// Hashes (unless made by [`HashReader::counting`]) and counts every byte read through
/// it.
pub(crate) struct HashReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    count: u64,
}

impl<R: Read> HashReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Some(Sha256::new()),
            count: 0,
        }
    }

    /// One that only counts, for a stream whose digest is known otherwise.
    pub fn counting(inner: R) -> Self {
        Self {
            inner,
            hasher: None,
            count: 0,
        }
    }

    /// Reads the rest of the stream (so the digest covers all of it), then returns the
    /// digest (none if only counting) and the byte count.
    pub fn finish(mut self) -> io::Result<(Option<Digest>, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((self.hasher.map(to_digest), self.count))
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes (unless made by [`HashWriter::counting`]) and counts every byte written
/// through it.
pub(crate) struct HashWriter<W> {
    inner: W,
    hasher: Option<Sha256>,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Some(Sha256::new()),
            count: 0,
        }
    }

    /// One that only counts, for a stream whose digest is known otherwise.
    pub fn counting(inner: W) -> Self {
        Self {
            inner,
            hasher: None,
            count: 0,
        }
    }

    /// The digest (none if only counting) and byte count so far, and the inner writer.
    pub fn finish(self) -> (Option<Digest>, u64, W) {
        (self.hasher.map(to_digest), self.count, self.inner)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The sha256 digest of bytes.
pub(crate) fn sha256(data: &[u8]) -> Digest {
    to_digest(Sha256::new_with_prefix(data))
}

fn to_digest(hasher: Sha256) -> Digest {
    let bytes = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for b in bytes.iter() {
        hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    // 64 lowercase hex characters always parse.
    Digest::sha256_hex(&hex).unwrap_or_else(|_| unreachable!("sha256 hex is valid"))
}
