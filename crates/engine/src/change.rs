//! `--change` instructions (`commit`, `import`): Dockerfile-like lines that edit an image
//! config's `config` object: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME,
//! STOPSIGNAL.

use serde_json::{json, Map, Value};

use crate::error::{EngineError, Result};

/// Applies one instruction to `config` (the image config's `config` object).
pub fn apply(config: &mut Map<String, Value>, line: &str) -> Result<()> {
    let line = line.trim();
    let (instr, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let bad = |reason| EngineError::Change {
        line: line.into(),
        reason,
    };
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => config.insert(
            "Cmd".into(),
            exec_form(rest).ok_or_else(|| bad("bad JSON"))?,
        ),
        "ENTRYPOINT" => config.insert(
            "Entrypoint".into(),
            exec_form(rest).ok_or_else(|| bad("bad JSON"))?,
        ),
        "ENV" => return env(config, rest).ok_or_else(|| bad("ENV needs KEY=value or KEY value")),
        "LABEL" => return labels(config, rest).ok_or_else(|| bad("LABEL needs KEY=value")),
        "EXPOSE" => return expose(config, rest).ok_or_else(|| bad("EXPOSE needs PORT[/PROTO]")),
        "VOLUME" => return volume(config, rest).ok_or_else(|| bad("VOLUME needs a path")),
        "USER" => config.insert("User".into(), json!(rest)),
        "WORKDIR" => {
            let dir = workdir(config, rest);
            config.insert("WorkingDir".into(), json!(dir))
        }
        "STOPSIGNAL" => config.insert("StopSignal".into(), json!(rest)),
        _ => return Err(bad("not a valid change command")),
    };
    Ok(())
}

/// `["a","b"]` as is; anything else through `/bin/sh -c`.
fn exec_form(rest: &str) -> Option<Value> {
    if rest.starts_with('[') {
        let args: Vec<String> = serde_json::from_str(rest).ok()?;
        return Some(json!(args));
    }
    Some(json!(["/bin/sh", "-c", rest]))
}

/// Splits shell-like words: whitespace separates, quotes group, backslash escapes.
fn words(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quote, mut in_word) = (Vec::new(), String::new(), None, false);
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                }
                in_word = false;
                continue;
            }
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => cur.extend(chars.next()),
            (_, c) => cur.push(c),
        }
        in_word = true;
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// `KEY=value ...` pairs, or the legacy `KEY value with spaces`.
fn pairs(rest: &str) -> Option<Vec<(String, String)>> {
    let first = rest.split_whitespace().next()?;
    if !first.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace)?;
        return Some(vec![(k.to_string(), v.trim().to_string())]);
    }
    words(rest)
        .into_iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn env(config: &mut Map<String, Value>, rest: &str) -> Option<()> {
    let mut list: Vec<String> = config
        .get("Env")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    for (k, v) in pairs(rest)? {
        let prefix = format!("{k}=");
        list.retain(|e| !e.starts_with(&prefix) && e != &k);
        list.push(format!("{k}={v}"));
    }
    config.insert("Env".into(), json!(list));
    Some(())
}

/// The object member `key` of `config`, made an empty object if missing or null.
fn object<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = config.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("made an object above")
}

fn labels(config: &mut Map<String, Value>, rest: &str) -> Option<()> {
    let pairs = pairs(rest)?;
    let map = object(config, "Labels");
    for (k, v) in pairs {
        map.insert(k, json!(v));
    }
    Some(())
}

fn expose(config: &mut Map<String, Value>, rest: &str) -> Option<()> {
    let ports = words(rest);
    if ports.is_empty() {
        return None;
    }
    let map = object(config, "ExposedPorts");
    for p in ports {
        let key = if p.contains('/') {
            p
        } else {
            format!("{p}/tcp")
        };
        map.insert(key, json!({}));
    }
    Some(())
}

fn volume(config: &mut Map<String, Value>, rest: &str) -> Option<()> {
    let paths: Vec<String> = if rest.starts_with('[') {
        serde_json::from_str(rest).ok()?
    } else {
        words(rest)
    };
    if paths.is_empty() {
        return None;
    }
    let map = object(config, "Volumes");
    for p in paths {
        map.insert(p, json!({}));
    }
    Some(())
}

/// A relative WORKDIR is relative to the one before, as in a Dockerfile.
fn workdir(config: &Map<String, Value>, rest: &str) -> String {
    if rest.starts_with('/') {
        return rest.into();
    }
    let base = config
        .get("WorkingDir")
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty())
        .unwrap_or("/");
    format!("{}/{rest}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(lines: &[&str]) -> Value {
        let mut c = Map::new();
        c.insert("Env".into(), json!(["PATH=/bin", "A=1"]));
        for l in lines {
            apply(&mut c, l).unwrap();
        }
        Value::Object(c)
    }

    #[test]
    fn every_instruction() {
        let c = applied(&[
            r#"CMD ["echo","hi"]"#,
            "ENTRYPOINT /bin/run -x",
            "ENV A=2 B=\"two words\"",
            "ENV C three words",
            "LABEL a=b c=\"d e\"",
            "EXPOSE 80 53/udp",
            "USER nobody:nogroup",
            "WORKDIR /srv",
            "WORKDIR app",
            r#"VOLUME ["/data"]"#,
            "STOPSIGNAL SIGINT",
        ]);
        assert_eq!(c["Cmd"], json!(["echo", "hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/bin/run -x"]));
        assert_eq!(
            c["Env"],
            json!(["PATH=/bin", "A=2", "B=two words", "C=three words"])
        );
        assert_eq!(c["Labels"], json!({"a": "b", "c": "d e"}));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["User"], json!("nobody:nogroup"));
        assert_eq!(c["WorkingDir"], json!("/srv/app"));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["StopSignal"], json!("SIGINT"));
    }

    #[test]
    fn bad_instructions_are_refused() {
        let mut c = Map::new();
        for bad in ["ADD a b", "CMD [\"x\"", "ENV", "LABEL nokey", "EXPOSE"] {
            assert!(apply(&mut c, bad).is_err(), "{bad}");
        }
    }
}
