//! `POST /build` (the classic builder's protocol: a tar context in, JSON lines out:
//! `{"stream": ...}` progress, `{"aux": {"ID": ...}}` the image, `{"errorDetail": ...}`
//! a failure) and `POST /build/prune`. Bad query parameters are a 400 before anything
//! streams; everything after that (a bad Dockerfile, a failed step) is the stream's last
//! message with status 200, as dockerd does.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use berth_build::builder::{self, BuildError, Options, Output};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::archive::body_reader;
use crate::build::DaemonBackend;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::state::Daemon;

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

/// `POST /build`.
pub async fn build(
    State(d): State<Arc<Daemon>>,
    RawQuery(q): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let req = Request::parse(&q)?;
    let reader = body_reader(body);
    let (tx, rx) = mpsc::channel(DEPTH);
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut out = JsonOut { tx };
        match run(d, rt, req, reader, &mut out) {
            // The answer ends first; the context's files go after.
            Ok(context) => {
                drop(out);
                drop(context);
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

/// Unpacks the context, parses the Dockerfile, builds; returns the unpacked context.
fn run(
    d: Arc<Daemon>,
    rt: tokio::runtime::Handle,
    mut req: Request,
    body: impl Read,
    out: &mut JsonOut,
) -> Result<tempfile::TempDir, Failure> {
    let tmp_root = d.root().join("tmp");
    std::fs::create_dir_all(&tmp_root).map_err(|e| Failure::Context(e.to_string()))?;
    let dir = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(&tmp_root)
        .map_err(|e| Failure::Context(e.to_string()))?;
    unpack(body, dir.path())?;
    let text = read_dockerfile(dir.path(), &req.dockerfile)?;
    let df = berth_build::dockerfile::parse(&text)?;
    req.opts.context = dir.path().to_path_buf();
    let mut backend = DaemonBackend::new(d, rt)?;
    builder::build(&df, &req.opts, &mut backend, out)?;
    Ok(dir)
}

/// Extracts the context tar (maybe gzipped) into `dir`.
fn unpack(body: impl Read, dir: &Path) -> Result<(), Failure> {
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
    berth_image::layer::apply(dir, input, berth_image::layer::Whiteouts::Delete)
        .map_err(|e| Failure::Context(e.to_string()))?;
    Ok(())
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
