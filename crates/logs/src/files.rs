//! The set of files one log consists of (`path`, `path.1` … `path.N`), seen while a
//! writer may be rotating them. A rotation moves every file up one position, each into
//! a free slot, so at any instant positions order the files by age, even in the middle
//! of a shift (when one slot is briefly empty). What is not atomic is looking at them:
//! each view is taken twice around the opens, and used only when both agree.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::reader::ReadError;
use crate::writer::rotated_path;

/// Views taken before giving up on a stable one (the writer rotates in microseconds).
const ATTEMPTS: usize = 20;

/// A file's identity: device and inode.
pub(crate) type FileId = (u64, u64);

/// Which file is at which position: (n, id), n = 0 for `path`, ascending (newest
/// first).
type View = Vec<(u32, FileId)>;

/// A log file opened, not yet being read.
pub(crate) struct Opened {
    /// The name it was opened by.
    pub(crate) path: PathBuf,
    /// The open file.
    pub(crate) file: File,
    /// Its size when opened.
    pub(crate) len: u64,
    /// Its identity.
    pub(crate) id: FileId,
    /// Where reading starts.
    pub(crate) offset: u64,
}

/// Opens `path` if it exists.
pub(crate) fn open_existing(path: &Path) -> Result<Option<Opened>, ReadError> {
    let open_err = |source| ReadError::Open {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(open_err(e)),
    };
    let meta = file.metadata().map_err(open_err)?;
    Ok(Some(Opened {
        path: path.to_owned(),
        file,
        len: meta.len(),
        id: (meta.dev(), meta.ino()),
        offset: 0,
    }))
}

/// The identity of the file `path` names, `None` if there is none.
pub(crate) fn stat_id(path: &Path) -> Result<Option<FileId>, ReadError> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some((meta.dev(), meta.ino()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ReadError::Open {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The directory holding the log `path` (`.` for a bare file name).
pub(crate) fn log_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The position a directory entry named `name` has in the log `base`, if any.
fn position(name: &[u8], base: &[u8]) -> Option<u32> {
    let rest = name.strip_prefix(base)?;
    if rest.is_empty() {
        return Some(0);
    }
    let digits = rest.strip_prefix(b".")?;
    if digits.first() == Some(&b'0') {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Lists the log's files from its directory (a gap in the numbers does not hide the
/// older files).
fn scan(path: &Path) -> Result<View, ReadError> {
    use std::os::unix::ffi::OsStrExt;
    let dir = log_dir(path);
    let base = path.file_name().map_or(&[][..], |name| name.as_bytes());
    let list_err = |source| ReadError::Open {
        path: dir.to_owned(),
        source,
    };
    let mut view = View::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        // No directory (the container was removed): no files, and none to wait for
        // but the reader's stop.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(view),
        Err(e) => return Err(list_err(e)),
    };
    for entry in entries {
        let entry = entry.map_err(list_err)?;
        let Some(n) = position(entry.file_name().as_bytes(), base) else {
            continue;
        };
        match entry.metadata() {
            Ok(meta) => view.push((n, (meta.dev(), meta.ino()))),
            // Renamed or removed since the listing: the second view will differ.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(list_err(e)),
        }
    }
    view.sort_unstable();
    Ok(view)
}

/// Whether every opened file still has the identity `view` gives its position.
fn matches_view(opened: &[Opened], view: &View) -> bool {
    opened.len() == view.len() && opened.iter().zip(view).all(|(f, (_, id))| f.id == *id)
}

/// Opens all of the log's files, oldest first, as one consistent set.
pub(crate) fn open_all(path: &Path) -> Result<Vec<Opened>, ReadError> {
    let mut opened = Vec::new();
    for _ in 0..ATTEMPTS {
        let before = scan(path)?;
        opened.clear();
        for (n, _) in &before {
            opened.extend(open_existing(&rotated_path(path, *n))?);
        }
        if matches_view(&opened, &before) && scan(path)? == before {
            break;
        }
    }
    opened.reverse();
    Ok(opened)
}

/// Opens the file written after the one with identity `cur`: the next newer one, or if
/// `cur` is gone (removed past `max-file`, or never opened), the oldest one left.
/// `None` while there is no newer file yet, or no stable view could be had.
pub(crate) fn open_successor(
    path: &Path,
    cur: Option<FileId>,
) -> Result<Option<Opened>, ReadError> {
    for _ in 0..ATTEMPTS {
        let before = scan(path)?;
        let at = before.iter().position(|(_, id)| Some(*id) == cur);
        let index = match at {
            Some(0) => return Ok(None),
            Some(i) => i - 1,
            None if before.is_empty() => return Ok(None),
            None => before.len() - 1,
        };
        let (n, id) = before[index];
        let Some(next) = open_existing(&rotated_path(path, n))? else {
            continue;
        };
        if next.id == id && scan(path)? == before {
            return Ok(Some(next));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        assert_eq!(position(b"c-json.log", b"c-json.log"), Some(0));
        assert_eq!(position(b"c-json.log.1", b"c-json.log"), Some(1));
        assert_eq!(position(b"c-json.log.12", b"c-json.log"), Some(12));
        assert_eq!(position(b"c-json.log.01", b"c-json.log"), None);
        assert_eq!(position(b"c-json.log.", b"c-json.log"), None);
        assert_eq!(position(b"c-json.log.gz", b"c-json.log"), None);
        assert_eq!(position(b"c-json.logx", b"c-json.log"), None);
        assert_eq!(position(b"other", b"c-json.log"), None);
    }
}
