//! Parsers for docker's option values: memory sizes (`512m`), CPU counts (`1.5`),
//! ulimits (`nofile=1024:2048`), environment files, labels and times (`10m`, RFC 3339,
//! Unix seconds), volumes (`-v`, `--mount`, `--tmpfs`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::{json, Map, Value};

/// `512m`, `1g`, `1024` (bytes), as docker's `RAMInBytes` (binary units).
pub fn memory(s: &str) -> anyhow::Result<i64> {
    let bad = || anyhow::anyhow!("invalid size: '{s}'");
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let shift = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    Ok((n * (1u64 << shift) as f64) as i64)
}

/// A `-v` value as docker's CLI sends it: a relative host path (`./dir`, `../x`, `.`)
/// made absolute against the working directory.
pub fn volume(spec: &str) -> anyhow::Result<String> {
    let relative = spec.starts_with("./") || spec.starts_with("../") || spec.starts_with(".:");
    if !relative {
        return Ok(spec.to_string());
    }
    let (src, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let cwd = std::env::current_dir()?;
    let abs = cwd.join(src);
    let mut clean = std::path::PathBuf::from("/");
    for c in abs.components() {
        match c {
            std::path::Component::Normal(n) => clean.push(n),
            std::path::Component::ParentDir => {
                clean.pop();
            }
            _ => {}
        }
    }
    Ok(match rest {
        "" => clean.display().to_string(),
        r => format!("{}:{r}", clean.display()),
    })
}

/// A `--mount` value (`type=bind,source=/a,target=/b,readonly`) as a `Mounts[]` entry.
pub fn mount(spec: &str) -> anyhow::Result<Value> {
    let bad = |why: &str| anyhow::anyhow!("invalid argument {spec:?} for \"--mount\" flag: {why}");
    let mut m = serde_json::Map::new();
    let mut kind = "volume".to_string();
    let (mut bind, mut vol, mut tmpfs) = (Map::new(), Map::new(), Map::new());
    let mut labels = Map::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        let flag = |v: &str| -> anyhow::Result<bool> {
            match v {
                "" | "1" | "true" => Ok(true),
                "0" | "false" => Ok(false),
                _ => Err(bad(&format!("invalid value for {k}: {v}"))),
            }
        };
        match k.to_ascii_lowercase().as_str() {
            "type" => kind = v.to_string(),
            "source" | "src" => {
                m.insert("Source".into(), json!(v));
            }
            "target" | "destination" | "dst" => {
                m.insert("Target".into(), json!(v));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(flag(v)?));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(v));
            }
            "bind-nonrecursive" => {
                bind.insert("NonRecursive".into(), json!(flag(v)?));
            }
            "bind-create-mountpoint" => {
                bind.insert("CreateMountpoint".into(), json!(flag(v)?));
            }
            "volume-nocopy" => {
                vol.insert("NoCopy".into(), json!(flag(v)?));
            }
            "volume-label" => {
                let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                labels.insert(lk.into(), json!(lv));
            }
            "tmpfs-size" => {
                tmpfs.insert("SizeBytes".into(), json!(memory(v)?));
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(v, 8).map_err(|_| bad("tmpfs-mode is octal"))?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            "consistency" => {}
            other => return Err(bad(&format!("unexpected key '{other}'"))),
        }
    }
    if !m.contains_key("Target") {
        return Err(bad("target is required"));
    }
    if !labels.is_empty() {
        vol.insert("Labels".into(), Value::Object(labels));
    }
    m.insert("Type".into(), json!(kind));
    for (key, opts) in [
        ("BindOptions", bind),
        ("VolumeOptions", vol),
        ("TmpfsOptions", tmpfs),
    ] {
        if !opts.is_empty() {
            m.insert(key.into(), Value::Object(opts));
        }
    }
    Ok(Value::Object(m))
}

/// `--tmpfs /run:size=64m` as a `Tmpfs` entry.
pub fn tmpfs(spec: &str) -> (String, String) {
    let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
    (path.to_string(), opts.to_string())
}

/// `--cpus 1.5` as nano CPUs.
pub fn nano_cpus(s: &str) -> anyhow::Result<i64> {
    let n: f64 = s
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid argument {s:?} for \"--cpus\" flag"))?;
    Ok((n * 1e9).round() as i64)
}

/// `nofile=1024[:2048]` as docker's `{"Name","Soft","Hard"}`.
pub fn ulimit(s: &str) -> anyhow::Result<Value> {
    let bad = || anyhow::anyhow!("invalid argument {s:?} for \"--ulimit\" flag");
    let (name, limits) = s.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let soft: i64 = soft.parse().map_err(|_| bad())?;
    let hard: i64 = hard.parse().map_err(|_| bad())?;
    Ok(json!({"Name": name, "Soft": soft, "Hard": hard}))
}

/// `KEY=value` as is; a bare `KEY` takes this process's value, or is dropped if unset.
pub fn env_entry(e: &str) -> Option<String> {
    if e.contains('=') {
        return Some(e.to_string());
    }
    std::env::var(e).ok().map(|v| format!("{e}={v}"))
}

/// The variables of an `--env-file`: one per line, `#` comments and blank lines skipped.
pub fn env_file(path: &str) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("open {path}"))?;
    Ok(text
        .lines()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(env_entry)
        .collect())
}

/// `-l k=v` / `-l k` as a label map.
pub fn labels(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// docker's `--since`/`--until` value as the API's Unix seconds: a duration before
/// `now` (`10m`, `1h30m`), an RFC 3339 time or date, or seconds as given.
pub fn timestamp(s: &str, now: SystemTime) -> anyhow::Result<String> {
    let s = s.trim();
    if s.parse::<f64>().is_ok() {
        return Ok(s.to_string());
    }
    if let Ok(d) = go_duration(s) {
        let t = now.checked_sub(d).unwrap_or(UNIX_EPOCH);
        return Ok(unix(t));
    }
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    let t = humantime::parse_rfc3339_weak(&full)
        .or_else(|_| humantime::parse_rfc3339(&full))
        .map_err(|_| anyhow::anyhow!("invalid value for \"since\"/\"until\": {s:?}"))?;
    Ok(unix(t))
}

fn unix(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Go's `time.ParseDuration` for the units people type (`ns` to `h`).
fn go_duration(s: &str) -> anyhow::Result<Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        anyhow::bail!("empty duration");
    }
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| anyhow::anyhow!("missing unit in {s:?}"))?;
        let n: f64 = rest[..n_end].parse()?;
        let unit_end = rest[n_end..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map_or(rest.len(), |i| n_end + i);
        let secs = match &rest[n_end..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => anyhow::bail!("unknown unit {u:?}"),
        };
        total += n * secs;
        rest = &rest[unit_end..];
    }
    Ok(Duration::from_secs_f64(total))
}

/// A Go duration in nanoseconds, as docker's duration flags take it; a leading `-`
/// makes it negative (the flags refuse those with their own message).
pub fn go_duration_ns(s: &str) -> anyhow::Result<i64> {
    let (negative, rest) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    if rest == "0" {
        return Ok(0);
    }
    let d = go_duration(rest).map_err(|e| anyhow::anyhow!("invalid duration {s:?}: {e}"))?;
    let ns = i64::try_from(d.as_nanos())
        .map_err(|_| anyhow::anyhow!("invalid duration {s:?}: too long"))?;
    Ok(if negative { -ns } else { ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(memory("512m").unwrap(), 512 << 20);
        assert_eq!(memory("1g").unwrap(), 1 << 30);
        assert_eq!(memory("64MB").unwrap(), 64 << 20);
        assert_eq!(memory("4096").unwrap(), 4096);
        assert_eq!(memory("1.5k").unwrap(), 1536);
        assert!(memory("lots").is_err());
        assert!(memory("1x").is_err());
    }

    #[test]
    fn cpus_and_ulimits() {
        assert_eq!(nano_cpus("1.5").unwrap(), 1_500_000_000);
        assert!(nano_cpus("x").is_err());
        assert_eq!(
            ulimit("nofile=1024:2048").unwrap(),
            json!({"Name": "nofile", "Soft": 1024, "Hard": 2048})
        );
        assert_eq!(ulimit("nproc=10").unwrap()["Hard"], 10);
        assert!(ulimit("nofile").is_err());
    }

    #[test]
    fn times() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(timestamp("10m", now).unwrap(), "9400.000000000");
        assert_eq!(timestamp("1h30m", now).unwrap(), "4600.000000000");
        assert_eq!(timestamp("1700000000", now).unwrap(), "1700000000");
        assert_eq!(
            timestamp("1970-01-01T00:01:00Z", now).unwrap(),
            "60.000000000"
        );
        assert_eq!(timestamp("1970-01-02", now).unwrap(), "86400.000000000");
        assert!(timestamp("yesterday", now).is_err());
    }

    #[test]
    fn labels_and_env() {
        let l = labels(&["a=b".into(), "c".into()]);
        assert_eq!(l["a"], "b");
        assert_eq!(l["c"], "");
        assert_eq!(env_entry("X=1").as_deref(), Some("X=1"));
        assert_eq!(env_entry("BERTH_SURELY_UNSET_VAR"), None);
    }
}
