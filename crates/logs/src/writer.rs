//! The json-file writer the shim feeds. Lines are encoded into one reused buffer, and
//! the lines of one read from the container are written with one `write` to a file
//! opened for appending when the reader calls [`JsonFileWriter::flush`]: nothing waits
//! between the container and the file (a `logs -f` reader sees a line once the read
//! that brought it is done) and there is no fsync.
//! Before a line would take the live file past `max_size`, the files rotate:
//! `path.(n-1)` → `path.n` … `path` → `path.1`, the oldest beyond `max_file` is removed
//! and a new `path` starts, so a line is never split between two files.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::json::encode_line_stamped;
use crate::time::write_rfc3339_nano;
use crate::Stream;

/// Lines waiting in the buffer are written once they reach this many bytes, even
/// before a flush; and the buffer's capacity is given back after it held more.
const BATCH: usize = 256 * 1024;

/// Log files are readable by root's group, as docker's are.
pub const FILE_MODE: u32 = 0o640;

/// A failure to write or rotate a log file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The log file could not be opened or created.
    #[error("open log file {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A line could not be appended.
    #[error("write log file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A log file could not be renamed during rotation.
    #[error("rotate log file {from} to {to}: {source}")]
    Rename {
        /// The file being moved.
        from: PathBuf,
        /// Its new name.
        to: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A log file past `max-file` could not be removed.
    #[error("remove old log file {path}: {source}")]
    Remove {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Appends docker json-file lines to `path`, rotating by size.
#[derive(Debug)]
pub struct JsonFileWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_file: u32,
    line: Vec<u8>,
    /// The last time lines were added at, and it as written in them.
    stamp: Option<(SystemTime, Vec<u8>)>,
}

/// `path` with `.n` appended: the name of the n-th rotated file (`path` itself for 0).
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_owned();
    }
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Opens `path` for appending, creating it with docker's mode.
fn open_append(path: &Path) -> Result<File, WriteError> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|source| WriteError::Open {
            path: path.to_owned(),
            source,
        })
}

/// Removes `path`; a file that is already gone is fine.
fn remove_if_present(path: &Path) -> Result<(), WriteError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(WriteError::Remove {
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Renames `from` to `to`; a `from` that does not exist (yet) is fine.
fn rename_if_present(from: &Path, to: &Path) -> Result<(), WriteError> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(WriteError::Rename {
            from: from.to_owned(),
            to: to.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

impl JsonFileWriter {
    /// Opens (or creates) the live log file `path`, appending after what it holds.
    /// `max_size` is in bytes ([`crate::config::UNLIMITED`] never rotates); `max_file`
    /// counts the live file, and 0 is taken as 1.
    pub fn open(path: &Path, max_size: u64, max_file: u32) -> Result<Self, WriteError> {
        let file = open_append(path)?;
        let size = file
            .metadata()
            .map_err(|source| WriteError::Open {
                path: path.to_owned(),
                source,
            })?
            .len();
        Ok(JsonFileWriter {
            path: path.to_owned(),
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            line: Vec::new(),
            stamp: None,
        })
    }

    /// Writes one line now: [`add`](Self::add) and [`flush`](Self::flush).
    pub fn write(
        &mut self,
        stream: Stream,
        chunk: &[u8],
        time: SystemTime,
    ) -> Result<(), WriteError> {
        self.add(stream, chunk, time)?;
        self.flush()
    }

    /// Adds one line: `chunk` (normally ending in `\n`; a partial line without it is
    /// allowed) read from `stream` at `time`. It reaches the file at the next
    /// [`flush`](Self::flush) (or before, once enough lines wait); the files rotate first
    /// if the line would take the live one past `max_size`.
    pub fn add(
        &mut self,
        stream: Stream,
        chunk: &[u8],
        time: SystemTime,
    ) -> Result<(), WriteError> {
        let start = self.line.len();
        let stamp = match &mut self.stamp {
            Some((t, text)) if *t == time => text,
            slot => {
                let mut text = Vec::with_capacity(32);
                write_rfc3339_nano(&mut text, time);
                &mut slot.insert((time, text)).1
            }
        };
        encode_line_stamped(&mut self.line, stream, chunk, stamp);
        let len = (self.line.len() - start) as u64;
        let before = self.size + start as u64;
        if before > 0 && before.saturating_add(len) > self.max_size {
            let line = self.line.split_off(start);
            self.flush()?;
            self.rotate()?;
            self.line = line;
        }
        if self.line.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the lines added since the last flush, with one `write` call.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        if self.line.is_empty() {
            return Ok(());
        }
        let written = self.file.write_all(&self.line);
        let len = self.line.len() as u64;
        self.line.clear();
        if self.line.capacity() > BATCH * 2 {
            self.line = Vec::new();
        }
        written.map_err(|source| WriteError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.size += len;
        Ok(())
    }

    /// The live file's size in bytes (lines not flushed yet left out).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The live file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Shifts the rotated files up by one, drops those past `max_file` and starts a new
    /// live file. With `max_file` 1 the live file is simply replaced.
    pub fn rotate(&mut self) -> Result<(), WriteError> {
        self.remove_beyond()?;
        if self.max_file > 1 {
            for n in (1..self.max_file - 1).rev() {
                rename_if_present(
                    &rotated_path(&self.path, n),
                    &rotated_path(&self.path, n + 1),
                )?;
            }
            rename_if_present(&self.path, &rotated_path(&self.path, 1))?;
        } else {
            remove_if_present(&self.path)?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }

    /// Removes `path.(max_file-1)` and any older files left by a larger `max_file`, so
    /// that after the shift at most `max_file` files remain.
    fn remove_beyond(&self) -> Result<(), WriteError> {
        let mut n = self.max_file.max(2) - 1;
        loop {
            let old = rotated_path(&self.path, n);
            if !old.exists() && n >= self.max_file {
                return Ok(());
            }
            remove_if_present(&old)?;
            n += 1;
        }
    }
}
