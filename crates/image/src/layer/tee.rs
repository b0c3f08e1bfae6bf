//! Making a layer and unpacking it in one pass: the layer tar written by [`diff`] goes to
//! its blob and, through a bounded in-memory channel, to an unpacker on another thread, so
//! a commit reads the container's changes once and the two writes overlap.

use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use super::{decompress, diff_skipping, unpack_new, Compression, Created, Result};
use crate::digest::Digest;
use crate::snapshot::{LayerDirs, Snapshotter};

/// Chunks in flight between the tar writer and the unpacker.
const DEPTH: usize = 16;

/// What [`diff_and_unpack`] made.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The layer blob written.
    pub created: Created,
    /// The chain ID of the committed snapshot that now holds the layer.
    pub chain_id: Digest,
}

/// Writes the changes of the writable layer `dirs` (less the paths `skip` names, see
/// [`super::diff_skipping`]) as a layer tar into `blob` and, in the same pass, unpacks them
/// into a committed snapshot over `parent_chain`. On error no snapshot is left; the
/// caller discards `blob`.
pub fn diff_and_unpack<W: Write>(
    snap: &dyn Snapshotter,
    dirs: &LayerDirs,
    parent_chain: Option<&Digest>,
    blob: W,
    compression: Compression,
    skip: &dyn Fn(&std::path::Path) -> bool,
) -> Result<Committed> {
    let (tx, rx) = sync_channel(DEPTH);
    std::thread::scope(|s| {
        let unpacker = s.spawn(move || {
            let tar = decompress(ChunkReader::new(rx)).map_err(super::Error::Read)?;
            unpack_new(snap, parent_chain, tar)
        });
        let made = diff_skipping(dirs, Tee { blob, copy: tx }, compression, skip);
        let unpacked = unpacker
            .join()
            .unwrap_or_else(|_| Err(super::Error::Read(io::Error::other("unpacker panicked"))));
        // The unpacker's error explains a write that failed because it stopped reading.
        let (chain_id, applied, fresh) = unpacked?;
        let created = match made {
            Ok(created) => created,
            Err(e) => {
                if fresh {
                    // The first error is the one to report.
                    snap.remove(&chain_id.to_string()).ok();
                }
                return Err(e);
            }
        };
        if applied.diff_id != created.diff_id {
            return Err(super::Error::DiffIdMismatch {
                expected: created.diff_id,
                actual: applied.diff_id,
            });
        }
        Ok(Committed { created, chain_id })
    })
}

/// Writes to `blob` and sends a copy of every byte to the unpacker.
struct Tee<W> {
    blob: W,
    copy: SyncSender<Vec<u8>>,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.blob.write(buf)?;
        self.copy
            .send(buf[..n].to_vec())
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the unpacker stopped"))?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.blob.flush()
    }
}

/// Reads the chunks a [`Tee`] sends; end of stream when the sender is gone.
struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChunkReader {
    fn new(rx: Receiver<Vec<u8>>) -> Self {
        Self {
            rx,
            chunk: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => (self.chunk, self.pos) = (chunk, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
