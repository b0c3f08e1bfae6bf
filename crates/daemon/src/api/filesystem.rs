//! A container's files and the daemon's disk use: `GET /containers/{id}/changes`
//! (`docker diff`), `GET /containers/{id}/export` (a tar of its merged file system) and
//! `GET /system/df`, in dockerd's JSON shapes.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use berth_engine::archive::PathStat;
use berth_engine::record::{Container, Status};
use berth_engine::Engine;
use berth_image::layer::ChangeKind;
use serde_json::{json, Value};

use super::archive::stream_tar;
use super::{container_json, image_json, json};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::state::{long, Daemon};
use crate::version::ApiVersion;

/// `GET /containers/{id}/changes`: `[{"Path": "/x", "Kind": 0|1|2}]` (modified, added,
/// deleted), sorted by path.
pub async fn changes(
    State(d): State<Arc<Daemon>>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    let list = long(move || {
        let e = d.own_engine()?;
        let c = e.find(&id)?;
        Ok(e.diff(&c)?)
    })
    .await?;
    let items: Vec<Value> = list
        .iter()
        .map(|c| json!({"Path": c.path, "Kind": kind_number(c.kind)}))
        .collect();
    Ok(json(StatusCode::OK, &items))
}

fn kind_number(k: ChangeKind) -> u8 {
    match k {
        ChangeKind::Modified => 0,
        ChangeKind::Added => 1,
        ChangeKind::Deleted => 2,
    }
}

/// The header docker's archive endpoints describe the path with.
const PATH_STAT: &str = "X-Docker-Container-Path-Stat";

fn stat_header(stat: &PathStat) -> String {
    use base64::Engine as _;
    let raw = serde_json::to_vec(stat).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The `path` query parameter, required.
fn path_param(q: Option<&str>) -> ApiResult<String> {
    match Query::parse(q).get("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::BadParameter("path is required".into())),
    }
}

/// `HEAD /containers/{id}/archive?path=`: what the path is, in a header.
pub async fn archive_head(
    State(d): State<Arc<Daemon>>,
    UrlPath(id): UrlPath<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let path = path_param(q.as_deref())?;
    let stat = long(move || {
        let e = d.own_engine()?;
        let c = e.find(&id)?;
        Ok(e.stat_path(&c, &path)?)
    })
    .await?;
    Ok((StatusCode::OK, [(PATH_STAT, stat_header(&stat))]).into_response())
}

/// `GET /containers/{id}/archive?path=`: a tar of the path (what it is in a header).
pub async fn archive_get(
    State(d): State<Arc<Daemon>>,
    UrlPath(id): UrlPath<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let path = path_param(q.as_deref())?;
    let p = path.clone();
    let (engine, c, stat) = long(move || {
        let e = d.own_engine()?;
        let c = e.find(&id)?;
        let stat = e.stat_path(&c, &p)?;
        Ok((e, c, stat))
    })
    .await?;
    let what = format!("archive {path} of {}", c.id);
    let mut resp = super::archive::stream_tar(what, move |w| {
        engine.archive_path(&c, &path, &mut |_| {}, w)?;
        Ok(())
    })
    .await?;
    if let Ok(v) = stat_header(&stat).parse() {
        resp.headers_mut().insert(PATH_STAT, v);
    }
    Ok(resp)
}

/// `PUT /containers/{id}/archive?path=`: extracts the body (a tar) into the directory
/// `path` of the container.
pub async fn archive_put(
    State(d): State<Arc<Daemon>>,
    UrlPath(id): UrlPath<String>,
    RawQuery(q): RawQuery,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let path = path_param(q.as_deref())?;
    let reader = super::archive::body_reader(body);
    long(move || {
        let e = d.own_engine()?;
        let c = e.find(&id)?;
        Ok(e.extract_into(&c, &path, reader)?)
    })
    .await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /containers/{id}/export`: the container's merged file system as a tar.
pub async fn export(
    State(d): State<Arc<Daemon>>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    let (engine, c) = long(move || {
        let e = d.own_engine()?;
        let c = e.find(&id)?;
        Ok((e, c))
    })
    .await?;
    let what = format!("export {}", c.id);
    stream_tar(what, move |w| Ok(engine.export(&c, w)?)).await
}

/// `GET /system/df`: images (with shared and unique sizes), containers (their writable
/// layers and own files), volumes, no build cache yet. `LayersSize` is every byte under
/// the data root that no container or volume holds, so the totals agree with `du`.
pub async fn df(
    State(d): State<Arc<Daemon>>,
    Extension(v): Extension<ApiVersion>,
) -> ApiResult<Response> {
    let body = long(move || {
        let e = d.own_engine()?;
        let usage = e.images().disk_usage()?;
        let containers: Vec<Value> = e.list()?.iter().map(|c| container_usage(&e, c)).collect();
        let held: i64 = containers
            .iter()
            .map(|c| c["SizeRw"].as_i64().unwrap_or(0))
            .sum();
        let images: Vec<Value> = usage
            .images
            .iter()
            .map(|i| {
                let mut s = image_json::summary(&i.summary, i.containers as i64, &v);
                s["Size"] = json!(i.size);
                s["SharedSize"] = json!(i.shared);
                s
            })
            .collect();
        let (volumes, in_volumes) = volume_usage(&e)?;
        Ok(json!({
            "LayersSize": (usage.root_bytes as i64 - held - in_volumes).max(0),
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": null,
            "BuilderSize": 0,
        }))
    })
    .await?;
    Ok(json(StatusCode::OK, &body))
}

/// The volumes with their `UsageData` (size and number of containers using them), and
/// the bytes they hold together.
fn volume_usage(e: &Engine) -> ApiResult<(Vec<Value>, i64)> {
    let mut out = Vec::new();
    let mut total = 0;
    for v in e.volumes().list()? {
        let size = e.volumes().size(&v.name).unwrap_or(0) as i64;
        let refs = e.volume_users(&v.name)?.len();
        let mut j = super::volumes::volume_json(e.volumes(), &v);
        j["UsageData"] = json!({"Size": size, "RefCount": refs});
        out.push(j);
        total += size;
    }
    Ok((out, total))
}

/// A container's list entry with `SizeRw`: its writable layer plus its own directory
/// (state, logs, bundle), not following its mounted root.
fn container_usage(e: &Engine, c: &Container) -> Value {
    let layer = e
        .images()
        .snapshotter()
        .usage(&c.snapshot_key)
        .map(|u| u.bytes)
        .unwrap_or(0);
    let own = own_dir_bytes(&e.containers().dir(&c.id));
    let mut s = container_json::summary(c);
    s["SizeRw"] = json!(layer + own);
    s["SizeRootFs"] = json!(layer + own);
    if c.state.status == Status::Running {
        s["State"] = json!("running");
    }
    s
}

fn own_dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name() != "rootfs")
        .map(|e| berth_image::store::tree_bytes(&e.path()))
        .sum()
}
