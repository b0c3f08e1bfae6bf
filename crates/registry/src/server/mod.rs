//! The registry server: an OCI distribution 1.1 registry over a local directory
//! ([`Storage`]). Pull, push (monolithic, chunked, cross-repository mount), tag listing
//! and the catalog with pagination, deletion, the referrers API, basic auth from an
//! htpasswd file (bcrypt) and TLS; and the v1 search API (`GET /v1/search?q=&n=`) over
//! the catalog, which `docker search` uses. [`gc::collect`] removes blobs no manifest references.
//!
//! One handler takes every `/v2/...` request and dispatches on the parsed path
//! ([`Route`]) and method; errors are the spec's JSON `{"errors":[...]}` bodies.

mod auth;
mod blobs;
pub mod gc;
mod listing;
mod manifests;
mod storage;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

pub use auth::{Htpasswd, HtpasswdError};
pub use storage::{valid_name, valid_tag, Storage, StorageError};

/// What the server shares between requests.
pub struct Registry {
    /// The directory.
    pub storage: Storage,
    /// Users allowed in, if access is restricted.
    pub users: Option<Htpasswd>,
}

/// A request path under `/v2/`, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags(String),
    /// `/v2/<name>/manifests/<reference>`.
    Manifest(String, String),
    /// `/v2/<name>/blobs/<digest>`.
    Blob(String, String),
    /// `/v2/<name>/blobs/uploads/`.
    StartUpload(String),
    /// `/v2/<name>/blobs/uploads/<id>`.
    Upload(String, String),
    /// `/v2/<name>/referrers/<digest>`.
    Referrers(String, String),
}

impl Route {
    /// Parses a request path; `None` for a path the API does not have.
    pub fn parse(path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/v2")?;
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Some(Route::Base);
        }
        if rest == "_catalog" {
            return Some(Route::Catalog);
        }
        let named = |name: &str| valid_name(name).then(|| name.to_string());
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return Some(Route::Tags(named(name)?));
        }
        if let Some((name, id)) = rest.rsplit_once("/blobs/uploads") {
            let id = id.trim_start_matches('/');
            return Some(if id.is_empty() {
                Route::StartUpload(named(name)?)
            } else {
                Route::Upload(named(name)?, id.into())
            });
        }
        let split = |sep: &str| {
            let (name, tail) = rest.rsplit_once(sep)?;
            Some((named(name)?, tail.to_string()))
        };
        if let Some((name, r)) = split("/manifests/") {
            return Some(Route::Manifest(name, r));
        }
        if let Some((name, d)) = split("/blobs/") {
            return Some(Route::Blob(name, d));
        }
        split("/referrers/").map(|(name, d)| Route::Referrers(name, d))
    }
}

/// The spec's error codes this server uses.
#[derive(Debug, Clone, Copy)]
pub enum Code {
    /// `BLOB_UNKNOWN`.
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`.
    UploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`.
    UploadUnknown,
    /// `DIGEST_INVALID`.
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`.
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`.
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`.
    ManifestUnknown,
    /// `NAME_INVALID`.
    NameInvalid,
    /// `NAME_UNKNOWN`.
    NameUnknown,
    /// `UNAUTHORIZED`.
    Unauthorized,
    /// `UNSUPPORTED`.
    Unsupported,
    /// `SIZE_INVALID`.
    SizeInvalid,
}

impl Code {
    fn parts(self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            Code::BlobUnknown => (S::NOT_FOUND, "BLOB_UNKNOWN"),
            Code::UploadInvalid => (S::BAD_REQUEST, "BLOB_UPLOAD_INVALID"),
            Code::UploadUnknown => (S::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"),
            Code::DigestInvalid => (S::BAD_REQUEST, "DIGEST_INVALID"),
            Code::ManifestBlobUnknown => (S::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN"),
            Code::ManifestInvalid => (S::BAD_REQUEST, "MANIFEST_INVALID"),
            Code::ManifestUnknown => (S::NOT_FOUND, "MANIFEST_UNKNOWN"),
            Code::NameInvalid => (S::BAD_REQUEST, "NAME_INVALID"),
            Code::NameUnknown => (S::NOT_FOUND, "NAME_UNKNOWN"),
            Code::Unauthorized => (S::UNAUTHORIZED, "UNAUTHORIZED"),
            Code::Unsupported => (S::METHOD_NOT_ALLOWED, "UNSUPPORTED"),
            Code::SizeInvalid => (S::BAD_REQUEST, "SIZE_INVALID"),
        }
    }

    /// The message distribution gives with this code.
    fn message(self) -> &'static str {
        match self {
            Code::BlobUnknown => "blob unknown to registry",
            Code::UploadInvalid => "blob upload invalid",
            Code::UploadUnknown => "blob upload unknown to registry",
            Code::DigestInvalid => "provided digest did not match uploaded content",
            Code::ManifestBlobUnknown => "blob unknown to registry",
            Code::ManifestInvalid => "manifest invalid",
            Code::ManifestUnknown => "manifest unknown",
            Code::NameInvalid => "invalid repository name",
            Code::NameUnknown => "repository name not known to registry",
            Code::Unauthorized => "authentication required",
            Code::Unsupported => "The operation is unsupported.",
            Code::SizeInvalid => "provided length did not match content length",
        }
    }

    /// The error response, with `detail` saying what exactly.
    pub fn reply(self, detail: impl std::fmt::Display) -> Response {
        let (status, code) = self.parts();
        let body = serde_json::json!({"errors": [{
            "code": code, "message": self.message(), "detail": detail.to_string(),
        }]});
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// A storage failure as a 500 response (logged).
fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("{e}");
    let body = serde_json::json!({"errors": [{"code": "UNKNOWN", "message": e.to_string()}]});
    (StatusCode::INTERNAL_SERVER_ERROR, body.to_string()).into_response()
}

/// Runs blocking storage work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.map_err(internal)
}

/// The router: every `/v2` path goes to one dispatching handler.
pub fn app(registry: Arc<Registry>) -> Router {
    Router::new().fallback(dispatch).with_state(registry)
}

async fn dispatch(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    if let Some(users) = &reg.users {
        if !users.allows(req.headers()) {
            let mut resp = Code::Unauthorized.reply("authentication required");
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"berth-registry\""),
            );
            return with_api_version(resp);
        }
    }
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    if path == "/v1/search" && req.method() == Method::GET {
        return with_api_version(listing::search(reg, &Query::parse(&query)).await);
    }
    let resp = match Route::parse(&path) {
        Some(route) => route_request(reg, route, req, &query).await,
        None if path.starts_with("/v2/") => Code::NameInvalid.reply("invalid repository name"),
        None => StatusCode::NOT_FOUND.into_response(),
    };
    with_api_version(resp)
}

fn with_api_version(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

async fn route_request(reg: Arc<Registry>, route: Route, req: Request, query: &str) -> Response {
    let q = Query::parse(query);
    let method = req.method().clone();
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => Json(serde_json::json!({})).into_response(),
        (Route::Catalog, Method::GET) => listing::catalog(reg, &q).await,
        (Route::Tags(name), Method::GET) => listing::tags(reg, name, &q).await,
        (Route::Referrers(name, d), Method::GET) => listing::referrers(reg, name, d, &q).await,
        (Route::Manifest(name, r), Method::GET) => manifests::get(reg, name, r, false).await,
        (Route::Manifest(name, r), Method::HEAD) => manifests::get(reg, name, r, true).await,
        (Route::Manifest(name, r), Method::PUT) => {
            manifests::put(reg, name, r, &headers, body).await
        }
        (Route::Manifest(name, r), Method::DELETE) => manifests::delete(reg, name, r).await,
        (Route::Blob(name, d), Method::GET) => blobs::get(reg, name, d, &headers, false).await,
        (Route::Blob(name, d), Method::HEAD) => blobs::get(reg, name, d, &headers, true).await,
        (Route::Blob(name, d), Method::DELETE) => blobs::delete(reg, name, d).await,
        (Route::StartUpload(name), Method::POST) => blobs::start(reg, name, &q, body).await,
        (Route::Upload(name, id), Method::PATCH) => {
            blobs::patch(reg, name, id, &headers, body).await
        }
        (Route::Upload(name, id), Method::PUT) => blobs::finish(reg, name, id, &q, body).await,
        (Route::Upload(name, id), Method::GET) => blobs::status(reg, name, id).await,
        (Route::Upload(_, id), Method::DELETE) => blobs::cancel(reg, id).await,
        _ => Code::Unsupported.reply("method not allowed here"),
    }
}

/// A JSON body.
struct Json(serde_json::Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            self.0.to_string(),
        )
            .into_response()
    }
}

/// A query string's parameters (first value of each).
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: &str) -> Self {
        Query(form_urlencoded::parse(q.as_bytes()).into_owned().collect())
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Serves `app` on `listener` until the process ends: plain HTTP, or TLS with `tls`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    let Some(tls) = tls else {
        return axum::serve(listener, app).await;
    };
    loop {
        let (stream, peer) = listener.accept().await?;
        let (tls, app) = (tls.clone(), app.clone());
        tokio::spawn(async move { serve_tls(stream, peer, tls, app).await });
    }
}

async fn serve_tls(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: tokio_rustls::TlsAcceptor,
    app: Router,
) {
    let stream = match tls.accept(stream).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("TLS handshake with {peer}: {e}");
            return;
        }
    };
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let app = app.clone();
        async move {
            use tower_service::Service;
            let mut app = app;
            app.call(req.map(Body::new)).await
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    if let Err(e) = conn.await {
        tracing::debug!("connection from {peer}: {e}");
    }
}

/// A certificate or key that cannot be used for TLS.
#[derive(Debug, thiserror::Error)]
#[error("TLS with {path}: {reason}")]
pub struct TlsError {
    /// The file.
    pub path: std::path::PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// A TLS acceptor serving the PEM certificate chain `cert` with the PEM key `key`.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |e: &dyn std::fmt::Display| TlsError {
            path,
            reason: e.to_string(),
        }
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| fail(cert)(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(cert)(&e))?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| fail(key)(&e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(cert)(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| fail(cert)(&e))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The `Location` header value and a response with it.
fn located(status: StatusCode, location: String, extra: HeaderMap) -> Response {
    let mut resp = status.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().extend(extra);
    resp
}
