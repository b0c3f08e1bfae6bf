//! Where `--tail` and `--since` start in one log file, found without reading the file
//! through: `--tail n` reads blocks backwards from the end until it has counted `n`
//! lines; `--since` bisects on the byte offsets, reading one line per probe, because
//! the shim writes lines in time order.

use std::io::{self, Read, Seek, SeekFrom};
use std::time::SystemTime;

use crate::json::parse_time;

/// Bytes read per step when scanning backwards for newlines.
const TAIL_BLOCK: usize = 16 * 1024;
/// Bytes read per step when looking for the end of a line.
const LINE_BLOCK: usize = 4 * 1024;
/// Below this span the bisection stops and the lines are read in order.
const SCAN_SPAN: u64 = 8 * 1024;

/// A reader that counts the bytes it reads (what the tests check seeking by).
#[derive(Debug)]
pub(crate) struct Counted<R> {
    pub(crate) inner: R,
    pub(crate) count: u64,
}

impl<R> Counted<R> {
    /// Wraps `inner` with a count of zero.
    pub(crate) fn new(inner: R) -> Self {
        Counted { inner, count: 0 }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for Counted<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Reads `buf.len()` bytes at `offset`.
fn read_at<R: Read + Seek>(file: &mut R, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

/// The offset where the last `n` complete lines of the first `len` bytes start, and
/// how many complete lines there are from it (`n`, or fewer if the file has fewer). A
/// final line without its `\n` is not counted: it is still being written.
pub(crate) fn tail_start<R: Read + Seek>(
    file: &mut R,
    len: u64,
    n: usize,
) -> io::Result<(u64, usize)> {
    let mut block = vec![0u8; TAIL_BLOCK];
    let mut end = len;
    let mut newlines = 0usize;
    while end > 0 {
        let size = (end.min(TAIL_BLOCK as u64)) as usize;
        let start = end - size as u64;
        read_at(file, start, &mut block[..size])?;
        for i in memchr::memrchr_iter(b'\n', &block[..size]) {
            // The last newline ends the newest line; the (n+1)-th ends the line just
            // before the n newest.
            if newlines == n {
                return Ok((start + i as u64 + 1, n));
            }
            newlines += 1;
        }
        end = start;
    }
    Ok((0, newlines))
}

/// Reads lines at chosen offsets for the bisection through a small window of the
/// file, so that a probe and the lines after it cost one read.
struct Probe<'a, R> {
    file: &'a mut R,
    window: Vec<u8>,
    window_start: u64,
    line: Vec<u8>,
}

impl<'a, R: Read + Seek> Probe<'a, R> {
    /// A probe with nothing read yet.
    fn new(file: &'a mut R) -> Self {
        Probe {
            file,
            window: Vec::new(),
            window_start: 0,
            line: Vec::new(),
        }
    }

    /// The bytes from `at` up to `hi` that the window holds, reading a new window
    /// starting at `at` if it holds none.
    fn bytes_at(&mut self, at: u64, hi: u64) -> io::Result<&[u8]> {
        let end = self.window_start + self.window.len() as u64;
        if at < self.window_start || at >= end {
            let size = (hi - at).min(LINE_BLOCK as u64) as usize;
            self.window.resize(size, 0);
            read_at(self.file, at, &mut self.window)?;
            self.window_start = at;
        }
        let from = (at - self.window_start) as usize;
        let to = (hi - self.window_start).min(self.window.len() as u64) as usize;
        Ok(&self.window[from..to])
    }

    /// Reads from `at` (before `hi`) through the next `\n`, appending the bytes before
    /// it to `self.line` when `keep`; returns the offset after the `\n`, or `None` if
    /// there is none before `hi`.
    fn through_newline(&mut self, mut at: u64, hi: u64, keep: bool) -> io::Result<Option<u64>> {
        while at < hi {
            let bytes = self.bytes_at(at, hi)?;
            let (found, taken) = match memchr::memchr(b'\n', bytes) {
                Some(i) => (true, i),
                None => (false, bytes.len()),
            };
            if keep {
                let piece = &self.window[(at - self.window_start) as usize..][..taken];
                self.line.extend_from_slice(piece);
            }
            if found {
                return Ok(Some(at + taken as u64 + 1));
            }
            at += taken as u64;
        }
        Ok(None)
    }

    /// The first line start at or after `pos`, or `hi` if none is before `hi`.
    fn next_line_start(&mut self, pos: u64, hi: u64) -> io::Result<u64> {
        if pos == 0 {
            return Ok(0);
        }
        Ok(self
            .through_newline(pos - 1, hi, false)?
            .unwrap_or(hi)
            .min(hi))
    }

    /// Reads the line starting at `start` (ending before `hi`) into `self.line` and
    /// returns where the next line starts, or `None` if it does not end before `hi`.
    fn read_line(&mut self, start: u64, hi: u64) -> io::Result<Option<u64>> {
        self.line.clear();
        self.through_newline(start, hi, true)
    }

    /// Whether the line read last is older than `since`. A line that does not parse
    /// counts as older, so a corrupt line never hides the lines after it.
    fn is_before(&self, since: SystemTime) -> bool {
        parse_time(&self.line).map_or(true, |time| time < since)
    }
}

/// The offset of the first complete line at or after `since` in the first `len` bytes,
/// `len` if there is none. Lines must be in time order, as the shim writes them.
pub(crate) fn since_start<R: Read + Seek>(
    file: &mut R,
    len: u64,
    since: SystemTime,
) -> io::Result<u64> {
    let mut probe = Probe::new(file);
    // Every line starting before `lo` is older than `since`; `hi` is a line start (or
    // `len`) whose line is not; lines starting in `[upper, hi)` are not known to exist.
    let (mut lo, mut hi) = (0u64, len);
    let mut upper = hi;
    while upper - lo > SCAN_SPAN {
        let mid = lo + (upper - lo) / 2;
        let start = probe.next_line_start(mid, upper)?;
        if start >= upper {
            upper = mid;
            continue;
        }
        let Some(next) = probe.read_line(start, hi)? else {
            upper = mid;
            continue;
        };
        if probe.is_before(since) {
            lo = next;
            upper = hi;
        } else {
            hi = start;
            upper = start;
        }
    }
    while lo < hi {
        let Some(next) = probe.read_line(lo, hi)? else {
            return Ok(hi);
        };
        if !probe.is_before(since) {
            return Ok(lo);
        }
        lo = next;
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::encode_line;
    use crate::Stream;
    use std::io::Cursor;
    use std::time::{Duration, UNIX_EPOCH};

    fn log(times: &[u64]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, &t) in times.iter().enumerate() {
            let text = format!("line {i} {}\n", "y".repeat(i % 50));
            encode_line(&mut out, Stream::Stdout, text.as_bytes(), at(t));
        }
        out
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn line_starts(data: &[u8]) -> Vec<u64> {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', data).map(|i| i as u64 + 1));
        starts.pop();
        starts
    }

    #[test]
    fn tail_counts_whole_lines() {
        let data = log(&[1, 2, 3, 4, 5]);
        let starts = line_starts(&data);
        let len = data.len() as u64;
        let mut file = Cursor::new(&data);
        assert_eq!(tail_start(&mut file, len, 2).unwrap(), (starts[3], 2));
        assert_eq!(tail_start(&mut file, len, 0).unwrap(), (len, 0));
        assert_eq!(tail_start(&mut file, len, 5).unwrap(), (0, 5));
        assert_eq!(tail_start(&mut file, len, 9).unwrap(), (0, 5));
        assert_eq!(tail_start(&mut file, 0, 3).unwrap(), (0, 0));
        // A half-written last line is not counted.
        let mut partial = data.clone();
        partial.extend_from_slice(b"{\"log\":\"hal");
        let plen = partial.len() as u64;
        let mut file = Cursor::new(&partial);
        assert_eq!(tail_start(&mut file, plen, 1).unwrap(), (starts[4], 1));
    }

    #[test]
    fn since_finds_every_boundary() {
        // Repeated times, gaps, and enough lines for the bisection to run.
        let times: Vec<u64> = (0..2000).map(|i| 100 + i / 3 * 2).collect();
        let data = log(&times);
        let starts = line_starts(&data);
        let len = data.len() as u64;
        for since in [0, 100, 101, 102, 555, 556, 1000, 1430, 1431, 1432, 5000] {
            let want = times
                .iter()
                .position(|&t| t >= since)
                .map_or(len, |i| starts[i]);
            let mut file = Cursor::new(&data);
            assert_eq!(
                since_start(&mut file, len, at(since)).unwrap(),
                want,
                "since {since}"
            );
        }
    }

    #[test]
    fn since_reads_few_bytes() {
        let times: Vec<u64> = (0..100_000).collect();
        let data = log(&times);
        let mut file = Counted::new(Cursor::new(&data));
        since_start(&mut file, data.len() as u64, at(76_543)).unwrap();
        assert!(
            file.count < 96 * 1024,
            "read {} of {}",
            file.count,
            data.len()
        );
    }
}
