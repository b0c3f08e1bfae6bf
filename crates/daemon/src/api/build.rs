//! `POST /build` (the classic builder's protocol: a tar context in, JSON lines out:
//! `{"stream": ...}` progress, `{"aux": {"ID": ...}}` the image, `{"errorDetail": ...}`
//! a failure) and `POST /build/prune`. Bad query parameters are a 400 before anything
//! streams; everything after that (a bad Dockerfile, a failed step) is the stream's last
//! message with status 200, as dockerd does.
//!
//! berth's own CLI, on this host, names its context directory instead of sending a tar
//! ([`CONTEXT_DIR`]): the context, its `.dockerignore` and the Dockerfile are read where
//! they are. berthd takes that only over its unix socket ([`LocalSocket`]), for an
//! absolute path to a directory (and, when the client says which directory it means,
//! only that same one); docker's clients never send it, so their tar protocol is as it
//! was.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use berth_build::builder::{self, BuildError, Options, Output};
use berth_build::digests::TarTee;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::archive::body_reader;
use crate::build::DaemonBackend;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::state::Daemon;

/// The query parameter naming the context directory on this host (berth's CLI sends it
/// instead of a tar when it talks to berthd over a unix socket).
pub const CONTEXT_DIR: &str = "berth-context-dir";

/// With [`CONTEXT_DIR`]: `<st_dev>:<st_ino>` of the directory the client means, so that
/// a daemon that sees another file system (a socket forwarded from another host) refuses
/// rather than build from the wrong directory.
pub const CONTEXT_ID: &str = "berth-context-id";

/// Marks a request that came over a unix socket listener: its client is on this host.
#[derive(Debug, Clone, Copy)]
pub struct LocalSocket;

/// Messages in flight to the client.
const DEPTH: usize = 64;

/// The largest Dockerfile read.
const DOCKERFILE_LIMIT: u64 = 4 << 20;

/// A build request's parameters.
#[derive(Debug, Clone)]
struct Request {
    dockerfile: String,
    opts: Options,
}

impl Request {
    /// The query's parameters; a malformed one is a 400.
    fn parse(q: &Query) -> ApiResult<Request> {
        let build_args: BTreeMap<String, Option<String>> = json_param(q, "buildargs")?;
        let labels: BTreeMap<String, String> = json_param(q, "labels")?;
        let network = match q.str("networkmode") {
            "" | "default" => None,
            n => Some(n.to_string()),
        };
        let epoch = build_args
            .get("SOURCE_DATE_EPOCH")
            .and_then(|v| v.as_deref())
            .and_then(|s| s.parse().ok());
        let opts = Options {
            context: PathBuf::new(),
            build_args,
            tags: q.all("t").into_iter().map(String::from).collect(),
            target: q.get("target").filter(|t| !t.is_empty()).map(String::from),
            no_cache: q.bool("nocache"),
            pull: q.bool("pull"),
            labels,
            network,
            rm: q.bool_or("rm", true),
            force_rm: q.bool("forcerm"),
            quiet: q.bool("q"),
            source_date_epoch: epoch,
        };
        for t in &opts.tags {
            berth_image::reference::Reference::parse(t).map_err(|e| {
                ApiError::BadParameter(format!("invalid reference format: {t}: {e}"))
            })?;
        }
        let dockerfile = match q.str("dockerfile") {
            "" => "Dockerfile".to_string(),
            f => f.to_string(),
        };
        Ok(Request { dockerfile, opts })
    }
}

/// A JSON object parameter (absent or empty: the default).
fn json_param<T: serde::de::DeserializeOwned + Default>(q: &Query, key: &str) -> ApiResult<T> {
    match q.str(key) {
        "" => Ok(T::default()),
        raw => serde_json::from_str(raw)
            .map_err(|e| ApiError::BadParameter(format!("invalid {key} parameter: {e}"))),
    }
}

/// Build output as JSON lines to the client.
struct JsonOut {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl JsonOut {
    /// Whether the client has gone away (the response stream was dropped).
    fn closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl JsonOut {
    fn send(&self, v: &Value) {
        let mut line = serde_json::to_vec(v).unwrap_or_default();
        line.push(b'\n');
        // A client gone away does not stop the build.
        self.tx.blocking_send(Ok(Bytes::from(line))).ok();
    }

    fn error(&self, message: &str, code: Option<i32>) {
        let mut detail = json!({"message": message});
        if let Some(c) = code {
            detail["code"] = json!(c);
        }
        self.send(&json!({"errorDetail": detail, "error": message}));
    }
}

impl Output for JsonOut {
    fn stream(&mut self, text: &str) {
        self.send(&json!({"stream": text}));
    }

    fn image_id(&mut self, id: &str) {
        self.send(&json!({"aux": {"ID": id}}));
    }

    fn gone(&self) -> bool {
        self.closed()
    }
}

/// Why a build failed before or around the builder.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Parse(#[from] berth_build::dockerfile::ParseError),
    #[error("Cannot locate specified Dockerfile: {0}")]
    NoDockerfile(String),
    #[error("unpack the build context: {0}")]
    Context(String),
}

/// Where a build's context comes from.
enum Source {
    /// A tar (maybe gzipped) in the request body, unpacked for the build.
    Tar(Box<dyn Read + Send>),
    /// A directory on this host, read in place.
    Dir(PathBuf),
}

/// The directory a [`CONTEXT_DIR`] request names, checked: only over the unix socket,
/// absolute, a directory, and the one the client means.
fn context_dir(q: &Query, path: &str, local: bool) -> ApiResult<PathBuf> {
    let bad = |why: String| ApiError::BadParameter(format!("{CONTEXT_DIR} {path:?}: {why}"));
    if !local {
        return Err(bad(
            "a context directory is taken only over berthd's unix socket; send the context as a tar".into(),
        ));
    }
    let dir = Path::new(path);
    if !dir.is_absolute() {
        return Err(bad("not an absolute path".into()));
    }
    let meta = std::fs::metadata(dir).map_err(|e| bad(format!("{e}")))?;
    if !meta.is_dir() {
        return Err(bad("not a directory".into()));
    }
    let id = format!("{}:{}", meta.dev(), meta.ino());
    match q.get(CONTEXT_ID) {
        Some(want) if want != id => Err(bad(format!(
            "not the client's directory (device and inode {id}, the client's {want}): is the client on another host?"
        ))),
        _ => Ok(dir.to_path_buf()),
    }
}

/// `POST /build`.
pub async fn build(
    State(d): State<Arc<Daemon>>,
    local: Option<Extension<LocalSocket>>,
    RawQuery(q): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let req = Request::parse(&q)?;
    let source = match q.get(CONTEXT_DIR) {
        Some(path) => Source::Dir(context_dir(&q, path, local.is_some())?),
        None => Source::Tar(Box::new(body_reader(body))),
    };
    let (tx, rx) = mpsc::channel(DEPTH);
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut out = JsonOut { tx };
        match run(d, rt, req, source, &mut out) {
            // The answer ends first; the context's files go after.
            Ok(unpacked) => {
                drop(out);
                drop(unpacked);
            }
            Err(e) => fail(&mut out, e),
        }
        crate::state::trim_heap();
    });
    Ok(super::json_stream(rx))
}

/// Ends a build's answer with the error that stopped it.
fn fail(out: &mut JsonOut, e: Failure) {
    tracing::info!("build failed: {e}");
    let code = match &e {
        Failure::Build(BuildError::RunFailed { code, .. }) => Some(*code),
        _ => None,
    };
    let message = match &e {
        Failure::Api(a) => a.message(),
        other => other.to_string(),
    };
    out.error(&message, code);
}

/// Unpacks the context (a tar), parses the Dockerfile, builds; returns the unpacked
/// context (to remove after the answer).
fn run(
    d: Arc<Daemon>,
    rt: tokio::runtime::Handle,
    mut req: Request,
    source: Source,
    out: &mut JsonOut,
) -> Result<Option<tempfile::TempDir>, Failure> {
    let (kept, unpacked, in_place) = match source {
        Source::Dir(dir) => {
            req.opts.context = dir.clone();
            (None, HashMap::new(), Some(dir))
        }
        Source::Tar(body) => {
            let tmp_root = d.root().join("tmp");
            std::fs::create_dir_all(&tmp_root).map_err(|e| Failure::Context(e.to_string()))?;
            let dir = tempfile::Builder::new()
                .prefix("build-")
                .tempdir_in(&tmp_root)
                .map_err(|e| Failure::Context(e.to_string()))?;
            let unpacked = unpack(body, dir.path())?;
            req.opts.context = dir.path().to_path_buf();
            (Some(dir), unpacked, None)
        }
    };
    let text = read_dockerfile(&req.opts.context, &req.dockerfile)?;
    let df = berth_build::dockerfile::parse(&text)?;
    let mut backend = DaemonBackend::new(d, rt, unpacked, in_place)?;
    builder::build(&df, &req.opts, &mut backend, out)?;
    Ok(kept)
}

/// Extracts the context tar (maybe gzipped) into `dir`; the digests of its files by
/// path.
fn unpack(body: impl Read, dir: &Path) -> Result<HashMap<PathBuf, [u8; 32]>, Failure> {
    let mut r = BufReader::new(body);
    let gz = r
        .fill_buf()
        .map(|b| b.starts_with(&[0x1f, 0x8b]))
        .map_err(|e| Failure::Context(e.to_string()))?;
    let input: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(r))
    } else {
        Box::new(r)
    };
    let mut tee = TarTee::new(input).map_err(|e| Failure::Context(e.to_string()))?;
    berth_image::layer::apply(dir, &mut tee, berth_image::layer::Whiteouts::Delete)
        .map_err(|e| Failure::Context(e.to_string()))?;
    let digests = tee.finish();
    Ok(digests
        .into_iter()
        .map(|(rel, d)| (dir.join(rel), d))
        .collect())
}

/// The Dockerfile at `name` in the context (`Dockerfile` falls back to `dockerfile`).
fn read_dockerfile(context: &Path, name: &str) -> Result<String, Failure> {
    let mut candidates = vec![name.to_string()];
    if name == "Dockerfile" {
        candidates.push("dockerfile".into());
    }
    for c in &candidates {
        let Some(path) = inside(context, c) else {
            continue;
        };
        if let Ok(f) = std::fs::File::open(&path) {
            let mut text = String::new();
            f.take(DOCKERFILE_LIMIT)
                .read_to_string(&mut text)
                .map_err(|_| Failure::NoDockerfile(name.to_string()))?;
            return Ok(text);
        }
    }
    Err(Failure::NoDockerfile(name.to_string()))
}

/// `rel` inside `context`, if it stays there (its directory's links resolved).
fn inside(context: &Path, rel: &str) -> Option<PathBuf> {
    let root = context.canonicalize().ok()?;
    let path = root.join(rel.trim_start_matches('/'));
    let real = path.canonicalize().ok()?;
    real.starts_with(&root).then_some(real)
}

/// `POST /build/prune`: forgets the build cache (the images stay; `image prune` frees
/// them).
pub async fn prune(State(d): State<Arc<Daemon>>) -> ApiResult<Response> {
    let cache = berth_engine::build::BuildCache::new(d.root());
    let n =
        crate::state::blocking(move || cache.prune().map_err(|e| ApiError::Task(e.to_string())))
            .await?;
    tracing::info!("build cache: {n} entries pruned");
    Ok(super::json(
        StatusCode::OK,
        &json!({"CachesDeleted": [], "SpaceReclaimed": 0}),
    ))
}

/// The untagged images a build made that another image was built on (docker's
/// intermediate images): `images` lists them only with `all`.
pub fn intermediates(
    root: &Path,
    all: &[berth_image::metadata::ImageSummary],
) -> std::collections::HashSet<berth_image::digest::Digest> {
    let children = berth_engine::build::BuildCache::new(root).children();
    let present: std::collections::HashSet<_> = all.iter().map(|s| &s.image.id).collect();
    all.iter()
        .filter(|s| s.tags.is_empty() && s.digests.is_empty())
        .filter(|s| {
            children
                .get(&s.image.id)
                .is_some_and(|kids| kids.iter().any(|k| k != &s.image.id && present.contains(k)))
        })
        .map(|s| s.image.id.clone())
        .collect()
}
