//! Basic authentication against an htpasswd file of bcrypt hashes (`user:$2y$...`), as
//! `htpasswd -B` writes it. Verified credentials are remembered so that bcrypt's cost is
//! paid once per user and password, not per request.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::http::{header, HeaderMap};
use base64::Engine;

/// An htpasswd file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HtpasswdError {
    /// It cannot be read.
    #[error("read htpasswd file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line is not `user:bcrypt-hash`.
    #[error("htpasswd file {path}: line {line}: not user:bcrypt-hash")]
    Line {
        /// The file.
        path: PathBuf,
        /// The line number (1-based).
        line: usize,
    },
}

/// The users of an htpasswd file.
#[derive(Debug)]
pub struct Htpasswd {
    hashes: HashMap<String, String>,
    verified: Mutex<HashSet<(String, String)>>,
}

impl Htpasswd {
    /// Reads `path`; only bcrypt entries are accepted.
    pub fn load(path: &Path) -> Result<Self, HtpasswdError> {
        let text = std::fs::read_to_string(path).map_err(|source| HtpasswdError::Read {
            path: path.into(),
            source,
        })?;
        let mut hashes = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((user, hash)) if hash.starts_with("$2") => {
                    hashes.insert(user.to_string(), hash.to_string());
                }
                _ => {
                    return Err(HtpasswdError::Line {
                        path: path.into(),
                        line: i + 1,
                    })
                }
            }
        }
        Ok(Self {
            hashes,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Whether the request's `Authorization: Basic` names a user with the right password.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some((user, pass)) = basic_credentials(headers) else {
            return false;
        };
        let key = (user, pass);
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.contains(&key) {
            return true;
        }
        let ok = self
            .hashes
            .get(&key.0)
            .is_some_and(|h| bcrypt::verify(&key.1, h).unwrap_or(false));
        if ok {
            verified.insert(key);
        }
        ok
    }
}

/// The user and password of an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}
