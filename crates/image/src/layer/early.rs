//! Unpacking a layer on a worker thread while its bytes arrive (as an archive is read),
//! before anyone knows which image layer it is: into a parentless `extract-*` active
//! snapshot, committed over its parent later, once the archive's manifest has said where
//! the layer goes ([`commit_early`]). Only for snapshotters whose layers do not depend on
//! their parents' files ([`Snapshotter::detached_layers`]).
//!
//! An early unpack is only a head start: if it fails, its snapshot is removed and the
//! layer is unpacked the ordinary way, which reports the error; only an entry it refuses
//! (the layer's own content, refused over any parent) is final ([`Finished::Refused`]).

use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use super::apply::{adopt_parents, apply_detached, Applied, Detached};
use super::compress::decompress;
use super::unpack::chain_id;
use super::{Error, Result, Unpacked};
use crate::digest::Digest;
use crate::snapshot::{Kind, NameLock, Snapshotter, EXTRACT_PREFIX};

/// Chunks in flight between the archive reader and the unpacker.
const DEPTH: usize = 8;
/// Buffer between a decompressor and the tar reader.
const CHUNK: usize = 256 << 10;
/// Bytes of the tar header block that carry the `ustar` magic.
const USTAR: std::ops::Range<usize> = 257..262;

/// What the reader sends the unpacker.
enum Msg {
    /// A buffer and how many of its first bytes are data.
    Data(Vec<u8>, usize),
    End,
}

/// How the stream starts: a plain tar, a compressed one, or no layer at all.
fn sniff(head: &[u8]) -> Option<bool> {
    let compressed = head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    if compressed {
        return Some(true);
    }
    (head.get(USTAR) == Some(b"ustar")).then_some(false)
}

/// A layer being unpacked on a worker thread from the bytes [`EarlyUnpack::feed`] gives.
pub struct EarlyUnpack<'a> {
    snap: &'a dyn Snapshotter,
    key: String,
    lock: Option<NameLock>,
    tx: Option<SyncSender<Msg>>,
    back: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<Result<Detached>>>,
}

impl<'a> EarlyUnpack<'a> {
    /// Starts unpacking a stream whose first bytes are `head` (at least 512 unless the
    /// stream is shorter), if it looks like a layer (a tar, or gzip or zstd data) and the
    /// snapshotter takes detached layers. `Ok(None)`: not a candidate.
    pub fn start(snap: &'a dyn Snapshotter, head: &[u8]) -> Result<Option<Self>> {
        let Some(compressed) = sniff(head).filter(|_| snap.detached_layers()) else {
            return Ok(None);
        };
        // The name locked while extracting tells `cleanup` the snapshot is alive.
        let working = format!("early-{:016x}", fastrand::u64(..));
        let lock = snap.lock(&working)?;
        let key = format!("{EXTRACT_PREFIX}{:016x}-{working}", fastrand::u64(..));
        if let Err(e) = snap.prepare(&key, None) {
            lock.release();
            return Err(e.into());
        }
        let (tx, rx) = sync_channel(DEPTH);
        let (back_tx, back) = sync_channel(DEPTH + 2);
        let worker = snap.writable_dir(&key).and_then(|dir| {
            std::thread::Builder::new()
                .name("berth-unpack".into())
                .spawn(move || unpack_stream(dir, rx, back_tx, compressed))
                .map_err(crate::snapshot::Error::io(
                    "start unpacker for",
                    Path::new(&key),
                ))
        });
        let worker = match worker {
            Ok(worker) => worker,
            Err(e) => {
                release(snap, &key, Some(lock));
                return Err(e.into());
            }
        };
        Ok(Some(Self {
            snap,
            key,
            lock: Some(lock),
            tx: Some(tx),
            back,
            worker: Some(worker),
        }))
    }

    /// Passes the next bytes of the stream, `buf[..len]`, on: takes `buf` and leaves a
    /// buffer of the same length that the unpacker is done with (or a new one). If the
    /// unpacker has stopped (it met something it will not apply), the bytes are dropped:
    /// [`EarlyUnpack::finish`] says.
    pub fn feed(&mut self, buf: &mut Vec<u8>, len: usize) {
        let Some(tx) = &self.tx else { return };
        let mut spare = self.back.try_recv().unwrap_or_default();
        spare.resize(buf.len(), 0);
        let full = std::mem::replace(buf, spare);
        if tx.send(Msg::Data(full, len)).is_err() {
            self.tx = None;
        }
    }

    /// Ends the stream without waiting for the unpacker to finish with it.
    pub fn close(&mut self) {
        if let Some(tx) = self.tx.take() {
            tx.send(Msg::End).ok();
        }
    }

    /// Ends the stream (if [`EarlyUnpack::close`] did not) and waits for the unpacker: the
    /// layer, the refusal that will stop any unpack of it, or nothing (the snapshot is
    /// removed in both latter cases).
    pub fn finish(mut self) -> Finished<'a> {
        self.close();
        match self.join() {
            Some(Ok(done)) => Finished::Layer(EarlyLayer {
                snap: self.snap,
                key: std::mem::take(&mut self.key),
                lock: self.lock.take(),
                diff_id: done.diff_id.clone(),
                detached: done,
            }),
            Some(Err(e @ (Error::Refused { .. } | Error::Unsupported { .. }))) => {
                Finished::Refused(e)
            }
            _ => Finished::Failed,
        }
    }

    fn join(&mut self) -> Option<Result<Detached>> {
        self.worker.take()?.join().ok()
    }
}

/// How an early unpack ended.
pub enum Finished<'a> {
    /// The layer is unpacked.
    Layer(EarlyLayer<'a>),
    /// An entry of the layer was refused: its own content, which no parent changes, so
    /// any unpack of this layer fails with this error.
    Refused(Error),
    /// Anything else (the stream broke off, an OS error): the ordinary unpack will tell.
    Failed,
}

impl Drop for EarlyUnpack<'_> {
    /// Abandons the unpack: the unpacker sees the stream break and stops; its snapshot
    /// goes.
    fn drop(&mut self) {
        self.tx = None;
        self.join();
        if !self.key.is_empty() {
            release(self.snap, &self.key, self.lock.take());
        }
    }
}

/// Removes the snapshot `key`, then its working name's lock file (kept if the snapshot
/// stays: `cleanup` needs the name to tell it is abandoned).
fn release(snap: &dyn Snapshotter, key: &str, lock: Option<NameLock>) {
    if snap.remove(key).is_ok() {
        if let Some(lock) = lock {
            lock.release();
        }
    }
}

/// The worker: applies the stream (decompressed if need be, hashed only then: a plain
/// tar's digest is the blob's).
fn unpack_stream(
    dir: PathBuf,
    rx: Receiver<Msg>,
    back: SyncSender<Vec<u8>>,
    compressed: bool,
) -> Result<Detached> {
    let reader = ChunkReader {
        rx,
        back,
        chunk: Vec::new(),
        len: 0,
        pos: 0,
    };
    let mut done = if compressed {
        let tar = decompress(reader).map_err(Error::Read)?;
        apply_detached(&dir, BufReader::with_capacity(CHUNK, tar), true)?
    } else {
        apply_detached(&dir, reader, false)?
    };
    done.content_bytes = crate::store::content_bytes(&dir);
    Ok(done)
}

/// Reads what [`EarlyUnpack::feed`] sends; returns spent buffers for reuse. A sender gone
/// without [`Msg::End`] is a broken stream.
struct ChunkReader {
    rx: Receiver<Msg>,
    back: SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    /// Bytes of `chunk` that are data.
    len: usize,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.len {
            match self.rx.recv() {
                Ok(Msg::Data(chunk, len)) => {
                    let spent = std::mem::replace(&mut self.chunk, chunk);
                    (self.len, self.pos) = (len.min(self.chunk.len()), 0);
                    if !spent.is_empty() {
                        self.back.try_send(spent).ok();
                    }
                }
                Ok(Msg::End) => return Ok(0),
                Err(_) => return Err(io::Error::other("the layer stream broke off")),
            }
        }
        let n = buf.len().min(self.len - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A layer unpacked by [`EarlyUnpack`], not committed yet. Dropping it removes its
/// snapshot.
pub struct EarlyLayer<'a> {
    snap: &'a dyn Snapshotter,
    key: String,
    lock: Option<NameLock>,
    /// Known once the stream was hashed: by the unpacker for a compressed stream, else
    /// by whoever stored the blob ([`EarlyLayer::plain_blob`]).
    diff_id: Option<Digest>,
    detached: Detached,
}

impl EarlyLayer<'_> {
    /// The diffID of the layer unpacked (sha256 of its uncompressed tar), once known.
    pub fn diff_id(&self) -> Option<&Digest> {
        self.diff_id.as_ref()
    }

    /// The bytes of the files the layer holds (as [`crate::store::content_bytes`] counts
    /// them), measured on the worker thread.
    pub fn content_bytes(&self) -> u64 {
        self.detached.content_bytes
    }

    /// The layer's directory (an overlay upper dir).
    pub fn upper(&self) -> Result<PathBuf> {
        Ok(self.snap.writable_dir(&self.key)?)
    }

    /// Gives the directories the layer made for missing parents the metadata they have in
    /// `lowers` (the layer directories below it, top first), or fails as the ordinary
    /// unpack would over them (see [`adopt_parents`]). [`commit_early`] does it again over
    /// the committed parent; doing it before lets a caller check every layer of an image
    /// before committing any.
    pub fn adopt(&self, lowers: &[PathBuf]) -> Result<()> {
        adopt_parents(&self.upper()?, lowers, &self.detached.implicit_dirs)
    }

    /// Tells the layer the sha256 of the stream it was fed: its diffID, unless the stream
    /// was compressed (the unpacker hashed the uncompressed tar then).
    pub fn plain_blob(&mut self, digest: &Digest) {
        self.diff_id.get_or_insert_with(|| digest.clone());
    }
}

impl Drop for EarlyLayer<'_> {
    /// Removes the snapshot unless it was committed; releases the working name.
    fn drop(&mut self) {
        if !self.key.is_empty() {
            release(self.snap, &self.key, self.lock.take());
        } else if let Some(lock) = self.lock.take() {
            lock.release();
        }
    }
}

/// Commits an early-unpacked layer as the snapshot `chain` over the committed snapshot
/// `parent_chain`, unless that chain exists already ([`Unpacked::Skipped`]; the early
/// copy is dropped). Like [`super::unpack`], holds the chain ID's lock throughout, so
/// concurrent loads commit each layer once. The directories the layer made for missing
/// parents get their parents' metadata first.
pub fn commit_early(
    snap: &dyn Snapshotter,
    chain: &Digest,
    parent_chain: Option<&Digest>,
    mut layer: EarlyLayer<'_>,
) -> Result<Unpacked> {
    let diff_id = layer
        .diff_id
        .clone()
        .ok_or_else(|| Error::Read(io::Error::other("early layer without a digest")))?;
    let computed = chain_id(parent_chain, &diff_id);
    if computed != *chain {
        return Err(Error::ChainIdMismatch {
            given: chain.clone(),
            computed,
        });
    }
    let name = chain.to_string();
    let _lock = snap.lock(&name)?;
    match snap.stat(&name) {
        Ok(info) if info.kind == Kind::Committed => return Ok(Unpacked::Skipped),
        Ok(_) => return Err(crate::snapshot::Error::Exists { key: name }.into()),
        Err(crate::snapshot::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let parent = parent_chain.map(Digest::to_string);
    if let Some(parent) = &parent {
        let dirs = snap.layer_dirs(parent)?;
        let mut lowers = Vec::with_capacity(dirs.lowers.len() + 1);
        lowers.push(dirs.upper);
        lowers.extend(dirs.lowers);
        layer.adopt(&lowers)?;
    }
    snap.commit_over(&name, &layer.key, parent.as_deref())?;
    layer.key.clear();
    Ok(Unpacked::Applied(Applied {
        diff_id,
        size: layer.detached.size,
    }))
}
