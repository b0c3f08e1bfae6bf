//! The registry client: which endpoints serve a registry ([`RegistryConfig::endpoints`]:
//! Docker Hub's name, mirrors, TLS or plain HTTP), and a [`Session`] with one endpoint
//! that authenticates as the registry challenges it (basic, or bearer tokens fetched per
//! scope from the token service) and retries a request once with fresh credentials.
//! Blocking (reqwest's blocking client): pulls run layers on threads of their own.

mod blob;
pub mod pull;
pub mod push;
pub mod search;
mod upload;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::StatusCode;

use crate::auth::{Challenge, Credentials};
pub use blob::BlobReader;

/// Docker Hub's API host.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Errors of talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request could not be made or its answer not read.
    #[error("{method} {url}: {}", chain(source))]
    Http {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The client's error.
        source: reqwest::Error,
    },
    /// The registry refused the credentials (or asked for some).
    #[error("{method} {url}: unauthorized: {message}")]
    Unauthorized {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The registry's message.
        message: String,
    },
    /// The registry answered with an unexpected status.
    #[error("{method} {url}: {status}: {message}")]
    Status {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
        /// The registry's message (its error JSON, shortened).
        message: String,
    },
    /// The token service did not give a token.
    #[error("get token from {realm}: {reason}")]
    Token {
        /// The token service.
        realm: String,
        /// Why.
        reason: String,
    },
    /// The TLS configuration cannot be made (a bad CA file).
    #[error("TLS setup for {host}: {reason}")]
    Tls {
        /// The registry.
        host: String,
        /// Why.
        reason: String,
    },
}

impl ClientError {
    /// Whether the registry said the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }
}

/// An error and its causes, `: `-separated (reqwest's own message hides the cause).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// Result of registry operations.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// How registries are reached (daemon.json's `registry-mirrors`, `insecure-registries`).
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Mirrors by registry domain (`docker.io` for `registry-mirrors`), tried in order
    /// before the registry itself for pulls.
    pub mirrors: HashMap<String, Vec<String>>,
    /// Registries (`host[:port]`) or networks (CIDR) allowed over plain HTTP.
    pub insecure: Vec<String>,
    /// Per-registry CA certificates: `<dir>/<host[:port]>/*.crt`.
    pub certs_dir: PathBuf,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            mirrors: HashMap::new(),
            insecure: Vec::new(),
            certs_dir: PathBuf::from("/etc/docker/certs.d"),
        }
    }
}

/// One way to reach a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://host[:port]` or `http://host[:port]`.
    pub base: String,
    /// The host (and port) the URL names, for CA lookup.
    pub host: String,
    /// A mirror (failures fall through to the next endpoint).
    pub mirror: bool,
}

impl RegistryConfig {
    /// The endpoints for registry `domain`, in order: for a pull its mirrors, then the
    /// registry over TLS, then over plain HTTP if it is insecure (configured or loopback).
    pub fn endpoints(&self, domain: &str, pull: bool) -> Vec<Endpoint> {
        let mut out = Vec::new();
        if pull {
            for m in self.mirrors.get(domain).into_iter().flatten() {
                let base = m.trim_end_matches('/').to_string();
                let host = base.split("://").nth(1).unwrap_or(&base).to_string();
                out.push(Endpoint {
                    base,
                    host,
                    mirror: true,
                });
            }
        }
        let host = if domain == berth_image::reference::DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            domain
        };
        for scheme in ["https", "http"] {
            if scheme == "http" && !self.is_insecure(host) {
                break;
            }
            out.push(Endpoint {
                base: format!("{scheme}://{host}"),
                host: host.to_string(),
                mirror: false,
            });
        }
        out
    }

    /// Whether `host` (with its port) may be reached over plain HTTP.
    pub fn is_insecure(&self, host: &str) -> bool {
        let name = strip_port(host);
        let ip = name.trim_matches(['[', ']']).parse::<IpAddr>().ok();
        if name == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.insecure.iter().any(|entry| {
            entry == host || entry == name || ip.is_some_and(|ip| cidr_contains(entry, ip))
        })
    }

    /// An HTTP client for `host`: system roots plus the host's CA files.
    pub fn http_client(&self, host: &str) -> Result<Client> {
        let tls = tls_config(&self.certs_dir.join(host)).map_err(|reason| ClientError::Tls {
            host: host.into(),
            reason,
        })?;
        Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(15))
            .timeout(None)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| ClientError::Http {
                method: "build",
                url: host.into(),
                source,
            })
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Whether the network `cidr` (`a.b.c.d/n`) contains `ip`.
fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// rustls with the system's roots and the `*.crt` files of `dir` (if it exists).
fn tls_config(dir: &Path) -> std::result::Result<rustls::ClientConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        roots.add(cert).ok();
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for path in entries.flatten().map(|e| e.path()) {
            if path.extension().is_some_and(|e| e == "crt") {
                let certs = CertificateDer::pem_file_iter(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                for cert in certs {
                    let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// What a session has learnt about authenticating.
#[derive(Debug, Default)]
struct AuthState {
    challenge: Option<Challenge>,
    /// Bearer tokens by scope list.
    tokens: HashMap<String, String>,
}

/// A connection to one registry endpoint, with credentials.
pub struct Session {
    http: Client,
    /// The endpoint's base URL.
    pub base: String,
    creds: Option<Credentials>,
    auth: Mutex<AuthState>,
}

impl Session {
    /// Opens a session with the first endpoint of `domain` that answers `GET /v2/`
    /// (any status: a 401 is an answer); learns the challenge there.
    pub fn connect(
        config: &RegistryConfig,
        domain: &str,
        creds: Option<Credentials>,
        pull: bool,
    ) -> Result<Session> {
        let mut last = None;
        for ep in config.endpoints(domain, pull) {
            match Session::open(config, &ep, creds.clone()) {
                Ok(session) => return Ok(session),
                Err(e) => {
                    tracing::debug!("registry endpoint {}: {e}", ep.base);
                    // The first endpoint's failure (TLS) says more than later ones'.
                    last.get_or_insert(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Status {
            method: "GET",
            url: domain.into(),
            status: StatusCode::NOT_FOUND,
            message: "no endpoint".into(),
        }))
    }

    /// Opens a session with endpoint `ep` if it answers `GET /v2/`.
    pub fn open(
        config: &RegistryConfig,
        ep: &Endpoint,
        creds: Option<Credentials>,
    ) -> Result<Session> {
        let session = Session {
            http: config.http_client(&ep.host)?,
            base: ep.base.clone(),
            creds,
            auth: Mutex::new(AuthState::default()),
        };
        session.ping()?;
        Ok(session)
    }

    /// `GET /v2/`: reachable, and which challenge it makes. A 404 means the endpoint
    /// does not speak the API.
    fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .map_err(|source| ClientError::Http {
                method: "GET",
                url: url.clone(),
                source,
            })?;
        if let Some(c) = challenge_of(&resp) {
            self.lock().challenge = Some(c);
        }
        match resp.status() {
            s if s.is_success() || s == StatusCode::UNAUTHORIZED => Ok(()),
            status => Err(ClientError::Status {
                method: "GET",
                url,
                status,
                message: String::new(),
            }),
        }
    }

    /// Checks the credentials: `GET /v2/` with them (a token fetched first for a bearer
    /// challenge). Docker's wording on failure.
    pub fn login(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let resp = self.send("GET", &[], |c| c.get(&url))?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(ClientError::Unauthorized {
            method: "GET",
            url: url.clone(),
            message: format!(
                "login attempt to {url} failed with status: {}",
                status_text(resp.status())
            ),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `Authorization` value for `scopes`, fetching a token if the registry wants
    /// bearer tokens and none is cached (`fresh`: fetch anyway).
    fn authorization(&self, scopes: &[String], fresh: bool) -> Result<Option<String>> {
        let key = scopes.join(" ");
        let challenge = {
            let state = self.lock();
            if let (false, Some(t)) = (fresh, state.tokens.get(&key)) {
                return Ok(Some(format!("Bearer {t}")));
            }
            state.challenge.clone()
        };
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.creds.as_ref().map(Credentials::basic)),
            Some(Challenge::Bearer { realm, service }) => {
                let token = self.fetch_token(&realm, service.as_deref(), scopes)?;
                self.lock().tokens.insert(key, token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// Asks the token service for a token for `scopes` (with basic credentials if any).
    fn fetch_token(&self, realm: &str, service: Option<&str>, scopes: &[String]) -> Result<String> {
        let mut query: Vec<(&str, &str)> = scopes.iter().map(|s| ("scope", s.as_str())).collect();
        if let Some(service) = service {
            query.push(("service", service));
        }
        let req = self.token_request(realm, &query);
        let fail = |reason: String| ClientError::Token {
            realm: realm.into(),
            reason,
        };
        let resp = req.send().map_err(|e| fail(e.to_string()))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().unwrap_or_default();
        if status == StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized {
                method: "GET",
                url: format!("{}/v2/", self.base),
                message: error_message(&body, "incorrect username or password"),
            });
        }
        if !status.is_success() {
            return Err(fail(format!("status {status}")));
        }
        body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .map(String::from)
            .ok_or_else(|| fail("no token in the answer".into()))
    }

    /// The request for a token: an OAuth refresh (POST) with an identity token, else a
    /// GET with basic credentials if there are any.
    fn token_request(&self, realm: &str, query: &[(&str, &str)]) -> RequestBuilder {
        match self.creds.as_ref() {
            Some(c) if !c.identitytoken.is_empty() => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", c.identitytoken.as_str()),
                    ("client_id", "berth"),
                ];
                form.extend(query.iter().copied());
                let body: String = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish();
                self.http
                    .post(realm)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            }
            Some(c) if !c.username.is_empty() => self
                .http
                .get(realm)
                .query(query)
                .basic_auth(&c.username, Some(&c.password)),
            _ => self.http.get(realm).query(query),
        }
    }

    /// Sends the request `build` makes, authorised for `scopes`; on a 401 learns the new
    /// challenge and sends it once more with fresh credentials. Any status is returned.
    pub fn send(
        &self,
        method: &'static str,
        scopes: &[String],
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Response> {
        let mut fresh = false;
        loop {
            let mut req = build(&self.http);
            if let Some(auth) = self.authorization(scopes, fresh)? {
                req = req.header(AUTHORIZATION, auth);
            }
            let resp = req.send().map_err(|source| ClientError::Http {
                method,
                url: source.url().map(|u| u.to_string()).unwrap_or_default(),
                source,
            })?;
            if resp.status() != StatusCode::UNAUTHORIZED || fresh {
                return Ok(resp);
            }
            match challenge_of(&resp) {
                Some(c) => self.lock().challenge = Some(c),
                None => return Ok(resp),
            }
            fresh = true;
        }
    }

    /// [`Session::send`], then any status but a success becomes an error.
    pub fn send_ok(
        &self,
        method: &'static str,
        url: &str,
        scopes: &[String],
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Response> {
        let resp = self.send(method, scopes, build)?;
        check(method, url, resp)
    }

    /// `base` joined with a path or an absolute URL (a `Location` header).
    pub fn url(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        }
    }
}

/// A response with a success status, or the error it says.
pub fn check(method: &'static str, url: &str, resp: Response) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body: serde_json::Value = resp.json().unwrap_or_default();
    let message = error_message(&body, status.canonical_reason().unwrap_or(""));
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(ClientError::Unauthorized {
            method,
            url: url.into(),
            message,
        });
    }
    Err(ClientError::Status {
        method,
        url: url.into(),
        status,
        message,
    })
}

/// The first message of a registry's `{"errors":[...]}` body, or `default`.
fn error_message(body: &serde_json::Value, default: &str) -> String {
    body["errors"][0]["message"]
        .as_str()
        .or_else(|| body["details"].as_str())
        .unwrap_or(default)
        .to_string()
}

fn status_text(s: StatusCode) -> String {
    format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
}

fn challenge_of(resp: &Response) -> Option<Challenge> {
    resp.headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(Challenge::parse)
}

/// The short ID docker shows for a digest (12 hex characters).
pub fn short(digest: &berth_image::digest::Digest) -> String {
    digest.hex().chars().take(12).collect()
}

/// The scope for `path` with `actions` (`pull`, `pull,push`).
pub fn scope(path: &str, actions: &str) -> String {
    format!("repository:{path}:{actions}")
}
