//! `rmi`: untagging versus deleting as docker decides it, conflicts, and deleting an image
//! with the layers (top first) and blobs nothing else references.

use super::{ImageStore, Result, StoreError};
use crate::digest::Digest;
use crate::metadata::{DbError, ImageSummary};
use crate::reference::Reference;

/// One line of a deletion report (`Untagged: ...`, `Deleted: ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// A reference was removed.
    Untagged(Reference),
    /// An image (its ID) or a layer (its chain ID) was deleted.
    Deleted(Digest),
}

impl ImageStore {
    /// Removes the image `name` (a reference or an ID prefix) as `docker rmi` does: a name
    /// removes that reference, and the image only when it was its last; an ID deletes the
    /// image, refusing (unless `force`) one named in several repositories or used by a
    /// container.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<Removal>> {
        let id = self.db.resolve_id(name)?;
        let summary = self.summary(&id)?;
        let users = self.db.users(&id)?;
        let refs: Vec<Reference> = summary
            .tags
            .iter()
            .chain(&summary.digests)
            .cloned()
            .collect();
        let mut out = Vec::new();
        let by_id = is_id_prefix(&id, name);
        if !by_id {
            if !force && is_single_reference(&refs) {
                if let Some(user) = users.first() {
                    return Err(StoreError::ReferenceInUse {
                        reference: name.into(),
                        user: short(user),
                        image: short(id.hex()),
                    });
                }
            }
            let removed = self.untag_named(name, &refs, &mut out)?;
            if refs.len() > removed {
                return Ok(out);
            }
        } else if is_single_reference(&refs) {
            if let (false, Some(user)) = (force, users.first()) {
                return Err(in_use(&id, user));
            }
            for r in &refs {
                self.db.untag(r)?;
                out.push(Removal::Untagged(r.clone()));
            }
        }
        self.delete_checked(&id, force, !by_id, &users, &mut out)?;
        Ok(out)
    }

    /// Untags the reference `name` names, and with a tag, the digest references of the
    /// same repository if nothing else would be left; returns how many were removed.
    fn untag_named(&self, name: &str, refs: &[Reference], out: &mut Vec<Removal>) -> Result<usize> {
        let given = Reference::parse(name).map_err(|_| DbError::NotFound(name.into()))?;
        let target = refs
            .iter()
            .find(|r| **r == given)
            .or_else(|| {
                refs.iter()
                    .find(|r| r.digest.is_some() && r.digest == given.digest)
            })
            .cloned()
            .unwrap_or(given);
        self.db.untag(&target)?;
        out.push(Removal::Untagged(target.clone()));
        let rest: Vec<&Reference> = refs.iter().filter(|r| **r != target).collect();
        let only_digests = rest
            .iter()
            .all(|r| r.digest.is_some() && r.name() == target.name());
        if target.tag.is_none() || rest.is_empty() || !only_digests {
            return Ok(1);
        }
        for r in &rest {
            self.db.untag(r)?;
            out.push(Removal::Untagged((*r).clone()));
        }
        Ok(1 + rest.len())
    }

    /// Deletes image `id` after docker's conflict checks.
    fn delete_checked(
        &self,
        id: &Digest,
        force: bool,
        removed_ref: bool,
        users: &[String],
        out: &mut Vec<Removal>,
    ) -> Result<()> {
        let summary = self.summary(id)?;
        let refs: Vec<&Reference> = summary.tags.iter().chain(&summary.digests).collect();
        let conflict = |reason: String| StoreError::Conflict {
            image: short(id.hex()),
            reason,
            forcible: true,
        };
        if !force && !removed_ref && !refs.is_empty() {
            return Err(conflict(
                "image is referenced in multiple repositories".into(),
            ));
        }
        if let (false, Some(user)) = (force, users.first()) {
            return Err(in_use(id, user));
        }
        for r in refs {
            self.db.untag(r)?;
            out.push(Removal::Untagged(r.clone()));
        }
        out.extend(self.delete_unreferenced(id, force)?.0);
        Ok(())
    }

    /// Deletes image `id` from the database, then its layers (top first) and blobs that
    /// nothing references any more. Returns the report lines and the bytes freed.
    pub(super) fn delete_unreferenced(
        &self,
        id: &Digest,
        force: bool,
    ) -> Result<(Vec<Removal>, u64)> {
        let deleted = self.db.delete_image(id, force)?;
        let mut out = vec![Removal::Deleted(id.clone())];
        let mut bytes = 0;
        for chain in deleted.unreferenced_chain_ids.iter().rev() {
            bytes += self.remove_layer(chain)?;
            out.push(Removal::Deleted(chain.clone()));
        }
        for blob in &deleted.unreferenced_blobs {
            if let Ok(size) = crate::content::Provider::size(&self.content, blob) {
                self.content.delete(blob)?;
                bytes += size;
            }
        }
        Ok((out, bytes))
    }

    /// The image `id` with its references.
    pub fn summary(&self, id: &Digest) -> Result<ImageSummary> {
        self.db
            .list()?
            .into_iter()
            .find(|s| s.image.id == *id)
            .ok_or_else(|| DbError::NotFound(id.to_string()).into())
    }
}

/// Docker's conflict for an image a (stopped) container uses.
fn in_use(id: &Digest, user: &str) -> StoreError {
    StoreError::Conflict {
        image: short(id.hex()),
        reason: format!("image is being used by stopped container {}", short(user)),
        forcible: true,
    }
}

/// The first 12 hex digits of an ID (without `sha256:`).
fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Whether `name` is a prefix of the image ID (with or without `sha256:`).
fn is_id_prefix(id: &Digest, name: &str) -> bool {
    let full = id.to_string();
    full.starts_with(name) || id.hex().starts_with(name)
}

/// Docker's test for "one name": at most one tag, and digest references only of that
/// tag's repository.
fn is_single_reference(refs: &[Reference]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let mut single: Option<&Reference> = None;
    let mut digest_repos = std::collections::HashSet::new();
    for r in refs {
        if r.digest.is_some() {
            digest_repos.insert(r.name());
        } else if single.is_none() {
            single = Some(r);
        } else {
            return false;
        }
    }
    let single = single.unwrap_or(&refs[0]);
    digest_repos.len() == 1 && digest_repos.contains(&single.name())
}
