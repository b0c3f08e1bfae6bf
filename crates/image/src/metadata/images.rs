//! Storing, naming, finding and listing images.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{params, OptionalExtension, Transaction};

use super::{now, Db, DbError, DbUsage, ImageRecord, ImageSummary, LayerRecord, PutOutcome};
use crate::digest::Digest;
use crate::reference::Reference;

/// An image row as SQLite gives it, before its digests are checked.
struct RawImage {
    id: String,
    manifest_digest: String,
    manifest_media_type: String,
    created: Option<String>,
    added: i64,
    size: i64,
    labels: String,
}

/// A layer row as SQLite gives it.
type RawLayer = (String, String, String, i64, String);

impl Db {
    /// Stores `img` (if new) and points every reference in `tags` at it, in one
    /// transaction. A reference that named another image moves here, leaving that image
    /// without it (dangling if it was its last), as docker does.
    pub fn put_image(&self, img: &ImageRecord, tags: &[Reference]) -> Result<PutOutcome, DbError> {
        let labels = serde_json::to_string(&img.labels).unwrap_or_else(|_| "{}".into());
        let moved = self.write("put image", |tx| {
            let created = !exists(tx, &img.id)?;
            if created {
                insert_image(tx, img, &labels)?;
            }
            let mut moved = Vec::new();
            for r in tags {
                if let Some(old) = set_ref(tx, r, &img.id)? {
                    moved.push((r.clone(), old));
                }
            }
            Ok((created, moved))
        })?;
        let (created, raw_moved) = moved;
        let moved = raw_moved
            .into_iter()
            .map(|(r, old)| Ok((r, self.digest("refs.image_id", &old)?)))
            .collect::<Result<_, DbError>>()?;
        Ok(PutOutcome { created, moved })
    }

    /// Points `reference` at image `id`; returns the image it named before, if another.
    pub fn tag(&self, id: &Digest, reference: &Reference) -> Result<Option<Digest>, DbError> {
        let old = self.write("tag image", |tx| {
            if !exists(tx, id)? {
                return Ok(Err(DbError::NotFound(id.to_string())));
            }
            Ok(Ok(set_ref(tx, reference, id)?))
        })??;
        old.map(|o| self.digest("refs.image_id", &o)).transpose()
    }

    /// Finds an image by full reference, familiar name (`busybox` is
    /// `busybox:latest`), `name@sha256:<manifest digest>`, full ID, `sha256:<id>`, or a
    /// unique ID prefix (with or without `sha256:`).
    pub fn resolve(&self, name_or_id: &str) -> Result<ImageRecord, DbError> {
        let id = self.resolve_id(name_or_id)?;
        self.get(&id)
    }

    /// Like [`Db::resolve`], the ID only.
    pub fn resolve_id(&self, s: &str) -> Result<Digest, DbError> {
        if let Some(hex) = s.strip_prefix("sha256:") {
            return self.by_prefix(hex, s);
        }
        if let Ok(r) = Reference::parse(s) {
            if let Some(id) = self.read("resolve reference", |tx| lookup_ref(tx, &r))? {
                return self.digest("refs.image_id", &id);
            }
        }
        self.by_prefix(s, s)
    }

    fn by_prefix(&self, hex: &str, original: &str) -> Result<Digest, DbError> {
        let valid = !hex.is_empty()
            && hex.len() <= 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if !valid {
            return Err(DbError::NotFound(original.into()));
        }
        let ids: Vec<String> = self.read("resolve ID prefix", |tx| {
            let mut st = tx.prepare("SELECT id FROM images WHERE id GLOB ?1 LIMIT 2")?;
            let rows = st.query_map([format!("sha256:{hex}*")], |r| r.get(0))?;
            rows.collect()
        })?;
        match ids.as_slice() {
            [] => Err(DbError::NotFound(original.into())),
            [one] => self.digest("images.id", one),
            _ => Err(DbError::Ambiguous(hex.into())),
        }
    }

    /// The image with ID `id`.
    pub fn get(&self, id: &Digest) -> Result<ImageRecord, DbError> {
        let (raw, layers) = self.read("get image", |tx| {
            let Some(raw) = image_row(tx, &id.to_string())? else {
                return Ok((None, Vec::new()));
            };
            let layers = layer_rows(tx, &raw.id)?;
            Ok((Some(raw), layers))
        })?;
        let raw = raw.ok_or_else(|| DbError::NotFound(id.to_string()))?;
        Ok(self.record(raw, layers)?.0)
    }

    /// Every image with its references, newest first.
    pub fn list(&self) -> Result<Vec<ImageSummary>, DbError> {
        let rows = self.read("list images", |tx| {
            let mut st = tx.prepare("SELECT id FROM images ORDER BY added DESC, id")?;
            let ids: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(raw) = image_row(tx, &id)? {
                    out.push((raw, layer_rows(tx, &id)?, ref_rows(tx, &id)?));
                }
            }
            Ok(out)
        })?;
        rows.into_iter()
            .map(|(raw, layers, refs)| self.summary(raw, layers, refs))
            .collect()
    }

    /// IDs of images no reference names.
    pub fn dangling(&self) -> Result<Vec<Digest>, DbError> {
        let ids: Vec<String> = self.read("list dangling images", |tx| {
            let mut st = tx.prepare(
                "SELECT id FROM images i WHERE NOT EXISTS (SELECT 1 FROM refs WHERE image_id = i.id) ORDER BY id",
            )?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        ids.iter().map(|i| self.digest("images.id", i)).collect()
    }

    /// How many images use the layer `chain_id`, plus users holding it directly.
    pub fn layer_refcount(&self, chain_id: &Digest) -> Result<u64, DbError> {
        self.read("count layer references", |tx| {
            chain_refcount(tx, &chain_id.to_string())
        })
    }

    /// Every blob an image references (manifests, configs, layers): what garbage
    /// collection of the content store must keep.
    pub fn referenced_blobs(&self) -> Result<BTreeSet<Digest>, DbError> {
        let all: Vec<String> = self.read("list referenced blobs", |tx| {
            let mut st = tx.prepare(
                "SELECT id FROM images UNION SELECT manifest_digest FROM images UNION SELECT blob FROM image_layers",
            )?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        all.iter().map(|d| self.digest("blob", d)).collect()
    }

    /// Counts of images, dangling images, layers and layer bytes.
    pub fn usage(&self) -> Result<DbUsage, DbError> {
        self.read("compute usage", |tx| {
            let one = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0));
            Ok(DbUsage {
                images: one("SELECT COUNT(*) FROM images")? as u64,
                dangling: one("SELECT COUNT(*) FROM images i WHERE NOT EXISTS (SELECT 1 FROM refs WHERE image_id = i.id)")? as u64,
                layers: one("SELECT COUNT(*) FROM (SELECT chain_id FROM image_layers UNION SELECT chain_id FROM layer_holds)")? as u64,
                layer_blob_bytes: one("SELECT COALESCE(SUM(blob_size), 0) FROM (SELECT DISTINCT blob, blob_size FROM image_layers)")? as u64,
            })
        })
    }

    fn summary(
        &self,
        raw: RawImage,
        layers: Vec<RawLayer>,
        refs: Vec<String>,
    ) -> Result<ImageSummary, DbError> {
        let (image, added) = self.record(raw, layers)?;
        let mut tags = Vec::new();
        let mut digests = Vec::new();
        for name in refs {
            let r = Reference::parse(&name).map_err(|_| self.corrupt("refs.name", &name))?;
            if r.digest.is_some() && r.tag.is_none() {
                digests.push(r);
            } else {
                tags.push(r);
            }
        }
        Ok(ImageSummary {
            image,
            tags,
            digests,
            added,
        })
    }

    fn record(&self, raw: RawImage, layers: Vec<RawLayer>) -> Result<(ImageRecord, i64), DbError> {
        let labels: BTreeMap<String, String> = serde_json::from_str(&raw.labels)
            .map_err(|_| self.corrupt("images.labels", &raw.labels))?;
        let layers = layers
            .into_iter()
            .map(|(diff, chain, blob, size, media_type)| {
                Ok(LayerRecord {
                    diff_id: self.digest("image_layers.diff_id", &diff)?,
                    chain_id: self.digest("image_layers.chain_id", &chain)?,
                    blob: self.digest("image_layers.blob", &blob)?,
                    blob_size: size as u64,
                    media_type,
                })
            })
            .collect::<Result<_, DbError>>()?;
        let image = ImageRecord {
            id: self.digest("images.id", &raw.id)?,
            manifest_digest: self.digest("images.manifest_digest", &raw.manifest_digest)?,
            manifest_media_type: raw.manifest_media_type,
            created: raw.created,
            size: raw.size as u64,
            labels,
            layers,
        };
        Ok((image, raw.added))
    }
}

pub(super) fn exists(tx: &Transaction<'_>, id: &Digest) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT 1 FROM images WHERE id = ?1",
        [id.to_string()],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
}

fn insert_image(tx: &Transaction<'_>, img: &ImageRecord, labels: &str) -> rusqlite::Result<()> {
    let id = img.id.to_string();
    tx.execute(
        "INSERT INTO images (id, manifest_digest, manifest_media_type, created, added, size, labels)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            img.manifest_digest.to_string(),
            img.manifest_media_type,
            img.created,
            now(),
            img.size as i64,
            labels
        ],
    )?;
    let mut st = tx.prepare(
        "INSERT INTO image_layers (image_id, idx, diff_id, chain_id, blob, blob_size, media_type)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (i, l) in img.layers.iter().enumerate() {
        st.execute(params![
            id,
            i as i64,
            l.diff_id.to_string(),
            l.chain_id.to_string(),
            l.blob.to_string(),
            l.blob_size as i64,
            l.media_type
        ])?;
    }
    Ok(())
}

/// Points `r` at `id`; returns the other image it named before.
fn set_ref(tx: &Transaction<'_>, r: &Reference, id: &Digest) -> rusqlite::Result<Option<String>> {
    let name = r.to_string();
    let id = id.to_string();
    let old: Option<String> = tx
        .query_row("SELECT image_id FROM refs WHERE name = ?1", [&name], |r| {
            r.get(0)
        })
        .optional()?;
    if old.as_deref() == Some(id.as_str()) {
        return Ok(None);
    }
    tx.execute(
        "INSERT INTO refs (name, image_id, added) VALUES (?1, ?2, ?3)
         ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, added = excluded.added",
        params![name, id, now()],
    )?;
    Ok(old)
}

/// The image a reference names: exactly, or for `name@digest`, the image of that
/// repository whose manifest has that digest.
fn lookup_ref(tx: &Transaction<'_>, r: &Reference) -> rusqlite::Result<Option<String>> {
    let exact = tx
        .query_row(
            "SELECT image_id FROM refs WHERE name = ?1",
            [r.to_string()],
            |row| row.get(0),
        )
        .optional()?;
    let (Some(digest), None) = (&r.digest, exact.as_ref()) else {
        return Ok(exact);
    };
    let name = r.name();
    tx.query_row(
        "SELECT i.id FROM images i WHERE i.manifest_digest = ?1 AND EXISTS (
            SELECT 1 FROM refs f WHERE f.image_id = i.id
            AND (substr(f.name, 1, length(?2)) = ?2 OR substr(f.name, 1, length(?3)) = ?3))",
        params![digest.to_string(), format!("{name}:"), format!("{name}@")],
        |row| row.get(0),
    )
    .optional()
}

fn image_row(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<Option<RawImage>> {
    // Cached statements: a build looks images up once a step.
    tx.prepare_cached(
        "SELECT id, manifest_digest, manifest_media_type, created, added, size, labels FROM images WHERE id = ?1",
    )?
    .query_row(
        [id],
        |r| {
            Ok(RawImage {
                id: r.get(0)?,
                manifest_digest: r.get(1)?,
                manifest_media_type: r.get(2)?,
                created: r.get(3)?,
                added: r.get(4)?,
                size: r.get(5)?,
                labels: r.get(6)?,
            })
        },
    )
    .optional()
}

fn layer_rows(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<Vec<RawLayer>> {
    let mut st = tx.prepare_cached(
        "SELECT diff_id, chain_id, blob, blob_size, media_type FROM image_layers WHERE image_id = ?1 ORDER BY idx",
    )?;
    let rows = st.query_map([id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })?;
    rows.collect()
}

pub(super) fn ref_rows(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = tx.prepare_cached("SELECT name FROM refs WHERE image_id = ?1 ORDER BY name")?;
    let rows = st.query_map([id], |r| r.get(0))?;
    rows.collect()
}

pub(super) fn chain_refcount(tx: &Transaction<'_>, chain: &str) -> rusqlite::Result<u64> {
    tx.query_row(
        "SELECT (SELECT COUNT(*) FROM image_layers WHERE chain_id = ?1)
              + (SELECT COUNT(*) FROM layer_holds WHERE chain_id = ?1)",
        [chain],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}
