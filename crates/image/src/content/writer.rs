//! The local store's writer: a locked temporary file in `ingest/`, hashed as it is written,
//! verified, fsynced and renamed into `blobs/sha256/` on commit.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use tempfile::TempPath;

use super::{Committed, ContentError, ContentWriter, Expected};
use crate::digest::{Digest, Sha256Hasher};

/// Buffer between callers' small writes and the temporary file.
const BUF_SIZE: usize = 256 * 1024;

/// Writeback of the temporary file is started every this many bytes, so that the fsync
/// at commit finds little left to write instead of the whole blob.
const WRITEBACK_STEP: u64 = 8 << 20;

/// A blob being written into a [`super::LocalStore`].
#[derive(Debug)]
pub struct LocalWriter {
    file: BufWriter<File>,
    path: TempPath,
    /// Held until the writer goes: tells `cleanup` this temporary file is alive.
    _lock: Flock<File>,
    hasher: Sha256Hasher,
    expected: Expected,
    blobs_dir: PathBuf,
    /// The file offset up to which writeback was started.
    writeback_from: u64,
}

impl LocalWriter {
    /// Creates a locked temporary file in `ingest_dir`.
    pub(super) fn create(
        ingest_dir: &Path,
        blobs_dir: &Path,
        expected: Expected,
    ) -> Result<Self, ContentError> {
        let tmp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(ingest_dir)
            .map_err(|e| ContentError::io("create temporary file in", ingest_dir, e))?;
        let (file, path) = tmp.into_parts();
        let dup = file
            .try_clone()
            .map_err(|e| ContentError::io("duplicate descriptor of", &*path, e))?;
        let lock = Flock::lock(dup, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, errno)| ContentError::io("lock", &*path, errno.into()))?;
        Ok(Self {
            file: BufWriter::with_capacity(BUF_SIZE, file),
            path,
            _lock: lock,
            hasher: Sha256Hasher::new(),
            expected,
            blobs_dir: blobs_dir.to_path_buf(),
            writeback_from: 0,
        })
    }

    /// Checks the bytes received against what was expected.
    fn verify(&self) -> Result<Digest, ContentError> {
        let actual = self.hasher.digest();
        if let Some(size) = self.expected.size {
            if size != self.hasher.len() {
                return Err(ContentError::SizeMismatch {
                    digest: self.expected.digest.clone().unwrap_or(actual),
                    expected: size,
                    actual: self.hasher.len(),
                });
            }
        }
        match &self.expected.digest {
            Some(expected) if *expected != actual => Err(ContentError::DigestMismatch {
                expected: expected.clone(),
                actual,
            }),
            _ => Ok(actual),
        }
    }
}

impl LocalWriter {
    /// Asks the kernel to start writing out what reached the file since the last call,
    /// once that is [`WRITEBACK_STEP`] bytes; does not wait. A failure only loses the
    /// head start: the fsync at commit writes everything anyway.
    fn start_writeback(&mut self) {
        let in_file = self.hasher.len() - self.file.buffer().len() as u64;
        if in_file - self.writeback_from < WRITEBACK_STEP {
            return;
        }
        let (from, len) = (self.writeback_from, in_file - self.writeback_from);
        // SAFETY: sync_file_range only reads its integer arguments; the descriptor is
        // owned by self.file and open.
        unsafe {
            libc::sync_file_range(
                self.file.get_ref().as_raw_fd(),
                from as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
        self.writeback_from = in_file;
    }
}

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(size) = self.expected.size {
            if self.hasher.len() + buf.len() as u64 > size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("content longer than the expected {size} bytes"),
                ));
            }
        }
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.start_writeback();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl ContentWriter for LocalWriter {
    fn written(&self) -> u64 {
        self.hasher.len()
    }

    fn commit(mut self) -> Result<Committed, ContentError> {
        let digest = self.verify()?;
        let size = self.hasher.len();
        let target = self.blobs_dir.join(digest.hex());
        if target.exists() {
            return Ok(Committed {
                digest,
                size,
                created: false,
            });
        }
        self.file
            .flush()
            .map_err(|e| ContentError::io("write", &*self.path, e))?;
        self.file
            .get_ref()
            .sync_all()
            .map_err(|e| ContentError::io("fsync", &*self.path, e))?;
        self.path
            .persist(&target)
            .map_err(|e| ContentError::io("rename into place", &target, e.error))?;
        sync_dir(&self.blobs_dir)?;
        Ok(Committed {
            digest,
            size,
            created: true,
        })
    }

    fn abort(self) -> Result<(), ContentError> {
        let path = self.path.to_path_buf();
        self.path
            .close()
            .map_err(|e| ContentError::io("remove", path, e))
    }
}

/// Makes a rename in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), ContentError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ContentError::io("fsync directory", dir, e))
}
