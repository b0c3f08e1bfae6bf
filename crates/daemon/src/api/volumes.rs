//! The volume endpoints: list, create, inspect, remove, prune (the `local` driver).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::volumes::{NewVolume, Volume, VolumeError, VolumeStore};
use berth_engine::{Engine, EngineError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json, parse_body};
use crate::error::ApiResult;
use crate::query::{Filters, Query};
use crate::state::Daemon;

/// The filters `GET /volumes` takes.
const LIST_FILTERS: [&str; 4] = ["dangling", "driver", "label", "name"];
/// The filters `POST /volumes/prune` takes.
const PRUNE_FILTERS: [&str; 2] = ["label", "all"];

/// A volume as the API shows it.
pub fn volume_json(store: &VolumeStore, v: &Volume) -> Value {
    json!({
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Labels": if v.labels.is_empty() { Value::Null } else { json!(v.labels) },
        "Mountpoint": store.data_dir(&v.name),
        "Name": v.name,
        "Options": Value::Null,
        "Scope": "local",
    })
}

/// `GET /volumes?filters=`.
pub async fn list(State(d): State<Arc<Daemon>>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let filters = Query::parse(q.as_deref()).filters()?;
    filters.accept(&LIST_FILTERS)?;
    let dangling = filters.bool("dangling")?;
    let body = d
        .with_engine(move |e| {
            let mut out = Vec::new();
            for v in e.volumes().list()? {
                if !keeps(&filters, &v) {
                    continue;
                }
                if let Some(want) = dangling {
                    if e.volume_users(&v.name)?.is_empty() != want {
                        continue;
                    }
                }
                out.push(volume_json(e.volumes(), &v));
            }
            Ok(json!({"Volumes": out, "Warnings": null}))
        })
        .await?;
    Ok(json(StatusCode::OK, &body))
}

fn keeps(f: &Filters, v: &Volume) -> bool {
    let any = |key: &str, ok: &dyn Fn(&String) -> bool| {
        let vals = f.values(key);
        vals.is_empty() || vals.iter().any(ok)
    };
    any("name", &|n| v.name.contains(n.as_str()))
        && any("driver", &|d| *d == v.driver)
        && f.labels_match(&v.labels)
}

/// `POST /volumes/create` body.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreateBody {
    name: Option<String>,
    driver: Option<String>,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// `POST /volumes/create`.
pub async fn create(State(d): State<Arc<Daemon>>, body: Bytes) -> ApiResult<Response> {
    let b: CreateBody = parse_body(&body)?;
    let req = NewVolume {
        name: b.name.filter(|n| !n.is_empty()),
        driver: b.driver.unwrap_or_default(),
        options: b.driver_opts.unwrap_or_default(),
        labels: b.labels.unwrap_or_default(),
    };
    let v = d
        .with_engine(move |e| {
            let v = e.volumes().create(&req).map_err(EngineError::from)?;
            Ok(volume_json(e.volumes(), &v))
        })
        .await?;
    if let Some(name) = v["Name"].as_str() {
        d.object_event("volume", "create", name, None);
    }
    Ok(json(StatusCode::CREATED, &v))
}

/// `GET /volumes/{name}`.
pub async fn inspect(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let v = d
        .with_engine(move |e| {
            let v = e.volumes().get(&name).map_err(EngineError::from)?;
            Ok(volume_json(e.volumes(), &v))
        })
        .await?;
    Ok(json(StatusCode::OK, &v))
}

/// `DELETE /volumes/{name}?force=`: a volume in use is refused even with `force`,
/// which only makes a missing volume no error (as in dockerd).
pub async fn remove(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let force = Query::parse(q.as_deref()).bool("force");
    let n = name.clone();
    let removed = d
        .with_engine(move |e| match e.remove_volume(&n) {
            Err(EngineError::Volume(VolumeError::NotFound(_))) if force => Ok(false),
            r => Ok(r.map(|()| true)?),
        })
        .await?;
    if removed {
        d.object_event("volume", "destroy", &name, None);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /volumes/prune?filters=`: unused anonymous volumes (every unused volume with
/// `all=true`), as API 1.42 and later do.
pub async fn prune(State(d): State<Arc<Daemon>>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let filters = Query::parse(q.as_deref()).filters()?;
    filters.accept(&PRUNE_FILTERS)?;
    let all = filters.bool("all")?.unwrap_or(false);
    let body = d
        .with_engine(move |e| {
            let (deleted, space) = prune_volumes(e, &filters, all)?;
            Ok(json!({"VolumesDeleted": deleted, "SpaceReclaimed": space}))
        })
        .await?;
    for name in body["VolumesDeleted"].as_array().into_iter().flatten() {
        d.object_event("volume", "destroy", name.as_str().unwrap_or_default(), None);
    }
    Ok(json(StatusCode::OK, &body))
}

fn prune_volumes(e: &Engine, f: &Filters, all: bool) -> ApiResult<(Vec<String>, u64)> {
    let mut deleted = Vec::new();
    let mut space = 0;
    for v in e.volumes().list()? {
        if (!all && !v.anonymous) || !f.labels_match(&v.labels) {
            continue;
        }
        if !e.volume_users(&v.name)?.is_empty() {
            continue;
        }
        let size = e.volumes().size(&v.name).unwrap_or(0);
        e.volumes().remove(&v.name).map_err(EngineError::from)?;
        space += size;
        deleted.push(v.name);
    }
    Ok((deleted, space))
}
