//! docker's JSON for images: the `/images/json` summary, the inspect document and the
//! history entries, from the store's records and the exact config blob.

use berth_image::metadata::ImageSummary;
use berth_image::snapshot::DirStyle;
use berth_image::store::changes::ContainerConfig;
use berth_image::store::ImageStore;
use serde_json::{json, Map, Value};

use super::unix_time;
use crate::error::{ApiError, ApiResult};
use crate::version::ApiVersion;

/// The largest image config read.
const CONFIG_LIMIT: u64 = 32 << 20;

/// The config blob of an image, parsed.
pub fn config_of(store: &ImageStore, s: &ImageSummary) -> ApiResult<Value> {
    let bytes = store
        .content()
        .read_all(&s.image.id, CONFIG_LIMIT)
        .map_err(|e| ApiError::Store(e.into()))?;
    serde_json::from_slice(&bytes).map_err(|source| {
        ApiError::Store(berth_image::store::StoreError::Config {
            id: s.image.id.clone(),
            source,
        })
    })
}

/// When the image was made (its record's time), as docker's unix `Created`.
pub fn created(s: &ImageSummary) -> i64 {
    match unix_time(s.image.created.as_deref()) {
        0 => s.added,
        t => t,
    }
}

/// The familiar names of an image's tags and digests.
pub fn names(s: &ImageSummary) -> (Vec<String>, Vec<String>) {
    let tags = s.tags.iter().map(|r| r.familiar()).collect();
    let digests = s.digests.iter().map(|r| r.familiar()).collect();
    (tags, digests)
}

/// One `/images/json` entry; `containers` is how many containers use it (-1: not asked).
pub fn summary(s: &ImageSummary, containers: i64, v: &ApiVersion) -> Value {
    let (tags, digests) = names(s);
    let labels = if s.image.labels.is_empty() {
        Value::Null
    } else {
        json!(s.image.labels)
    };
    let mut m = json!({
        "Containers": containers,
        "Created": created(s),
        "Id": s.image.id.to_string(),
        "Labels": labels,
        "ParentId": "",
        "RepoDigests": if digests.is_empty() { Value::Null } else { json!(digests) },
        "RepoTags": tags,
        "SharedSize": -1,
        "Size": s.image.size,
    });
    if !v.at_least(1, 44) {
        m["VirtualSize"] = json!(s.image.size);
    }
    m
}

/// The inspect document of an image.
pub fn inspect(store: &ImageStore, s: &ImageSummary, v: &ApiVersion) -> ApiResult<Value> {
    let cfg = config_of(store, s)?;
    let text = |k: &str| json!(cfg[k].as_str().unwrap_or_default());
    let (tags, digests) = names(s);
    let mut m = Map::new();
    m.insert("Id".into(), json!(s.image.id.to_string()));
    m.insert("RepoTags".into(), json!(tags));
    m.insert("RepoDigests".into(), json!(digests));
    m.insert("Parent".into(), text("parent"));
    m.insert("Comment".into(), text("comment"));
    m.insert("Created".into(), text("created"));
    if !v.at_least(1, 45) {
        m.insert("Container".into(), text("container"));
        m.insert(
            "ContainerConfig".into(),
            container_config(&cfg["container_config"]),
        );
    }
    m.insert("DockerVersion".into(), text("docker_version"));
    m.insert("Author".into(), text("author"));
    m.insert("Config".into(), container_config(&cfg["config"]));
    m.insert("Architecture".into(), text("architecture"));
    if let Some(variant) = cfg["variant"].as_str().filter(|x| !x.is_empty()) {
        m.insert("Variant".into(), json!(variant));
    }
    m.insert("Os".into(), text("os"));
    m.insert("Size".into(), json!(s.image.size));
    if !v.at_least(1, 44) {
        m.insert("VirtualSize".into(), json!(s.image.size));
    }
    m.insert("GraphDriver".into(), graph_driver(store, s));
    let layers: Vec<String> = s
        .image
        .layers
        .iter()
        .map(|l| l.diff_id.to_string())
        .collect();
    m.insert("RootFS".into(), json!({"Type": "layers", "Layers": layers}));
    m.insert("Metadata".into(), json!({"LastTagTime": last_tag_time(s)}));
    Ok(Value::Object(m))
}

/// An image config's container config in docker's key order, or null.
fn container_config(v: &Value) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    serde_json::from_value::<ContainerConfig>(v.clone())
        .ok()
        .and_then(|c| serde_json::to_value(c).ok())
        .unwrap_or_else(|| v.clone())
}

/// Where the image's top layer is on disk, as docker's GraphDriver.
pub fn graph_driver(store: &ImageStore, s: &ImageSummary) -> Value {
    let name = store.snapshotter().driver_name();
    let dirs = s.image.layers.last().and_then(|top| {
        store
            .snapshotter()
            .layer_dirs(&top.chain_id.to_string())
            .ok()
    });
    let Some(dirs) = dirs else {
        return json!({"Data": null, "Name": name});
    };
    let own = dirs.upper.parent().unwrap_or(&dirs.upper).to_path_buf();
    let mut data = Map::new();
    if !dirs.lowers.is_empty() && dirs.style == DirStyle::Overlay {
        let lowers: Vec<String> = dirs
            .lowers
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        data.insert("LowerDir".into(), json!(lowers.join(":")));
    }
    data.insert("MergedDir".into(), json!(own.join("merged")));
    data.insert("UpperDir".into(), json!(dirs.upper));
    data.insert("WorkDir".into(), json!(own.join("work")));
    json!({"Data": data, "Name": name})
}

/// When the image was last named here; Go's zero time for an unnamed one.
fn last_tag_time(s: &ImageSummary) -> String {
    if s.tags.is_empty() {
        return "0001-01-01T00:00:00Z".into();
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.added.max(0) as u64);
    humantime::format_rfc3339_nanos(t).to_string()
}

/// The history of an image, newest first: one entry per config history entry, sized
/// by the layer each non-empty entry made.
pub fn history(store: &ImageStore, s: &ImageSummary) -> ApiResult<Vec<Value>> {
    let cfg = config_of(store, s)?;
    let entries: Vec<Value> = match cfg["history"].as_array() {
        Some(h) if !h.is_empty() => h.clone(),
        _ => s.image.layers.iter().map(|_| json!({})).collect(),
    };
    let mut sizes = s.image.layers.iter().map(|l| store.layer_size(&l.chain_id));
    let mut out: Vec<Value> = entries
        .iter()
        .map(|h| {
            let empty = h["empty_layer"].as_bool().unwrap_or(false);
            let size = if empty { 0 } else { sizes.next().unwrap_or(0) };
            json!({
                "Comment": h["comment"].as_str().unwrap_or_default(),
                "Created": unix_time(h["created"].as_str()),
                "CreatedBy": h["created_by"].as_str().unwrap_or_default(),
                "Id": "<missing>",
                "Size": size,
                "Tags": null,
            })
        })
        .collect();
    out.reverse();
    if let Some(top) = out.first_mut() {
        top["Id"] = json!(s.image.id.to_string());
        top["Tags"] = json!(names(s).0);
    }
    Ok(out)
}
