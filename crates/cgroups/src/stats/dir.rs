//! Where statistics files are read from: a cgroup directory named by path (each read
//! opens the file), or a [`KeptDir`] that opens each file once and rereads it from
//! offset 0 (the kernel regenerates a cgroup file's content on every read from the
//! start), which saves a path walk, an open and a close per file on every sample.

use std::collections::HashMap;
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::fs::{parse_u64, read_opt};
use crate::{Error, Result};

/// A cgroup directory whose files the statistics readers read.
pub(crate) trait Dir {
    /// The directory (for errors and directory listings).
    fn path(&self) -> &Path;

    /// The content of file `name`; `None` when it does not exist.
    fn read_opt(&self, name: &str) -> Result<Option<String>>;

    /// A single-number file; a missing file reads as 0.
    fn read_u64(&self, name: &str) -> Result<u64> {
        match self.read_opt(name)? {
            Some(s) => parse_u64(&self.path().join(name), &s),
            None => Ok(0),
        }
    }

    /// Whether file `name` exists.
    fn has(&self, name: &str) -> bool {
        self.path().join(name).exists()
    }
}

impl Dir for PathBuf {
    fn path(&self) -> &Path {
        self
    }

    fn read_opt(&self, name: &str) -> Result<Option<String>> {
        read_opt(&self.join(name))
    }
}

/// A cgroup directory whose files stay open between samples.
#[derive(Debug)]
pub(crate) struct KeptDir {
    path: PathBuf,
    /// Each file read so far: open, or `None` when it does not exist.
    files: Mutex<HashMap<String, Option<File>>>,
}

impl KeptDir {
    /// A directory nothing is opened in yet.
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            files: Mutex::default(),
        }
    }
}

impl Dir for KeptDir {
    fn path(&self) -> &Path {
        &self.path
    }

    fn read_opt(&self, name: &str) -> Result<Option<String>> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.path.join(name);
        if !files.contains_key(name) {
            let file = match File::open(&path) {
                Ok(f) => Some(f),
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io("open", &path)(e)),
            };
            files.insert(name.to_string(), file);
        }
        match files.get(name) {
            Some(Some(f)) => reread(f).map(Some).map_err(Error::io("read", &path)),
            _ => Ok(None),
        }
    }

    fn has(&self, name: &str) -> bool {
        matches!(self.read_opt(name), Ok(Some(_)))
    }
}

/// The whole content of `f`, read from offset 0.
fn reread(f: &File) -> std::io::Result<String> {
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = f.read_at(&mut buf[len..], len as u64)?;
        if n == 0 {
            break;
        }
        len += n;
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))
}
