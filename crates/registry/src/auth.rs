//! Registry credentials: what a client presents (user and password, or an identity
//! token), `WWW-Authenticate` challenges (basic, bearer), and the docker CLI's
//! `~/.docker/config.json` (`auths`, `credsStore` and `credHelpers`, whose helpers are
//! the `docker-credential-<name>` programs speaking the helper protocol on stdin/stdout).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Docker Hub's key in `config.json` and in `X-Registry-Auth`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Credentials for one registry (the JSON docker's `X-Registry-Auth` header carries).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// User name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// Password.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// The registry these are for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    /// An OAuth refresh token given by a login instead of the password.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
}

impl Credentials {
    /// Decodes an `X-Registry-Auth` header value (base64url JSON; empty: none).
    pub fn from_header(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        let engines = [
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD,
        ];
        let bytes = engines.iter().find_map(|e| e.decode(value).ok())?;
        let creds: Credentials = serde_json::from_slice(&bytes).ok()?;
        (!creds.is_empty()).then_some(creds)
    }

    /// Encodes these as an `X-Registry-Auth` header value.
    pub fn to_header(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }

    /// Nothing to present.
    pub fn is_empty(&self) -> bool {
        self.username.is_empty() && self.password.is_empty() && self.identitytoken.is_empty()
    }

    /// The `Authorization: Basic` value.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// An authentication challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=...`.
    Basic,
    /// `Bearer realm=...,service=...[,scope=...]`.
    Bearer {
        /// The token service's URL.
        realm: String,
        /// The service name to ask for.
        service: Option<String>,
    },
}

impl Challenge {
    /// Parses a `WWW-Authenticate` value; `None` for a scheme berth does not speak.
    pub fn parse(value: &str) -> Option<Self> {
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        let params = parse_params(rest);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => Some(Challenge::Bearer {
                realm: params.get("realm")?.clone(),
                service: params.get("service").cloned(),
            }),
            _ => None,
        }
    }
}

/// `key="value", key=value` pairs (quotes optional, commas inside quotes kept).
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = match after.strip_prefix('"') {
            Some(q) => match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            },
            None => after.split_once(',').unwrap_or((after, "")),
        };
        out.insert(key, value.to_string());
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// Errors of the docker CLI configuration and credential helpers.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid JSON.
    #[error("parse {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A credential helper failed.
    #[error("credential helper docker-credential-{helper} {action}: {reason}")]
    Helper {
        /// The helper's name.
        helper: String,
        /// `get`, `store` or `erase`.
        action: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// The docker CLI's `config.json`, kept as JSON so that keys berth does not know survive
/// a rewrite.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    path: PathBuf,
    doc: serde_json::Value,
}

impl DockerConfig {
    /// The default file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> PathBuf {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
            .unwrap_or_else(|| PathBuf::from("/root/.docker"));
        dir.join("config.json")
    }

    /// Reads `path` (a missing file is an empty configuration).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let doc = match std::fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => serde_json::json!({}),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ConfigError::Parse {
                path: path.into(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
            Err(source) => {
                return Err(ConfigError::Io {
                    op: "read",
                    path: path.into(),
                    source,
                })
            }
        };
        Ok(Self {
            path: path.into(),
            doc,
        })
    }

    /// The helper that keeps `server`'s credentials, if any.
    fn helper_for(&self, server: &str) -> Option<String> {
        self.doc["credHelpers"][server]
            .as_str()
            .or_else(|| self.doc["credsStore"].as_str())
            .filter(|h| !h.is_empty())
            .map(String::from)
    }

    /// The credentials stored for `server` (a registry host, or [`DOCKER_HUB_KEY`]).
    pub fn credentials(&self, server: &str) -> Result<Option<Credentials>, ConfigError> {
        if let Some(helper) = self.helper_for(server) {
            return helper_get(&helper, server);
        }
        let entry = self.doc["auths"]
            .as_object()
            .and_then(|auths| {
                auths
                    .iter()
                    .find(|(k, _)| same_server(k, server))
                    .map(|(_, v)| v)
            })
            .cloned();
        let Some(entry) = entry else { return Ok(None) };
        let mut creds = Credentials {
            serveraddress: server.to_string(),
            identitytoken: entry["identitytoken"].as_str().unwrap_or_default().into(),
            ..Default::default()
        };
        if let Some(auth) = entry["auth"].as_str() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            if let Some((u, p)) = decoded.split_once(':') {
                (creds.username, creds.password) = (u.into(), p.into());
            }
        }
        Ok((!creds.is_empty()).then_some(creds))
    }

    /// Stores `creds` for `server` (through its helper if it has one) and writes the file.
    pub fn store(&mut self, server: &str, creds: &Credentials) -> Result<(), ConfigError> {
        if let Some(helper) = self.helper_for(server) {
            return helper_store(&helper, server, creds);
        }
        let raw = format!("{}:{}", creds.username, creds.password);
        let mut entry = serde_json::json!({
            "auth": base64::engine::general_purpose::STANDARD.encode(raw)
        });
        if !creds.identitytoken.is_empty() {
            entry["identitytoken"] = creds.identitytoken.clone().into();
        }
        if !self.doc["auths"].is_object() {
            self.doc["auths"] = serde_json::json!({});
        }
        self.doc["auths"][server] = entry;
        self.save()
    }

    /// Removes `server`'s credentials; false if there were none.
    pub fn erase(&mut self, server: &str) -> Result<bool, ConfigError> {
        if let Some(helper) = self.helper_for(server) {
            helper_run(&helper, "erase", server)?;
            return Ok(true);
        }
        let removed = self.doc["auths"]
            .as_object_mut()
            .and_then(|a| {
                let key = a.keys().find(|k| same_server(k, server))?.clone();
                a.remove(&key)
            })
            .is_some();
        if removed {
            self.save()?;
        }
        Ok(removed)
    }

    fn save(&self) -> Result<(), ConfigError> {
        let io = |op| {
            let path = self.path.clone();
            move |source| ConfigError::Io { op, path, source }
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io("create directory for"))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("write"))?;
        let text = serde_json::to_string_pretty(&self.doc).unwrap_or_default();
        tmp.write_all(text.as_bytes()).map_err(io("write"))?;
        tmp.persist(&self.path)
            .map_err(|e| io("replace")(e.error))?;
        Ok(())
    }
}

/// Whether two server keys name the same registry (`https://host/v1/` versus `host`).
fn same_server(key: &str, server: &str) -> bool {
    fn bare(s: &str) -> &str {
        let s = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(s);
        s.split('/').next().unwrap_or(s)
    }
    key == server || bare(key) == bare(server)
}

/// Runs `docker-credential-<helper> <action>` with `input` on stdin; returns stdout.
fn helper_exec(helper: &str, action: &'static str, input: &str) -> Result<String, ConfigError> {
    let fail = |reason: String| ConfigError::Helper {
        helper: helper.into(),
        action,
        reason,
    };
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(fail(stdout));
    }
    Ok(stdout)
}

fn helper_get(helper: &str, server: &str) -> Result<Option<Credentials>, ConfigError> {
    #[derive(Deserialize)]
    struct Got {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let out = match helper_exec(helper, "get", server) {
        Ok(out) => out,
        Err(ConfigError::Helper { reason, .. }) if reason.contains("not found") => return Ok(None),
        Err(e) => return Err(e),
    };
    let got: Got = serde_json::from_str(&out).map_err(|e| ConfigError::Helper {
        helper: helper.into(),
        action: "get",
        reason: e.to_string(),
    })?;
    let mut creds = Credentials {
        serveraddress: server.into(),
        ..Default::default()
    };
    if got.username == "<token>" {
        creds.identitytoken = got.secret;
    } else {
        (creds.username, creds.password) = (got.username, got.secret);
    }
    Ok(Some(creds))
}

fn helper_store(helper: &str, server: &str, creds: &Credentials) -> Result<(), ConfigError> {
    let input = serde_json::json!({
        "ServerURL": server, "Username": creds.username, "Secret": creds.password,
    });
    helper_exec(helper, "store", &input.to_string()).map(drop)
}

fn helper_run(helper: &str, action: &'static str, server: &str) -> Result<(), ConfigError> {
    helper_exec(helper, action, server).map(drop)
}
