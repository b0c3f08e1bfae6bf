//! The sha256 of context files, remembered by what `stat` says of each file (device,
//! inode, size, modification and change times in nanoseconds, mode), so that a file
//! that has not changed since it was last hashed is not read again. A file whose stat
//! changed in any of these is read again; the digest of the same content is the same
//! whether it came from the memory or from the file, so cache keys do not depend on it.
//!
//! A file changed twice within one tick of the file system's clock could keep its stat
//! ("racily clean", as git calls it): a digest is remembered only once the file's
//! times are [`SETTLED`] in the past, so such a file is read every time until then.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

/// How long after its last change a file's digest may be remembered.
pub const SETTLED: Duration = Duration::from_secs(1);

/// The read size when hashing a file.
const READ_BUFFER: usize = 64 * 1024;

/// What identifies one version of a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    mode: u32,
}

impl StatKey {
    /// The key of a file's metadata.
    pub fn of(meta: &Metadata) -> StatKey {
        StatKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
            mode: meta.mode(),
        }
    }

    /// Whether both times are at least [`SETTLED`] before `now` (nanoseconds since the
    /// epoch).
    fn settled(&self, now: i128) -> bool {
        let last = self.mtime_ns.max(self.ctime_ns);
        now - last >= SETTLED.as_nanos() as i128
    }
}

fn nanos(secs: i64, nsec: i64) -> i128 {
    i128::from(secs) * 1_000_000_000 + i128::from(nsec)
}

/// The sha256 of the content of the file at `path`, read whole.
pub fn read_digest(path: &Path) -> io::Result<[u8; 32]> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}

/// File digests remembered in memory by [`StatKey`], at most about `capacity` of them:
/// two generations, the older dropped when the newer fills half the capacity, so the
/// files of recent builds stay and the rest age out.
#[derive(Debug)]
pub struct DigestCache {
    half: usize,
    inner: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    new: HashMap<StatKey, [u8; 32]>,
    old: HashMap<StatKey, [u8; 32]>,
}

impl Generations {
    fn get(&mut self, key: &StatKey, half: usize) -> Option<[u8; 32]> {
        if let Some(d) = self.new.get(key) {
            return Some(*d);
        }
        let d = self.old.remove(key)?;
        self.put(*key, d, half);
        Some(d)
    }

    fn put(&mut self, key: StatKey, digest: [u8; 32], half: usize) {
        if self.new.len() >= half {
            self.old = std::mem::take(&mut self.new);
        }
        self.new.insert(key, digest);
    }
}

impl DigestCache {
    /// A cache of about `capacity` digests.
    pub fn new(capacity: usize) -> DigestCache {
        DigestCache {
            half: (capacity / 2).max(1),
            inner: Mutex::new(Generations::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // The maps are consistent after any panic (each change is one insert or swap).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The digest of the file at `path` whose stat says `key`: remembered, or read (and
    /// remembered when the file has settled).
    pub fn digest(&self, path: &Path, key: &StatKey) -> io::Result<[u8; 32]> {
        let key = *key;
        if let Some(d) = self.lock().get(&key, self.half) {
            return Ok(d);
        }
        let digest = read_digest(path)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as i128;
        if key.settled(now) {
            self.lock().put(key, digest, self.half);
        }
        Ok(digest)
    }

    /// How many digests are remembered.
    pub fn len(&self) -> usize {
        let g = self.lock();
        g.new.len() + g.old.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Digests of the regular files of a context tar, by path relative to its root.
pub type TarDigests = HashMap<std::path::PathBuf, [u8; 32]>;

/// A reader that passes a (decompressed) context tar through unchanged while a thread
/// hashes its regular files from a copy, so that whoever unpacks the context need not
/// read its files again to hash them. [`TarTee::finish`] gives the digests.
pub struct TarTee<R> {
    inner: R,
    copy: Option<std::io::BufWriter<UnixStream>>,
    hasher: std::thread::JoinHandle<Option<TarDigests>>,
}

/// The buffer between the stream and the hashing thread.
const TEE_BUFFER: usize = 64 * 1024;

impl<R: Read> TarTee<R> {
    /// Starts the hashing thread for the tar `inner` will give.
    pub fn new(inner: R) -> io::Result<TarTee<R>> {
        // A socket pair as the pipe (std's pipe is newer than the workspace's MSRV).
        let (reader, writer) = UnixStream::pair()?;
        let hasher = std::thread::Builder::new()
            .name("context-digests".into())
            .spawn(move || hash_tar(std::io::BufReader::with_capacity(TEE_BUFFER, reader)))?;
        Ok(TarTee {
            inner,
            copy: Some(std::io::BufWriter::with_capacity(TEE_BUFFER, writer)),
            hasher,
        })
    }

    /// Once the stream has been read: the digests of its regular files by their path
    /// in the tar (relative, `.` components dropped). Empty when the tar holds what
    /// makes its paths unreliable to name files on disk (whiteouts, paths with `..`) or
    /// could not be read whole: then files are hashed from disk instead.
    pub fn finish(mut self) -> TarDigests {
        let flushed = self.copy.take().is_some_and(|mut w| w.flush().is_ok());
        match self.hasher.join() {
            Ok(Some(d)) if flushed => d,
            _ => TarDigests::new(),
        }
    }
}

impl<R: Read> Read for TarTee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(w) = &mut self.copy {
            // The hasher gave up (it stopped reading): the stream goes on without it.
            if w.write_all(&buf[..n]).is_err() {
                self.copy = None;
            }
        }
        Ok(n)
    }
}

/// The digests of a tar's regular files (None: see [`TarTee::finish`]).
fn hash_tar(input: impl Read) -> Option<TarDigests> {
    let mut archive = tar::Archive::new(input);
    let mut out = TarDigests::new();
    let mut entries = archive.entries().ok()?;
    let mut buf = vec![0u8; READ_BUFFER];
    for entry in &mut entries {
        let mut entry = entry.ok()?;
        let path = relative(&entry.path().ok()?)?;
        if path
            .file_name()
            .is_some_and(|n| n.as_encoded_bytes().starts_with(b".wh."))
        {
            return None;
        }
        if !matches!(
            entry.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous
        ) {
            out.remove(&path);
            continue;
        }
        let mut hasher = Sha256::new();
        loop {
            let n = entry.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        out.insert(path, hasher.finalize().into());
    }
    // What follows the end of the archive (record padding) is read too, so that the
    // stream's copy never finds the pipe closed.
    io::copy(&mut archive.into_inner(), &mut io::sink()).ok()?;
    Some(out)
}

/// A tar entry's path made relative (`.` and leading `/` dropped); None with `..`.
fn relative(path: &Path) -> Option<std::path::PathBuf> {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}
