//! Parsers for docker's option values: memory sizes (`512m`), CPU counts (`1.5`),
//! ulimits (`nofile=1024:2048`), environment files, labels and times (`10m`, RFC 3339,
//! Unix seconds).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::{json, Value};

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
