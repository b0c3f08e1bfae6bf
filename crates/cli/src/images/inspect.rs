//! `image inspect` / `inspect`: docker's JSON for images, from the exact config bytes.

use berth_image::metadata::ImageSummary;
use berth_image::snapshot::DirStyle;
use berth_image::store::changes::ContainerConfig;
use berth_image::store::ImageStore;
use std::io::Write;

use serde::Serialize;
use serde_json::{json, Value};

use super::open;
use crate::format;
use crate::Cli;

/// Flags of `image inspect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format the output using the given Go template
    #[arg(short, long)]
    format: Option<String>,
    /// The images
    #[arg(required = true)]
    images: Vec<String>,
}

/// docker's image inspect document, keys in docker's order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Inspect {
    #[serde(rename = "Id")]
    id: String,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
    parent: String,
    comment: String,
    created: String,
    container: String,
    container_config: Option<ContainerConfig>,
    docker_version: String,
    author: String,
    config: Option<ContainerConfig>,
    architecture: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    variant: String,
    os: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    os_version: String,
    size: u64,
    virtual_size: u64,
    graph_driver: Value,
    #[serde(rename = "RootFS")]
    root_fs: Value,
    metadata: Value,
}

pub(super) fn run(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let store = open(cli)?;
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for name in &args.images {
        match inspect(&store, name) {
            Ok(doc) => docs.push(doc),
            Err(e) => errors.push(e),
        }
    }
    let out = &mut std::io::stdout().lock();
    match &args.format {
        Some(t) => {
            for d in &docs {
                writeln!(out, "{}", format::render(t, &serde_json::to_value(d)?)?)?;
            }
        }
        None => writeln!(out, "{}", pretty(&docs)?)?,
    }
    for e in &errors {
        eprintln!("Error: {e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

/// JSON with docker's four-space indent.
fn pretty(v: &impl Serialize) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser)?;
    Ok(String::from_utf8(out)?)
}

/// The config blob of image `summary`, parsed.
pub(super) fn config_of(store: &ImageStore, summary: &ImageSummary) -> anyhow::Result<Value> {
    let bytes = store.content().read_all(&summary.image.id, 32 << 20)?;
    Ok(serde_json::from_slice(&bytes)?)
}

fn inspect(store: &ImageStore, name: &str) -> anyhow::Result<Inspect> {
    let id = store.db().resolve_id(name)?;
    let summary = store.summary(&id)?;
    let cfg = config_of(store, &summary)?;
    let text = |k: &str| cfg[k].as_str().unwrap_or_default().to_string();
    let container_config = |k: &str| -> anyhow::Result<Option<ContainerConfig>> {
        Ok(match &cfg[k] {
            Value::Null => None,
            v => Some(serde_json::from_value(v.clone())?),
        })
    };
    Ok(Inspect {
        id: id.to_string(),
        repo_tags: summary.tags.iter().map(|r| r.familiar()).collect(),
        repo_digests: summary.digests.iter().map(|r| r.familiar()).collect(),
        parent: text("parent"),
        comment: text("comment"),
        created: text("created"),
        container: text("container"),
        container_config: container_config("container_config")?,
        docker_version: text("docker_version"),
        author: text("author"),
        config: container_config("config")?,
        architecture: text("architecture"),
        variant: text("variant"),
        os: text("os"),
        os_version: text("os.version"),
        size: summary.image.size,
        virtual_size: summary.image.size,
        graph_driver: graph_driver(store, &summary),
        root_fs: json!({
            "Type": "layers",
            "Layers": summary.image.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
        }),
        metadata: json!({ "LastTagTime": last_tag_time(&summary) }),
    })
}

/// Where the image's layers are: overlay-style directories of the top layer.
fn graph_driver(store: &ImageStore, summary: &ImageSummary) -> Value {
    let Some(top) = summary.image.layers.last() else {
        return json!({ "Data": null, "Name": "overlay" });
    };
    let Ok(dirs) = store.snapshotter().layer_dirs(&top.chain_id.to_string()) else {
        return json!({ "Data": null, "Name": "overlay" });
    };
    let name = match dirs.style {
        DirStyle::Overlay => "overlay",
        DirStyle::Full => "vfs",
    };
    let own = dirs.upper.parent().unwrap_or(&dirs.upper).to_path_buf();
    let mut data = serde_json::Map::new();
    if !dirs.lowers.is_empty() {
        let lowers: Vec<String> = dirs
            .lowers
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        data.insert("LowerDir".into(), lowers.join(":").into());
    }
    data.insert(
        "MergedDir".into(),
        own.join("merged").display().to_string().into(),
    );
    data.insert("UpperDir".into(), dirs.upper.display().to_string().into());
    data.insert(
        "WorkDir".into(),
        own.join("work").display().to_string().into(),
    );
    json!({ "Data": data, "Name": name })
}

/// When the image was last named here; Go's zero time for an unnamed one.
fn last_tag_time(summary: &ImageSummary) -> String {
    if summary.tags.is_empty() {
        return "0001-01-01T00:00:00Z".into();
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(summary.added.max(0) as u64);
    humantime::format_rfc3339_nanos(t).to_string()
}
