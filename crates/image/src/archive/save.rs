//! Writing archives: `docker save`'s legacy layout (`manifest.json`, `repositories`,
//! `<config hex>.json`, `<diff ID hex>/layer.tar` uncompressed), which docker 20.10's
//! `load` and skopeo's `docker-archive:` read, or an OCI image layout; gzipped on request.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use oci_spec::image::ImageManifest;

use super::{ArchiveError, LoadedImage, JSON_LIMIT};
use crate::content::{self, Provider};
use crate::digest::{Digest, Sha256Hasher};
use crate::formats::{descriptor_digest, media, parse_document, Compression, Document, LayerRef};
use crate::reference::Reference;

/// Opens a layer's uncompressed tar stream (the layer module's decompressor).
pub type OpenUncompressed<'a> = &'a dyn Fn(&LayerRef) -> io::Result<Box<dyn Read>>;

/// The layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveForm {
    /// `docker save`'s layout.
    Docker,
    /// An OCI image layout.
    Oci,
}

/// How to write an archive.
#[derive(Debug, Clone, Copy)]
pub struct SaveOptions<'a> {
    /// Which layout.
    pub form: ArchiveForm,
    /// gzip the whole archive.
    pub gzip: bool,
    /// Where to spool decompressed layers (a tar entry needs its size first).
    pub spool_dir: &'a Path,
}

/// One image to write: what its manifest, config and layers are, and its names.
#[derive(Debug, Clone)]
pub struct ImageToSave {
    /// The config digest (image ID).
    pub config: Digest,
    /// The manifest's digest (the OCI layout copies it and what it references).
    pub manifest: Digest,
    /// The manifest's media type.
    pub manifest_media_type: String,
    /// The layers, bottom first.
    pub layers: Vec<LayerRef>,
    /// Names; tags go into `RepoTags` / index annotations.
    pub tags: Vec<Reference>,
}

impl From<&LoadedImage> for ImageToSave {
    fn from(img: &LoadedImage) -> Self {
        Self {
            config: img.config.digest().clone(),
            manifest: img.manifest_digest.clone(),
            manifest_media_type: img.manifest_media_type.clone(),
            layers: img.layers.clone(),
            tags: img.tags.clone(),
        }
    }
}

/// Writes `images` from `store` to `out`. `open_uncompressed` is used for compressed
/// layers when writing the docker form (whose layer files are plain tars).
pub fn write_archive<P: Provider, W: Write>(
    out: W,
    store: &P,
    images: &[ImageToSave],
    opts: &SaveOptions<'_>,
    open_uncompressed: OpenUncompressed<'_>,
) -> Result<W, ArchiveError> {
    if opts.gzip {
        let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        let gz = write_tar(gz, store, images, opts, open_uncompressed)?;
        gz.finish().map_err(|e| write_err("gzip trailer", e))
    } else {
        write_tar(out, store, images, opts, open_uncompressed)
    }
}

fn write_tar<P: Provider, W: Write>(
    out: W,
    store: &P,
    images: &[ImageToSave],
    opts: &SaveOptions<'_>,
    open_uncompressed: OpenUncompressed<'_>,
) -> Result<W, ArchiveError> {
    let mut tar = TarOut {
        b: tar::Builder::new(out),
        written: HashSet::new(),
    };
    match opts.form {
        ArchiveForm::Docker => write_docker(&mut tar, store, images, opts, open_uncompressed)?,
        ArchiveForm::Oci => write_oci(&mut tar, store, images)?,
    }
    tar.b
        .into_inner()
        .map_err(|e| write_err("end of archive", e))
}

/// The tar being written; each path goes in once.
struct TarOut<W: Write> {
    b: tar::Builder<W>,
    written: HashSet<String>,
}

impl<W: Write> TarOut<W> {
    fn file(&mut self, path: &str, size: u64, data: impl Read) -> Result<(), ArchiveError> {
        if !self.written.insert(path.to_string()) {
            return Ok(());
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(size);
        h.set_mtime(0);
        self.b
            .append_data(&mut h, path, data)
            .map_err(|e| write_err(path, e))
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<(), ArchiveError> {
        self.file(path, data.len() as u64, data)
    }

    fn dir(&mut self, path: &str) -> Result<(), ArchiveError> {
        if !self.written.insert(path.to_string()) {
            return Ok(());
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        self.b
            .append_data(&mut h, path, io::empty())
            .map_err(|e| write_err(path, e))
    }

    /// Copies blob `digest` from `store` to `path`.
    fn blob<P: Provider>(
        &mut self,
        path: &str,
        store: &P,
        digest: &Digest,
    ) -> Result<(), ArchiveError> {
        if self.written.contains(path) {
            return Ok(());
        }
        let content = |source| ArchiveError::Content {
            what: format!("save {path}"),
            source,
        };
        let size = store.size(digest).map_err(content)?;
        let reader = store.open(digest).map_err(content)?;
        self.file(path, size, reader)
    }
}

/// `manifest.json` entry as docker writes it.
#[derive(serde::Serialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn write_docker<P: Provider, W: Write>(
    tar: &mut TarOut<W>,
    store: &P,
    images: &[ImageToSave],
    opts: &SaveOptions<'_>,
    open_uncompressed: OpenUncompressed<'_>,
) -> Result<(), ArchiveError> {
    let mut entries = Vec::with_capacity(images.len());
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for img in images {
        let config_path = format!("{}.json", img.config.hex());
        tar.blob(&config_path, store, &img.config)?;
        let mut layers = Vec::with_capacity(img.layers.len());
        for layer in &img.layers {
            let dir = layer.diff_id.hex().to_string();
            let path = format!("{dir}/layer.tar");
            if !tar.written.contains(&path) {
                tar.dir(&format!("{dir}/"))?;
                write_plain_layer(tar, &path, store, layer, opts, open_uncompressed)?;
            }
            layers.push(path);
        }
        let tags: Vec<&Reference> = img.tags.iter().filter(|t| t.tag.is_some()).collect();
        for t in &tags {
            if let (Some(tag), Some(top)) = (&t.tag, img.layers.last()) {
                repositories
                    .entry(t.familiar_name())
                    .or_default()
                    .insert(tag.clone(), top.diff_id.hex().to_string());
            }
        }
        let repo_tags: Vec<String> = tags.iter().map(|t| plain_tag(t).familiar()).collect();
        entries.push(DockerEntry {
            config: config_path,
            repo_tags: (!repo_tags.is_empty()).then_some(repo_tags),
            layers,
        });
    }
    tar.bytes("manifest.json", &to_json(&entries, "manifest.json")?)?;
    if !repositories.is_empty() {
        tar.bytes("repositories", &to_json(&repositories, "repositories")?)?;
    }
    Ok(())
}

/// `name:tag` without a digest.
fn plain_tag(r: &Reference) -> Reference {
    Reference {
        digest: None,
        ..r.clone()
    }
}

/// Writes a layer as a plain tar: the blob itself if uncompressed, else the decompressed
/// stream spooled to a temporary file (a tar entry needs its size first) and checked
/// against the diff ID on the way.
fn write_plain_layer<P: Provider, W: Write>(
    tar: &mut TarOut<W>,
    path: &str,
    store: &P,
    layer: &LayerRef,
    opts: &SaveOptions<'_>,
    open_uncompressed: OpenUncompressed<'_>,
) -> Result<(), ArchiveError> {
    if layer.compression == Compression::None {
        return tar.blob(path, store, &layer.blob);
    }
    let what = format!("layer {} ({})", layer.diff_id, layer.blob);
    let mut spool = tempfile::tempfile_in(opts.spool_dir)
        .map_err(|e| write_err(&format!("spool file in {}", opts.spool_dir.display()), e))?;
    let mut stream = open_uncompressed(layer).map_err(|e| ArchiveError::Read {
        entry: what.clone(),
        source: e,
    })?;
    let mut hasher = Sha256Hasher::new();
    let size = copy_hashing(&mut stream, &mut spool, &mut hasher, &what)?;
    let actual = hasher.digest();
    if actual != layer.diff_id {
        return Err(ArchiveError::LayerDigest {
            what,
            diff_id: layer.diff_id.clone(),
            actual,
        });
    }
    spool
        .seek(SeekFrom::Start(0))
        .map_err(|e| write_err("spool file", e))?;
    tar.file(path, size, spool)
}

fn copy_hashing(
    from: &mut dyn Read,
    to: &mut impl Write,
    hasher: &mut Sha256Hasher,
    what: &str,
) -> Result<u64, ArchiveError> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(hasher.len()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ArchiveError::Read {
                    entry: what.into(),
                    source: e,
                })
            }
        };
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])
            .map_err(|e| write_err("spool file", e))?;
    }
}

/// An OCI layout index entry.
fn index_entry(img: &ImageToSave, size: u64, tag: Option<&Reference>) -> serde_json::Value {
    let mut entry = serde_json::json!({
        "mediaType": img.manifest_media_type,
        "digest": img.manifest.to_string(),
        "size": size,
    });
    if let Some(t) = tag {
        entry["annotations"] = serde_json::json!({
            media::ANNOTATION_IMAGE_NAME: t.to_string(),
            media::ANNOTATION_REF_NAME: t.tag.clone().unwrap_or_default(),
        });
    }
    entry
}

fn write_oci<P: Provider, W: Write>(
    tar: &mut TarOut<W>,
    store: &P,
    images: &[ImageToSave],
) -> Result<(), ArchiveError> {
    let layout = serde_json::json!({ "imageLayoutVersion": media::OCI_LAYOUT_VERSION });
    tar.bytes("oci-layout", &to_json(&layout, "oci-layout")?)?;
    tar.dir("blobs/")?;
    tar.dir("blobs/sha256/")?;
    let mut manifests = Vec::new();
    for img in images {
        let manifest = read_manifest(store, &img.manifest)?;
        let blob = |d: &Digest| format!("blobs/sha256/{}", d.hex());
        let what = format!("manifest {}", img.manifest);
        tar.blob(&blob(&img.manifest), store, &img.manifest)?;
        tar.blob(
            &blob(&descriptor_digest(manifest.config(), &what)?),
            store,
            &descriptor_digest(manifest.config(), &what)?,
        )?;
        for l in manifest.layers() {
            let d = descriptor_digest(l, &what)?;
            tar.blob(&blob(&d), store, &d)?;
        }
        let size = store
            .size(&img.manifest)
            .map_err(|source| ArchiveError::Content {
                what: what.clone(),
                source,
            })?;
        let tags: Vec<&Reference> = img.tags.iter().filter(|t| t.tag.is_some()).collect();
        if tags.is_empty() {
            manifests.push(index_entry(img, size, None));
        }
        for t in tags {
            manifests.push(index_entry(img, size, Some(&plain_tag(t))));
        }
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": manifests,
    });
    tar.bytes("index.json", &to_json(&index, "index.json")?)
}

fn read_manifest<P: Provider>(store: &P, digest: &Digest) -> Result<ImageManifest, ArchiveError> {
    let what = format!("manifest {digest}");
    let bytes =
        content::read_all(store, digest, JSON_LIMIT).map_err(|source| ArchiveError::Content {
            what: what.clone(),
            source,
        })?;
    match parse_document(&bytes, &what)? {
        Document::Manifest(m) => Ok(*m),
        Document::Index(_) => Err(ArchiveError::NotAManifest(what)),
    }
}

fn to_json<T: serde::Serialize>(v: &T, file: &str) -> Result<Vec<u8>, ArchiveError> {
    serde_json::to_vec(v).map_err(|source| ArchiveError::Json {
        file: file.into(),
        source,
    })
}

fn write_err(entry: &str, source: io::Error) -> ArchiveError {
    ArchiveError::Write {
        entry: entry.into(),
        source,
    }
}
