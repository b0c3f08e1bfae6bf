//! Listings: a repository's tags and the catalog, paginated with `n` and `last` and a
//! `Link` header to the next page; the referrers of a manifest, filtered by
//! `artifactType`.

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_image::digest::Digest;
use serde_json::json;

use super::{blocking, Code, Json, Query, Registry};

/// One page of `all` (sorted): the names after `last`, at most `n`; and the `Link`
/// header for the next page, if there is one.
fn page(all: Vec<String>, q: &Query, path: &str) -> (Vec<String>, Option<String>) {
    let after: Vec<String> = match q.get("last") {
        Some(last) => all.into_iter().filter(|t| t.as_str() > last).collect(),
        None => all,
    };
    let Some(n) = q.get("n").and_then(|n| n.parse::<usize>().ok()) else {
        return (after, None);
    };
    let more = after.len() > n;
    let page: Vec<String> = after.into_iter().take(n).collect();
    let link = match page.last() {
        Some(last) if more => Some(format!("<{path}?n={n}&last={last}>; rel=\"next\"")),
        _ => None,
    };
    (page, link)
}

fn with_link(body: serde_json::Value, link: Option<String>) -> Response {
    let mut resp = Json(body).into_response();
    if let Some(v) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}

/// `GET /v2/<name>/tags/list`.
pub async fn tags(reg: Arc<Registry>, name: String, q: &Query) -> Response {
    if !reg.storage.repo_exists(&name) {
        return Code::NameUnknown.reply(format!("repository {name} unknown"));
    }
    let (tags, link) = page(reg.storage.tags(&name), q, &format!("/v2/{name}/tags/list"));
    with_link(json!({"name": name, "tags": tags}), link)
}

/// `GET /v2/_catalog`.
pub async fn catalog(reg: Arc<Registry>, q: &Query) -> Response {
    let r = reg.clone();
    let all = match blocking(move || r.storage.catalog()).await {
        Ok(all) => all,
        Err(resp) => return resp,
    };
    let (repos, link) = page(all, q, "/v2/_catalog");
    with_link(json!({"repositories": repos}), link)
}

/// `GET /v2/<name>/referrers/<digest>`: an image index of the referrers.
pub async fn referrers(reg: Arc<Registry>, name: String, digest: String, q: &Query) -> Response {
    let Ok(subject) = Digest::parse(&digest) else {
        return Code::DigestInvalid.reply("invalid digest");
    };
    let mut list = reg.storage.referrers(&name, &subject);
    let filter = q.get("artifactType");
    if let Some(t) = filter {
        list.retain(|d| d["artifactType"].as_str() == Some(t));
    }
    let body = json!({
        "schemaVersion": 2,
        "mediaType": berth_image::formats::media::OCI_INDEX,
        "manifests": list,
    });
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, berth_image::formats::media::OCI_INDEX)],
        body.to_string(),
    )
        .into_response();
    if filter.is_some() {
        resp.headers_mut().insert(
            "OCI-Filters-Applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    resp
}

/// `GET /v1/search?q=&n=`: the repositories whose name holds `q` (at most `n`, 25 by
/// default), in the v1 index's result shape.
pub async fn search(reg: Arc<Registry>, q: &Query) -> Response {
    let term = q.get("q").unwrap_or_default().to_string();
    let limit = q
        .get("n")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(25);
    let r = reg.clone();
    let all = match blocking(move || r.storage.catalog()).await {
        Ok(all) => all,
        Err(resp) => return resp,
    };
    let results: Vec<_> = all
        .into_iter()
        .filter(|name| name.contains(&term))
        .take(limit)
        .map(|name| {
            json!({"name": name, "description": "", "star_count": 0,
                   "is_official": false, "is_automated": false})
        })
        .collect();
    Json(json!({"num_results": results.len(), "query": term, "results": results})).into_response()
}
