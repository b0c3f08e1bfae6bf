//! Test helpers: a registry server on a free loopback port in a temporary directory,
//! and the shared test images.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_registry::server::{self, Htpasswd, Registry, Storage};

pub mod images;

/// A running registry; stops when dropped.
pub struct TestRegistry {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its directory.
    pub dir: tempfile::TempDir,
    /// The runtime serving it.
    rt: Option<tokio::runtime::Runtime>,
}

impl TestRegistry {
    /// Starts a registry (restricted to the users of `htpasswd`, if given).
    pub fn start(htpasswd: Option<&Path>) -> Self {
        Self::start_with(htpasswd, |app| app)
    }

    /// Starts a registry whose router `wrap` may wrap (to break or guard it).
    pub fn start_with(
        htpasswd: Option<&Path>,
        wrap: impl FnOnce(axum::Router) -> axum::Router,
    ) -> Self {
        Self::start_full(htpasswd, wrap, None)
    }

    /// Starts a registry serving TLS with the PEM `cert` and `key`.
    pub fn start_tls(cert: &Path, key: &Path) -> Self {
        let tls = server::tls_acceptor(cert, key).unwrap();
        Self::start_full(None, |app| app, Some(tls))
    }

    fn start_full(
        htpasswd: Option<&Path>,
        wrap: impl FnOnce(axum::Router) -> axum::Router,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-registry-{}-", std::process::id()))
            .tempdir()
            .unwrap();
        let registry = Arc::new(Registry {
            storage: Storage::open(dir.path()).unwrap(),
            users: htpasswd.map(|p| Htpasswd::load(p).unwrap()),
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = wrap(server::app(registry));
        rt.spawn(server::serve(listener, app, tls));
        Self {
            addr,
            dir,
            rt: Some(rt),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The registry's storage (to plant broken content in).
    pub fn storage(&self) -> Storage {
        Storage::open(self.dir.path()).unwrap()
    }

    /// `127.0.0.1:<port>`, the registry's domain in references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The shared test images: `$BERTH_TEST_IMAGES`, else `shared/images` above the crate.
pub fn images_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_TEST_IMAGES").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|d| d.join("shared/images"))
        .find(|d| d.join("busybox-1.35.docker.tar").is_file())
        .unwrap_or_else(|| {
            panic!("TEST IMAGES MISSING: no shared/images/busybox-1.35.docker.tar above {here:?}; set BERTH_TEST_IMAGES")
        })
}

/// A temporary directory with a unique name.
pub fn tempdir(what: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("berth-{what}-{}-", std::process::id()))
        .tempdir()
        .unwrap()
}
