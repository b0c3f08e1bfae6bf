//! Registry endpoints: `POST /images/create?fromImage=` (pull), `POST
//! /images/{name}/push`, `POST /auth`, `GET /distribution/{name}/json` and `GET
//! /images/search`. Pull and push
//! stream docker's JSON progress messages; an error before the first message is an HTTP
//! error (a missing tag is a 404, as dockerd answers), a later one the stream's last
//! message (`{"errorDetail": ..., "error": ...}`).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use berth_image::formats::Platform;
use berth_image::reference::Reference;
use berth_registry::auth::Credentials;
use berth_registry::client::pull::{self, PullRequest};
use berth_registry::client::push::{self, PushRequest};
use berth_registry::client::search;
use berth_registry::client::Session;
use berth_registry::progress::Message;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::images::reference;
use super::json;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::state::{long, Daemon};

/// Messages in flight to the client.
const DEPTH: usize = 64;

/// The credentials of an `X-Registry-Auth` header.
fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    headers
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .and_then(Credentials::from_header)
}

/// `POST /images/create?fromImage=&tag=&platform=`.
pub async fn pull(d: &Arc<Daemon>, q: &Query, headers: &HeaderMap) -> ApiResult<Response> {
    let image = q.str("fromImage");
    let reference = pull_reference(image, q.str("tag"))?;
    // No tag anywhere: every tag of the repository (`docker pull --all-tags`).
    let all_tags = q.str("tag").is_empty()
        && Reference::parse_named(image).is_ok_and(|r| r.tag.is_none() && r.digest.is_none());
    let platform = match q.str("platform") {
        "" => None,
        p => Some(parse_platform(p)?),
    };
    let req = PullRequest {
        reference,
        platform,
        creds: credentials(headers),
    };
    let me = d.clone();
    stream_messages(move |sink| {
        let store = me.own_store()?;
        let tags = match all_tags {
            true => pull::tags(&me.registries, &req)?,
            false => req.reference.tag.iter().cloned().collect(),
        };
        let each: Vec<PullRequest> = match tags.is_empty() {
            true => vec![req],
            false => tags
                .iter()
                .map(|t| PullRequest {
                    reference: req.reference.with_tag(t),
                    ..req.clone()
                })
                .collect(),
        };
        for one in &each {
            pull::pull(&store, &me.registries, one, &me.inflight, sink)?;
            me.object_event("image", "pull", &one.reference.familiar(), None);
        }
        Ok(())
    })
    .await
}

/// The image a pull names: the docker CLI sends a digest as the `tag` parameter.
fn pull_reference(image: &str, tag: &str) -> ApiResult<Reference> {
    if berth_image::digest::Digest::parse(tag).is_ok() {
        return Reference::parse(&format!("{image}@{tag}"))
            .map_err(|e| ApiError::BadParameter(e.to_string()));
    }
    reference(image, tag)
}

/// `os/arch[/variant]` as `--platform` gives it.
fn parse_platform(p: &str) -> ApiResult<Platform> {
    let parts: Vec<&str> = p.split('/').collect();
    match parts.as_slice() {
        [os, arch] => Ok(Platform::new(os, arch, "")),
        [os, arch, variant] => Ok(Platform::new(os, arch, variant)),
        _ => Err(ApiError::BadParameter(format!(
            "\"{p}\": unknown operating system or architecture: invalid argument"
        ))),
    }
}

/// `POST /images/{name}/push?tag=`.
pub async fn push(
    d: &Arc<Daemon>,
    name: String,
    q: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let all_tags = q.str("tag").is_empty()
        && Reference::parse_named(&name).is_ok_and(|r| r.tag.is_none() && r.digest.is_none());
    let reference = reference(&name, q.str("tag"))?;
    let creds = credentials(headers);
    let me = d.clone();
    stream_messages(move |sink| {
        let store = me.own_store()?;
        let targets = match all_tags {
            true => local_tags(&store, &reference)?,
            false => vec![reference],
        };
        for target in targets {
            let req = PushRequest {
                reference: target,
                creds: creds.clone(),
                chunk_size: None,
            };
            push::push(&store, &me.registries, &req, sink)?;
            me.object_event("image", "push", &req.reference.familiar(), None);
        }
        Ok(())
    })
    .await
}

/// The local tags of `reference`'s repository (`docker push --all-tags`); a repository
/// without any is docker's "does not exist locally" error.
fn local_tags(
    store: &berth_image::store::ImageStore,
    reference: &Reference,
) -> ApiResult<Vec<Reference>> {
    let name = reference.name();
    let mut tags: Vec<Reference> = store
        .db()
        .list()?
        .into_iter()
        .flat_map(|s| s.tags)
        .filter(|t| t.name() == name)
        .collect();
    tags.sort();
    if tags.is_empty() {
        let missing = berth_image::metadata::DbError::NotFound(reference.familiar_name());
        return Err(ApiError::Push(push::PushError::Store(missing.into())));
    }
    Ok(tags)
}

/// `POST /auth`: checks the credentials with the registry.
pub async fn auth(d: axum::extract::State<Arc<Daemon>>, body: Bytes) -> ApiResult<Response> {
    let creds: Credentials = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadBody(format!("invalid auth configuration: {e}")))?;
    let domain = registry_domain(&creds.serveraddress);
    let me = d.0.clone();
    long(move || {
        let session = Session::connect(&me.registries, &domain, Some(creds), false)?;
        session.login()?;
        Ok(())
    })
    .await?;
    Ok(json(
        StatusCode::OK,
        &json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}

/// The registry a login's server address names (`https://index.docker.io/v1/` is
/// Docker Hub).
fn registry_domain(server: &str) -> String {
    let bare = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = bare.split('/').next().unwrap_or(bare);
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        h => h.into(),
    }
}

/// `GET /distribution/{name}/json` (the name may hold `/`).
pub async fn inspect_path(
    axum::extract::State(d): axum::extract::State<Arc<Daemon>>,
    axum::extract::Path(path): axum::extract::Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    match path.strip_suffix("/json") {
        Some(name) if !name.is_empty() => inspect(&d, name.to_string(), &headers).await,
        _ => Err(ApiError::NoRoute),
    }
}

async fn inspect(d: &Arc<Daemon>, name: String, headers: &HeaderMap) -> ApiResult<Response> {
    let reference = Reference::parse(&name).map_err(|e| ApiError::BadParameter(e.to_string()))?;
    let req = PullRequest {
        reference,
        platform: None,
        creds: credentials(headers),
    };
    let me = d.clone();
    let found = long(move || Ok(pull::inspect(&me.registries, &req)?)).await?;
    let platforms: Vec<Value> = found
        .platforms
        .iter()
        .map(|p| {
            let mut v = json!({"architecture": p.arch, "os": p.os});
            if !p.variant.is_empty() {
                v["variant"] = p.variant.clone().into();
            }
            v
        })
        .collect();
    let doc = json!({
        "Descriptor": {
            "mediaType": found.media_type,
            "digest": found.digest.to_string(),
            "size": found.size,
        },
        "Platforms": platforms,
    });
    Ok(json(StatusCode::OK, &doc))
}

/// `GET /images/search?term=&limit=&filters=`.
pub async fn search(
    axum::extract::State(d): axum::extract::State<Arc<Daemon>>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let term = q.str("term").to_string();
    let limit = match q.str("limit") {
        "" | "0" => 25,
        n => n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::BadParameter("limit must be between 1 and 100".into()))?,
    };
    let filter = SearchFilter::parse(q.str("filters"))?;
    let creds = credentials(&headers);
    let me = d.clone();
    let results = long(move || {
        let (registry, words) = search::split_term(&term);
        Ok(search::search(
            &me.registries,
            &registry,
            &words,
            limit,
            creds,
        )?)
    })
    .await?;
    let kept: Vec<_> = results.into_iter().filter(|r| filter.keeps(r)).collect();
    Ok(json(StatusCode::OK, &kept))
}

/// `filters` of a search: `is-official`, `is-automated`, `stars`.
#[derive(Default)]
struct SearchFilter {
    official: Option<bool>,
    automated: Option<bool>,
    stars: u64,
}

impl SearchFilter {
    fn parse(raw: &str) -> ApiResult<Self> {
        let mut f = SearchFilter::default();
        if raw.is_empty() {
            return Ok(f);
        }
        let map: std::collections::BTreeMap<String, Value> = serde_json::from_str(raw)
            .map_err(|e| ApiError::BadParameter(format!("invalid filter: {e}")))?;
        for (key, values) in map {
            let values: Vec<String> = match values {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                Value::Object(o) => o.keys().cloned().collect(),
                _ => Vec::new(),
            };
            let Some(v) = values.first() else { continue };
            let bad = || ApiError::BadParameter(format!("invalid filter '{key}={v}'"));
            match key.as_str() {
                "is-official" => f.official = Some(v.parse().map_err(|_| bad())?),
                "is-automated" => f.automated = Some(v.parse().map_err(|_| bad())?),
                "stars" => f.stars = v.parse().map_err(|_| bad())?,
                _ => return Err(ApiError::BadParameter(format!("invalid filter '{key}'"))),
            }
        }
        Ok(f)
    }

    fn keeps(&self, r: &search::SearchResult) -> bool {
        self.official.is_none_or(|o| o == r.is_official)
            && self.automated.is_none_or(|a| a == r.is_automated)
            && r.star_count >= self.stars
    }
}

/// Where a stream's start (or early failure) is told.
type Started = Arc<Mutex<Option<oneshot::Sender<ApiResult<()>>>>>;

fn signal(slot: &Started, r: ApiResult<()>) -> bool {
    let sender = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    sender.map(|s| s.send(r).is_ok()).is_some()
}

/// Runs `produce` on a blocking thread; the messages it gives the sink are the response,
/// one JSON object per line.
async fn stream_messages<F>(produce: F) -> ApiResult<Response>
where
    F: FnOnce(&(dyn Fn(Message) + Sync)) -> ApiResult<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(DEPTH);
    let (start_tx, start_rx) = oneshot::channel();
    let started: Started = Arc::new(Mutex::new(Some(start_tx)));
    let flag = started.clone();
    let sender = tx.clone();
    tokio::task::spawn_blocking(move || {
        let sink = |m: Message| {
            signal(&flag, Ok(()));
            let mut line = serde_json::to_vec(&m).unwrap_or_default();
            line.push(b'\n');
            // A client gone away does not stop the operation.
            sender.blocking_send(Ok(Bytes::from(line))).ok();
        };
        let result = produce(&sink);
        crate::state::trim_heap();
        if let Err(e) = result {
            tracing::warn!("{e}");
            let message = e.message();
            if !signal(&started, Err(e)) {
                let line = json!({"errorDetail": {"message": message}, "error": message});
                tx.blocking_send(Ok(Bytes::from(format!("{line}\n")))).ok();
            }
        } else {
            signal(&started, Ok(()));
        }
    });
    start_rx
        .await
        .map_err(|e| ApiError::Task(e.to_string()))??;
    Ok(super::json_stream(rx))
}
