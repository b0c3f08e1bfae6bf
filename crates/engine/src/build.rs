//! What the builder (`berth_build::builder`) needs of the engine beyond creating,
//! starting and removing containers: images committed from a whole config (with or
//! without a container's layer), files written into a step container's root, users
//! resolved in it, images' roots mounted for `COPY --from`, and the build cache: a
//! directory `<data-root>/build-cache/` of files named by cache key holding an image id.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_image::content::Expected;
use berth_image::digest::Digest;
use berth_image::formats::media;
use berth_image::metadata::{ImageRecord, LayerRecord};
use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use serde_json::{json, Value};

use crate::engine::{CreateRequest, Engine};
use crate::error::EngineError;
use crate::record::{now, Config, Container};
use crate::rootfs;
use crate::user::UserError;

/// Why a build operation of the engine failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildSupportError {
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A `--chown` user is not in the image.
    #[error(transparent)]
    User(#[from] UserError),
    /// A path in a container's root could not be made or opened.
    #[error("{op} {path}: {source}")]
    Path {
        /// What was being done.
        op: &'static str,
        /// The path inside the container.
        path: String,
        /// The OS error.
        source: Errno,
    },
    /// The image config given is not a JSON object.
    #[error("image config: {0}")]
    Config(#[from] serde_json::Error),
    /// The build cache directory failed.
    #[error("build cache {op} {path}: {source}")]
    Cache {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, BuildSupportError>;

/// The largest image config read.
const CONFIG_LIMIT: u64 = 16 << 20;

impl Engine {
    /// A new image with config `config` (its `rootfs` set here from the layers) over
    /// `parent`'s layers (none: no parent) and, with a container, that container's
    /// writable layer on top. Untagged; returns its id.
    pub fn build_commit(
        &self,
        c: Option<&Container>,
        parent: Option<&Digest>,
        config: &Value,
    ) -> Result<Digest> {
        let mut layers = match parent {
            Some(p) => self.images().db().get(p).map_err(EngineError::from)?.layers,
            None => Vec::new(),
        };
        if let Some(c) = c {
            let top = layers.last().map(|l| l.chain_id.clone());
            let layer = self.write_layer(c, top.as_ref())?;
            layers.push(LayerRecord {
                chain_id: layer.chain_id,
                diff_id: layer.created.diff_id.clone(),
                blob: layer.created.digest.clone(),
                blob_size: layer.created.size,
                media_type: media::OCI_LAYER.into(),
            });
        }
        let mut config = config.clone();
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
        if let Value::Object(root) = &mut config {
            root.insert(
                "rootfs".into(),
                json!({"type": "layers", "diff_ids": diff_ids}),
            );
        }
        let raw = serde_json::to_vec(&config)?;
        self.put_built(&raw, layers)
    }

    fn put_built(&self, raw: &[u8], layers: Vec<LayerRecord>) -> Result<Digest> {
        let content = self.images().content();
        let config_blob = content
            .put(raw, Expected::unknown())
            .map_err(EngineError::from)?;
        let manifest = crate::commit::manifest(&config_blob.digest, raw.len() as u64, &layers);
        let manifest_blob = content
            .put(&manifest, Expected::unknown())
            .map_err(EngineError::from)?;
        let record = ImageRecord {
            id: config_blob.digest,
            manifest_digest: manifest_blob.digest,
            manifest_media_type: media::OCI_MANIFEST.into(),
            created: Some(now()),
            size: layers.iter().map(|l| l.blob_size).sum(),
            labels: crate::commit::labels_of(raw),
            layers,
        };
        self.images()
            .db()
            .put_image(&record, &[])
            .map_err(EngineError::from)?;
        Ok(record.id)
    }

    /// Clamps the modification times of what container `c`'s writable layer holds to
    /// `epoch` (Unix seconds), so that its layer is the same tar whenever its files are
    /// (`SOURCE_DATE_EPOCH`). Only an overlay layer holds just the changes; a full copy
    /// (vfs) is left as it is.
    pub fn clamp_times(&self, c: &Container, epoch: i64) -> Result<()> {
        let dirs = self
            .images()
            .snapshotter()
            .layer_dirs(&c.snapshot_key)
            .map_err(EngineError::from)?;
        if dirs.style != berth_image::snapshot::DirStyle::Overlay {
            return Ok(());
        }
        clamp_tree(&dirs.upper, epoch)
    }

    /// The image config of image `id`, raw JSON.
    pub fn image_config_json(&self, id: &Digest) -> Result<Value> {
        let raw = self
            .images()
            .content()
            .read_all(id, CONFIG_LIMIT)
            .map_err(EngineError::from)?;
        Ok(serde_json::from_slice(&raw)?)
    }

    /// A container of a build step over image `image`: `cmd` with no entrypoint, `env`
    /// added to the image's, on network mode `network` (empty: the default).
    pub fn build_container(
        &self,
        image: &str,
        cmd: Vec<String>,
        env: Vec<String>,
        network: &str,
        mounts: crate::mounts::MountRequests,
    ) -> Result<Container> {
        let mut config = Config {
            cmd,
            entrypoint: Some(Vec::new()),
            env,
            mounts,
            ..Default::default()
        };
        config.host.network_mode = network.to_string();
        Ok(self.create(&CreateRequest {
            image: image.to_string(),
            name: None,
            config,
        })?)
    }

    /// Removes a build step's container and the anonymous volumes it made.
    pub fn remove_build_container(&self, c: &Container) -> Result<()> {
        self.remove(c, true)?;
        self.remove_anonymous_volumes(c)?;
        Ok(())
    }

    /// Makes directory `dir` (and missing parents, 0755, owned by `owner`) in container
    /// `c`, then extracts the tar `input` into it (nothing lands outside it).
    pub fn build_copy_in(
        &self,
        c: &Container,
        dir: &str,
        owner: (u32, u32),
        input: impl Read,
    ) -> Result<()> {
        self.with_mounted_root(c, |target| Ok(copy_into(target, dir, owner, input)))?
    }

    /// Whether `path` is a directory in container `c` (links followed inside its root).
    pub fn build_is_dir(&self, c: &Container, path: &str) -> Result<bool> {
        let r =
            self.with_mounted_root(c, |root| Ok(open_root(root).map(|fd| is_dir_in(&fd, path))));
        r?.map_err(|source| BuildSupportError::Path {
            op: "open the root of",
            path: c.id.clone(),
            source,
        })
    }

    /// The uid and gid `user` names in container `c`'s `/etc/passwd` and `/etc/group`.
    pub fn build_resolve_user(&self, c: &Container, user: &str) -> Result<(u32, u32)> {
        let r = self.with_mounted_root(c, |root| Ok(crate::user::resolve(root, user)))?;
        let u = r?;
        Ok((u.uid, u.gid))
    }

    /// A container over image `image` with its root mounted, for reading; its record and
    /// the root's path. [`Engine::remove_build_container`] unmounts and removes it.
    pub fn build_view(&self, image: &str) -> Result<(Container, PathBuf)> {
        let nop = vec!["/bin/sh".into(), "-c".into(), "#(nop) view".into()];
        let c = self.build_container(image, nop, Vec::new(), "none", Default::default())?;
        let target = self.containers().rootfs(&c.id);
        let init = self.containers().init_layer(&c.id);
        if let Err(e) = rootfs::mount(self.images().snapshotter(), &c.snapshot_key, &target, &init)
        {
            // The mount's error is the one to report.
            self.remove_build_container(&c).ok();
            return Err(e.into());
        }
        Ok((c, target))
    }
}

/// Sets every entry under `dir` (links themselves, never followed) whose mtime is after
/// `epoch` to `epoch`; children before their directory.
fn clamp_tree(dir: &Path, epoch: i64) -> Result<()> {
    let err = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildSupportError::Cache { op, path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(err("read", dir))? {
        let entry = entry.map_err(err("read", dir))?;
        let path = entry.path();
        let meta = path.symlink_metadata().map_err(err("stat", &path))?;
        if meta.is_dir() {
            clamp_tree(&path, epoch)?;
        }
        clamp_one(&path, std::os::unix::fs::MetadataExt::mtime(&meta), epoch)?;
    }
    clamp_one(dir, dir_mtime(dir)?, epoch)
}

fn dir_mtime(dir: &Path) -> Result<i64> {
    let meta = dir
        .symlink_metadata()
        .map_err(|source| BuildSupportError::Cache {
            op: "stat",
            path: dir.to_path_buf(),
            source,
        })?;
    Ok(std::os::unix::fs::MetadataExt::mtime(&meta))
}

fn clamp_one(path: &Path, mtime: i64, epoch: i64) -> Result<()> {
    if mtime <= epoch {
        return Ok(());
    }
    let t = rustix::fs::Timespec {
        tv_sec: epoch,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| BuildSupportError::Path {
        op: "set the times of",
        path: path.display().to_string(),
        source: e,
    })
}

/// Opens the root directory `root`.
fn open_root(root: &Path) -> std::result::Result<OwnedFd, Errno> {
    rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Opens directory `rel` inside `root`, links scoped to the root.
fn open_in(root: BorrowedFd<'_>, rel: &str) -> std::result::Result<OwnedFd, Errno> {
    let rel = if rel.is_empty() { "." } else { rel };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    openat2(root, rel, flags, Mode::empty(), how)
}

fn is_dir_in(root: &OwnedFd, path: &str) -> bool {
    open_in(root.as_fd(), path.trim_start_matches('/')).is_ok()
}

/// The components of `dir` with `.` and `..` resolved lexically.
fn components(dir: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for c in dir.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Makes `dir` and its missing parents inside the root `root` (0755, owned by `owner`)
/// and returns it open.
fn make_dirs(root: BorrowedFd<'_>, dir: &str, owner: (u32, u32)) -> Result<OwnedFd> {
    let err = |op| {
        let path = dir.to_string();
        move |source| BuildSupportError::Path { op, path, source }
    };
    let mut cur = open_in(root, ".").map_err(err("open"))?;
    let mut prefix = String::new();
    for c in components(dir) {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(c);
        cur = match open_in(root, &prefix) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(&cur, c, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(err("mkdir")(e)),
                }
                let made = open_in(root, &prefix).map_err(err("open"))?;
                if owner != (0, 0) {
                    let (uid, gid) = owner;
                    let (uid, gid) = (
                        rustix::fs::Uid::from_raw(uid),
                        rustix::fs::Gid::from_raw(gid),
                    );
                    rustix::fs::fchown(&made, Some(uid), Some(gid)).map_err(err("chown"))?;
                }
                made
            }
            Err(e) => return Err(err("open")(e)),
        };
    }
    Ok(cur)
}

/// Extracts `input` into `dir` (made as needed) of the mounted root `target`.
fn copy_into(target: &Path, dir: &str, owner: (u32, u32), input: impl Read) -> Result<()> {
    let root = open_root(target).map_err(|source| BuildSupportError::Path {
        op: "open the root for",
        path: dir.to_string(),
        source,
    })?;
    let fd = make_dirs(root.as_fd(), dir, owner)?;
    let at = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ));
    berth_image::layer::apply(&at, input, berth_image::layer::Whiteouts::Delete)
        .map_err(EngineError::from)?;
    Ok(())
}

/// The build cache: `<data-root>/build-cache/<key>` holds the image id a step made.
#[derive(Debug, Clone)]
pub struct BuildCache {
    dir: PathBuf,
}

impl BuildCache {
    /// The cache under data root `root`.
    pub fn new(root: &Path) -> BuildCache {
        BuildCache {
            dir: root.join("build-cache"),
        }
    }

    /// The image recorded under `key` (64 hex), if any.
    pub fn get(&self, key: &str) -> Option<Digest> {
        if !valid_key(key) {
            return None;
        }
        let s = std::fs::read_to_string(self.dir.join(key)).ok()?;
        Digest::parse(s.trim()).ok()
    }

    /// Records `image` under `key`.
    pub fn put(&self, key: &str, image: &Digest) -> Result<()> {
        let err = |op, path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildSupportError::Cache { op, path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(err("create", &self.dir))?;
        let path = self.dir.join(key);
        if !valid_key(key) {
            return Err(err("write", &path)(std::io::ErrorKind::InvalidInput.into()));
        }
        let tmp = self.dir.join(format!(".{key}.tmp"));
        std::fs::write(&tmp, image.to_string()).map_err(err("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(err("rename", &path))
    }

    /// The directory of `RUN --mount=type=cache,id=<id>` (made if missing).
    pub fn mount_dir(&self, id: &str) -> Result<PathBuf> {
        use sha2::Digest as _;
        let hex: String = sha2::Sha256::digest(id.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let dir = self.dir.join("mounts").join(hex);
        std::fs::create_dir_all(&dir).map_err(|source| BuildSupportError::Cache {
            op: "create",
            path: dir.clone(),
            source,
        })?;
        Ok(dir)
    }

    /// Drops every entry; returns how many there were.
    pub fn prune(&self) -> Result<usize> {
        let rd = match std::fs::read_dir(&self.dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            r => r.map_err(|source| BuildSupportError::Cache {
                op: "read",
                path: self.dir.clone(),
                source,
            })?,
        };
        let mut n = 0;
        for e in rd.flatten().filter(|e| e.path().is_file()) {
            if std::fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Notes that image `child` was built on image `parent`.
    pub fn add_child(&self, parent: &Digest, child: &Digest) -> Result<()> {
        let dir = self.dir.join("children");
        let path = dir.join(parent.hex());
        let err = |op, path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildSupportError::Cache { op, path, source }
        };
        std::fs::create_dir_all(&dir).map_err(err("create", &dir))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err("open", &path))?;
        std::io::Write::write_all(&mut f, format!("{child}\n").as_bytes())
            .map_err(err("write", &path))
    }

    /// Every image the builder built on another: parent → children.
    pub fn children(&self) -> std::collections::HashMap<Digest, Vec<Digest>> {
        let mut out = std::collections::HashMap::new();
        let Ok(rd) = std::fs::read_dir(self.dir.join("children")) else {
            return out;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Ok(parent) = Digest::sha256_hex(&name.to_string_lossy()) else {
                continue;
            };
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let kids = text.lines().filter_map(|l| Digest::parse(l).ok()).collect();
            out.insert(parent, kids);
        }
        out
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .map_or(0, |rd| rd.flatten().filter(|e| e.path().is_file()).count())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn valid_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit())
}
