//! The single sequential pass over an archive: small metadata files are kept in memory,
//! every other file is streamed into the content store as it is met.

use std::collections::HashMap;
use std::io::Read;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};

use tar::EntryType;

use super::{ArchiveError, StageHook, JSON_LIMIT};
use crate::content::{Committed, ContentError, ContentWriter, Expected, Ingester};
use crate::digest::Digest;

/// Files read into memory instead of the store.
const METADATA: [&str; 4] = ["manifest.json", "repositories", "index.json", "oci-layout"];
/// How many symlinks are followed when resolving a path.
const MAX_LINKS: usize = 16;
/// Copy buffer size.
const CHUNK: usize = 256 * 1024;
/// Bytes read before a [`StageHook`] is asked about an entry (a tar header block).
const HEAD: usize = 512;
/// Blobs written and waiting for their commit.
const COMMIT_QUEUE: usize = 4;

/// What the pass found.
#[derive(Debug, Default)]
pub(super) struct Staged {
    files: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, (Digest, u64)>,
    links: HashMap<String, String>,
}

impl Staged {
    /// A metadata file's bytes.
    pub(super) fn file(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// The staged blob at `path` (links followed): its digest and size.
    pub(super) fn blob(&self, path: &str) -> Option<&(Digest, u64)> {
        let mut path = normalize(path);
        for _ in 0..MAX_LINKS {
            if let Some(b) = self.blobs.get(&path) {
                return Some(b);
            }
            path = self.links.get(&path)?.clone();
        }
        None
    }
}

/// Reads the tar `input` once, staging file entries into `store` and showing them to
/// `hook` on the way. Blobs are committed (made durable: the slow part) on a second
/// thread, in order, while the pass reads on; a commit that fails stops the pass and is
/// the error reported.
pub(super) fn stage<S>(
    input: impl Read,
    store: &S,
    hook: &mut dyn StageHook,
) -> Result<Staged, ArchiveError>
where
    S: Ingester + Sync,
    S::Writer: Send,
{
    std::thread::scope(|scope| {
        let (queue, jobs) = sync_channel::<(String, S::Writer)>(COMMIT_QUEUE);
        let (done_tx, done) = channel();
        scope.spawn(move || commit_all(jobs, done_tx));
        let mut pass = Pass {
            staged: Staged::default(),
            queue: Some(queue),
            done,
            hook,
        };
        let read = pass.read(input, store);
        pass.queue = None;
        let committed = pass.collect(true);
        committed.and(read).map(|()| pass.staged)
    })
}

/// Commits the writers queued, in order, until one fails.
fn commit_all<W: ContentWriter>(jobs: Receiver<(String, W)>, done: Sender<Done>) {
    for (path, w) in jobs {
        let result = w.commit();
        let failed = result.is_err();
        if done.send((path, result)).is_err() || failed {
            return;
        }
    }
}

/// A committed (or failed) blob: the archive path and the store's answer.
type Done = (String, Result<Committed, ContentError>);

/// The state of the pass.
struct Pass<'h, W> {
    staged: Staged,
    /// Writers waiting for their commit; `None` once the pass is over.
    queue: Option<SyncSender<(String, W)>>,
    done: Receiver<Done>,
    hook: &'h mut dyn StageHook,
}

impl<W: ContentWriter> Pass<'_, W> {
    fn read<S: Ingester<Writer = W>>(
        &mut self,
        input: impl Read,
        store: &S,
    ) -> Result<(), ArchiveError> {
        let mut archive = tar::Archive::new(input);
        let entries = archive.entries().map_err(|e| read_err("archive", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| read_err("archive", e))?;
            let path = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
            match entry.header().entry_type() {
                EntryType::Regular | EntryType::Continuous => {
                    let size = entry.size();
                    self.file(&path, &mut entry, size, store)?;
                }
                EntryType::Symlink => {
                    let target = link_target(&entry, &path)?;
                    let resolved = resolve(parent(&path), &target);
                    self.staged.links.insert(path, resolved);
                }
                EntryType::Link => {
                    let target = link_target(&entry, &path)?;
                    self.staged.links.insert(path, normalize(&target));
                }
                _ => {}
            }
            self.collect(false)?;
        }
        Ok(())
    }

    /// Takes the commits done so far (with `wait`, all of them: the queue must be closed).
    /// Returns the first commit error.
    fn collect(&mut self, wait: bool) -> Result<(), ArchiveError> {
        loop {
            let (path, result) = if wait {
                match self.done.recv() {
                    Ok(done) => done,
                    Err(_) => return Ok(()),
                }
            } else {
                match self.done.try_recv() {
                    Ok(done) => done,
                    Err(_) => return Ok(()),
                }
            };
            let committed = result.map_err(|source| ArchiveError::Content {
                what: format!("archive entry {path}"),
                source,
            })?;
            self.hook.committed(&path, &committed.digest);
            self.staged
                .blobs
                .insert(path, (committed.digest, committed.size));
        }
    }

    fn file<S: Ingester<Writer = W>>(
        &mut self,
        path: &str,
        entry: &mut impl Read,
        size: u64,
        store: &S,
    ) -> Result<(), ArchiveError> {
        if METADATA.contains(&path) {
            let buf = read_metadata(path, entry, size)?;
            self.staged.files.insert(path.into(), buf);
            return Ok(());
        }
        if path.ends_with("/VERSION") || path.ends_with("/json") {
            return Ok(()); // legacy v1 metadata, not image content
        }
        let expected = Expected {
            digest: path
                .strip_prefix("blobs/sha256/")
                .and_then(|hex| Digest::sha256_hex(hex).ok()),
            size: Some(size),
        };
        if path.starts_with("blobs/") && expected.digest.is_none() {
            return Ok(()); // another algorithm: berth addresses sha256 only
        }
        let w = self.copy_into(store, expected, entry, size, path)?;
        let queue = self.queue.as_ref();
        if queue.is_some_and(|q| q.send((path.into(), w)).is_ok()) {
            return Ok(());
        }
        // The committer stopped: a commit failed; `collect` reports it.
        self.collect(true)?;
        Err(ArchiveError::Write {
            entry: format!("content store (staging {path})"),
            source: std::io::Error::other("the committer stopped"),
        })
    }

    /// Copies an entry into a new writer (and to the hook, if it wants it).
    fn copy_into<S: Ingester<Writer = W>>(
        &mut self,
        store: &S,
        expected: Expected,
        entry: &mut impl Read,
        size: u64,
        path: &str,
    ) -> Result<W, ArchiveError> {
        let mut w = store
            .writer(expected)
            .map_err(|source| ArchiveError::Content {
                what: format!("archive entry {path}"),
                source,
            })?;
        let mut buf = vec![0u8; CHUNK];
        let mut n = read_some(entry, &mut buf, HEAD, path)?;
        let hooked = self.hook.begin(path, &buf[..n]);
        while n > 0 {
            w.write_all(&buf[..n]).map_err(|e| ArchiveError::Write {
                entry: format!("content store (staging {path})"),
                source: e,
            })?;
            if hooked {
                self.hook.feed(&mut buf, n);
            }
            n = read_some(entry, &mut buf, 1, path)?;
        }
        check_complete(path, w.written(), size)?;
        if hooked {
            self.hook.end(path);
        }
        Ok(w)
    }
}

/// A metadata file's bytes, kept in memory.
fn read_metadata(path: &str, entry: &mut impl Read, size: u64) -> Result<Vec<u8>, ArchiveError> {
    if size > JSON_LIMIT {
        return Err(ArchiveError::TooLarge {
            entry: path.into(),
            size,
            limit: JSON_LIMIT,
        });
    }
    let mut buf = Vec::new();
    entry
        .take(JSON_LIMIT)
        .read_to_end(&mut buf)
        .map_err(|e| read_err(path, e))?;
    check_complete(path, buf.len() as u64, size)?;
    Ok(buf)
}

/// Reads into `buf` until it holds at least `min` bytes or the entry ends; 0 at its end.
fn read_some(
    entry: &mut impl Read,
    buf: &mut [u8],
    min: usize,
    path: &str,
) -> Result<usize, ArchiveError> {
    let mut n = 0;
    while n < min {
        match entry.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(path, e)),
        }
    }
    Ok(n)
}

/// A tar entry that ends before its header's size: the archive is truncated.
fn check_complete(path: &str, got: u64, want: u64) -> Result<(), ArchiveError> {
    if got == want {
        return Ok(());
    }
    let msg = format!("archive truncated: {got} of {want} bytes");
    Err(read_err(
        path,
        std::io::Error::new(std::io::ErrorKind::UnexpectedEof, msg),
    ))
}

fn link_target<R: Read>(entry: &tar::Entry<'_, R>, path: &str) -> Result<String, ArchiveError> {
    let name = entry
        .link_name_bytes()
        .ok_or_else(|| read_err(path, std::io::Error::other("link without a target")))?;
    Ok(String::from_utf8_lossy(&name).into_owned())
}

fn read_err(entry: &str, source: std::io::Error) -> ArchiveError {
    ArchiveError::Read {
        entry: entry.into(),
        source,
    }
}

/// `a/./b/`, `./a/b` and `/a/b` are all `a/b`; `..` is resolved, never above the root.
pub(super) fn normalize(path: &str) -> String {
    resolve("", path)
}

/// `target` taken relative to directory `dir` (both archive paths), normalised.
fn resolve(dir: &str, target: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let start = if target.starts_with('/') { "" } else { dir };
    for part in start.split('/').chain(target.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}
