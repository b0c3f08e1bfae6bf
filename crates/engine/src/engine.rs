//! The engine facade: the image store, the container store and the runtime under one data
//! root, and the container operations that touch several of them (create, remove, list).
//! Layout: the image store's `content/`, `snapshots/`, `metadata.db`; `containers/`;
//! `runtime/` (the runtime's state root).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use berth_image::content::LocalStore;
use berth_image::digest::Digest;
use berth_image::metadata::ImageRecord;
use berth_image::snapshot;
use berth_image::store::ImageStore;
use berth_runtime::container::Runtime;
use oci_spec::image::ImageConfiguration;

use crate::error::{EngineError, Result};
use crate::health::HealthConfig;
use crate::mounts::{self, MountError, MountPoint};
use crate::record::{now, Config, Container, State, RECORD_VERSION};
use crate::rootfs;
use crate::spec::{self, Options};
use crate::store::ContainerStore;
use crate::trash::Trash;
use crate::volumes::VolumeStore;

/// The largest image config blob read.
const CONFIG_LIMIT: u64 = 16 << 20;

/// What `create` is asked to make.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// The image, by name or id.
    pub image: String,
    /// The container's name (random when None).
    pub name: Option<String>,
    /// Command, environment and the rest.
    pub config: Config,
}

/// Images, containers and the runtime under one data root.
pub struct Engine {
    root: PathBuf,
    images: ImageStore,
    containers: ContainerStore,
    volumes: VolumeStore,
    runtime: Runtime,
    shim: PathBuf,
    /// Prepared shims, when the caller keeps some (see [`Engine::keep_prepared_shims`]).
    /// Declared (so dropped) before the view its refiller execs.
    pub(crate) shim_pool: Option<crate::shimpool::ShimPool>,
    shim_view: Option<std::os::fd::OwnedFd>,
    exit_hook: Vec<OsString>,
    trash: Trash,
    pub(crate) networks: Option<berth_net::Networks>,
    /// Spare directories for creates, when the caller keeps some (see
    /// [`Engine::keep_spares`]).
    spares: Option<crate::spares::Spares>,
}

/// The shim binary: `$BERTH_SHIM`, else `berth-shim` beside the running executable.
fn default_shim_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_SHIM").filter(|p| !p.is_empty()) {
        return p.into();
    }
    let exe = std::env::current_exe().ok();
    match exe.as_deref().and_then(Path::parent) {
        Some(dir) => dir.join("berth-shim"),
        None => PathBuf::from("berth-shim"),
    }
}

impl Engine {
    /// Opens (creating) everything under `data_root`.
    pub fn open(data_root: &Path) -> Result<Engine> {
        Ok(Engine {
            root: data_root.into(),
            images: ImageStore::open(data_root)?,
            containers: ContainerStore::open(&data_root.join("containers"))?,
            volumes: VolumeStore::open(&data_root.join("volumes"))?,
            runtime: Runtime::new(&data_root.join("runtime")),
            shim: default_shim_path(),
            shim_pool: None,
            shim_view: None,
            exit_hook: Vec::new(),
            trash: Trash::open(data_root)?,
            networks: None,
            spares: None,
        })
    }

    /// The shim binary detached containers run under.
    pub fn shim_path(&self) -> &Path {
        &self.shim
    }

    /// Runs detached containers under the shim binary at `path`.
    pub fn set_shim_path(&mut self, path: PathBuf) {
        let pooled = self.stop_shim_pool();
        self.shim = path;
        self.shim_view = None;
        self.keep_prepared_shims(pooled);
    }

    /// Starts shims from a protected view of the shim binary (a private read-only
    /// overlay, see `berth_runtime::selfexe::protected_binary`) instead of its path: a
    /// shim started so finds itself safe from being overwritten by a container, and
    /// skips re-executing itself from such a view (about a millisecond per start).
    pub fn protect_shim(&mut self) -> std::result::Result<(), berth_runtime::selfexe::Error> {
        let pooled = self.stop_shim_pool();
        let view = berth_runtime::selfexe::protected_binary(&self.shim);
        let made = view.map(|view| self.shim_view = Some(view));
        self.keep_prepared_shims(pooled);
        made
    }

    /// Keeps `n` shims prepared ahead of time (0: none, the default), so that a start
    /// only hands one its command: they are exec'd, forked and detached already, and a
    /// thread refills the pool after each start. For a long-lived caller (the daemon):
    /// each idle shim is a process (named `berth-shim-idle`) that lives as long as this
    /// engine, or its process, does.
    pub fn keep_prepared_shims(&mut self, n: usize) {
        self.shim_pool = None;
        if n > 0 {
            self.shim_pool = Some(crate::shimpool::ShimPool::start(self.shim_exec(), n));
        }
    }

    /// Keeps `n` spare container and snapshot directories made ahead of creates (0: none,
    /// the default), topped up by a thread of their own once creates pause. For a
    /// long-lived caller (the daemon); see `ContainerStore::make_spare`.
    pub fn keep_spares(&mut self, n: usize) {
        self.spares = None;
        if n > 0 && self.containers.sweep_spares().is_ok() {
            let snapshots = self.images.shared_snapshotter();
            let containers = self.containers.clone();
            self.spares = Some(crate::spares::Spares::start(containers, snapshots, n));
        }
    }

    /// Ends the pool (its refiller execs the current shim binary or view: it must be
    /// gone before they change); returns the size it had (0 for none).
    fn stop_shim_pool(&mut self) -> usize {
        self.shim_pool.take().map_or(0, |pool| pool.size())
    }

    /// What a shim is started from: the protected view when there is one.
    pub(crate) fn shim_exec(&self) -> PathBuf {
        match &self.shim_view {
            Some(fd) => PathBuf::from(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(fd)
            )),
            None => self.shim.clone(),
        }
    }

    /// A command the shim runs (it execs it) once a detached container has exited and
    /// its exit status is recorded, with the container id appended. A caller with no
    /// daemon to notice the exit (the CLI) passes a command that calls [`Engine::find`]
    /// on the id, which finishes the container (and removes it for `--rm`).
    pub fn set_exit_hook(&mut self, argv: Vec<OsString>) {
        self.exit_hook = argv;
    }

    /// The exit hook (empty for none).
    pub fn exit_hook(&self) -> &[OsString] {
        &self.exit_hook
    }

    /// Where removed containers' directories go (see [`Trash`]): deleted at once unless
    /// [`Engine::set_trash`] gave a trash that deletes in the background.
    pub fn trash(&self) -> &Trash {
        &self.trash
    }

    /// Throws removed containers' directories into `trash`.
    pub fn set_trash(&mut self, trash: Trash) {
        self.trash = trash;
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The image store.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// The container store.
    pub fn containers(&self) -> &ContainerStore {
        &self.containers
    }

    /// The volume store.
    pub fn volumes(&self) -> &VolumeStore {
        &self.volumes
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The image config of image `id`, parsed.
    pub fn image_config(&self, id: &Digest) -> Result<ImageConfiguration> {
        read_image_config(self.images.content(), id)
    }

    /// The spec options a container's record gives.
    pub(crate) fn spec_options(c: &Container) -> Options {
        Options::from_record(c)
    }

    /// Creates a container: a writable snapshot keyed by its id over the image's layers,
    /// the image marked as used by it, and its record. Settings dockerd would refuse are
    /// refused first ([`spec::check`]). Nothing is left if a step fails.
    pub fn create(&self, req: &CreateRequest) -> Result<Container> {
        let image = self.images.db().resolve(&req.image)?;
        let raw = self.images.content().read_all(&image.id, CONFIG_LIMIT)?;
        let config = parse_image_config(&raw, &image.id)?;
        let image_health = image_healthcheck(&raw);
        if let Some(h) = &req.config.healthcheck {
            h.validate().map_err(spec::SpecError::from)?;
        }
        let id = self.containers.new_id()?;
        let mut c = Container {
            version: RECORD_VERSION,
            id: id.clone(),
            name: String::new(),
            image_id: image.id.to_string(),
            image_name: req.image.clone(),
            created: now(),
            snapshot_key: id.clone(),
            command: Vec::new(),
            config: req.config.clone(),
            state: State::created(),
            mounts: Vec::new(),
        };
        c.config.healthcheck =
            HealthConfig::merged(req.config.healthcheck.as_ref(), image_health.as_ref());
        spec::check(&mut c.config.host, &spec::SystemHost)?;
        crate::networks::add_image_ports(&mut c, &config);
        self.check_network(&c)?;
        c.command = spec::command(config.config().as_ref(), &Self::spec_options(&c))?;
        let mut made = Vec::new();
        c.mounts = match self.resolve_mounts(&c, &config, &mut made) {
            Ok(m) => m,
            Err(e) => {
                self.remove_volumes(&made);
                return Err(e);
            }
        };
        c.name = match self.containers.reserve_name(req.name.as_deref(), &id) {
            Ok(n) => n,
            Err(e) => {
                self.remove_volumes(&made);
                return Err(e);
            }
        };
        if let Err(e) = self.make(&c, &image) {
            self.dismantle(&c).ok();
            self.remove_volumes(&made);
            return Err(e);
        }
        Ok(c)
    }

    /// The mount points container `c` asks for (volumes made as needed, their names in
    /// `made`), with the image's `VOLUME`s as anonymous volumes.
    fn resolve_mounts(
        &self,
        c: &Container,
        image: &ImageConfiguration,
        made: &mut Vec<String>,
    ) -> Result<Vec<MountPoint>> {
        let image_volumes = image
            .config()
            .as_ref()
            .and_then(|cfg| cfg.volumes().clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let from = |who: &str| -> std::result::Result<Vec<MountPoint>, MountError> {
            match self.containers.find(who) {
                Ok(other) => Ok(other.mounts),
                Err(_) => Err(MountError::NoSuchContainer(who.into())),
            }
        };
        Ok(mounts::resolve(
            &c.config.mounts,
            &image_volumes,
            &from,
            &self.volumes,
            made,
        )?)
    }

    /// Makes the image database's record of which container uses which image agree
    /// with the containers there are (those records are written without waiting for
    /// the disk, so a power failure can lose the last few): users without a container
    /// go (with layers only they still held), containers without their use get it.
    pub fn reconcile_users(&self) -> Result<()> {
        let containers = self.containers.list()?;
        let ids: std::collections::HashSet<&str> =
            containers.iter().map(|c| c.id.as_str()).collect();
        let users = self.images.db().all_users()?;
        for (user, _) in users.iter().filter(|(u, _)| !ids.contains(u.as_str())) {
            let freed = self.images.db().remove_user(user)?;
            self.remove_layers(&freed)?;
        }
        let known: std::collections::HashSet<&str> =
            users.iter().map(|(u, _)| u.as_str()).collect();
        for c in containers.iter().filter(|c| !known.contains(c.id.as_str())) {
            if let Ok(image) = Digest::parse(&c.image_id) {
                // An image deleted meanwhile cannot be held any more.
                self.images.db().add_user(&image, &c.id).ok();
            }
        }
        Ok(())
    }

    /// Removes the volumes a failed create made (the first error was reported).
    fn remove_volumes(&self, names: &[String]) {
        for n in names {
            self.volumes.remove(n).ok();
        }
    }

    fn make(&self, c: &Container, image: &ImageRecord) -> Result<()> {
        let parent = image.layers.last().map(|l| l.chain_id.to_string());
        self.images
            .snapshotter()
            .prepare(&c.snapshot_key, parent.as_deref())?;
        self.images.db().add_user(&image.id, &c.id)?;
        let inserted = self.containers.insert(c);
        if let Some(spares) = &self.spares {
            spares.wake();
        }
        inserted
    }

    /// Removes everything a container holds: runtime state and cgroup, the rootfs mount,
    /// its snapshot, its use of the image (and layers only it still held), its directory
    /// and name. Every step tolerates what is already gone. The snapshot's and the
    /// container's directories go to the trash (one rename each; see [`Trash`]). The root
    /// is unmounted here, before the removal returns: nothing of the container stays
    /// mounted once it is gone.
    pub(crate) fn dismantle(&self, c: &Container) -> Result<()> {
        let finishing = self.shim_finishing(c);
        if !finishing {
            self.runtime
                .delete(&c.id, true)
                .map_err(EngineError::runtime("delete", &c.id))?;
        }
        self.detach_network(&c.id)?;
        rootfs::unmount(&self.containers.rootfs(&c.id))?;
        let grave = self.trash.grave(&format!("snapshot-{}", c.id));
        match self.images.snapshotter().remove_to(&c.snapshot_key, &grave) {
            Ok(true) => self.trash.dispose(grave)?,
            Err(snapshot::Error::NotFound { .. }) | Ok(false) => {}
            Err(e) => return Err(e.into()),
        }
        let freed = self.images.db().remove_user(&c.id)?;
        self.remove_layers(&freed)?;
        if finishing {
            // Its shim deletes the cgroup meanwhile: when the removal is over, so is that.
            self.wait_last_monitor(&c.state);
        }
        self.containers.throw_dir(&c.id, &self.trash)?;
        self.containers.release_name(&c.name)
    }

    /// Removes the layers in `chains` (whose image was deleted while this container used
    /// it), children before parents.
    fn remove_layers(&self, chains: &[Digest]) -> Result<()> {
        let snap = self.images.snapshotter();
        let mut left: Vec<String> = chains.iter().map(Digest::to_string).collect();
        while !left.is_empty() {
            let before = left.len();
            let mut last_err = None;
            left.retain(|key| match snap.remove(key) {
                Ok(()) | Err(snapshot::Error::NotFound { .. }) => false,
                Err(e) => {
                    last_err = Some(e);
                    true
                }
            });
            if left.len() == before {
                if let Some(e) = last_err {
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// Every container, newest first, with the state of running ones checked.
    pub fn list(&self) -> Result<Vec<Container>> {
        self.containers
            .list()?
            .into_iter()
            .map(|c| self.refresh(c))
            .collect()
    }

    /// Finds a container by id, unique id prefix or name, its state checked.
    pub fn find(&self, s: &str) -> Result<Container> {
        self.refresh(self.containers.find(s)?)
    }
}

/// The image config of image `id` in `content`, parsed. Needs no engine: readers on
/// other threads use it.
pub fn read_image_config(content: &LocalStore, id: &Digest) -> Result<ImageConfiguration> {
    parse_image_config(&content.read_all(id, CONFIG_LIMIT)?, id)
}

fn parse_image_config(raw: &[u8], id: &Digest) -> Result<ImageConfiguration> {
    serde_json::from_slice(raw).map_err(|source| EngineError::ImageConfig {
        image: id.to_string(),
        source,
    })
}

/// The `HEALTHCHECK` of a raw image config: docker's addition to the OCI config, which
/// the parsed form leaves out. Only a create needs it.
fn image_healthcheck(raw: &[u8]) -> Option<HealthConfig> {
    #[derive(serde::Deserialize)]
    struct Raw {
        #[serde(default)]
        config: Option<RawConfig>,
    }
    #[derive(serde::Deserialize)]
    struct RawConfig {
        #[serde(default, rename = "Healthcheck")]
        healthcheck: Option<HealthConfig>,
    }
    serde_json::from_slice::<Raw>(raw).ok()?.config?.healthcheck
}
