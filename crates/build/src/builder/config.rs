//! Edits of an image config document (docker's image JSON) as the steps make them: the
//! `config` section's fields, history entries, the creation time.

use serde_json::{json, Map, Value};

/// The config of a `FROM scratch` stage.
pub fn scratch() -> Value {
    json!({
        "architecture": host_arch(),
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    })
}

/// The host's architecture in OCI terms.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "x86" => "386",
        other => other,
    }
}

/// The `config` object of image config `image` (made if missing).
pub fn section(image: &mut Value) -> &mut Map<String, Value> {
    object(image, "config")
}

fn object<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    let Value::Object(map) = v else {
        unreachable!("made an object above")
    };
    let slot = map.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

/// The image's `config.Env`.
pub fn env(image: &Value) -> Vec<String> {
    strings(image.pointer("/config/Env"))
}

/// An array of strings (anything else: empty).
pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Sets `key=value` in `config.Env`, replacing an earlier value in place.
pub fn set_env(image: &mut Value, key: &str, value: &str) {
    let mut env = env(image);
    let entry = format!("{key}={value}");
    match env
        .iter()
        .position(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(i) => env[i] = entry,
        None => env.push(entry),
    }
    section(image).insert("Env".into(), json!(env));
}

/// Adds `k` to the set-like object `config.<field>` (`ExposedPorts`, `Volumes`).
pub fn add_to_set(image: &mut Value, field: &str, k: &str) {
    let cfg = section(image);
    let slot = cfg.entry(field).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    if let Value::Object(m) = slot {
        m.insert(k.to_string(), json!({}));
    }
}

/// Sets `config.Labels[k] = v`.
pub fn set_label(image: &mut Value, k: &str, v: &str) {
    let cfg = section(image);
    let slot = cfg.entry("Labels").or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    if let Value::Object(m) = slot {
        m.insert(k.to_string(), json!(v));
    }
}

/// Appends a history entry and sets the image's creation time.
pub fn push_history(image: &mut Value, created: &str, created_by: &str, empty_layer: bool) {
    let mut entry = Map::new();
    entry.insert("created".into(), json!(created));
    entry.insert("created_by".into(), json!(created_by));
    if empty_layer {
        entry.insert("empty_layer".into(), json!(true));
    }
    if let Value::Object(root) = image {
        root.insert("created".into(), json!(created));
        let h = root.entry("history").or_insert_with(|| json!([]));
        if !h.is_array() {
            *h = json!([]);
        }
        if let Value::Array(a) = h {
            a.push(Value::Object(entry));
        }
    }
}

/// A port as `EXPOSE` writes it into the config: `80` → `80/tcp`; a range
/// `8000-8002/udp` gives each port. None for a bad port.
pub fn ports(spec: &str) -> Option<Vec<String>> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return None;
    }
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?),
        None => {
            let p = ports.parse::<u16>().ok()?;
            (p, p)
        }
    };
    (lo <= hi).then(|| (lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// A Go duration (`30s`, `1m30s`, `500ms`, `1h`) in nanoseconds, read as the parser
/// reads HEALTHCHECK's options.
pub fn duration_ns(s: &str) -> Option<i64> {
    crate::dockerfile::go_duration_nanos(s)
        .ok()
        .map(|n| n as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_durations() {
        assert_eq!(ports("80"), Some(vec!["80/tcp".to_string()]));
        assert_eq!(
            ports("53-54/UDP"),
            Some(vec!["53/udp".to_string(), "54/udp".to_string()])
        );
        assert_eq!(ports("x"), None);
        assert_eq!(duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(duration_ns("500ms"), Some(500_000_000));
        assert_eq!(duration_ns("3"), None);
    }

    #[test]
    fn env_replaces_in_place() {
        let mut img = scratch();
        set_env(&mut img, "A", "1");
        set_env(&mut img, "B", "2");
        set_env(&mut img, "A", "3");
        assert_eq!(env(&img), vec!["A=3", "B=2"]);
    }
}
