//! The load's [`StageHook`]: layer blobs unpacked while the archive is read, on a worker
//! thread, into parentless snapshots that [`super::ImageStore::load`] commits in place
//! once the manifests have said where each layer goes.

use std::collections::HashMap;

use crate::archive::StageHook;
use crate::digest::Digest;
use crate::layer::{EarlyLayer, EarlyUnpack};
use crate::snapshot::Snapshotter;

/// Layers unpacked during the pass, by blob digest; dropping it removes the unused ones.
pub(super) struct EarlyLayers<'a> {
    snap: &'a dyn Snapshotter,
    current: Option<EarlyUnpack<'a>>,
    /// Unpacked, by archive path, until the blob is committed.
    finished: HashMap<String, EarlyLayer<'a>>,
    /// Unpacked, by blob digest.
    done: HashMap<Digest, EarlyLayer<'a>>,
}

impl<'a> EarlyLayers<'a> {
    /// Unpacks early into `snap` if it takes detached layers (else the hook takes nothing).
    pub(super) fn new(snap: &'a dyn Snapshotter) -> Self {
        Self {
            snap,
            current: None,
            finished: HashMap::new(),
            done: HashMap::new(),
        }
    }

    /// The layer unpacked from blob `blob`, if it was and its diffID is `diff_id`. Each is
    /// handed out once (a layer used twice in an image is unpacked again for the second).
    pub(super) fn take(&mut self, blob: &Digest, diff_id: &Digest) -> Option<EarlyLayer<'a>> {
        self.done
            .remove(blob)
            .filter(|layer| layer.diff_id() == Some(diff_id))
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

    fn feed(&mut self, bytes: &[u8]) {
        if let Some(current) = &mut self.current {
            current.feed(bytes);
        }
    }

    fn end(&mut self, path: &str) {
        if let Some(layer) = self.current.take().and_then(EarlyUnpack::finish) {
            self.finished.insert(path.into(), layer);
        }
    }

    fn committed(&mut self, path: &str, digest: &Digest) {
        let Some(mut layer) = self.finished.remove(path) else {
            return;
        };
        layer.plain_blob(digest);
        // The same blob twice in one archive: the first copy serves.
        self.done.entry(digest.clone()).or_insert(layer);
    }
}
