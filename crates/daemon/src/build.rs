//! The builder's [`Backend`] over berthd: step containers are made, started and removed
//! through the daemon's engine, one short turn each (a RUN's container is waited for
//! outside the engine, by the same per-run task every container gets); files, commits
//! and image reads go through an engine of the build's own on the same data root, so a
//! long COPY or commit never holds up other requests.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_build::builder::{Backend, BackendError, ContainerSpec, Image, Output, StepMount};
use berth_build::context::Context;
use berth_build::digests::{DigestCache, StatKey};
use berth_engine::build::BuildCache;
use berth_engine::mounts::{MountRequest, MountRequests};
use berth_engine::Engine;
use berth_image::digest::Digest;
use berth_image::formats::Platform;
use berth_image::reference::Reference;
use berth_registry::client::pull::{self, PullRequest};
use berth_registry::progress::Message;

use crate::error::{ApiError, ApiResult};
use crate::state::Daemon;

/// Why a backend call failed, beyond the engine's own errors.
#[derive(Debug, thiserror::Error)]
pub enum BuildBackendError {
    /// A RUN's output could not be read from its shim.
    #[error("read the output of container {id}: {source}")]
    Output {
        /// The container.
        id: String,
        /// The error.
        source: std::io::Error,
    },
    /// An id from the builder is not an image id.
    #[error("invalid image id {0:?}")]
    BadId(String),
    /// A download failed.
    #[error("download {url}: {why}")]
    Fetch {
        /// The URL.
        url: String,
        /// What failed.
        why: String,
    },
    /// A container's end was not seen.
    #[error("container {0} was removed while it ran")]
    Vanished(String),
}

/// The most file digests berthd remembers for build contexts (about 100 bytes each).
const DIGESTS: usize = 64 * 1024;

/// The most idle build engines kept for the next builds.
const SPARE_ENGINES: usize = 4;

/// The most image configs remembered (a few KiB each).
const CONFIGS: usize = 1024;

/// What builds share across requests: engines of their own kept open between builds
/// (opening one probes the snapshotter and cleans up, several milliseconds), the
/// digests of context files already hashed, and the configs of images read (an image
/// id is the digest of its config, so a config read once is the same ever after).
pub struct Builds {
    spare: Mutex<Vec<Engine>>,
    /// Context files' sha256, by what a stat says of them.
    pub digests: DigestCache,
    configs: Mutex<HashMap<Digest, serde_json::Value>>,
}

impl Default for Builds {
    fn default() -> Self {
        Builds {
            spare: Mutex::new(Vec::new()),
            digests: DigestCache::new(DIGESTS),
            configs: Mutex::new(HashMap::new()),
        }
    }
}

impl Builds {
    /// An idle build engine, or a new one on `d`'s data root.
    fn take(&self, d: &Daemon) -> ApiResult<Engine> {
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match spare {
            Some(e) => Ok(e),
            None => d.own_engine(),
        }
    }

    /// The config of image `id`: remembered, or read with `read` and remembered.
    fn config(
        &self,
        id: &Digest,
        read: impl FnOnce() -> Result<serde_json::Value, BackendError>,
    ) -> Result<serde_json::Value, BackendError> {
        let lock = || self.configs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = lock().get(id) {
            return Ok(c.clone());
        }
        let config = read()?;
        let mut configs = lock();
        if configs.len() >= CONFIGS {
            configs.clear();
        }
        configs.insert(id.clone(), config.clone());
        Ok(config)
    }

    /// Keeps `e` for a later build (or closes it when enough are kept).
    fn give_back(&self, e: Engine) {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < SPARE_ENGINES {
            spare.push(e);
        }
    }
}

/// The builder's engine for one build.
pub struct DaemonBackend {
    d: Arc<Daemon>,
    rt: tokio::runtime::Handle,
    own: Option<Engine>,
    cache: BuildCache,
    /// Digests of the files of a context unpacked for this build, by path.
    unpacked: HashMap<PathBuf, [u8; 32]>,
    /// The context directory when it is read in place (not unpacked for the build).
    in_place: Option<PathBuf>,
    /// Private copies of the context that step containers bind instead of it.
    bind_copies: Vec<tempfile::TempDir>,
}

impl Drop for DaemonBackend {
    fn drop(&mut self) {
        if let Some(e) = self.own.take() {
            self.d.builds.give_back(e);
        }
    }
}

impl DaemonBackend {
    /// A backend for a build on `d`, called from a blocking thread of runtime `rt`, of
    /// a context that is either unpacked for the build (`unpacked`: the digests of its
    /// files) or read in place (`in_place`: its directory).
    pub fn new(
        d: Arc<Daemon>,
        rt: tokio::runtime::Handle,
        unpacked: HashMap<PathBuf, [u8; 32]>,
        in_place: Option<PathBuf>,
    ) -> ApiResult<DaemonBackend> {
        let own = Some(d.builds.take(&d)?);
        let cache = BuildCache::new(d.root());
        Ok(DaemonBackend {
            d,
            rt,
            own,
            cache,
            unpacked,
            in_place,
            bind_copies: Vec::new(),
        })
    }

    /// What a step container binds for context path `source`: the path itself when the
    /// context was unpacked for this build; a private copy of what it shows when the
    /// context is read in place (so `.dockerignore`d files stay hidden and a `rw` mount
    /// never writes the user's files).
    fn bind_source(&mut self, source: &Path) -> Result<PathBuf, BackendError> {
        let Some(root) = self.in_place.as_deref() else {
            return Ok(source.to_path_buf());
        };
        let Ok(rel) = source.strip_prefix(root) else {
            return Ok(source.to_path_buf());
        };
        let rel = match rel.to_string_lossy() {
            r if r.is_empty() => ".".to_string(),
            r => r.into_owned(),
        };
        let ctx = Context::open(root)?;
        let src = berth_build::context::Source {
            real: rel.clone(),
            rel,
            path: source.to_path_buf(),
            is_dir: source.is_dir(),
        };
        let tmp_root = self.d.root().join("tmp");
        let io = |op: &'static str| {
            let path = tmp_root.clone();
            move |source| berth_build::context::ContextError::Io { op, path, source }
        };
        std::fs::create_dir_all(&tmp_root).map_err(io("create"))?;
        let tmp = tempfile::Builder::new()
            .prefix("bind-")
            .tempdir_in(&tmp_root)
            .map_err(io("create a directory in"))?;
        let top = ctx.copy_visible(&src, tmp.path())?;
        self.bind_copies.push(tmp);
        Ok(top)
    }

    /// The build's own engine.
    fn own(&self) -> &Engine {
        // Set in `new`, taken only by `drop`.
        self.own.as_ref().expect("the build's engine")
    }

    /// Runs `f` with the daemon's engine (one turn) and waits for it here.
    fn engine<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.rt.block_on(self.d.with_engine(f))
    }

    /// Image `id`, which the caller found in the image store.
    fn read_image(&self, id: &Digest) -> Result<Image, BackendError> {
        let config = self
            .d
            .builds
            .config(id, || Ok(self.own().image_config_json(id)?))?;
        Ok(Image {
            id: id.to_string(),
            config,
        })
    }

    fn pull(
        &self,
        name: &str,
        platform: Option<&str>,
        out: &mut dyn Output,
    ) -> Result<(), BackendError> {
        let reference =
            Reference::parse(name).map_err(|e| ApiError::BadParameter(e.to_string()))?;
        let platform = platform.map(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            Platform::new(
                parts.first().copied().unwrap_or("linux"),
                parts.get(1).copied().unwrap_or(""),
                parts.get(2).copied().unwrap_or(""),
            )
        });
        let req = PullRequest {
            reference: reference.clone(),
            platform,
            creds: None,
        };
        let lines = Mutex::new(Vec::new());
        let sink = |m: Message| {
            if m.detail.is_none() || m.id.is_none() {
                lines
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(m.status.clone());
            }
        };
        let store = self.own().images();
        let r = pull::pull(store, &self.d.registries, &req, &self.d.inflight, &sink);
        for l in lines.into_inner().unwrap_or_else(|p| p.into_inner()) {
            out.stream(&format!("{l}\n"));
        }
        r.map_err(ApiError::from)?;
        self.d
            .object_event("image", "pull", &reference.familiar(), None);
        Ok(())
    }
}

impl DaemonBackend {
    /// A step's mounts as the engine takes them (cache mounts get their directory).
    fn mount_requests(&mut self, mounts: &[StepMount]) -> Result<MountRequests, BackendError> {
        let mut out = MountRequests::default();
        for m in mounts {
            let (source, target, read_only) = match m {
                StepMount::Tmpfs { target } => {
                    out.tmpfs.insert(target.clone(), String::new());
                    continue;
                }
                StepMount::Bind {
                    source,
                    target,
                    read_only,
                } => (self.bind_source(source)?, target, *read_only),
                StepMount::Cache {
                    id,
                    target,
                    read_only,
                } => (self.cache.mount_dir(id)?, target, *read_only),
            };
            out.mounts.push(MountRequest {
                kind: "bind".into(),
                source: source.to_string_lossy().into_owned(),
                target: target.clone(),
                read_only,
                ..Default::default()
            });
        }
        Ok(out)
    }
}

fn db_err(e: berth_image::metadata::DbError) -> ApiError {
    ApiError::from(berth_engine::EngineError::from(e))
}

fn digest(id: &str) -> Result<Digest, BackendError> {
    Digest::parse(id).map_err(|_| BuildBackendError::BadId(id.into()).into())
}

impl Backend for DaemonBackend {
    fn base_image(
        &mut self,
        name: &str,
        pull: bool,
        platform: Option<&str>,
        out: &mut dyn Output,
    ) -> Result<Image, BackendError> {
        if !pull {
            if let Ok(rec) = self.own().images().db().resolve(name) {
                return self.read_image(&rec.id);
            }
        }
        self.pull(name, platform, out)?;
        let rec = self.own().images().db().resolve(name).map_err(db_err)?;
        self.read_image(&rec.id)
    }

    fn image(&mut self, id: &str) -> Result<Image, BackendError> {
        self.read_image(&digest(id)?)
    }

    fn create(&mut self, spec: &ContainerSpec) -> Result<String, BackendError> {
        let mounts = self.mount_requests(&spec.mounts)?;
        let spec = spec.clone();
        let c = self.engine(move |e| {
            let net = spec.network.as_deref().map_or("", |n| match n {
                "default" => "",
                n => n,
            });
            Ok(e.build_container(&spec.image, spec.cmd, spec.env, net, mounts))
        })??;
        Ok(c.id)
    }

    fn run(&mut self, id: &str, out: &mut dyn Output) -> Result<i32, BackendError> {
        let mut life = self.d.monitor.watch(id);
        let before = life.borrow().exits;
        let cid = id.to_string();
        let (started, attach) = self.engine(move |e| {
            let c = e.find(&cid)?;
            let mut attach = None;
            let s = e.start_with(&c, &mut |shim| {
                attach = Some(shim.attach(false, true, true))
            })?;
            Ok((s, attach))
        })?;
        if let Some(s) = started {
            let _rt = self.rt.enter();
            self.d.arm(id.to_string(), s.shim_pid, false);
        }
        if let Some(Ok(mut stream)) = attach {
            let err = |source| BuildBackendError::Output {
                id: id.to_string(),
                source,
            };
            while let Some(frame) = stream.read_frame().map_err(err)? {
                out.stream(&String::from_utf8_lossy(&frame.data));
            }
        }
        let end = self
            .rt
            .block_on(crate::monitor::next_exit(&mut life, before, None));
        match end {
            Some(l) if !l.removed => Ok(l.code),
            _ => Err(BuildBackendError::Vanished(id.into()).into()),
        }
    }

    fn resolve_user(&mut self, id: &str, user: &str) -> Result<(u32, u32), BackendError> {
        let c = self.own().find(id)?;
        Ok(self.own().build_resolve_user(&c, user)?)
    }

    fn is_dir(&mut self, id: &str, path: &str) -> Result<bool, BackendError> {
        let c = self.own().find(id)?;
        Ok(self.own().build_is_dir(&c, path)?)
    }

    fn copy_in(
        &mut self,
        id: &str,
        dir: &str,
        owner: (u32, u32),
        tar: &mut dyn Read,
    ) -> Result<(), BackendError> {
        let c = self.own().find(id)?;
        Ok(self.own().build_copy_in(&c, dir, owner, tar)?)
    }

    fn commit(
        &mut self,
        container: Option<&str>,
        parent: Option<&str>,
        config: &serde_json::Value,
        clamp: Option<i64>,
    ) -> Result<String, BackendError> {
        let c = container.map(|id| self.own().find(id)).transpose()?;
        let parent = parent.map(digest).transpose()?;
        if let (Some(c), Some(epoch)) = (&c, clamp) {
            self.own().clamp_times(c, epoch)?;
        }
        let id = self
            .own()
            .build_commit(c.as_ref(), parent.as_ref(), config)?;
        if let Some(p) = &parent {
            self.cache.add_child(p, &id)?;
        }
        Ok(id.to_string())
    }

    fn view(&mut self, id: &str) -> Result<(String, PathBuf), BackendError> {
        let (c, path) = self.own().build_view(id)?;
        Ok((c.id, path))
    }

    fn remove_container(&mut self, id: &str) -> Result<(), BackendError> {
        let cid = id.to_string();
        self.engine(move |e| match e.find(&cid) {
            Ok(c) => Ok(e.remove_build_container(&c)),
            Err(berth_engine::EngineError::NoSuchContainer(_)) => Ok(Ok(())),
            Err(err) => Err(err.into()),
        })??;
        self.d.forget(id);
        Ok(())
    }

    fn remove_image(&mut self, id: &str) -> Result<(), BackendError> {
        let d = digest(id)?;
        let named = self
            .own()
            .images()
            .db()
            .list()
            .map_err(db_err)?
            .iter()
            .any(|s| s.image.id == d && !(s.tags.is_empty() && s.digests.is_empty()));
        if named {
            return Ok(());
        }
        self.own().images().remove_image(d.hex(), false)?;
        Ok(())
    }

    fn cache_get(&mut self, key: &str) -> Option<String> {
        let id = self.cache.get(key)?;
        self.own().images().db().get(&id).ok()?;
        Some(id.to_string())
    }

    fn cache_put(&mut self, key: &str, image: &str) -> Result<(), BackendError> {
        Ok(self.cache.put(key, &digest(image)?)?)
    }

    fn tag(&mut self, id: &str, name: &str) -> Result<String, BackendError> {
        let reference =
            Reference::parse(name).map_err(|e| ApiError::BadParameter(e.to_string()))?;
        self.own()
            .images()
            .db()
            .tag(&digest(id)?, &reference)
            .map_err(db_err)?;
        let familiar = reference.familiar();
        self.d.object_event("image", "tag", &familiar, None);
        Ok(familiar)
    }

    fn fetch(&mut self, url: &str, into: &mut dyn Write) -> Result<(), BackendError> {
        let err = |why: String| BuildBackendError::Fetch {
            url: url.into(),
            why,
        };
        let host = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("");
        let client = self.d.registries.http_client(host)?;
        let mut resp = client.get(url).send().map_err(|e| err(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(err(format!("status {}", resp.status())).into());
        }
        resp.copy_to(into).map_err(|e| err(e.to_string()))?;
        Ok(())
    }

    fn file_digest(&mut self, path: &Path, stat: &StatKey) -> std::io::Result<[u8; 32]> {
        if let Some(d) = self.unpacked.get(path) {
            return Ok(*d);
        }
        self.d.builds.digests.digest(path, stat)
    }
}
