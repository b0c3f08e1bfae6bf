//! Reading a container's json-file log back, for `logs`. All the files are opened at
//! the start, the rotated ones oldest first (`path.N` … `path.1`, then `path`), so a
//! rotation while reading changes nothing that was already found. `--tail` and
//! `--since` seek to their start (see `seek`); `--until` ends at the first later line.
//!
//! Following: at the end of the live file the reader checks whether `path` still names
//! it. When the writer has rotated, the old file is read once more (lines written before
//! the rename) and the reader moves to the next newer file, found by the old file's
//! inode among `path.1`, `path.2`, … (see `files`); otherwise it waits for a change (inotify on the
//! directory, or a 50 ms sleep) and looks at its [`Stop`] every 50 ms. The iterator
//! blocks; the daemon runs it on a blocking thread.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::files::{log_dir, open_all, open_successor, stat_id, FileId, Opened};
pub use crate::json::LogEntry;
use crate::json::{parse_line, LineError};
use crate::seek::{since_start, tail_start, Counted};
use crate::watch::Watch;

/// How often a waiting follower looks at its [`Stop`] and `until`.
const IDLE_CHECK: Duration = Duration::from_millis(50);
/// The longest line accepted (a 16 KiB chunk escaped needs at most ~100 KiB).
const MAX_LINE: usize = 1024 * 1024;
/// Read buffer of the file being read.
const READ_BUFFER: usize = 32 * 1024;

/// What to read: docker's `--tail`, `--since`, `--until` and `--follow`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Only the last `n` lines (before following). `None` is `--tail all`.
    pub tail: Option<usize>,
    /// Only lines at or after this time.
    pub since: Option<SystemTime>,
    /// Only lines at or before this time; a follower also ends once it has passed.
    pub until: Option<SystemTime>,
    /// Keep reading what is written after the end, across rotations.
    pub follow: bool,
}

/// Ends a follow from another thread (when the client goes away). Clones share the
/// flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A handle that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires: the reader returns `None` from its next step (within 50 ms when
    /// waiting).
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// When a follow ends: on [`Cancel`], or once a `done` condition holds (the container
/// exited), after a last read of what was written before.
#[derive(Default)]
pub struct Stop {
    cancel: Cancel,
    done: Option<Box<dyn Fn() -> bool + Send>>,
}

impl Stop {
    /// Stops on `cancel` only.
    pub fn new(cancel: Cancel) -> Self {
        Stop { cancel, done: None }
    }

    /// Also stops once `done` returns true; it is called only while the reader waits
    /// at the end of the log, so it may cost a system call.
    pub fn with_done(mut self, done: impl Fn() -> bool + Send + 'static) -> Self {
        self.done = Some(Box::new(done));
        self
    }
}

impl From<Cancel> for Stop {
    fn from(cancel: Cancel) -> Self {
        Stop::new(cancel)
    }
}

/// A failure reading a log. [`is_fatal`](Self::is_fatal) errors end the iteration;
/// the others concern one line, and the lines after it still come.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A log file could not be opened or looked at.
    #[error("open log file {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A log file could not be read.
    #[error("read log file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A line is not a json-file line.
    #[error("log file {path} at byte {offset}: {source}")]
    Line {
        /// The file (by the name it had when it was opened).
        path: PathBuf,
        /// Where the line starts.
        offset: u64,
        /// What is wrong with it.
        source: LineError,
    },
    /// A line longer than any the writer produces (the file is not a json-file log).
    #[error("log file {path} at byte {offset}: line longer than {MAX_LINE} bytes")]
    TooLong {
        /// The file.
        path: PathBuf,
        /// Where the line starts.
        offset: u64,
    },
    /// A rotated file ends in the middle of a line (its writer was killed mid-write).
    #[error("log file {path} at byte {offset}: ends in the middle of a line")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the unfinished line starts.
        offset: u64,
    },
}

impl ReadError {
    /// Whether the reader stops after this error.
    pub fn is_fatal(&self) -> bool {
        matches!(self, ReadError::Open { .. } | ReadError::Read { .. })
    }
}

/// The file being read.
struct Source {
    path: PathBuf,
    reader: BufReader<Counted<File>>,
    id: FileId,
    /// Offset of the next byte the reader hands out.
    pos: u64,
    /// Where reading stops without following: the size when the file was opened.
    limit: u64,
}

/// Where the last `n` lines start across the files: (file index, offset).
fn tail_position(files: &[Opened], n: usize, counted: &mut u64) -> Result<(usize, u64), ReadError> {
    let mut remaining = n;
    for (i, f) in files.iter().enumerate().rev() {
        let mut file = Counted::new(&f.file);
        let found = tail_start(&mut file, f.len, remaining);
        *counted += file.count;
        let (offset, found) = found.map_err(|source| ReadError::Read {
            path: f.path.clone(),
            source,
        })?;
        if found == remaining {
            return Ok((i, offset));
        }
        remaining -= found;
    }
    Ok((0, 0))
}

/// Where the first line at or after `since` starts across the files.
fn since_position(
    files: &[Opened],
    since: SystemTime,
    counted: &mut u64,
) -> Result<(usize, u64), ReadError> {
    for (i, f) in files.iter().enumerate() {
        let mut file = Counted::new(&f.file);
        let offset = since_start(&mut file, f.len, since);
        *counted += file.count;
        let offset = offset.map_err(|source| ReadError::Read {
            path: f.path.clone(),
            source,
        })?;
        if offset < f.len {
            return Ok((i, offset));
        }
    }
    Ok(files
        .len()
        .checked_sub(1)
        .map_or((0, 0), |last| (last, files[last].len)))
}

/// Reads the log at `path` as `opts` asks, until the end, or, when following, until
/// `stop` says so. Missing files are an empty log (a follower waits for them).
pub fn read(path: &Path, opts: &ReadOptions, stop: Stop) -> Result<LogReader, ReadError> {
    // Watch before opening, so that no change after the files were found is missed.
    let watch = opts.follow.then(|| Watch::new(log_dir(path)));
    let mut files = open_all(path)?;
    let mut counted = 0;
    let mut start = (0, 0);
    if let Some(n) = opts.tail {
        start = start.max(tail_position(&files, n, &mut counted)?);
    }
    if let Some(since) = opts.since {
        start = start.max(since_position(&files, since, &mut counted)?);
    }
    let mut queue: VecDeque<Opened> = files.drain(start.0.min(files.len())..).collect();
    if let Some(first) = queue.front_mut() {
        first.offset = start.1;
    }
    let mut reader = LogReader {
        path: path.to_owned(),
        queue,
        cur: None,
        line: Vec::new(),
        skipping: false,
        opts: opts.clone(),
        stop,
        watch,
        counted,
        rotated: false,
        draining: false,
        finished: false,
    };
    if let Some(first) = reader.queue.pop_front() {
        reader.switch_to(first)?;
    }
    Ok(reader)
}

/// What to do after reaching the end of the current file.
enum Next {
    /// Read again (another file, or more of this one).
    Read,
    /// The log is done.
    End,
}

/// A parsed line, checked against `since` and `until`.
enum Checked {
    /// A line to hand out.
    Entry(LogEntry),
    /// Older than `since`.
    Skip,
    /// Newer than `until`: the end.
    Past,
}

/// The lines of a log, from [`read`]. Blocks while following.
pub struct LogReader {
    path: PathBuf,
    queue: VecDeque<Opened>,
    cur: Option<Source>,
    line: Vec<u8>,
    /// Discarding the rest of an over-long line.
    skipping: bool,
    opts: ReadOptions,
    stop: Stop,
    watch: Option<Watch>,
    /// Bytes read from files no longer current and while seeking.
    counted: u64,
    /// `path` was seen to name another file; the current one gets one more read.
    rotated: bool,
    /// `done` held; one more pass to the end, then stop.
    draining: bool,
    finished: bool,
}

impl LogReader {
    /// Bytes read from the log files so far, seeking included.
    pub fn bytes_read(&self) -> u64 {
        self.counted + self.cur.as_ref().map_or(0, |c| c.reader.get_ref().count)
    }

    /// Whether a follower is woken by inotify (rather than checking every 50 ms).
    pub fn is_notified(&self) -> bool {
        self.watch.as_ref().is_some_and(Watch::is_notified)
    }

    /// Makes `next` the current file; a line left unfinished in the old one is
    /// reported (after the switch).
    fn switch_to(&mut self, mut next: Opened) -> Result<(), ReadError> {
        let seek = next.file.seek(SeekFrom::Start(next.offset));
        seek.map_err(|source| ReadError::Read {
            path: next.path.clone(),
            source,
        })?;
        let limit = if self.opts.follow { u64::MAX } else { next.len };
        let source = Source {
            reader: BufReader::with_capacity(READ_BUFFER, Counted::new(next.file)),
            path: next.path,
            id: next.id,
            pos: next.offset,
            limit,
        };
        let old = self.cur.replace(source);
        self.skipping = false;
        let Some(old) = old else { return Ok(()) };
        self.counted += old.reader.get_ref().count;
        if self.line.is_empty() {
            return Ok(());
        }
        let offset = old.pos - self.line.len() as u64;
        self.line.clear();
        Err(ReadError::Truncated {
            path: old.path,
            offset,
        })
    }

    /// Reads the next complete line of the current file into `self.line`; false at its
    /// end (an unfinished line stays in `self.line`).
    fn read_line(&mut self) -> Result<bool, ReadError> {
        let Some(src) = self.cur.as_mut() else {
            return Ok(false);
        };
        loop {
            let room = usize::try_from(src.limit - src.pos).unwrap_or(usize::MAX);
            let buf = match src.reader.fill_buf() {
                Ok(buf) => &buf[..buf.len().min(room)],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    let path = src.path.clone();
                    return Err(ReadError::Read { path, source });
                }
            };
            if buf.is_empty() {
                return Ok(false);
            }
            let (take, complete) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            let was_skipping = self.skipping;
            let too_long = !was_skipping && self.line.len() + take > MAX_LINE;
            if was_skipping {
                self.skipping = !complete;
            } else if !too_long {
                self.line.extend_from_slice(&buf[..take]);
            }
            src.reader.consume(take);
            src.pos += take as u64;
            if too_long {
                let offset = src.pos - (self.line.len() + take) as u64;
                self.line.clear();
                self.skipping = !complete;
                let path = src.path.clone();
                return Err(ReadError::TooLong { path, offset });
            }
            if complete && !was_skipping {
                return Ok(true);
            }
        }
    }

    /// Parses the line in `self.line` and checks it against `since` and `until`.
    fn take_entry(&mut self) -> Result<Checked, ReadError> {
        let body = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
        let parsed = parse_line(body);
        let src = self.cur.as_ref();
        let offset = src.map_or(0, |s| s.pos) - self.line.len() as u64;
        self.line.clear();
        let entry = parsed.map_err(|source| ReadError::Line {
            path: src.map_or_else(|| self.path.clone(), |s| s.path.clone()),
            offset,
            source,
        })?;
        if self.opts.since.is_some_and(|since| entry.time < since) {
            return Ok(Checked::Skip);
        }
        if self.opts.until.is_some_and(|until| entry.time > until) {
            return Ok(Checked::Past);
        }
        Ok(Checked::Entry(entry))
    }

    /// The next entry, `None` at the end of the log or when stopped.
    fn next_entry(&mut self) -> Result<Option<LogEntry>, ReadError> {
        loop {
            if self.stop.cancel.is_cancelled() {
                return Ok(None);
            }
            if self.read_line()? {
                match self.take_entry()? {
                    Checked::Entry(entry) => return Ok(Some(entry)),
                    Checked::Skip => continue,
                    Checked::Past => return Ok(None),
                }
            }
            match self.at_end()? {
                Next::Read => continue,
                Next::End => return Ok(None),
            }
        }
    }

    /// At the end of the current file: the next opened file, the file that replaced a
    /// rotated one, or a wait for more.
    fn at_end(&mut self) -> Result<Next, ReadError> {
        if let Some(next) = self.queue.pop_front() {
            self.switch_to(next)?;
            return Ok(Next::Read);
        }
        if !self.opts.follow {
            return Ok(Next::End);
        }
        if self.follow_rotation()? {
            return Ok(Next::Read);
        }
        Ok(self.idle())
    }

    /// Whether reading can go on after a rotation: true for one more read of the file
    /// that was renamed away, then true again once its successor is open.
    fn follow_rotation(&mut self) -> Result<bool, ReadError> {
        let cur_id = self.cur.as_ref().map(|c| c.id);
        let live = stat_id(&self.path)?;
        if live.is_some() && live == cur_id {
            return Ok(false);
        }
        if live.is_none() && cur_id.is_none() {
            return Ok(false);
        }
        if !self.rotated {
            self.rotated = true;
            return Ok(true);
        }
        let Some(next) = open_successor(&self.path, cur_id)? else {
            return Ok(false);
        };
        self.rotated = false;
        self.switch_to(next)?;
        Ok(true)
    }

    /// Nothing new: end if stopped or past `until`, else wait for a change.
    fn idle(&mut self) -> Next {
        if self.draining {
            return Next::End;
        }
        if self.stop.done.as_ref().is_some_and(|done| done()) {
            self.draining = true;
            return Next::Read;
        }
        if self
            .opts
            .until
            .is_some_and(|until| SystemTime::now() > until)
        {
            return Next::End;
        }
        if let Some(watch) = &self.watch {
            watch.wait(IDLE_CHECK);
        }
        Next::Read
    }
}

impl Iterator for LogReader {
    type Item = Result<LogEntry, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.next_entry() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = e.is_fatal();
                Some(Err(e))
            }
        }
    }
}
