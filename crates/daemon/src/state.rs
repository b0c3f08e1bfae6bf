//! The daemon's shared state: the engine behind a mutex, what berthd knows of running
//! containers (their exits, attaches parked until a start, exec instances), and what
//! `/info` reports about the daemon itself.
//!
//! The engine and image store are synchronous (std::fs and SQLite) and the metadata
//! connection is not `Sync`, so short operations take the one engine under a mutex on a
//! blocking thread. Long ones (load, save, import, commit) open their own store instead,
//! so a big archive never holds up `ps` or `_ping`; the stores are made for concurrent
//! processes (SQLite WAL, flock'd GC and layer locks), so two instances are safe.
//! Issue 5 replaces the global mutex with finer locking.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use berth_cgroups::FavorDynMods;
use berth_engine::store::ContainerStore;
use berth_engine::trash::Trash;
use berth_engine::Engine;
use berth_image::store::ImageStore;

use crate::config::Settings;
use crate::error::{ApiError, ApiResult};
use crate::execs::Execs;
use crate::monitor::Monitor;
use crate::pending::Pending;

/// Everything a handler needs.
pub struct Daemon {
    engine: Mutex<Engine>,
    /// Engine calls from async handlers wait here, without a thread, for their turn:
    /// waiting on the mutex itself would hold a blocking-pool thread each, and enough
    /// of them would leave none for the requests that need no engine (`ps`, `inspect`).
    engine_turn: std::sync::Arc<tokio::sync::Semaphore>,
    /// The settings the daemon runs with.
    pub settings: Settings,
    /// A stable id of this daemon (kept under the data root).
    pub id: String,
    /// The host's name.
    pub hostname: String,
    /// The containers' directories (paths only; records go through the engine).
    pub containers: ContainerStore,
    /// The image content store, for readers that need no engine (inspect).
    pub content: berth_image::content::LocalStore,
    /// The snapshotter, for readers that need no engine (inspect).
    pub snapshotter: std::sync::Arc<dyn berth_image::snapshot::Snapshotter>,
    /// The networks' state, for readers that need no engine (inspect).
    pub net_reader: berth_net::Networks,
    /// Container exits and removals, and the runs being waited for.
    pub monitor: Monitor,
    /// Attaches waiting for a start.
    pub pending: Pending,
    /// Exec instances.
    pub execs: Execs,
    /// Restart policies' delays.
    pub backoff: crate::restarts::Backoff,
    /// What happened, for `/events`.
    pub events: crate::events::Events,
    /// The runtime, for reading containers' cgroups without the engine.
    pub runtime: berth_runtime::container::Runtime,
    /// Each running container's stats sampler and the CPU figures of its last answer.
    pub samplers: crate::api::stats::Samplers,
    /// How registries are reached (mirrors, insecure registries, CA directories).
    pub registries: berth_registry::client::RegistryConfig,
    /// Blobs being pulled, so that concurrent pulls fetch each once.
    pub inflight: berth_registry::client::pull::Inflight,
    /// The embedded DNS servers of containers on user networks.
    pub dns: std::sync::Arc<berth_net::dns::Dns>,
    /// Network namespaces made ahead for containers' bridges.
    netns_pool: std::sync::Arc<berth_net::netns_pool::NetnsPool>,
    /// What builds share: spare engines, context files' digests.
    pub builds: crate::build::Builds,
    /// Where removed containers' directories are deleted, after the removal's answer.
    pub trash: Trash,
    /// This daemon's hold on its bridge name.
    _net_claim: berth_net::claim::Claim,
    /// The `favordynmods` hierarchy held on a cgroup v1 host (see [`favor_dynmods`]).
    _favor: Option<FavorDynMods>,
}

/// How many shims the daemon keeps prepared, so that a container's start does not wait
/// for one to be exec'd and to detach (two: a burst of starts finds one more ready).
const PREPARED_SHIMS: usize = 2;

/// [`PREPARED_SHIMS`], or `$BERTH_PREPARED_SHIMS` (0 to 8; 0 turns the pool off, for a
/// comparison).
fn prepared_shims() -> usize {
    count_from_env("BERTH_PREPARED_SHIMS", PREPARED_SHIMS)
}

/// The count in environment variable `name` (at most 8), else `default`.
fn count_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .map_or(default, |n: usize| n.min(8))
}

/// How many spare container and snapshot directories the daemon keeps made ahead of
/// creates (see `Engine::keep_spares`).
const SPARES: usize = 2;

/// [`SPARES`], or `$BERTH_SPARES` (0 to 8; 0 turns them off, for a comparison).
fn spares() -> usize {
    count_from_env("BERTH_SPARES", SPARES)
}

impl Daemon {
    /// Opens the engine under the settings' data root.
    pub fn open(settings: Settings) -> Result<Daemon, OpenError> {
        let mut engine = Engine::open(&settings.data_root)?;
        let trash = Trash::background(&settings.data_root, |e| {
            tracing::warn!("empty the trash: {e}");
        })?;
        engine.set_trash(trash.clone());
        engine.reconcile_users()?;
        let dns = settings.network.dns(&settings.data_root);
        let netns_pool = std::sync::Arc::new(berth_net::netns_pool::NetnsPool::start(2));
        let networks =
            settings
                .network
                .networks_with(&settings.data_root, &dns, Some(netns_pool.clone()));
        let net_claim = networks.claim()?;
        if berth_net::firewall::Backend::none_installed() {
            tracing::warn!("neither nft nor iptables-restore is on the PATH: containers on bridge networks will not start (install nftables)");
        }
        engine.set_networks(networks);
        if let Err(e) = crate::netconfig::restore(&engine) {
            tracing::warn!("networks not restored: {e}");
        }
        if let Err(e) = engine.protect_shim() {
            tracing::warn!("shims start from their path (each re-executes itself): {e}");
        }
        engine.keep_prepared_shims(prepared_shims());
        engine.keep_spares(spares());
        let settings_favor = settings
            .cgroup_favor_dynmods
            .then(|| settings.exec_root.clone());
        let containers = engine.containers().clone();
        let content = engine.images().content().clone();
        let snapshotter = engine.images().shared_snapshotter();
        let net_reader = settings.network.networks(&settings.data_root);
        let settings_root = settings.data_root.clone();
        let settings_mirrors = settings.registry_mirrors.clone().into_iter().collect();
        let settings_insecure = settings.insecure_registries.clone();
        let id = daemon_id(&settings.data_root)?;
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Daemon {
            engine: Mutex::new(engine),
            engine_turn: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
            settings,
            id,
            hostname,
            containers,
            content,
            snapshotter,
            net_reader,
            monitor: Monitor::default(),
            pending: Pending::default(),
            execs: Execs::default(),
            backoff: Default::default(),
            events: Default::default(),
            runtime: berth_runtime::container::Runtime::new(&settings_root.join("runtime")),
            samplers: Default::default(),
            registries: berth_registry::client::RegistryConfig {
                mirrors: settings_mirrors,
                insecure: settings_insecure,
                ..Default::default()
            },
            inflight: Default::default(),
            dns,
            netns_pool,
            builds: Default::default(),
            trash,
            _net_claim: net_claim,
            _favor: favor_dynmods(&settings_favor),
        })
    }

    /// What container inspect reads besides the record.
    pub fn sources(&self) -> crate::api::container_json::Sources<'_> {
        crate::api::container_json::Sources {
            content: &self.content,
            snapshotter: self.snapshotter.as_ref(),
            containers: &self.containers,
            networks: Some(&self.net_reader),
        }
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.settings.data_root
    }

    fn lock(&self) -> MutexGuard<'_, Engine> {
        // A panic while holding the lock leaves nothing half-done in memory (all state
        // is on disk), so a poisoned lock is still good.
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` with the engine on a blocking thread.
    pub async fn with_engine<T, F>(self: &std::sync::Arc<Self>, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> ApiResult<T> + Send + 'static,
    {
        let me = self.clone();
        let turn = self
            .engine_turn
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| ApiError::Task(e.to_string()))?;
        blocking(move || {
            let _turn = turn;
            f(&me.lock())
        })
        .await
    }

    /// Runs `f` with the engine on this thread (one of the blocking pool's).
    pub fn engine_now<T>(&self, f: impl FnOnce(&Engine) -> ApiResult<T>) -> ApiResult<T> {
        f(&self.lock())
    }

    /// A fresh image store on the data root, for a long operation.
    pub fn own_store(&self) -> ApiResult<ImageStore> {
        Ok(ImageStore::open(self.root())?)
    }

    /// A fresh engine on the data root, for a long operation.
    pub fn own_engine(&self) -> ApiResult<Engine> {
        let mut e = Engine::open(self.root())?;
        e.set_trash(self.trash.clone());
        e.set_networks(self.settings.network.networks_with(
            self.root(),
            &self.dns,
            Some(self.netns_pool.clone()),
        ));
        Ok(e)
    }
}

/// Runs a long operation (an archive, an import, a commit) on tokio's blocking pool, then
/// hands the memory it used back to the system: glibc keeps freed memory in per-thread
/// arenas, which would leave an idle daemon holding the peak of its last load.
pub async fn long<T, F>(f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> ApiResult<T> + Send + 'static,
{
    blocking(move || {
        let r = f();
        trim_heap();
        r
    })
    .await
}

/// Returns free heap memory to the system.
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; it is thread-safe
    // and leaves live allocations untouched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs `f` on tokio's blocking pool.
pub async fn blocking<T, F>(f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> ApiResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Task(e.to_string()))?
}

/// On a cgroup v1 host, holds a `favordynmods` hierarchy mounted (privately) on
/// `mountpoint` (the exec root) when the settings ask for it. Without it, the first move
/// of a process into a cgroup waits for an RCU grace period, the largest part of a
/// container's start on such a host. A kernel that refuses the option only costs speed,
/// so failure is logged, not fatal.
fn favor_dynmods(mountpoint: &Option<PathBuf>) -> Option<FavorDynMods> {
    let at = mountpoint.as_ref()?;
    match berth_cgroups::detect(Path::new("/sys/fs/cgroup")) {
        Ok(berth_cgroups::Version::V1) => {}
        _ => return None,
    }
    match FavorDynMods::enable(at) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!("{e}; containers start more slowly");
            None
        }
    }
}

/// Why the daemon's state could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The engine failed to open its stores.
    #[error("open data root: {0}")]
    Engine(#[from] berth_engine::EngineError),
    /// The bridge name is another daemon's.
    #[error(transparent)]
    Bridge(#[from] berth_net::claim::ClaimError),
    /// The daemon id file could not be read or written.
    #[error("{op} {path}: {source}")]
    Id {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The daemon's id: made once (random, UUID-shaped) and kept in `<data-root>/engine-id`.
fn daemon_id(root: &Path) -> Result<String, OpenError> {
    let path: PathBuf = root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim();
        if !s.is_empty() {
            return Ok(s.to_string());
        }
    }
    let err = |op| {
        let path = path.clone();
        move |source| OpenError::Id { op, path, source }
    };
    let mut raw = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut raw))
        .map_err(err("read random bytes for"))?;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let id = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    std::fs::write(&path, &id).map_err(err("write"))?;
    Ok(id)
}
