//! `berth ps`: the daemon's container list as docker's table or `--format`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::IgnoredAny;
use serde_json::{json, Map, Value};

use crate::client::{Client, Query};
use crate::format::{self, Format};

/// `ps` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
}

/// docker's `filters` JSON from `key=value` flags.
pub fn filters_json(list: &[String]) -> Option<String> {
    if list.is_empty() {
        return None;
    }
    let mut m: Map<String, Value> = Map::new();
    for f in list {
        let (k, v) = f.split_once('=').unwrap_or((f.as_str(), ""));
        let entry = m.entry(k.to_string()).or_insert_with(|| json!({}));
        entry[v] = json!(true);
    }
    Some(Value::Object(m).to_string())
}

/// The fields of a `/containers/json` entry that `ps` shows; the rest of each entry is
/// skipped unread (a list of hundreds of containers is most of `ps`'s time).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Summary {
    id: String,
    names: Vec<String>,
    image: String,
    command: String,
    created: i64,
    state: String,
    status: String,
    labels: Option<Map<String, Value>>,
    ports: Value,
    size_rw: Option<i64>,
    size_root_fs: Option<i64>,
    network_settings: Option<NetworkSettings>,
}

/// A summary's networks, by name only.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkSettings {
    networks: Option<BTreeMap<String, IgnoredAny>>,
}

/// `ps`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let limit = if a.latest { 1 } else { a.last };
    let size = a.size || a.format.as_deref().is_some_and(|f| f.contains(".Size"));
    let q = Query::new()
        .flag("all", a.all)
        .flag("size", size)
        .opt("limit", (limit > 0).then(|| limit.to_string()).as_deref())
        .opt("filters", filters_json(&a.filter).as_deref());
    let list: Vec<Summary> = c.get_typed("/containers/json", q)?;
    let now = SystemTime::now();
    let items: Vec<Value> = list.iter().map(|c| item(c, now, !a.no_trunc)).collect();
    let fmt = if a.quiet {
        Format::Template("{{.ID}}".into())
    } else {
        Format::parse(a.format.as_deref())
    };
    let default = if a.size {
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    let headers = HashMap::from([
        ("ID", "CONTAINER ID"),
        ("RunningFor", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("LocalVolumes", "LOCAL VOLUMES"),
    ]);
    format::emit(&fmt, &items, default, &headers)?;
    Ok(0)
}

/// One container as docker's `ps` template fields.
fn item(c: &Summary, now: SystemTime, trunc: bool) -> Value {
    let id = c.id.as_str();
    let created = UNIX_EPOCH + Duration::from_secs(c.created.max(0) as u64);
    let names: Vec<&str> = c
        .names
        .iter()
        .map(|n| n.trim_start_matches('/'))
        .filter(|n| !trunc || !n.contains('/'))
        .collect();
    let labels = c.labels.as_ref().map(|m| {
        m.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",")
    });
    let networks: Vec<&str> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    json!({
        "ID": if trunc { &id[..id.len().min(12)] } else { id },
        "Image": c.image,
        "Command": command(&c.command, trunc),
        "CreatedAt": format::go_time(Some(created)),
        "RunningFor": format::ago(Some(created), now),
        "Ports": super::netflags::ports_column(&c.ports),
        "State": c.state,
        "Status": c.status,
        "Size": size(c),
        "Names": names.join(","),
        "Labels": labels.unwrap_or_default(),
        "Mounts": "",
        "Networks": networks.join(","),
        "LocalVolumes": "0",
    })
}

/// `"echo hello"`, cut to 20 characters with an ellipsis unless not truncating.
fn command(full: &str, trunc: bool) -> String {
    let shown = if trunc {
        format::ellipsis(full, 20)
    } else {
        full.to_string()
    };
    format!("{shown:?}")
}

/// `0B (virtual 4.26MB)`.
fn size(c: &Summary) -> String {
    if c.size_rw.is_none() && c.size_root_fs.is_none() {
        return String::new();
    }
    let rw = c.size_rw.unwrap_or(0).max(0) as u64;
    let root = c.size_root_fs.unwrap_or(0).max(0) as u64;
    format!(
        "{} (virtual {})",
        format::human_size(rw),
        format::human_size(root)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_as_docker_sends_them() {
        assert_eq!(filters_json(&[]), None);
        let f = filters_json(&[
            "status=exited".into(),
            "label=a=b".into(),
            "status=created".into(),
        ]);
        let v: Value = serde_json::from_str(&f.unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"status": {"exited": true, "created": true}, "label": {"a=b": true}})
        );
    }

    #[test]
    fn items_as_docker_shows_them() {
        let c = json!({"Id": "0123456789abcdef", "Names": ["/web"], "Image": "busybox",
            "Command": "sh -c 'echo hello world; sleep 1'", "Created": 0, "State": "running",
            "Status": "Up 3 seconds", "Labels": {"a": "b"}, "SizeRw": 12, "SizeRootFs": 4_260_000});
        let c: Summary = serde_json::from_value(c).unwrap();
        let i = item(&c, UNIX_EPOCH + Duration::from_secs(30), true);
        assert_eq!(i["ID"], "0123456789ab");
        assert_eq!(i["Names"], "web");
        assert_eq!(i["Command"], "\"sh -c 'echo hello w…\"");
        assert_eq!(i["RunningFor"], "30 seconds ago");
        assert_eq!(i["Size"], "12B (virtual 4.26MB)");
        assert_eq!(i["Labels"], "a=b");
    }
}
