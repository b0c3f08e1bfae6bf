//! Small helpers for reading and writing cgroup files and walking cgroup directories.

use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Error, Result};

/// Writes `value` to an existing cgroup file (never creates it: a missing file is an error).
pub(crate) fn write(path: &Path, value: &str) -> std::io::Result<()> {
    open_write(path)?.write_all(value.as_bytes())
}

/// Opens an existing cgroup file for writing (truncated, as a shell's `>` would).
pub(crate) fn open_write(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
}

/// Writes `value` to `path`, mapping failure to [`Error::Io`] with `op`.
pub(crate) fn write_op(op: &'static str, path: &Path, value: &str) -> Result<()> {
    write(path, value).map_err(Error::io(op, path))
}

/// Reads a whole cgroup file.
pub(crate) fn read(path: &Path) -> Result<String> {
    read_small(path).map_err(Error::io("read", path))
}

/// Reads a whole file without asking its size first (cgroup files report none): an
/// open, the reads and a close.
fn read_small(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    String::from_utf8(raw).map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))
}

/// Reads a file, returning `None` when it does not exist (controller absent).
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>> {
    match read_small(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path)(e)),
    }
}

/// Parses a single number; `max` (cgroup v2 "no limit") is `u64::MAX`, negatives clamp to 0.
pub(crate) fn parse_u64(path: &Path, s: &str) -> Result<u64> {
    let s = s.trim();
    if s == "max" {
        return Ok(u64::MAX);
    }
    if let Ok(v) = s.parse::<u64>() {
        return Ok(v);
    }
    match s.parse::<i64>() {
        Ok(v) if v < 0 => Ok(0),
        _ => Err(parse_error(path, s)),
    }
}

/// Reads a single-number file; a missing file reads as 0.
pub(crate) fn read_u64(path: &Path) -> Result<u64> {
    match read_opt(path)? {
        Some(s) => parse_u64(path, &s),
        None => Ok(0),
    }
}

/// Builds an [`Error::Parse`] for `content` read from `path`.
pub(crate) fn parse_error(path: &Path, content: &str) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        content: content.to_string(),
    }
}

/// Iterates over the `key value` lines of a flat-keyed file (`memory.stat`, `cpu.stat`).
pub(crate) fn flat_keyed(content: &str) -> impl Iterator<Item = (&str, u64)> {
    content.lines().filter_map(|line| {
        let (k, v) = line.split_once(' ')?;
        Some((k, v.trim().parse().ok()?))
    })
}

/// Looks up `key` in a flat-keyed file's content.
pub(crate) fn keyed_value(content: &str, key: &str) -> Option<u64> {
    flat_keyed(content).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Makes the cgroup directory `dir` (and any missing ancestors); whether `dir` itself
/// was made now (false: it was there).
pub(crate) fn make_cgroup(dir: &Path) -> Result<bool> {
    // Its parent is nearly always there: one mkdir.
    match std::fs::create_dir(dir) {
        Ok(()) => return Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(false),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("create cgroup", dir)(e)),
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io("create cgroup", parent))?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io("create cgroup", dir)(e)),
    }
}

/// Lists the sub-directories (child cgroups) of `dir`.
pub(crate) fn child_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(Error::io("read directory", dir))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io("read directory", dir))?;
        let ty = entry
            .file_type()
            .map_err(Error::io("stat", &entry.path()))?;
        if ty.is_dir() {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Collects the pids in `dir/cgroup.procs` and in every descendant cgroup.
pub(crate) fn pids_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    let content = read(&procs)?;
    for line in content.lines().filter(|l| !l.is_empty()) {
        out.push(line.trim().parse().map_err(|_| parse_error(&procs, line))?);
    }
    for child in child_dirs(dir)? {
        pids_recursive(&child, out)?;
    }
    Ok(())
}

/// Removes the cgroup `dir` and its descendants, deepest first; a missing `dir` is fine.
pub(crate) fn remove_cgroup(dir: &Path) -> Result<()> {
    // Most cgroups have no children: one rmdir, without listing the control files.
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        // Children, or tasks still on their way out (or not a cgroup file system):
        // the thorough way below.
        Err(_) => {}
    }
    // Another remover (the container's shim, or the daemon) may have been first.
    let children = match child_dirs(dir) {
        Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => return Ok(()),
        r => r?,
    };
    for child in children {
        remove_cgroup(&child)?;
    }
    rmdir_retry(dir)
}

/// `rmdir` that retries briefly while the kernel still reports the cgroup busy (exiting tasks).
fn rmdir_retry(dir: &Path) -> Result<()> {
    let mut delay = Duration::from_millis(1);
    for _ in 0..12 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(delay),
            Err(e) => return Err(Error::io("remove cgroup", dir)(e)),
        }
        delay = (delay * 2).min(Duration::from_millis(100));
    }
    std::fs::remove_dir(dir).map_err(Error::io("remove cgroup", dir))
}

/// Polls `done` with a growing back-off for up to about five seconds.
pub(crate) fn wait_until(
    op: &'static str,
    path: &Path,
    mut done: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let mut delay = Duration::from_micros(100);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !done()? {
        if std::time::Instant::now() > deadline {
            return Err(Error::Timeout {
                op,
                path: path.to_path_buf(),
            });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
    Ok(())
}

/// Whether the file system at `path` is cgroup2.
pub(crate) fn is_cgroup2(path: &Path) -> Result<bool> {
    let st = nix::sys::statfs::statfs(path).map_err(|e| Error::io("statfs", path)(e.into()))?;
    Ok(st.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}
