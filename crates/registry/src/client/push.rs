//! Pushing an image from the image store: its stored manifest, byte for byte (so the
//! digest is the one it was pulled or loaded with), after the blobs it references. A
//! blob the repository has is skipped (`HEAD`); one another repository of the registry
//! has is mounted from there; the others are uploaded monolithically or, with a chunk
//! size, in chunks. The manifest and tag go last.

use std::collections::VecDeque;
use std::sync::Mutex;

use berth_image::digest::Digest;
use berth_image::reference::Reference;
use berth_image::store::{ImageStore, StoreError};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::Value;

use super::short;
use super::{scope, ClientError, RegistryConfig, Session};
use crate::auth::Credentials;
use crate::progress::{Message, Sink};

/// Blobs uploaded at once.
const PARALLEL: usize = 5;

/// Errors of a push.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Talking to the registry failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The image store failed (no such image, a missing blob).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored manifest does not parse.
    #[error("manifest of {image}: {source}")]
    Manifest {
        /// The image.
        image: String,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// The registry's answer lacks a header the protocol needs.
    #[error("{what}: the registry's answer has no {header} header")]
    Protocol {
        /// The step.
        what: String,
        /// The header.
        header: &'static str,
    },
    /// Reading a blob from the store failed.
    #[error("read blob {digest}: {source}")]
    Read {
        /// The blob.
        digest: Digest,
        /// The error.
        source: std::io::Error,
    },
}

/// What to push.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// The image's name here and in the registry (with its tag, or a digest).
    pub reference: Reference,
    /// Credentials for the registry.
    pub creds: Option<Credentials>,
    /// Upload in chunks of this many bytes (monolithic if `None`).
    pub chunk_size: Option<u64>,
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's size.
    pub size: usize,
}

/// One blob of the image.
struct Blob {
    digest: Digest,
    size: u64,
    /// A layer (progress is shown for layers only).
    layer: bool,
}

/// Pushes the image `req.reference` names.
pub fn push(
    store: &ImageStore,
    config: &RegistryConfig,
    req: &PushRequest,
    progress: Sink<'_>,
) -> Result<Pushed, PushError> {
    let r = &req.reference;
    let (record, manifest) = store.manifest_of(&r.to_string())?;
    progress(Message::status(format!(
        "The push refers to repository [{}]",
        r.name()
    )));
    let doc: Value = serde_json::from_slice(&manifest).map_err(|source| PushError::Manifest {
        image: r.familiar(),
        source,
    })?;
    let blobs = blobs_of(&doc);
    let session = Session::connect(config, &r.domain, req.creds.clone(), false)?;
    let sources = mount_sources(store, &record.id, r);
    for b in blobs.iter().filter(|b| b.layer) {
        progress(Message::about(short(&b.digest), "Preparing"));
    }
    push_blobs(store, &session, req, &blobs, &sources, progress)?;
    let media = doc["mediaType"]
        .as_str()
        .unwrap_or(&record.manifest_media_type)
        .to_string();
    let digest = put_manifest(&session, r, &manifest, &media)?;
    report(r, &digest, manifest.len(), progress);
    Ok(Pushed {
        digest,
        size: manifest.len(),
    })
}

/// The last lines of a push: the tag's digest and size, and the same as `aux` data.
fn report(r: &Reference, digest: &Digest, size: usize, progress: Sink<'_>) {
    let tag = r.tag.clone().unwrap_or_else(|| digest.to_string());
    progress(Message::status(format!(
        "{tag}: digest: {digest} size: {size}"
    )));
    progress(Message {
        aux: Some(serde_json::json!({"Tag": tag, "Digest": digest.to_string(), "Size": size})),
        detail: Some(Default::default()),
        ..Default::default()
    });
}

/// Pushes the blobs, [`PARALLEL`] at a time; the first error, if any.
fn push_blobs(
    store: &ImageStore,
    s: &Session,
    req: &PushRequest,
    blobs: &[Blob],
    sources: &[String],
    progress: Sink<'_>,
) -> Result<(), PushError> {
    let queue = Mutex::new(blobs.iter().collect::<VecDeque<_>>());
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(blobs.len()) {
            scope.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                let Some(b) = next else { break };
                if let Err(e) = push_blob(store, s, req, b, sources, progress) {
                    errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                }
            });
        }
    });
    match errors.into_inner().unwrap_or_default().into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The config and layers a manifest references.
fn blobs_of(doc: &Value) -> Vec<Blob> {
    let layers = doc["layers"].as_array().into_iter().flatten();
    let config = doc.get("config").into_iter();
    layers
        .map(|d| (d, true))
        .chain(config.map(|d| (d, false)))
        .filter_map(|(d, layer)| {
            Some(Blob {
                digest: Digest::parse(d["digest"].as_str()?).ok()?,
                size: d["size"].as_u64()?,
                layer,
            })
        })
        .collect()
}

/// Other repositories of the same registry that hold this image (mount sources).
fn mount_sources(store: &ImageStore, id: &Digest, r: &Reference) -> Vec<String> {
    let Ok(summary) = store.summary(id) else {
        return Vec::new();
    };
    let mut paths: Vec<String> = summary
        .tags
        .iter()
        .chain(&summary.digests)
        .filter(|t| t.domain == r.domain && t.path != r.path)
        .map(|t| t.path.clone())
        .collect();
    paths.dedup();
    paths
}

/// Pushes one blob unless the repository has it; tries a mount first.
fn push_blob(
    store: &ImageStore,
    s: &Session,
    req: &PushRequest,
    b: &Blob,
    sources: &[String],
    progress: Sink<'_>,
) -> Result<(), PushError> {
    let quiet = |_: Message| {};
    let progress: Sink<'_> = if b.layer { progress } else { &quiet };
    let path = &req.reference.path;
    let id = short(&b.digest);
    let rw = vec![scope(path, "pull,push")];
    let url = s.url(&format!("/v2/{path}/blobs/{}", b.digest));
    let head = s.send("HEAD", &rw, |c| c.head(&url))?;
    if head.status().is_success() {
        progress(Message::about(&id, "Layer already exists"));
        return Ok(());
    }
    for from in sources {
        if mount(s, path, from, &b.digest)? {
            progress(Message::about(&id, format!("Mounted from {from}")));
            return Ok(());
        }
    }
    super::upload::upload(store, s, req, &b.digest, b.size, progress)?;
    progress(Message::about(&id, "Pushed"));
    Ok(())
}

/// `POST .../blobs/uploads/?mount=&from=`: true if the registry mounted it.
fn mount(s: &Session, path: &str, from: &str, digest: &Digest) -> Result<bool, PushError> {
    let scopes = vec![scope(path, "pull,push"), scope(from, "pull")];
    let url = s.url(&format!(
        "/v2/{path}/blobs/uploads/?mount={digest}&from={from}"
    ));
    let resp = s.send("POST", &scopes, |c| c.post(&url).header(CONTENT_LENGTH, 0))?;
    if resp.status() == StatusCode::CREATED {
        return Ok(true);
    }
    // A session the registry opened instead of mounting is left to expire.
    Ok(false)
}

/// `PUT /v2/<name>/manifests/<tag or digest>`; returns the manifest's digest.
fn put_manifest(
    s: &Session,
    r: &Reference,
    manifest: &[u8],
    media: &str,
) -> Result<Digest, PushError> {
    let digest = Digest::of(manifest);
    let target = r.tag.clone().unwrap_or_else(|| digest.to_string());
    let url = s.url(&format!("/v2/{}/manifests/{target}", r.path));
    let scopes = [scope(&r.path, "pull,push")];
    s.send_ok("PUT", &url, &scopes, |c| {
        c.put(&url)
            .header(CONTENT_TYPE, media)
            .body(manifest.to_vec())
    })?;
    Ok(digest)
}
