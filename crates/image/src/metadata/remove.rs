//! Untagging, deleting images, and the users (containers) that keep images and layers.

use rusqlite::{params, OptionalExtension, Transaction};

use super::images::{chain_refcount, exists, ref_rows};
use super::{Db, DbError};
use crate::digest::Digest;
use crate::reference::Reference;

/// What `untag` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UntagOutcome {
    /// The image the reference named.
    pub image_id: Digest,
    /// References the image still has (0: it is now dangling).
    pub remaining: usize,
}

/// What deleting an image freed. The caller removes these layers (snapshots by chain
/// ID) and blobs (content store): nothing in the database references them any more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// References that named the image.
    pub untagged: Vec<Reference>,
    /// Layers no image or user references any more, bottom first.
    pub unreferenced_chain_ids: Vec<Digest>,
    /// Blobs (manifest, config, layers) no image references any more.
    pub unreferenced_blobs: Vec<Digest>,
}

/// Raw results of a deletion inside the transaction.
type RawDeleted = (Vec<String>, Vec<String>, Vec<String>);

impl Db {
    /// Removes the reference `reference`.
    pub fn untag(&self, reference: &Reference) -> Result<UntagOutcome, DbError> {
        let name = reference.to_string();
        let (id, remaining) = self.write("untag image", |tx| {
            let id: Option<String> = tx
                .query_row("SELECT image_id FROM refs WHERE name = ?1", [&name], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(id) = id else {
                return Ok(Err(DbError::NotFound(reference.familiar())));
            };
            tx.execute("DELETE FROM refs WHERE name = ?1", [&name])?;
            Ok(Ok((id.clone(), ref_rows(tx, &id)?.len())))
        })??;
        Ok(UntagOutcome {
            image_id: self.digest("refs.image_id", &id)?,
            remaining,
        })
    }

    /// Deletes image `id` and its references. An image with users is refused unless
    /// `force`; then its users keep holding its layers (they stay referenced).
    pub fn delete_image(&self, id: &Digest, force: bool) -> Result<Deleted, DbError> {
        let raw = self.write("delete image", |tx| {
            if !exists(tx, id)? {
                return Ok(Err(DbError::NotFound(id.to_string())));
            }
            let users = users_of(tx, &id.to_string())?;
            if !users.is_empty() && !force {
                return Ok(Err(DbError::InUse {
                    image: id.hex().chars().take(12).collect(),
                    users: users.join(", "),
                }));
            }
            Ok(Ok(delete_in(tx, &id.to_string(), &users)?))
        })??;
        let (refs, chains, blobs) = raw;
        let parse = |what, v: &String| self.digest(what, v);
        Ok(Deleted {
            untagged: refs
                .iter()
                .map(|n| Reference::parse(n).map_err(|_| self.corrupt("refs.name", n)))
                .collect::<Result<_, _>>()?,
            unreferenced_chain_ids: chains
                .iter()
                .map(|c| parse("image_layers.chain_id", c))
                .collect::<Result<_, _>>()?,
            unreferenced_blobs: blobs
                .iter()
                .map(|b| parse("blob", b))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Records that `user_id` (a container) uses image `id`.
    pub fn add_user(&self, id: &Digest, user_id: &str) -> Result<(), DbError> {
        self.write_lazy("add image user", |tx| {
            if !exists(tx, id)? {
                return Ok(Err(DbError::NotFound(id.to_string())));
            }
            tx.execute(
                "INSERT OR IGNORE INTO image_users (image_id, user_id) VALUES (?1, ?2)",
                params![id.to_string(), user_id],
            )?;
            Ok(Ok(()))
        })?
    }

    /// Forgets `user_id` everywhere; returns the layers that nothing references any more
    /// (those it held after its image was deleted by force).
    pub fn remove_user(&self, user_id: &str) -> Result<Vec<Digest>, DbError> {
        let chains: Vec<String> = self.write_lazy("remove image user", |tx| {
            tx.execute("DELETE FROM image_users WHERE user_id = ?1", [user_id])?;
            let held = column(
                tx,
                "SELECT chain_id FROM layer_holds WHERE user_id = ?1",
                user_id,
            )?;
            tx.execute("DELETE FROM layer_holds WHERE user_id = ?1", [user_id])?;
            let mut freed = Vec::new();
            for c in held {
                if chain_refcount(tx, &c)? == 0 {
                    freed.push(c);
                }
            }
            Ok(freed)
        })?;
        chains
            .iter()
            .map(|c| self.digest("layer_holds.chain_id", c))
            .collect()
    }

    /// The users of image `id`.
    pub fn users(&self, id: &Digest) -> Result<Vec<String>, DbError> {
        self.read("list image users", |tx| users_of(tx, &id.to_string()))
    }

    /// Every user of any image, with the image it uses.
    pub fn all_users(&self) -> Result<Vec<(String, Digest)>, DbError> {
        let rows: Vec<(String, String)> = self.read("list image users", |tx| {
            let mut st =
                tx.prepare("SELECT user_id, image_id FROM image_users ORDER BY user_id")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(u, i)| Ok((u, self.digest("image_users.image_id", &i)?)))
            .collect()
    }
}

fn users_of(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<Vec<String>> {
    column(
        tx,
        "SELECT user_id FROM image_users WHERE image_id = ?1 ORDER BY user_id",
        id,
    )
}

fn column(tx: &Transaction<'_>, sql: &str, arg: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = tx.prepare(sql)?;
    let rows = st.query_map([arg], |r| r.get(0))?;
    rows.collect()
}

/// Deletes the image rows; returns its references and what became unreferenced.
fn delete_in(tx: &Transaction<'_>, id: &str, users: &[String]) -> rusqlite::Result<RawDeleted> {
    let refs = ref_rows(tx, id)?;
    let chains = column(
        tx,
        "SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY idx",
        id,
    )?;
    let mut blobs = vec![id.to_string()];
    blobs.extend(column(
        tx,
        "SELECT manifest_digest FROM images WHERE id = ?1",
        id,
    )?);
    blobs.extend(column(
        tx,
        "SELECT blob FROM image_layers WHERE image_id = ?1 ORDER BY idx",
        id,
    )?);
    for user in users {
        for c in &chains {
            tx.execute(
                "INSERT OR IGNORE INTO layer_holds (chain_id, user_id) VALUES (?1, ?2)",
                [c, user],
            )?;
        }
    }
    tx.execute("DELETE FROM images WHERE id = ?1", [id])?;
    let mut free_chains = Vec::new();
    for c in chains {
        if chain_refcount(tx, &c)? == 0 {
            free_chains.push(c);
        }
    }
    let mut free_blobs: Vec<String> = Vec::new();
    for b in blobs {
        if !free_blobs.contains(&b) && !blob_referenced(tx, &b)? {
            free_blobs.push(b);
        }
    }
    Ok((refs, free_chains, free_blobs))
}

fn blob_referenced(tx: &Transaction<'_>, blob: &str) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM images WHERE id = ?1 OR manifest_digest = ?1)
             OR EXISTS (SELECT 1 FROM image_layers WHERE blob = ?1)",
        [blob],
        |r| r.get(0),
    )
}
