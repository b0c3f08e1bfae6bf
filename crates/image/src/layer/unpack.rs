//! Unpacking a layer into a committed snapshot named by its chain ID, once.

use std::io::Read;

use super::apply::{apply_layer, Applied};
use super::hash::sha256;
use super::{Error, Result};
use crate::digest::Digest;
use crate::snapshot::{Kind, Snapshotter, EXTRACT_PREFIX};

/// What [`unpack`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unpacked {
    /// The chain ID was already a committed snapshot; the stream was not read.
    Skipped,
    /// The layer was applied and committed.
    Applied(Applied),
}

/// The OCI chain ID of a layer: its diffID for the first layer, else
/// `sha256(parent_chain_id + " " + diff_id)`.
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(p) => sha256(format!("{p} {diff_id}").as_bytes()),
    }
}

/// Unpacks the uncompressed layer tar `tar` into a committed snapshot named `chain_id`
/// over the committed snapshot `parent_chain`, unless it exists already.
///
/// Holds the snapshotter's lock named by the chain ID throughout, so concurrent unpacks of
/// one layer (threads or processes) apply it once; the others wait and return
/// [`Unpacked::Skipped`]. The layer goes into an `extract-<random>-<chain id>` active
/// snapshot that is committed only when the stream's sha256 equals `expected_diff_id`;
/// on any error that snapshot is removed (or, after a crash, by `cleanup`).
pub fn unpack(
    snap: &dyn Snapshotter,
    chain: &Digest,
    parent_chain: Option<&Digest>,
    tar: impl Read,
    expected_diff_id: &Digest,
) -> Result<Unpacked> {
    let computed = chain_id(parent_chain, expected_diff_id);
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
    let key = format!("{EXTRACT_PREFIX}{:016x}-{name}", fastrand::u64(..));
    let parent = parent_chain.map(Digest::to_string);
    snap.prepare(&key, parent.as_deref())?;
    let done = extract(snap, &key, tar, expected_diff_id).and_then(|applied| {
        snap.commit(&name, &key)?;
        Ok(applied)
    });
    if done.is_err() {
        // The first error is the one to report; a snapshot that cannot be removed now is
        // an `extract-*` leftover that `cleanup` removes.
        snap.remove(&key).ok();
    }
    done.map(Unpacked::Applied)
}

fn extract(
    snap: &dyn Snapshotter,
    key: &str,
    tar: impl Read,
    expected: &Digest,
) -> Result<Applied> {
    let applied = apply_layer(&snap.layer_dirs(key)?, tar)?;
    if applied.diff_id != *expected {
        return Err(Error::DiffIdMismatch {
            expected: expected.clone(),
            actual: applied.diff_id,
        });
    }
    Ok(applied)
}

/// Unpacks a layer whose diffID is only known once it is read (a commit's new layer) over
/// the committed snapshot `parent_chain`, and commits it under the chain ID that follows.
/// Returns the chain ID, what was applied, and whether the snapshot is new (false if that
/// chain existed already; the extracted copy is then dropped).
pub fn unpack_new(
    snap: &dyn Snapshotter,
    parent_chain: Option<&Digest>,
    tar: impl Read,
) -> Result<(Digest, Applied, bool)> {
    // The name locked while extracting tells `cleanup` the extract is alive.
    let working = format!("new-{:016x}", fastrand::u64(..));
    let working_lock = snap.lock(&working)?;
    let key = format!("{EXTRACT_PREFIX}{:016x}-{working}", fastrand::u64(..));
    let parent = parent_chain.map(Digest::to_string);
    snap.prepare(&key, parent.as_deref())?;
    let done = apply_layer(&snap.layer_dirs(&key)?, tar).and_then(|applied| {
        let chain = chain_id(parent_chain, &applied.diff_id);
        let name = chain.to_string();
        let _lock = snap.lock(&name)?;
        match snap.stat(&name) {
            Ok(info) if info.kind == Kind::Committed => {
                snap.remove(&key)?;
                Ok((chain, applied, false))
            }
            Ok(_) => Err(crate::snapshot::Error::Exists { key: name }.into()),
            Err(crate::snapshot::Error::NotFound { .. }) => {
                snap.commit(&name, &key)?;
                Ok((chain, applied, true))
            }
            Err(e) => Err(e.into()),
        }
    });
    if done.is_err() {
        // The first error is the one to report; `cleanup` removes what stays.
        if snap.remove(&key).is_err() {
            return done;
        }
    }
    working_lock.release();
    done
}
