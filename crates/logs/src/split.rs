//! Turns what the shim reads from a container's pipe or pty into log chunks, as docker's
//! copier does: each chunk is one line with its `\n`, or, for a line longer than
//! [`MAX_CHUNK`], a [`MAX_CHUNK`]-byte piece of it without one. Complete lines inside a
//! read are passed on without copying; only an unfinished line is kept.

/// The longest chunk: docker's 16 KiB copier buffer.
pub const MAX_CHUNK: usize = 16 * 1024;

/// Splits one stream's raw reads into log chunks. Use one per stream.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// A splitter with nothing pending (allocates only once a line spans two reads).
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds `data` and calls `emit` with every chunk it completes, in order. Bytes
    /// after the last `\n` are kept until a later `push` or [`flush`](Self::flush).
    /// Stops at the first error `emit` returns (the chunk it failed on is consumed).
    pub fn push<E>(
        &mut self,
        mut data: &[u8],
        mut emit: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        while !data.is_empty() {
            let room = MAX_CHUNK - self.pending.len();
            let window = &data[..data.len().min(room)];
            let end = match memchr::memchr(b'\n', window) {
                Some(newline) => newline + 1,
                None if window.len() == room => room,
                None => {
                    self.pending.extend_from_slice(window);
                    return Ok(());
                }
            };
            let (chunk, rest) = data.split_at(end);
            data = rest;
            self.emit_with_pending(chunk, &mut emit)?;
        }
        Ok(())
    }

    /// Emits `chunk`, joined to what is pending if anything is.
    fn emit_with_pending<E>(
        &mut self,
        chunk: &[u8],
        emit: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.pending.is_empty() {
            return emit(chunk);
        }
        self.pending.extend_from_slice(chunk);
        let result = emit(&self.pending);
        self.pending.clear();
        result
    }

    /// Emits the unfinished line, if any (at the end of the stream).
    pub fn flush<E>(&mut self, mut emit: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let result = emit(&self.pending);
        self.pending.clear();
        result
    }

    /// How many bytes of an unfinished line are held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    fn split(reads: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut splitter = LineSplitter::new();
        let mut emit = |chunk: &[u8]| {
            out.push(chunk.to_vec());
            Ok::<(), Infallible>(())
        };
        for read in reads {
            splitter.push(read, &mut emit).unwrap();
        }
        splitter.flush(&mut emit).unwrap();
        out
    }

    #[test]
    fn lines_across_reads() {
        assert_eq!(
            split(&[b"a\nbc", b"d\n\ne", b"f"]),
            vec![
                b"a\n".to_vec(),
                b"bcd\n".to_vec(),
                b"\n".to_vec(),
                b"ef".to_vec()
            ]
        );
        assert!(split(&[b""]).is_empty());
    }

    #[test]
    fn long_lines_are_cut_at_16k() {
        let long = vec![b'x'; MAX_CHUNK * 2 + 10];
        let mut with_newline = long.clone();
        with_newline.push(b'\n');
        let out = split(&[&with_newline[..100], &with_newline[100..]]);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].len(), MAX_CHUNK);
        assert_eq!(out[1].len(), MAX_CHUNK);
        assert_eq!(out[2], b"xxxxxxxxxx\n");
        assert_eq!(out.concat(), with_newline);
        // A line of exactly MAX_CHUNK bytes with its newline stays whole.
        let mut exact = vec![b'y'; MAX_CHUNK - 1];
        exact.push(b'\n');
        assert_eq!(split(&[&exact]), vec![exact.clone()]);
    }

    #[test]
    fn every_split_point_gives_the_same_chunks() {
        let data = b"one\ntwo\n\nthree four\nfive";
        let whole = split(&[data]);
        for cut in 0..data.len() {
            assert_eq!(split(&[&data[..cut], &data[cut..]]), whole, "cut at {cut}");
        }
    }
}
