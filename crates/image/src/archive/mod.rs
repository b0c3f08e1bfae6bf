//! Image archives: `docker save` tars (the legacy layout with `manifest.json`, and docker
//! 25's with `blobs/sha256` and `index.json` besides) and OCI image layouts, plain or
//! gzipped.
//!
//! Reading makes one sequential pass over the tar: every file entry that can hold image
//! content is staged into the content store as it comes (entries may be in any order),
//! verified by digest where its name says one; only then are the manifests interpreted.
//! What comes out is a list of [`LoadedImage`]s whose blobs are all in the store. Blobs are
//! made durable on a second thread while the pass reads on, and a [`StageHook`] may see
//! each entry's bytes as they pass (the image store unpacks layers early that way).

mod docker;
mod oci;
mod save;
mod stage;

use std::io::{BufRead, BufReader, Read};

use crate::content::{ContentError, Ingester, Provider};

use crate::digest::Digest;
use crate::formats::{FormatError, ImageConfig, LayerRef, Platform};
use crate::metadata::{ImageRecord, LayerRecord};
use crate::reference::{Reference, ReferenceError};
pub use save::{write_archive, ArchiveForm, ImageToSave, OpenUncompressed, SaveOptions};

/// The largest JSON document (manifest, index, config) read into memory.
pub(crate) const JSON_LIMIT: u64 = 32 << 20;

/// An image read from an archive, with all its blobs in the content store.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// The image config (exact bytes; its digest is the image ID).
    pub config: ImageConfig,
    /// The manifest's exact bytes (synthesised, as an OCI manifest, for a legacy docker
    /// archive, which has none).
    pub manifest_bytes: Vec<u8>,
    /// The manifest's digest.
    pub manifest_digest: Digest,
    /// The manifest's media type.
    pub manifest_media_type: String,
    /// The layers, bottom first.
    pub layers: Vec<LayerRef>,
    /// The names the archive gives the image.
    pub tags: Vec<Reference>,
}

impl LoadedImage {
    /// The metadata record for this image. Its size is the sum of the layer blobs'
    /// sizes; a caller that knows the unpacked size may replace it.
    pub fn to_record(&self) -> Result<ImageRecord, FormatError> {
        let chain_ids = self.config.chain_ids()?;
        let layers = self
            .layers
            .iter()
            .zip(chain_ids)
            .map(|(l, chain_id)| LayerRecord {
                diff_id: l.diff_id.clone(),
                chain_id,
                blob: l.blob.clone(),
                blob_size: l.size,
                media_type: l.media_type.clone(),
            })
            .collect();
        let parsed = self.config.parsed();
        let labels = parsed
            .config()
            .as_ref()
            .and_then(|c| c.labels().clone())
            .map(|l| l.into_iter().collect())
            .unwrap_or_default();
        Ok(ImageRecord {
            id: self.config.digest().clone(),
            manifest_digest: self.manifest_digest.clone(),
            manifest_media_type: self.manifest_media_type.clone(),
            created: parsed.created().clone(),
            size: self.layers.iter().map(|l| l.size).sum(),
            labels,
            layers,
        })
    }
}

/// Errors of reading and writing archives. Each names the archive entry or the digest.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading the archive failed (a truncated archive ends here).
    #[error("read archive entry {entry}: {source}")]
    Read {
        /// The entry being read, or `archive` for the archive itself.
        entry: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the archive failed.
    #[error("write archive entry {entry}: {source}")]
    Write {
        /// The entry being written.
        entry: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The content store refused or could not provide a blob.
    #[error("{what}: {source}")]
    Content {
        /// The entry or blob concerned.
        what: String,
        /// The store's error.
        #[source]
        source: ContentError,
    },
    /// A file a manifest names is not in the archive.
    #[error("{what}: file {path:?} is not in the archive")]
    MissingFile {
        /// Who names it.
        what: String,
        /// The path named.
        path: String,
    },
    /// A blob a manifest names is neither in the archive nor in the store.
    #[error("{what}: blob {digest} is not in the archive")]
    MissingBlob {
        /// Who names it.
        what: String,
        /// The blob.
        digest: Digest,
    },
    /// A blob's size is not the size its descriptor gives.
    #[error("{what}: blob {digest} has {actual} bytes, its descriptor says {expected}")]
    BlobSize {
        /// Who describes it.
        what: String,
        /// The blob.
        digest: Digest,
        /// Descriptor size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// An uncompressed layer whose digest is not the diff ID its config gives.
    #[error("{what}: layer digest mismatch: config says {diff_id}, content is {actual}")]
    LayerDigest {
        /// The layer file or blob.
        what: String,
        /// The diff ID in the config.
        diff_id: Digest,
        /// The digest of the content.
        actual: Digest,
    },
    /// A JSON file did not parse.
    #[error("parse {file}: {source}")]
    Json {
        /// The archive entry.
        file: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A manifest, index or config is malformed or unsupported.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A name in the archive is not a valid reference.
    #[error("{file}: {value:?}: {source}")]
    Reference {
        /// Where the name is.
        file: String,
        /// The name.
        value: String,
        /// Why it is invalid.
        #[source]
        source: ReferenceError,
    },
    /// A manifest for a legacy archive's image could not be assembled.
    #[error("make a manifest for {0}")]
    Synthesize(String),
    /// A manifest digest that names an index.
    #[error("{0}: is an index, not an image manifest")]
    NotAManifest(String),
    /// Indexes inside indexes beyond a sane depth.
    #[error("{0}: indexes nested too deep")]
    NestedTooDeep(String),
    /// A metadata file (`manifest.json`, `index.json`, ...) larger than berth reads.
    #[error("archive entry {entry}: {size} bytes is more than the {limit} allowed")]
    TooLarge {
        /// The entry.
        entry: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Neither `manifest.json` nor `index.json`.
    #[error("not an image archive: it has neither manifest.json nor index.json")]
    NotAnArchive,
}

/// Sees the file entries of an archive while they are staged, e.g. to unpack layers as
/// they arrive. Every entry it takes ([`StageHook::begin`] true) gets all its bytes
/// ([`StageHook::feed`]), then [`StageHook::end`]; [`StageHook::committed`] says later
/// which blob it became. An entry that fails midway leaves the hook without `end` (the
/// whole read fails).
pub trait StageHook {
    /// A file entry that goes to the content store starts: `path` in the archive, its
    /// first bytes `head` (at least 512 unless the entry is shorter; they are fed again).
    /// Returns whether the hook wants the entry's bytes.
    fn begin(&mut self, path: &str, head: &[u8]) -> bool;
    /// The next bytes of the entry taken: `buf[..len]`. The hook may keep `buf` and
    /// leave another vector of the same length in its place (saving a copy).
    fn feed(&mut self, buf: &mut Vec<u8>, len: usize);
    /// The entry taken at `path` has given all its bytes.
    fn end(&mut self, path: &str);
    /// The entry at `path` (taken or not) is committed as blob `digest`.
    fn committed(&mut self, path: &str, digest: &Digest);
}

/// The hook that takes nothing.
impl StageHook for () {
    fn begin(&mut self, _: &str, _: &[u8]) -> bool {
        false
    }
    fn feed(&mut self, _: &mut Vec<u8>, _: usize) {}
    fn end(&mut self, _: &str) {}
    fn committed(&mut self, _: &str, _: &Digest) {}
}

/// Reads an archive (either form, gzipped or not) from `input`, staging its blobs into
/// `store`. Indexes resolve to the manifest for `platform`.
pub fn read_archive<S, R>(
    input: R,
    store: &S,
    platform: &Platform,
) -> Result<Vec<LoadedImage>, ArchiveError>
where
    S: Provider + Ingester + Sync,
    S::Writer: Send,
    R: Read,
{
    read_archive_with(input, store, platform, &mut ())
}

/// [`read_archive`], showing every staged file entry to `hook` as it passes.
pub fn read_archive_with<S, R>(
    input: R,
    store: &S,
    platform: &Platform,
    hook: &mut dyn StageHook,
) -> Result<Vec<LoadedImage>, ArchiveError>
where
    S: Provider + Ingester + Sync,
    S::Writer: Send,
    R: Read,
{
    let staged = stage::stage(decompressed(input)?, store, hook)?;
    if staged.file("manifest.json").is_some() {
        docker::interpret(&staged, store, platform)
    } else if staged.file("index.json").is_some() {
        oci::interpret(&staged, store, platform)
    } else {
        Err(ArchiveError::NotAnArchive)
    }
}

/// `input`, gunzipped if it starts with gzip's magic number.
fn decompressed<'a, R: Read + 'a>(input: R) -> Result<Box<dyn Read + 'a>, ArchiveError> {
    let mut buffered = BufReader::with_capacity(256 * 1024, input);
    let head = buffered.fill_buf().map_err(|source| ArchiveError::Read {
        entry: "archive".into(),
        source,
    })?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(buffered)))
    } else {
        Ok(Box::new(buffered))
    }
}
