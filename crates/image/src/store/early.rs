//! The load's [`StageHook`]: layer blobs unpacked while the archive is read, on a worker
//! thread, into parentless snapshots that [`super::ImageStore::load`] commits in place
//! once the manifests have said where each layer goes.

use std::collections::{HashMap, VecDeque};

use crate::archive::StageHook;
use crate::digest::Digest;
use crate::layer::{self, EarlyLayer, EarlyUnpack, Finished};
use crate::snapshot::Snapshotter;

/// Layers unpacked during the pass, by blob digest; dropping it removes the unused ones.
pub(super) struct EarlyLayers<'a> {
    snap: &'a dyn Snapshotter,
    current: Option<EarlyUnpack<'a>>,
    /// Fed in full, with their archive paths, in order, until their blobs are committed
    /// (in the same order; their unpackers finish meanwhile, while the pass reads on).
    fed: VecDeque<(String, EarlyUnpack<'a>)>,
    /// Unpacked or refused, by blob digest.
    done: HashMap<Digest, Early<'a>>,
}

/// A layer unpacked early, or the refusal of one of its entries.
type Early<'a> = std::result::Result<EarlyLayer<'a>, layer::Error>;

impl<'a> EarlyLayers<'a> {
    /// Unpacks early into `snap` if it takes detached layers (else the hook takes nothing).
    pub(super) fn new(snap: &'a dyn Snapshotter) -> Self {
        Self {
            snap,
            current: None,
            fed: VecDeque::new(),
            done: HashMap::new(),
        }
    }

    /// The layer unpacked from blob `blob`, if it was and its diffID is `diff_id`. Each is
    /// handed out once (a layer used twice in an image is unpacked again for the second).
    pub(super) fn take(&mut self, blob: &Digest, diff_id: &Digest) -> Option<EarlyLayer<'a>> {
        match self.done.remove(blob)? {
            Ok(layer) if layer.diff_id() == Some(diff_id) => Some(layer),
            Ok(_) => None,
            Err(e) => {
                self.done.insert(blob.clone(), Err(e));
                None
            }
        }
    }

    /// The refusal met unpacking blob `blob` early, if any: any unpack of it fails so.
    pub(super) fn refusal(&mut self, blob: &Digest) -> Option<layer::Error> {
        match self.done.remove(blob)? {
            Err(e) => Some(e),
            Ok(layer) => {
                self.done.insert(blob.clone(), Ok(layer));
                None
            }
        }
    }
}

impl StageHook for EarlyLayers<'_> {
    fn begin(&mut self, _path: &str, head: &[u8]) -> bool {
        self.current = None;
        if !self.snap.detached_layers() {
            return false;
        }
        // An early unpack that cannot start only loses its head start.
        self.current = EarlyUnpack::start(self.snap, head).ok().flatten();
        self.current.is_some()
    }

    fn feed(&mut self, buf: &mut Vec<u8>, len: usize) {
        if let Some(current) = &mut self.current {
            current.feed(buf, len);
        }
    }

    fn end(&mut self, path: &str) {
        if let Some(mut current) = self.current.take() {
            current.close();
            self.fed.push_back((path.into(), current));
        }
    }

    fn committed(&mut self, path: &str, digest: &Digest) {
        // Blobs are committed in the order they were staged, so this one is the oldest
        // fed, if it was fed at all (an archive may hold one path twice).
        if self.fed.front().is_none_or(|(fed, _)| fed != path) {
            return;
        }
        let Some((_, unpack)) = self.fed.pop_front() else {
            return;
        };
        self.finished(digest, unpack.finish());
    }
}

impl<'a> EarlyLayers<'a> {
    /// Keeps what the early unpack of the whole blob `digest` gave (a layer or a
    /// refusal) for the image that names the blob.
    pub(super) fn finished(&mut self, digest: &Digest, finished: Finished<'a>) {
        let mut early = match finished {
            Finished::Layer(layer) => Ok(layer),
            Finished::Refused(e) => Err(e),
            Finished::Failed => return,
        };
        if let Ok(layer) = &mut early {
            layer.plain_blob(digest);
        }
        // The same blob twice in one archive: the first copy serves.
        self.done.entry(digest.clone()).or_insert(early);
    }
}
