//! The database schema. Digests are stored as `sha256:<hex>` text; references as their
//! full normalised form.

/// The schema version this code writes.
pub(super) const VERSION: i64 = 1;

/// Creates every table (idempotent).
pub(super) const CREATE: &str = "
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id                  TEXT PRIMARY KEY,   -- config digest = image ID
    manifest_digest     TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    created             TEXT,               -- the config's `created`, as written there
    added               INTEGER NOT NULL,   -- unix seconds when stored here
    size                INTEGER NOT NULL,
    labels              TEXT NOT NULL       -- JSON object
);
CREATE INDEX IF NOT EXISTS images_manifest ON images(manifest_digest);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx        INTEGER NOT NULL,
    diff_id    TEXT NOT NULL,
    chain_id   TEXT NOT NULL,
    blob       TEXT NOT NULL,
    blob_size  INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    PRIMARY KEY (image_id, idx)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE INDEX IF NOT EXISTS image_layers_blob ON image_layers(blob);
CREATE TABLE IF NOT EXISTS refs (
    name     TEXT PRIMARY KEY,              -- full reference: name:tag or name@digest
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    added    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refs_image ON refs(image_id);
-- Users of an image (containers): an image with users is not deleted unless forced.
CREATE TABLE IF NOT EXISTS image_users (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL,
    PRIMARY KEY (image_id, user_id)
);
-- Layers a user holds directly, after its image was deleted by force.
CREATE TABLE IF NOT EXISTS layer_holds (
    chain_id TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    PRIMARY KEY (chain_id, user_id)
);
CREATE INDEX IF NOT EXISTS layer_holds_user ON layer_holds(user_id);
";
