//! Docker's `--change` instructions (`import`, `commit`): Dockerfile lines such as
//! `CMD ["sh"]` or `ENV A=1` applied to an image's container config, and that config in
//! the key order docker writes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Why a change instruction cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// A Dockerfile instruction that a change may not use (`RUN`, `FROM`, ...).
    #[error("{0} is not a valid change command")]
    NotAllowed(String),
    /// Not a Dockerfile instruction at all.
    #[error("dockerfile parse error line 1: unknown instruction: {0}")]
    Unknown(String),
    /// A HEALTHCHECK option that is unknown or has a bad value.
    #[error("HEALTHCHECK option {0:?}: expected --interval, --timeout, --start-period or --start-interval with a duration (30s, 1m), or --retries with a number")]
    HealthOption(String),
    /// An instruction without the arguments it needs.
    #[error("{instruction} requires {what}")]
    Missing {
        /// The instruction.
        instruction: String,
        /// What it needs.
        what: &'static str,
    },
}

/// An image's container config (`config` in the image config), with docker's keys in
/// docker's order. Keys this struct does not know are kept and written after the others.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// Hostname.
    pub hostname: String,
    /// Domain name.
    pub domainname: String,
    /// User (and group).
    pub user: String,
    /// Attach stdin.
    pub attach_stdin: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// Exposed ports, `{"80/tcp": {}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<Value>,
    /// Allocate a terminal.
    pub tty: bool,
    /// Keep stdin open.
    pub open_stdin: bool,
    /// Close stdin after one attach.
    pub stdin_once: bool,
    /// Environment, `KEY=value` strings.
    pub env: Value,
    /// Command.
    pub cmd: Value,
    /// Health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    /// Windows-only argument escaping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<Value>,
    /// Image name.
    pub image: String,
    /// Volumes, `{"/data": {}}`.
    pub volumes: Value,
    /// Working directory.
    pub working_dir: String,
    /// Entrypoint.
    pub entrypoint: Value,
    /// Networking disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<Value>,
    /// MAC address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<Value>,
    /// ONBUILD triggers.
    pub on_build: Value,
    /// Labels.
    pub labels: Value,
    /// Stop signal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<Value>,
    /// Stop timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<Value>,
    /// Shell for shell-form instructions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Value>,
    /// Keys this struct does not know.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Instructions a change may use.
const ALLOWED: [&str; 11] = [
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];
/// Dockerfile instructions a change may not use.
const OTHER: [&str; 7] = ["ADD", "ARG", "COPY", "FROM", "MAINTAINER", "RUN", "SHELL"];

impl ContainerConfig {
    /// Applies `changes` in order, as `docker import --change` / `commit --change` do.
    pub fn apply_changes(&mut self, changes: &[String]) -> Result<(), ChangeError> {
        let mut cmd_set = false;
        for line in changes {
            self.apply_one(line.trim(), &mut cmd_set)?;
        }
        Ok(())
    }

    fn apply_one(&mut self, line: &str, cmd_set: &mut bool) -> Result<(), ChangeError> {
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let (upper, rest) = (word.to_ascii_uppercase(), rest.trim());
        if OTHER.contains(&upper.as_str()) {
            return Err(ChangeError::NotAllowed(word.to_ascii_lowercase()));
        }
        if !ALLOWED.contains(&upper.as_str()) {
            return Err(ChangeError::Unknown(word.to_ascii_lowercase()));
        }
        if rest.is_empty() {
            return Err(ChangeError::Missing {
                instruction: upper,
                what: "at least one argument",
            });
        }
        match upper.as_str() {
            "CMD" => {
                self.cmd = command(rest);
                *cmd_set = true;
            }
            "ENTRYPOINT" => {
                self.entrypoint = command(rest);
                if !*cmd_set {
                    self.cmd = Value::Null;
                }
            }
            "ENV" => self.env_change(rest)?,
            "EXPOSE" => self.expose(rest),
            "LABEL" => self.label(rest)?,
            "VOLUME" => self.volume(rest),
            "HEALTHCHECK" => self.healthcheck = Some(healthcheck(rest)?),
            _ => self.simple(&upper, rest),
        }
        Ok(())
    }

    /// USER, WORKDIR, STOPSIGNAL, ONBUILD.
    fn simple(&mut self, upper: &str, rest: &str) {
        match upper {
            "USER" => self.user = rest.into(),
            "WORKDIR" => self.working_dir = join_workdir(&self.working_dir, rest),
            "STOPSIGNAL" => self.stop_signal = Some(rest.into()),
            _ => push(&mut self.on_build, Value::from(rest)),
        }
    }

    fn env_change(&mut self, rest: &str) -> Result<(), ChangeError> {
        for (key, value) in name_values("ENV", rest)? {
            let entry = format!("{key}={value}");
            let list = self.env.as_array_mut();
            let existing = list.and_then(|l| {
                l.iter_mut().find(|e| {
                    e.as_str()
                        .is_some_and(|s| s.split('=').next() == Some(key.as_str()))
                })
            });
            match existing {
                Some(e) => *e = Value::from(entry),
                None => push(&mut self.env, Value::from(entry)),
            }
        }
        Ok(())
    }

    fn expose(&mut self, rest: &str) {
        let ports = self.exposed_ports.get_or_insert_with(|| json!({}));
        for word in rest.split_whitespace() {
            let port = if word.contains('/') {
                word.to_ascii_lowercase()
            } else {
                format!("{word}/tcp")
            };
            insert(ports, port, json!({}));
        }
    }

    fn label(&mut self, rest: &str) -> Result<(), ChangeError> {
        for (key, value) in name_values("LABEL", rest)? {
            insert(&mut self.labels, key, Value::from(value));
        }
        Ok(())
    }

    fn volume(&mut self, rest: &str) {
        let paths =
            json_array(rest).unwrap_or_else(|| rest.split_whitespace().map(String::from).collect());
        for p in paths {
            insert(&mut self.volumes, p, json!({}));
        }
    }
}

/// `["a","b"]` as an exec form, anything else as `/bin/sh -c <text>`.
fn command(rest: &str) -> Value {
    match json_array(rest) {
        Some(args) => Value::from(args),
        None => json!(["/bin/sh", "-c", rest]),
    }
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str(rest).ok()
}

/// `HEALTHCHECK [--interval=30s ...] CMD ...` or `HEALTHCHECK NONE` as docker's
/// `Healthcheck` (times in ns, only the options given).
fn healthcheck(rest: &str) -> Result<Value, ChangeError> {
    let mut out = serde_json::Map::new();
    let mut rest = rest.trim();
    while let Some(opt) = rest.strip_prefix("--") {
        let (word, tail) = opt.split_once(char::is_whitespace).unwrap_or((opt, ""));
        let bad = || ChangeError::HealthOption(format!("--{word}"));
        let (name, value) = word.split_once('=').ok_or_else(bad)?;
        let (key, v) = match name {
            "retries" => ("Retries", value.parse::<i64>().map_err(|_| bad())?),
            "interval" | "timeout" | "start-period" | "start-interval" => {
                let d = humantime::parse_duration(value).map_err(|_| bad())?;
                let key = match name {
                    "interval" => "Interval",
                    "timeout" => "Timeout",
                    "start-period" => "StartPeriod",
                    _ => "StartInterval",
                };
                (key, i64::try_from(d.as_nanos()).map_err(|_| bad())?)
            }
            _ => return Err(bad()),
        };
        out.insert(key.into(), json!(v));
        rest = tail.trim_start();
    }
    if rest.eq_ignore_ascii_case("NONE") {
        return Ok(json!({"Test": ["NONE"]}));
    }
    let test = rest
        .strip_prefix("CMD")
        .map(str::trim)
        .unwrap_or(rest)
        .to_string();
    let test = match json_array(&test) {
        Some(args) => {
            let mut all = vec!["CMD".to_string()];
            all.extend(args);
            json!(all)
        }
        None => json!(["CMD-SHELL", test]),
    };
    let mut all = serde_json::Map::new();
    all.insert("Test".into(), test);
    all.extend(out);
    Ok(Value::Object(all))
}

fn join_workdir(current: &str, next: &str) -> String {
    if next.starts_with('/') || current.is_empty() {
        return next.to_string();
    }
    format!("{}/{next}", current.trim_end_matches('/'))
}

fn push(list: &mut Value, item: Value) {
    match list.as_array_mut() {
        Some(l) => l.push(item),
        None => *list = Value::Array(vec![item]),
    }
}

fn insert(map: &mut Value, key: String, value: Value) {
    match map.as_object_mut() {
        Some(m) => {
            m.insert(key, value);
        }
        None => *map = json!({ key: value }),
    }
}

/// `k=v k2="v 2"` pairs, or the legacy `key value with spaces`.
fn name_values(instruction: &str, rest: &str) -> Result<Vec<(String, String)>, ChangeError> {
    let words = shell_words(rest);
    let Some(first) = words.first() else {
        return Err(ChangeError::Missing {
            instruction: instruction.into(),
            what: "at least one argument",
        });
    };
    if !first.contains('=') {
        let (key, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if value.trim().is_empty() {
            return Err(ChangeError::Missing {
                instruction: instruction.into(),
                what: "two arguments",
            });
        }
        let value = shell_words(value.trim()).join(" ");
        return Ok(vec![(key.to_string(), value)]);
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(ChangeError::Missing {
                instruction: instruction.into(),
                what: "arguments in the form key=value",
            }),
        })
        .collect()
}

/// Splits on unquoted white space, removing quotes and backslash escapes.
fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut cur, mut in_word, mut quote) = (String::new(), false, None::<char>);
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => (quote, in_word) = (Some(c), true),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                cur.extend(chars.next());
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(changes: &[&str]) -> ContainerConfig {
        let mut c = ContainerConfig::default();
        let list: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        c.apply_changes(&list).unwrap();
        c
    }

    #[test]
    fn exec_and_shell_forms() {
        let c = changed(&[r#"CMD ["echo", "hi"]"#, "ENTRYPOINT /bin/run x"]);
        assert_eq!(c.cmd, json!(["echo", "hi"]));
        assert_eq!(c.entrypoint, json!(["/bin/sh", "-c", "/bin/run x"]));
        let c = changed(&["ENTRYPOINT [\"a\"]"]);
        assert_eq!(c.cmd, Value::Null);
    }

    #[test]
    fn env_label_expose_volume() {
        let c = changed(&[
            "ENV A=1 B=\"two words\"",
            "ENV A 3 4",
            "LABEL com.x=y \"k 2\"=v",
            "EXPOSE 80 53/udp",
            "VOLUME /data /logs",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER nobody",
            "STOPSIGNAL SIGINT",
        ]);
        assert_eq!(c.env, json!(["A=3 4", "B=two words"]));
        assert_eq!(c.labels, json!({"com.x": "y", "k 2": "v"}));
        assert_eq!(c.exposed_ports, Some(json!({"80/tcp": {}, "53/udp": {}})));
        assert_eq!(c.volumes, json!({"/data": {}, "/logs": {}}));
        assert_eq!(c.working_dir, "/srv/app");
        assert_eq!(c.user, "nobody");
        assert_eq!(c.stop_signal, Some(json!("SIGINT")));
    }

    #[test]
    fn healthcheck_with_options() {
        let c = changed(&["HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost"]);
        assert_eq!(
            c.healthcheck,
            Some(
                json!({"Test": ["CMD-SHELL", "wget -q localhost"], "Interval": 5_000_000_000i64, "Retries": 2})
            )
        );
        let c = changed(&[r#"HEALTHCHECK CMD ["true"]"#]);
        assert_eq!(c.healthcheck, Some(json!({"Test": ["CMD", "true"]})));
        let c = changed(&["HEALTHCHECK NONE"]);
        assert_eq!(c.healthcheck, Some(json!({"Test": ["NONE"]})));
        let mut c = ContainerConfig::default();
        let err = c
            .apply_changes(&["HEALTHCHECK --every=5s CMD true".into()])
            .unwrap_err();
        assert!(err.to_string().contains("--every=5s"), "{err}");
    }

    #[test]
    fn refused_instructions() {
        let mut c = ContainerConfig::default();
        let err = c.apply_changes(&["RUN ls".into()]).unwrap_err();
        assert_eq!(err.to_string(), "run is not a valid change command");
        let err = c.apply_changes(&["FOO x".into()]).unwrap_err();
        assert!(err.to_string().contains("unknown instruction: foo"));
        assert!(c.apply_changes(&["ENV".into()]).is_err());
    }

    #[test]
    fn docker_key_order_and_unknown_keys_kept() {
        let c: ContainerConfig =
            serde_json::from_str(r#"{"Cmd":["sh"],"Zzz":1,"Hostname":"h"}"#).unwrap();
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.starts_with(r#"{"Hostname":"h","Domainname":"","User":"""#));
        assert!(text.ends_with(r#""Labels":null,"Zzz":1}"#), "{text}");
    }
}
