//! Pulling an image into the image store: the manifest (through an index, for the
//! platform wanted), the config, then the layers in parallel, each streamed once through
//! digest check, the content store and (with overlay) the unpacker; layers present are
//! skipped, and a layer another pull of this process is fetching is waited for rather
//! than fetched twice. The image is recorded only when everything is verified.

use std::collections::{HashSet, VecDeque};
use std::io::Read;
use std::sync::{Condvar, Mutex};

use berth_image::archive::LoadedImage;
use berth_image::content::Expected;
use berth_image::digest::Digest;
use berth_image::formats::{self, media, Document, FormatError, ImageConfig, LayerRef, Platform};
use berth_image::reference::Reference;
use berth_image::store::{ImageStore, IngestError, LayerNeed, Pull, StoreError};
use reqwest::header::ACCEPT;

use super::short;
use super::{scope, BlobReader, ClientError, RegistryConfig, Session};
use crate::auth::Credentials;
use crate::progress::{Message, Sink};

/// Layers fetched at once.
const PARALLEL: usize = 4;
/// The largest manifest or config read.
const JSON_LIMIT: u64 = 8 << 20;

/// Errors of a pull.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// Talking to the registry failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The tag or digest is not in the repository.
    #[error("manifest for {reference} not found: manifest unknown: {message}")]
    NotFound {
        /// The reference as docker shows it.
        reference: String,
        /// The registry's message.
        message: String,
    },
    /// The registry refused access (or the repository does not exist).
    #[error("pull access denied for {repository}, repository does not exist or may require 'docker login': denied: {message}")]
    Denied {
        /// The repository as docker shows it.
        repository: String,
        /// The registry's message.
        message: String,
    },
    /// A manifest, index or config is not what berth can use.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Content that does not hash to the digest it was asked for by.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The content's digest.
        actual: Digest,
    },
    /// A document larger than berth reads into memory.
    #[error("{what}: more than {JSON_LIMIT} bytes")]
    TooLarge {
        /// Which document.
        what: String,
    },
    /// Reading a response failed.
    #[error("read {what}: {source}")]
    Read {
        /// What was being read.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// Storing a blob failed or it did not verify.
    #[error("{what}: {source}")]
    Ingest {
        /// The blob.
        what: String,
        /// The store's error.
        source: Box<IngestError>,
    },
    /// The image store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Blobs being fetched by this process's pulls, so that a blob two pulls want is
/// fetched once: the second waits for the first and then finds it stored.
#[derive(Debug, Default)]
pub struct Inflight {
    blobs: Mutex<HashSet<Digest>>,
    done: Condvar,
}

impl Inflight {
    /// Claims `digest`: true if the caller should fetch it; false after waiting for
    /// another fetch of it to end (the caller checks the store again). `waiting` is
    /// called before a wait.
    fn claim(&self, digest: &Digest, waiting: impl FnOnce()) -> bool {
        let mut set = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        if set.insert(digest.clone()) {
            return true;
        }
        waiting();
        while set.contains(digest) {
            set = self.done.wait(set).unwrap_or_else(|p| p.into_inner());
        }
        false
    }

    fn release(&self, digest: &Digest) {
        let mut set = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        set.remove(digest);
        self.done.notify_all();
    }
}

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// The image (a tag or digest).
    pub reference: Reference,
    /// The platform wanted from an index (the host's by default).
    pub platform: Option<Platform>,
    /// Credentials for the registry.
    pub creds: Option<Credentials>,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image ID.
    pub id: Digest,
    /// The digest the reference resolved to (of the index, for a multi-platform image).
    pub digest: Digest,
    /// Whether the image is new here (else it was up to date).
    pub fresh: bool,
}

/// A manifest as fetched.
struct Fetched {
    bytes: Vec<u8>,
    digest: Digest,
    media_type: String,
}

/// Pulls `req` into `store`, reporting progress to `progress`.
pub fn pull(
    store: &ImageStore,
    config: &RegistryConfig,
    req: &PullRequest,
    inflight: &Inflight,
    progress: Sink<'_>,
) -> Result<Pulled, PullError> {
    let r = &req.reference;
    let id_line = r
        .tag
        .clone()
        .or_else(|| r.digest.as_ref().map(|d| d.to_string()))
        .unwrap_or_default();
    // Nothing is reported before the reference resolves: an error until then is the
    // request's (the API answers it with a status, not in the stream).
    let (session, top) = resolve(config, req)?;
    progress(Message::about(id_line, format!("Pulling from {}", r.path)));
    let manifest = platform_manifest(&session, req, &top)?;
    let before = store.db().resolve(&r.to_string()).ok().map(|rec| rec.id);
    let img = fetch_image(store, &session, req, &top, manifest, inflight, progress)?;
    progress(Message::status(format!("Digest: {}", top.digest)));
    let fresh = before.as_ref() != Some(img.config.digest());
    let status = if fresh {
        "Downloaded newer image for"
    } else {
        "Image is up to date for"
    };
    progress(Message::status(format!(
        "Status: {status} {}",
        r.familiar()
    )));
    Ok(Pulled {
        id: img.config.digest().clone(),
        digest: top.digest,
        fresh,
    })
}

/// Connects to the first endpoint (mirrors first) that has the reference's manifest.
fn resolve(config: &RegistryConfig, req: &PullRequest) -> Result<(Session, Fetched), PullError> {
    let r = &req.reference;
    let endpoints = config.endpoints(&r.domain, true);
    let mut last = None;
    // The registry's own TLS failure says more than the plain-HTTP attempt after it.
    let mut tls_failure = None;
    for (i, ep) in endpoints.iter().enumerate() {
        let is_last = i + 1 == endpoints.len();
        let attempt = Session::open(config, ep, req.creds.clone())
            .map_err(PullError::from)
            .and_then(|s| {
                let wanted = reference_part(r);
                fetch_manifest(&s, r, &wanted).map(|m| (s, m))
            });
        match attempt {
            Ok(found) => return Ok(found),
            Err(e @ PullError::Client(ClientError::Http { .. })) if is_last => {
                return Err(tls_failure.unwrap_or(e))
            }
            Err(e @ PullError::Client(ClientError::Http { .. })) => {
                if !ep.mirror && tls_failure.is_none() {
                    tls_failure = Some(e);
                } else {
                    last = Some(e);
                }
            }
            Err(e) if ep.mirror && !is_last => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(tls_failure.or(last).unwrap_or_else(|| PullError::NotFound {
        reference: r.familiar(),
        message: "no registry endpoint".into(),
    }))
}

/// The tag or digest to ask for.
fn reference_part(r: &Reference) -> String {
    match (&r.digest, &r.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => berth_image::reference::DEFAULT_TAG.into(),
    }
}

/// `GET /v2/<name>/manifests/<wanted>`, verified against the digest if `wanted` is one.
fn fetch_manifest(s: &Session, r: &Reference, wanted: &str) -> Result<Fetched, PullError> {
    let url = s.url(&format!("/v2/{}/manifests/{wanted}", r.path));
    let accept = [
        media::OCI_INDEX,
        media::DOCKER_MANIFEST_LIST,
        media::OCI_MANIFEST,
        media::DOCKER_MANIFEST,
    ]
    .join(", ");
    let scopes = [scope(&r.path, "pull")];
    let resp = match s.send_ok("GET", &url, &scopes, |c| {
        c.get(&url).header(ACCEPT, accept.as_str())
    }) {
        Err(ClientError::Status {
            status, message, ..
        }) if status == reqwest::StatusCode::NOT_FOUND => {
            return Err(PullError::NotFound {
                reference: r.familiar(),
                message,
            });
        }
        Err(ClientError::Unauthorized { message, .. }) => {
            return Err(PullError::Denied {
                repository: r.familiar_name(),
                message,
            })
        }
        other => other?,
    };
    let media_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = read_limited(resp, &url)?;
    let digest = Digest::of(&bytes);
    if let Ok(expected) = Digest::parse(wanted) {
        if expected != digest {
            return Err(PullError::DigestMismatch {
                what: format!("manifest {wanted}"),
                expected,
                actual: digest,
            });
        }
    }
    Ok(Fetched {
        bytes,
        digest,
        media_type,
    })
}

fn read_limited(resp: reqwest::blocking::Response, what: &str) -> Result<Vec<u8>, PullError> {
    let mut bytes = Vec::new();
    resp.take(JSON_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| PullError::Read {
            what: what.into(),
            source,
        })?;
    if bytes.len() as u64 > JSON_LIMIT {
        return Err(PullError::TooLarge { what: what.into() });
    }
    Ok(bytes)
}

/// The image manifest for the platform: `top` itself, or the index entry chosen.
fn platform_manifest(s: &Session, req: &PullRequest, top: &Fetched) -> Result<Fetched, PullError> {
    let what = format!("manifest {}", top.digest);
    match formats::parse_document(&top.bytes, &what)? {
        Document::Manifest(_) => Ok(Fetched {
            bytes: top.bytes.clone(),
            digest: top.digest.clone(),
            media_type: top.media_type.clone(),
        }),
        Document::Index(index) => {
            let platform = req.platform.clone().unwrap_or_else(Platform::host);
            let desc = formats::select_manifest(&index, &platform, &what)?;
            let digest = formats::descriptor_digest(desc, &what)?;
            let m = fetch_manifest(s, &req.reference, &digest.to_string())?;
            match formats::parse_document(&m.bytes, &format!("manifest {digest}"))? {
                Document::Manifest(_) => Ok(m),
                Document::Index(_) => Err(FormatError::MediaType {
                    what: format!("manifest {digest}"),
                    media_type: "nested index".into(),
                }
                .into()),
            }
        }
    }
}

/// Fetches config and layers of `manifest`, then records the image.
fn fetch_image(
    store: &ImageStore,
    s: &Session,
    req: &PullRequest,
    top: &Fetched,
    manifest: Fetched,
    inflight: &Inflight,
    progress: Sink<'_>,
) -> Result<LoadedImage, PullError> {
    let what = format!("manifest {}", manifest.digest);
    let Document::Manifest(parsed) = formats::parse_document(&manifest.bytes, &what)? else {
        return Err(FormatError::MediaType {
            what,
            media_type: manifest.media_type,
        }
        .into());
    };
    let config_digest = formats::descriptor_digest(parsed.config(), &what)?;
    let config = ImageConfig::parse(fetch_small(s, req, &config_digest)?)?;
    let layers = formats::layers_of(&parsed, &config, &what)?;
    let pull = store.begin_pull()?;
    let fetched = fetch_layers(
        &pull,
        s,
        req,
        &layers,
        &config.chain_ids()?,
        inflight,
        progress,
    )?;
    let media_type = parsed
        .media_type()
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or(manifest.media_type);
    let img = LoadedImage {
        config,
        manifest_bytes: manifest.bytes,
        manifest_digest: manifest.digest,
        manifest_media_type: media_type,
        layers,
        tags: names(&req.reference, &top.digest),
    };
    record(pull, &img)?;
    for blob in &fetched {
        progress(Message::about(short(blob), "Pull complete"));
    }
    Ok(img)
}

/// Stores the image's config and manifest, then commits its layers and names.
fn record(pull: Pull<'_>, img: &LoadedImage) -> Result<(), PullError> {
    let ingest = |what: &str| {
        let what = what.to_string();
        move |source| PullError::Ingest {
            what,
            source: Box::new(source),
        }
    };
    let config = &img.config;
    let expected = Expected::exact(config.digest().clone(), config.bytes().len() as u64);
    pull.put(config.bytes(), expected)
        .map_err(ingest("config"))?;
    pull.put(&img.manifest_bytes, Expected::unknown())
        .map_err(ingest("manifest"))?;
    pull.register(img).map_err(ingest("image"))?;
    Ok(())
}

/// The names a pulled image gets: the tag asked for and `name@digest`.
fn names(r: &Reference, digest: &Digest) -> Vec<Reference> {
    let bare = Reference {
        tag: None,
        digest: None,
        ..r.clone()
    };
    let mut out = Vec::new();
    if let Some(tag) = &r.tag {
        out.push(bare.with_tag(tag));
    }
    out.push(bare.with_digest(digest.clone()));
    out
}

/// A small blob (a config) into memory, verified.
fn fetch_small(s: &Session, req: &PullRequest, digest: &Digest) -> Result<Vec<u8>, PullError> {
    let url = s.url(&format!("/v2/{}/blobs/{digest}", req.reference.path));
    let scopes = [scope(&req.reference.path, "pull")];
    let resp = s.send_ok("GET", &url, &scopes, |c| c.get(&url))?;
    let bytes = read_limited(resp, &url)?;
    let actual = Digest::of(&bytes);
    if actual != *digest {
        return Err(PullError::DigestMismatch {
            what: format!("config {digest}"),
            expected: digest.clone(),
            actual,
        });
    }
    Ok(bytes)
}

/// Fetches the layers that are needed, [`PARALLEL`] at a time; returns their blobs.
fn fetch_layers(
    pull: &Pull<'_>,
    s: &Session,
    req: &PullRequest,
    layers: &[LayerRef],
    chains: &[Digest],
    inflight: &Inflight,
    progress: Sink<'_>,
) -> Result<Vec<Digest>, PullError> {
    let mut queue = VecDeque::new();
    let mut seen = HashSet::new();
    for (l, chain) in layers.iter().zip(chains) {
        let need = pull
            .layer_need(&l.blob, chain)
            .map_err(|source| ingest_err(l, source))?;
        let stored = matches!(need, LayerNeed::Present | LayerNeed::UnpackOnly);
        if stored || !seen.insert(l.blob.clone()) {
            progress(Message::about(short(&l.blob), "Already exists"));
            continue;
        }
        progress(Message::about(short(&l.blob), "Pulling fs layer"));
        queue.push_back((l, need));
    }
    let fetched = queue.iter().map(|(l, _)| l.blob.clone()).collect();
    let queue = Mutex::new(queue);
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                let Some((layer, need)) = next else { break };
                if let Err(e) = fetch_layer(pull, s, req, layer, need, inflight, progress) {
                    errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                }
            });
        }
    });
    match errors.into_inner().unwrap_or_default().into_iter().next() {
        Some(e) => Err(e),
        None => Ok(fetched),
    }
}

fn ingest_err(l: &LayerRef, source: IngestError) -> PullError {
    PullError::Ingest {
        what: format!("layer {}", l.blob),
        source: Box::new(source),
    }
}

/// Fetches one layer blob (unless another pull just did), unpacking it on the way if
/// it is needed unpacked.
fn fetch_layer(
    pull: &Pull<'_>,
    s: &Session,
    req: &PullRequest,
    l: &LayerRef,
    need: LayerNeed,
    inflight: &Inflight,
    progress: Sink<'_>,
) -> Result<(), PullError> {
    let id = short(&l.blob);
    while !inflight.claim(&l.blob, || progress(Message::about(&id, "Waiting"))) {
        if pull.has_blob(&l.blob).map_err(|e| ingest_err(l, e))? {
            progress(Message::about(&id, "Download complete"));
            return Ok(());
        }
    }
    let done = download(pull, s, req, l, need == LayerNeed::Fetch, progress);
    inflight.release(&l.blob);
    done?;
    progress(Message::about(&id, "Download complete"));
    Ok(())
}

fn download(
    pull: &Pull<'_>,
    s: &Session,
    req: &PullRequest,
    l: &LayerRef,
    unpack: bool,
    progress: Sink<'_>,
) -> Result<(), PullError> {
    let id = short(&l.blob);
    let url = s.url(&format!("/v2/{}/blobs/{}", req.reference.path, l.blob));
    let scopes = vec![scope(&req.reference.path, "pull")];
    let reader = BlobReader::open(s, url, scopes, l.size)?;
    let mut done = 0u64;
    let mut report = |n: u64| {
        done += n;
        progress(Message::transfer(&id, "Downloading", done, l.size));
    };
    let expected = Expected::exact(l.blob.clone(), l.size);
    pull.ingest(expected, reader, unpack, &mut report)
        .map_err(|e| ingest_err(l, e))?;
    progress(Message::about(&id, "Verifying Checksum"));
    Ok(())
}

/// What `GET /distribution/{name}/json` tells: the descriptor the reference resolves to
/// and the platforms it offers.
#[derive(Debug, Clone)]
pub struct Distribution {
    /// The manifest's (or index's) media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: usize,
    /// The platforms (an index's entries', or the image config's).
    pub platforms: Vec<Platform>,
}

/// Resolves `req.reference` in its registry without pulling.
pub fn inspect(config: &RegistryConfig, req: &PullRequest) -> Result<Distribution, PullError> {
    let (session, top) = resolve(config, req)?;
    let what = format!("manifest {}", top.digest);
    let platforms = match formats::parse_document(&top.bytes, &what)? {
        Document::Index(index) => index
            .manifests()
            .iter()
            .filter_map(|d| d.platform().as_ref())
            .map(|p| {
                Platform::new(
                    &p.os().to_string(),
                    &p.architecture().to_string(),
                    p.variant().as_deref().unwrap_or(""),
                )
            })
            .collect(),
        Document::Manifest(m) => {
            let digest = formats::descriptor_digest(m.config(), &what)?;
            let config = ImageConfig::parse(fetch_small(&session, req, &digest)?)?;
            let p = config.parsed();
            vec![Platform::new(
                &p.os().to_string(),
                &p.architecture().to_string(),
                p.variant().as_deref().unwrap_or(""),
            )]
        }
    };
    let media_type = serde_json::from_slice::<serde_json::Value>(&top.bytes)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(String::from))
        .unwrap_or(top.media_type);
    Ok(Distribution {
        media_type,
        digest: top.digest,
        size: top.bytes.len(),
        platforms,
    })
}

/// The tags of `req.reference`'s repository (`GET /v2/<name>/tags/list`), for a pull of
/// all tags.
pub fn tags(config: &RegistryConfig, req: &PullRequest) -> Result<Vec<String>, PullError> {
    let r = &req.reference;
    let session = Session::connect(config, &r.domain, req.creds.clone(), true)?;
    let url = session.url(&format!("/v2/{}/tags/list", r.path));
    let scopes = [scope(&r.path, "pull")];
    let resp = match session.send_ok("GET", &url, &scopes, |c| c.get(&url)) {
        Err(ClientError::Unauthorized { message, .. }) => {
            return Err(PullError::Denied {
                repository: r.familiar_name(),
                message,
            })
        }
        other => other?,
    };
    let body: serde_json::Value =
        serde_json::from_slice(&read_limited(resp, &url)?).map_err(|source| PullError::Read {
            what: url.clone(),
            source: source.into(),
        })?;
    Ok(body["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(String::from))
        .collect())
}
