//! Reading an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`), and the
//! manifest-to-image step shared with docker 25 archives.

use std::collections::HashMap;
use std::io::Read;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::stage::Staged;
use super::{ArchiveError, LoadedImage, JSON_LIMIT};
use crate::content::{self, Ingester, Provider};
use crate::digest::Digest;
use crate::formats::{
    descriptor_digest, layers_of, media, parse_document, select_manifest, Compression, Document,
    ImageConfig, LayerRef, Platform,
};
use crate::reference::Reference;

/// Indexes nest at most this deep.
const MAX_DEPTH: usize = 4;

/// A manifest found through an index: its descriptor's facts and its parsed form.
pub(super) struct Resolved {
    pub(super) digest: Digest,
    pub(super) media_type: String,
    pub(super) bytes: Vec<u8>,
    pub(super) manifest: ImageManifest,
}

/// Every image the layout's `index.json` lists.
pub(super) fn interpret<S: Provider + Ingester>(
    staged: &Staged,
    store: &S,
    platform: &Platform,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let index = read_index(staged)?;
    let mut images = Vec::new();
    for (i, desc) in index.manifests().iter().enumerate() {
        let what = format!("index.json: manifest {i}");
        let tags = tags_of(desc, &what)?;
        let resolved = resolve(store, desc, platform, &what, 0)?;
        images.push(load_image(store, resolved, tags, &what)?);
    }
    Ok(images)
}

/// For a docker 25 archive: the manifests of its `index.json` by config digest.
pub(super) fn manifests_by_config<S: Provider>(
    staged: &Staged,
    store: &S,
    platform: &Platform,
) -> Result<HashMap<Digest, Resolved>, ArchiveError> {
    let mut out = HashMap::new();
    if staged.file("index.json").is_none() {
        return Ok(out);
    }
    for (i, desc) in read_index(staged)?.manifests().iter().enumerate() {
        let what = format!("index.json: manifest {i}");
        let resolved = resolve(store, desc, platform, &what, 0)?;
        let config = descriptor_digest(resolved.manifest.config(), &what)?;
        out.insert(config, resolved);
    }
    Ok(out)
}

fn read_index(staged: &Staged) -> Result<ImageIndex, ArchiveError> {
    let bytes = staged
        .file("index.json")
        .ok_or(ArchiveError::NotAnArchive)?;
    serde_json::from_slice(bytes).map_err(|source| ArchiveError::Json {
        file: "index.json".into(),
        source,
    })
}

/// The names an index entry carries: containerd's full image name, else a reference name
/// that is a whole reference (a bare tag names no repository, so it gives none).
fn tags_of(desc: &Descriptor, what: &str) -> Result<Vec<Reference>, ArchiveError> {
    let Some(annotations) = desc.annotations() else {
        return Ok(Vec::new());
    };
    let name = match (
        annotations.get(media::ANNOTATION_IMAGE_NAME),
        annotations.get(media::ANNOTATION_REF_NAME),
    ) {
        (Some(full), _) => full,
        (None, Some(r)) if r.contains(['/', ':']) => r,
        _ => return Ok(Vec::new()),
    };
    let r = Reference::parse(name).map_err(|source| ArchiveError::Reference {
        file: what.into(),
        value: name.clone(),
        source,
    })?;
    Ok(vec![r])
}

/// Follows `desc` through indexes down to the manifest for `platform`.
fn resolve<S: Provider>(
    store: &S,
    desc: &Descriptor,
    platform: &Platform,
    what: &str,
    depth: usize,
) -> Result<Resolved, ArchiveError> {
    let digest = descriptor_digest(desc, what)?;
    let bytes = read_blob(store, &digest, desc.size(), what)?;
    let doc_what = format!("{what}: {digest}");
    match parse_document(&bytes, &doc_what)? {
        Document::Manifest(manifest) => Ok(Resolved {
            digest,
            media_type: desc.media_type().to_string(),
            bytes,
            manifest: *manifest,
        }),
        Document::Index(_) if depth >= MAX_DEPTH => Err(ArchiveError::NestedTooDeep(doc_what)),
        Document::Index(index) => {
            let chosen = select_manifest(&index, platform, &doc_what)?;
            resolve(store, chosen, platform, &doc_what, depth + 1)
        }
    }
}

/// Builds the image a manifest describes, checking every blob is present with its size.
pub(super) fn load_image<S: Provider + Ingester>(
    store: &S,
    resolved: Resolved,
    tags: Vec<Reference>,
    what: &str,
) -> Result<LoadedImage, ArchiveError> {
    let what = format!("{what} ({})", resolved.digest);
    let config_desc = resolved.manifest.config();
    let config_digest = descriptor_digest(config_desc, &what)?;
    let config_bytes = read_blob(store, &config_digest, config_desc.size(), &what)?;
    let config = ImageConfig::parse(config_bytes)?;
    let layers = layers_of(&resolved.manifest, &config, &what)?;
    for (i, layer) in layers.iter().enumerate() {
        check_layer(store, layer, &format!("{what}: layer {i}"))?;
    }
    Ok(LoadedImage {
        config,
        manifest_bytes: resolved.bytes,
        manifest_digest: resolved.digest,
        manifest_media_type: resolved.media_type,
        layers,
        tags,
    })
}

/// A layer blob is present with its size; an uncompressed one hashes to its diff ID.
pub(super) fn check_layer<S: Provider>(
    store: &S,
    layer: &LayerRef,
    what: &str,
) -> Result<(), ArchiveError> {
    check_blob(store, &layer.blob, layer.size, what)?;
    if layer.compression == Compression::None && layer.blob != layer.diff_id {
        return Err(ArchiveError::LayerDigest {
            what: what.into(),
            diff_id: layer.diff_id.clone(),
            actual: layer.blob.clone(),
        });
    }
    Ok(())
}

fn check_blob<S: Provider>(
    store: &S,
    digest: &Digest,
    size: u64,
    what: &str,
) -> Result<(), ArchiveError> {
    let content = |source| ArchiveError::Content {
        what: what.into(),
        source,
    };
    if !store.exists(digest).map_err(content)? {
        return Err(ArchiveError::MissingBlob {
            what: what.into(),
            digest: digest.clone(),
        });
    }
    let actual = store.size(digest).map_err(content)?;
    if actual != size {
        return Err(ArchiveError::BlobSize {
            what: what.into(),
            digest: digest.clone(),
            expected: size,
            actual,
        });
    }
    Ok(())
}

/// A small blob's bytes, after checking presence and size.
pub(super) fn read_blob<S: Provider>(
    store: &S,
    digest: &Digest,
    size: u64,
    what: &str,
) -> Result<Vec<u8>, ArchiveError> {
    check_blob(store, digest, size, what)?;
    content::read_all(store, digest, JSON_LIMIT).map_err(|source| ArchiveError::Content {
        what: what.into(),
        source,
    })
}

/// The compression of a stored blob, from its first bytes.
pub(super) fn sniff<S: Provider>(
    store: &S,
    digest: &Digest,
    what: &str,
) -> Result<Compression, ArchiveError> {
    let mut head = Vec::with_capacity(4);
    store
        .open(digest)
        .map_err(|source| ArchiveError::Content {
            what: what.into(),
            source,
        })?
        .take(4)
        .read_to_end(&mut head)
        .map_err(|source| ArchiveError::Read {
            entry: format!("{what}: blob {digest}"),
            source,
        })?;
    Ok(Compression::sniff(&head))
}
