//! Image endpoints on the store: list, inspect, history, tag, remove, prune. Image names
//! may hold slashes (`localhost:5000/team/app`), so the `/images/{name}/...` routes take
//! the rest of the path and [`ImagePath`] splits the verb off its end.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use berth_image::metadata::ImageSummary;
use berth_image::reference::Reference;
use berth_image::store::Removal;
use serde_json::{json, Value};

use super::{image_json, json};
use crate::error::{ApiError, ApiResult};
use crate::query::{Filters, Query};
use crate::state::Daemon;
use crate::version::ApiVersion;

/// A GET or POST under `/images/{name}/...`, by its last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImagePath {
    /// `{name}/json`.
    Inspect(String),
    /// `{name}/history`.
    History(String),
    /// `{name}/get`.
    Get(String),
    /// `{name}/tag`.
    Tag(String),
    /// `{name}/push`.
    Push(String),
}

impl ImagePath {
    /// Splits `busybox:1.35/json` into the verb and the name.
    pub fn parse(path: &str) -> ApiResult<ImagePath> {
        let (name, verb) = path.rsplit_once('/').ok_or(ApiError::NoRoute)?;
        if name.is_empty() {
            return Err(ApiError::NoRoute);
        }
        let name = name.to_string();
        Ok(match verb {
            "json" => ImagePath::Inspect(name),
            "history" => ImagePath::History(name),
            "get" => ImagePath::Get(name),
            "tag" => ImagePath::Tag(name),
            "push" => ImagePath::Push(name),
            _ => return Err(ApiError::NoRoute),
        })
    }
}

/// `GET /images/{name}/json|history|get`.
pub async fn get(
    State(d): State<Arc<Daemon>>,
    Extension(v): Extension<ApiVersion>,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    match ImagePath::parse(&path)? {
        ImagePath::Inspect(name) => inspect(&d, name, v).await,
        ImagePath::History(name) => history(&d, name).await,
        ImagePath::Get(name) => super::archive::save(&d, vec![name]).await,
        _ => Err(ApiError::NoRoute),
    }
}

/// `POST /images/{name}/tag|push`.
pub async fn post(
    State(d): State<Arc<Daemon>>,
    Path(path): Path<String>,
    RawQuery(q): RawQuery,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    match ImagePath::parse(&path)? {
        ImagePath::Tag(name) => tag(&d, name, &q).await,
        ImagePath::Push(name) => super::distribution::push(&d, name, &q, &headers).await,
        _ => Err(ApiError::NoRoute),
    }
}

async fn inspect(d: &Arc<Daemon>, name: String, v: ApiVersion) -> ApiResult<Response> {
    let doc = d
        .with_engine(move |e| {
            let store = e.images();
            let id = store.db().resolve_id(&name)?;
            let s = store.summary(&id)?;
            image_json::inspect(store, &s, &v)
        })
        .await?;
    Ok(json(StatusCode::OK, &doc))
}

async fn history(d: &Arc<Daemon>, name: String) -> ApiResult<Response> {
    let doc = d
        .with_engine(move |e| {
            let store = e.images();
            let id = store.db().resolve_id(&name)?;
            image_json::history(store, &store.summary(&id)?)
        })
        .await?;
    Ok(json(StatusCode::OK, &doc))
}

/// The reference `repo` and `tag` name together (`tag` empty: `repo` may carry one).
pub fn reference(repo: &str, tag: &str) -> ApiResult<Reference> {
    let text = if tag.is_empty() {
        repo.to_string()
    } else {
        format!("{repo}:{tag}")
    };
    Reference::parse(&text).map_err(|e| ApiError::BadParameter(format!("{e}")))
}

async fn tag(d: &Arc<Daemon>, name: String, q: &Query) -> ApiResult<Response> {
    let repo = q.str("repo");
    if repo.is_empty() {
        return Err(ApiError::BadParameter(
            "repository name must have at least one component".into(),
        ));
    }
    let target = reference(repo, q.str("tag"))?;
    let shown = target.familiar();
    let id = d
        .with_engine(move |e| {
            let id = e.images().db().resolve_id(&name)?;
            e.images().db().tag(&id, &target)?;
            Ok(id)
        })
        .await?;
    d.object_event("image", "tag", &id.to_string(), Some(&shown));
    Ok(StatusCode::CREATED.into_response())
}

/// docker's `{"Untagged": ...}` / `{"Deleted": ...}` lines.
pub fn removals(list: &[Removal]) -> Vec<Value> {
    list.iter()
        .map(|r| match r {
            Removal::Untagged(r) => json!({"Untagged": r.familiar()}),
            Removal::Deleted(d) => json!({"Deleted": d.to_string()}),
        })
        .collect()
}

/// `DELETE /images/{name}?force=&noprune=`.
pub async fn remove(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let force = Query::parse(q.as_deref()).bool("force");
    let out = d
        .with_engine(move |e| Ok(e.images().remove_image(&name, force)?))
        .await?;
    for r in &out {
        match r {
            Removal::Untagged(r) => {
                d.object_event("image", "untag", &r.to_string(), Some(&r.familiar()))
            }
            Removal::Deleted(id) => d.object_event("image", "delete", &id.to_string(), None),
        }
    }
    Ok(json(StatusCode::OK, &removals(&out)))
}

/// `GET /images/json?all=&filters=&digests=`.
pub async fn list(
    State(d): State<Arc<Daemon>>,
    Extension(v): Extension<ApiVersion>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let filters = Query::parse(q.as_deref()).filters()?;
    let show_all = Query::parse(q.as_deref()).bool("all");
    filters.accept(&["dangling", "reference", "label", "before", "since", "until"])?;
    let items = d
        .with_engine(move |e| {
            let all = e.images().db().list()?;
            let f = ImageFilter::new(&filters, &all, e)?;
            let hidden = match show_all {
                true => Default::default(),
                false => super::build::intermediates(e.root(), &all),
            };
            let shown = |s: &&ImageSummary| f.keeps(s) && !hidden.contains(&s.image.id);
            let mut out: Vec<&ImageSummary> = all.iter().filter(shown).collect();
            out.sort_by_key(|s| std::cmp::Reverse(image_json::created(s)));
            Ok(out
                .iter()
                .map(|s| image_json::summary(s, -1, &v))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(json(StatusCode::OK, &items))
}

/// The image list filters, resolved.
struct ImageFilter<'a> {
    filters: &'a Filters,
    dangling: Option<bool>,
    before: Option<i64>,
    since: Option<i64>,
}

impl<'a> ImageFilter<'a> {
    fn new(
        filters: &'a Filters,
        all: &[ImageSummary],
        e: &berth_engine::Engine,
    ) -> ApiResult<Self> {
        let time_of = |key: &str| -> ApiResult<Option<i64>> {
            let Some(name) = filters.values(key).first() else {
                return Ok(None);
            };
            let id = e.images().db().resolve_id(name)?;
            let s = all.iter().find(|s| s.image.id == id);
            Ok(s.map(image_json::created))
        };
        Ok(ImageFilter {
            filters,
            dangling: filters.bool("dangling")?,
            before: time_of("before")?,
            since: time_of("since")?,
        })
    }

    fn keeps(&self, s: &ImageSummary) -> bool {
        let dangling = s.tags.is_empty() && s.digests.is_empty();
        let t = image_json::created(s);
        if self.dangling.is_some_and(|d| d != dangling)
            || self.before.is_some_and(|b| t >= b)
            || self.since.is_some_and(|x| t <= x)
            || !self.filters.labels_match(&s.image.labels)
        {
            return false;
        }
        let patterns = self.filters.values("reference");
        patterns.is_empty() || patterns.iter().any(|p| reference_matches(p, s))
    }
}

/// Whether one of the image's names matches the glob `pattern` (on the familiar name, or
/// the familiar name with its tag).
fn reference_matches(pattern: &str, s: &ImageSummary) -> bool {
    s.tags
        .iter()
        .chain(&s.digests)
        .any(|r| glob(pattern, &r.familiar_name()) || glob(pattern, &r.familiar()))
}

/// Go's `path.Match` for `*`, `?` and literal characters (`*` stops at `/`).
pub fn glob(pattern: &str, s: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    glob_at(&p, &t)
}

fn glob_at(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => (0..=t.len())
            .take_while(|&i| i == 0 || t[i - 1] != '/')
            .any(|i| glob_at(&p[1..], &t[i..])),
        Some('?') => t.first().is_some_and(|&c| c != '/') && glob_at(&p[1..], &t[1..]),
        Some(&c) => t.first() == Some(&c) && glob_at(&p[1..], &t[1..]),
    }
}

/// `POST /images/prune?filters=`: dangling images (`dangling=false`: every unused one).
pub async fn prune(State(d): State<Arc<Daemon>>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let filters = Query::parse(q.as_deref()).filters()?;
    filters.accept(&["dangling", "label", "until"])?;
    if filters.has("label") || filters.has("until") {
        return Err(ApiError::NotImplemented(
            "image prune with label or until filters is not supported by berthd yet".into(),
        ));
    }
    let all = filters.bool("dangling")? == Some(false);
    let pruned = d.with_engine(move |e| Ok(e.images().prune(all)?)).await?;
    let deleted = removals(&pruned.removals);
    let body = json!({
        "ImagesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
        "SpaceReclaimed": pruned.reclaimed,
    });
    Ok(json(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_split_at_the_verb() {
        assert_eq!(
            ImagePath::parse("localhost:5000/a/b:1/json").unwrap(),
            ImagePath::Inspect("localhost:5000/a/b:1".into())
        );
        assert_eq!(
            ImagePath::parse("x/tag").unwrap(),
            ImagePath::Tag("x".into())
        );
        assert!(ImagePath::parse("x/nope").is_err());
        assert!(ImagePath::parse("json").is_err());
    }

    #[test]
    fn globs_match_like_gos_path_match() {
        assert!(glob("busy*", "busybox"));
        assert!(glob("busybox:1.*", "busybox:1.35"));
        assert!(!glob("busy*", "library/busybox"));
        assert!(glob("b?sybox", "busybox"));
        assert!(!glob("busybox", "busybox:1.35"));
    }
}
