//! A container's mounts: what docker's create API asks for (`Binds` strings as `-v`
//! writes them, typed `Mounts` as `--mount` writes them, `Tmpfs`, `VolumesFrom`, and the
//! volumes of the config and the image), checked and resolved once, at create, into the
//! [`MountPoint`]s the record keeps: inspect shows them and every start mounts them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::volumes::{valid_name, NewVolume, VolumeError, VolumeStore};

/// docker's `HostConfig.Mounts[]` (`--mount`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct MountRequest {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Host path (bind) or volume name (volume; empty: anonymous).
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// Bind options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    /// Volume options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    /// Tmpfs options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `--mount type=bind` options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct BindOptions {
    /// `rprivate` (default), `private`, `rshared`, `shared`, `rslave`, `slave`.
    pub propagation: String,
    /// Do not mount what is mounted below the source.
    pub non_recursive: bool,
    /// Make the source if it is missing.
    pub create_mountpoint: bool,
}

/// `--mount type=volume` options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeOptions {
    /// Do not copy the image's files into a new volume.
    pub no_copy: bool,
    /// Labels of a volume made for this mount.
    pub labels: BTreeMap<String, String>,
    /// The driver and its options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<DriverConfig>,
}

/// A volume driver and its options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DriverConfig {
    /// The driver.
    pub name: String,
    /// Its options.
    pub options: BTreeMap<String, String>,
}

/// `--mount type=tmpfs` options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TmpfsOptions {
    /// Size limit in bytes (0: none).
    pub size_bytes: i64,
    /// Mode of the tmpfs root (0: 1777).
    pub mode: u32,
}

/// What docker's API asks to mount, as the record keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountRequests {
    /// `HostConfig.Binds` (`-v`), as given.
    pub binds: Vec<String>,
    /// `HostConfig.Mounts` (`--mount`).
    pub mounts: Vec<MountRequest>,
    /// `HostConfig.Tmpfs` (`--tmpfs`): path to options.
    pub tmpfs: BTreeMap<String, String>,
    /// `HostConfig.VolumesFrom`: containers (`name[:ro|rw]`).
    pub volumes_from: Vec<String>,
    /// `Config.Volumes`: paths that get an anonymous volume.
    pub volumes: BTreeSet<String>,
}

/// A resolved mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountPoint {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// The volume's name (volumes only).
    pub name: String,
    /// The host path mounted (a volume's `_data`; empty for tmpfs).
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// Writable.
    pub rw: bool,
    /// The options as given (docker's `Mode`: `ro`, `z`, ...).
    pub mode: String,
    /// Mount propagation (binds).
    pub propagation: String,
    /// Recursive bind (`rbind`).
    pub recursive: bool,
    /// Mount options of a tmpfs (`size=...`, `mode=...`).
    pub tmpfs_options: Vec<String>,
    /// Copy the image's files into the volume if it is empty when first mounted.
    pub copy_up: bool,
}

/// Why a mount request cannot be met (all the client's fault, except the volume store's
/// own failures).
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// A malformed or impossible request.
    #[error("{0}")]
    Invalid(String),
    /// A container named in `VolumesFrom` does not exist.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// The volume store refused.
    #[error(transparent)]
    Volume(#[from] VolumeError),
}

fn invalid(msg: String) -> MountError {
    MountError::Invalid(msg)
}

/// The propagation modes a bind may ask for.
const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// Mode words `-v` takes besides propagation.
const MODE_WORDS: [&str; 8] = [
    "ro",
    "rw",
    "z",
    "Z",
    "nocopy",
    "consistent",
    "cached",
    "delegated",
];

/// `path` made clean (`.`, `..`, duplicate slashes resolved) if it is absolute and not
/// the root.
fn destination(path: &str, spec: &str) -> Result<String, MountError> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(invalid(format!(
            "invalid mount config: mount path must be absolute: {path:?} (in {spec:?})"
        )));
    }
    let mut clean = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => clean.push(n),
            Component::ParentDir => {
                clean.pop();
            }
            _ => {}
        }
    }
    if clean == Path::new("/") {
        return Err(invalid(format!(
            "invalid volume specification: {spec:?}: destination can't be '/'"
        )));
    }
    Ok(clean.to_string_lossy().into_owned())
}

/// What one `-v` string asks for.
fn parse_bind(spec: &str) -> Result<MountPoint, MountError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts[..] {
        [dst] => ("", dst, ""),
        [a, b] if b.starts_with('/') => (a, b, ""),
        [dst, mode] => ("", dst, mode),
        [src, dst, mode] => (src, dst, mode),
        _ => return Err(invalid(format!("invalid volume specification: {spec:?}"))),
    };
    let mut m = MountPoint {
        destination: destination(dst, spec)?,
        rw: true,
        mode: mode.into(),
        recursive: true,
        copy_up: true,
        ..MountPoint::default()
    };
    for word in mode.split(',').filter(|w| !w.is_empty()) {
        match word {
            "ro" => m.rw = false,
            "nocopy" => m.copy_up = false,
            w if PROPAGATIONS.contains(&w) => m.propagation = w.into(),
            w if MODE_WORDS.contains(&w) => {}
            w => return Err(invalid(format!("invalid mode: {w} (in {spec:?})"))),
        }
    }
    if src.starts_with('/') {
        m.kind = "bind".into();
        m.source = src.into();
        if m.propagation.is_empty() {
            m.propagation = "rprivate".into();
        }
    } else {
        if !src.is_empty() && !valid_name(src) {
            return Err(VolumeError::BadName(src.into()).into());
        }
        m.kind = "volume".into();
        m.name = src.into();
    }
    Ok(m)
}

/// What one `--mount` asks for.
fn parse_mount(r: &MountRequest) -> Result<MountPoint, MountError> {
    let what = format!("invalid mount config for type {:?}", r.kind);
    let dst = destination(&r.target, &r.target)?;
    let mut m = MountPoint {
        kind: r.kind.clone(),
        destination: dst,
        rw: !r.read_only,
        ..MountPoint::default()
    };
    match r.kind.as_str() {
        "bind" => {
            if !r.source.starts_with('/') {
                return Err(invalid(format!(
                    "{what}: invalid mount path: {:?} mount path must be absolute",
                    r.source
                )));
            }
            let opts = r.bind_options.clone().unwrap_or_default();
            m.source = r.source.clone();
            m.recursive = !opts.non_recursive;
            m.propagation = match opts.propagation.as_str() {
                "" => "rprivate".into(),
                p if PROPAGATIONS.contains(&p) => p.into(),
                p => return Err(invalid(format!("{what}: invalid propagation mode: {p}"))),
            };
        }
        "volume" => {
            if !r.source.is_empty() && !valid_name(&r.source) {
                return Err(VolumeError::BadName(r.source.clone()).into());
            }
            m.name = r.source.clone();
            m.copy_up = !r.volume_options.as_ref().is_some_and(|o| o.no_copy);
            m.recursive = true;
        }
        "tmpfs" => {
            if !r.source.is_empty() {
                return Err(invalid(format!("{what}: source must not be specified")));
            }
            let o = r.tmpfs_options.clone().unwrap_or_default();
            m.tmpfs_options = tmpfs_defaults();
            if o.size_bytes > 0 {
                m.tmpfs_options.push(format!("size={}", o.size_bytes));
            }
            if o.mode > 0 {
                m.tmpfs_options.push(format!("mode={:o}", o.mode));
            }
        }
        other => {
            return Err(invalid(format!(
                "invalid mount config: mount type unknown: {other:?}"
            )))
        }
    }
    Ok(m)
}

/// docker's options for every tmpfs mount.
fn tmpfs_defaults() -> Vec<String> {
    ["noexec", "nosuid", "nodev"].map(String::from).to_vec()
}

/// What one `--tmpfs path:options` asks for.
fn parse_tmpfs(path: &str, options: &str) -> Result<MountPoint, MountError> {
    let mut opts = tmpfs_defaults();
    let mut rw = true;
    for o in options.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => rw = false,
            "rw" => rw = true,
            o => opts.push(o.into()),
        }
    }
    Ok(MountPoint {
        kind: "tmpfs".into(),
        destination: destination(path, path)?,
        rw,
        tmpfs_options: opts,
        ..MountPoint::default()
    })
}

/// Resolves what a create asks for into mount points. `image_volumes` are the image's
/// `VOLUME`s; `volumes_from` finds another container's mount points by name or id.
/// Volumes are made as needed; what this call made is in `made` (for undoing a failed
/// create). Bind sources from `-v` are made if missing, as docker does; `--mount` ones
/// must exist.
pub fn resolve(
    req: &MountRequests,
    image_volumes: &BTreeSet<String>,
    volumes_from: &dyn Fn(&str) -> Result<Vec<MountPoint>, MountError>,
    store: &VolumeStore,
    made: &mut Vec<String>,
) -> Result<Vec<MountPoint>, MountError> {
    let mut wanted = Vec::new();
    for spec in &req.volumes_from {
        let (who, mode) = spec.split_once(':').unwrap_or((spec, ""));
        for mut m in volumes_from(who)? {
            match mode {
                "" => {}
                "ro" => m.rw = false,
                "rw" => m.rw = true,
                other => return Err(invalid(format!("invalid mode for volumes-from: {other}"))),
            }
            wanted.push((false, m));
        }
    }
    for spec in &req.binds {
        wanted.push((true, parse_bind(spec)?));
    }
    for r in &req.mounts {
        wanted.push((true, parse_mount(r)?));
    }
    for (path, opts) in &req.tmpfs {
        wanted.push((true, parse_tmpfs(path, opts)?));
    }
    let mut out: Vec<MountPoint> = Vec::new();
    for (explicit, m) in wanted {
        if let Some(i) = out.iter().position(|o| o.destination == m.destination) {
            if explicit && out[i].kind.is_empty() {
                out[i] = m;
                continue;
            }
            if explicit {
                return Err(invalid(format!("Duplicate mount point: {}", m.destination)));
            }
            continue; // an explicit mount wins over one from --volumes-from
        }
        out.push(m);
    }
    for path in req.volumes.iter().chain(image_volumes) {
        let dst = destination(path, path)?;
        if !out.iter().any(|o| o.destination == dst) {
            out.push(MountPoint {
                kind: "volume".into(),
                destination: dst,
                rw: true,
                recursive: true,
                copy_up: true,
                ..MountPoint::default()
            });
        }
    }
    for m in &mut out {
        prepare(m, req, store, made)?;
    }
    Ok(out)
}

/// Makes what a mount point needs on the host: its volume (named or anonymous), or a
/// missing `-v` bind source.
fn prepare(
    m: &mut MountPoint,
    req: &MountRequests,
    store: &VolumeStore,
    made: &mut Vec<String>,
) -> Result<(), MountError> {
    match m.kind.as_str() {
        "volume" if m.source.is_empty() => {
            let name = (!m.name.is_empty()).then(|| m.name.clone());
            let labels = req
                .mounts
                .iter()
                .find(|r| r.target == m.destination)
                .and_then(|r| r.volume_options.as_ref())
                .map(|o| o.labels.clone())
                .unwrap_or_default();
            let existed = name.as_deref().is_some_and(|n| store.get(n).is_ok());
            let vol = store.create(&NewVolume {
                name,
                labels,
                ..NewVolume::default()
            })?;
            if !existed {
                made.push(vol.name.clone());
            }
            m.source = store.data_dir(&vol.name).to_string_lossy().into_owned();
            m.name = vol.name;
        }
        "bind" => check_bind_source(m, req)?,
        _ => {}
    }
    Ok(())
}

/// A `-v` bind source that is missing is made (a directory); a `--mount` one is an
/// error unless it asked for `CreateMountpoint`.
fn check_bind_source(m: &MountPoint, req: &MountRequests) -> Result<(), MountError> {
    let src = Path::new(&m.source);
    if src.exists() {
        return Ok(());
    }
    let typed = req
        .mounts
        .iter()
        .find(|r| r.kind == "bind" && r.target == m.destination);
    if let Some(r) = typed {
        if !r.bind_options.as_ref().is_some_and(|o| o.create_mountpoint) {
            return Err(invalid(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                m.source
            )));
        }
    }
    std::fs::create_dir_all(src).map_err(|e| {
        invalid(format!(
            "error while creating mount source path '{}': {e}",
            m.source
        ))
    })
}

/// The OCI mounts for `points`, in order.
pub fn oci_mounts(points: &[MountPoint]) -> Vec<serde_json::Value> {
    points
        .iter()
        .map(|m| {
            let access = if m.rw { "rw" } else { "ro" };
            if m.kind == "tmpfs" {
                let mut opts = m.tmpfs_options.clone();
                opts.push(access.into());
                return serde_json::json!({
                    "destination": m.destination, "type": "tmpfs", "source": "tmpfs",
                    "options": opts,
                });
            }
            let bind = if m.recursive { "rbind" } else { "bind" };
            let mut opts = vec![bind.to_string(), access.to_string()];
            if !m.propagation.is_empty() {
                opts.push(m.propagation.clone());
            }
            serde_json::json!({
                "destination": m.destination, "type": "bind", "source": m.source,
                "options": opts,
            })
        })
        .collect()
}

/// Copies what the image has at a volume's destination into the volume, as docker does
/// the first time an empty volume is mounted (unless `nocopy`). The destination is
/// resolved inside `rootfs` (the container's mounted root, not yet running), so a
/// symlink in the image cannot lead the copy outside it; links inside are copied as
/// links, never followed.
pub fn copy_up(rootfs: &Path, m: &MountPoint, store: &VolumeStore) -> Result<(), MountError> {
    if m.kind != "volume" || !m.copy_up || !store.is_empty(&m.name)? {
        return Ok(());
    }
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| {
            MountError::Volume(VolumeError::Io {
                op,
                path,
                source: e,
            })
        }
    };
    let root = std::fs::File::open(rootfs).map_err(io("open", rootfs))?;
    let rel = m.destination.trim_start_matches('/');
    let resolve = rustix::fs::ResolveFlags::IN_ROOT | rustix::fs::ResolveFlags::NO_MAGICLINKS;
    let flags =
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC;
    let dir = match rustix::fs::openat2(&root, rel, flags, rustix::fs::Mode::empty(), resolve) {
        Ok(fd) => fd,
        Err(_) => return Ok(()), // nothing (or no directory) there in the image
    };
    let from = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&dir)
    ));
    let to = PathBuf::from(&m.source);
    copy_tree(&from, &to).map_err(io("copy the image's files into", &to))?;
    let meta = std::fs::metadata(&from).map_err(io("stat", &from))?;
    copy_owner_and_mode(&to, &meta).map_err(io("set owner and mode of", &to))
}

/// Copies the entries of directory `from` into the existing directory `to`: files,
/// directories, symlinks (as links); modes and owners kept.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&src)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)?;
        } else if ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device() {
            continue; // special files are not volume content
        }
        copy_owner_and_mode(&dst, &meta)?;
    }
    Ok(())
}

fn copy_owner_and_mode(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::os::unix::fs::lchown(path, Some(meta.uid()), Some(meta.gid()))?;
    if !meta.file_type().is_symlink() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Result<Vec<MountPoint>, MountError> {
        Err(MountError::NoSuchContainer("x".into()))
    }

    fn resolve_with(req: MountRequests, image: &[&str]) -> Result<Vec<MountPoint>, MountError> {
        let dir = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(&dir.path().join("volumes")).unwrap();
        let image: BTreeSet<String> = image.iter().map(|s| s.to_string()).collect();
        let mut made = Vec::new();
        resolve(&req, &image, &none, &store, &mut made)
    }

    #[test]
    fn binds_parse_as_docker_reads_them() {
        let b = parse_bind("/srv:/data:ro,rshared").unwrap();
        assert_eq!((b.kind.as_str(), b.source.as_str()), ("bind", "/srv"));
        assert_eq!((b.destination.as_str(), b.rw), ("/data", false));
        assert_eq!(b.propagation, "rshared");
        let v = parse_bind("cache:/var/cache/").unwrap();
        assert_eq!((v.kind.as_str(), v.name.as_str()), ("volume", "cache"));
        assert_eq!(v.destination, "/var/cache");
        let a = parse_bind("/scratch").unwrap();
        assert_eq!((a.kind.as_str(), a.name.as_str()), ("volume", ""));
        let ro = parse_bind("/scratch:ro").unwrap();
        assert!(!ro.rw && ro.name.is_empty());
        assert!(parse_bind("rel:/x").unwrap().kind == "volume");
        for bad in ["a/b:/x", "/x:relative", "/x:/", "/x:/y:bogus", "a:b:c:d"] {
            assert!(parse_bind(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn image_and_config_volumes_become_anonymous_volumes_unless_mounted() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let req = MountRequests {
            binds: vec![format!("{}:/data", src.display())],
            volumes: ["/extra".to_string()].into(),
            ..MountRequests::default()
        };
        let out = resolve_with(req, &["/data", "/logs"]).unwrap();
        let kinds: Vec<(&str, &str)> = out
            .iter()
            .map(|m| (m.kind.as_str(), m.destination.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [("bind", "/data"), ("volume", "/extra"), ("volume", "/logs")]
        );
        assert!(src.is_dir(), "a missing -v source is made");
        assert!(out[1].name.len() == 64 && out[1].source.ends_with("/_data"));
    }

    #[test]
    fn duplicates_and_missing_mount_sources_are_refused() {
        let req = MountRequests {
            binds: vec!["a1:/d".into(), "b1:/d".into()],
            ..MountRequests::default()
        };
        let e = resolve_with(req, &[]).unwrap_err();
        assert_eq!(e.to_string(), "Duplicate mount point: /d");
        let req = MountRequests {
            mounts: vec![MountRequest {
                kind: "bind".into(),
                source: "/nonexistent-berth-src".into(),
                target: "/x".into(),
                ..MountRequest::default()
            }],
            ..MountRequests::default()
        };
        let e = resolve_with(req, &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("bind source path does not exist: /nonexistent-berth-src"),
            "{e}"
        );
        assert!(!Path::new("/nonexistent-berth-src").exists());
    }

    #[test]
    fn tmpfs_mounts_carry_dockers_options() {
        let req = MountRequests {
            tmpfs: [("/run".to_string(), "size=64m,ro".to_string())].into(),
            ..MountRequests::default()
        };
        let out = resolve_with(req, &[]).unwrap();
        assert_eq!(
            out[0].tmpfs_options,
            ["noexec", "nosuid", "nodev", "size=64m"]
        );
        assert!(!out[0].rw);
        let oci = oci_mounts(&out);
        assert_eq!(oci[0]["type"], "tmpfs");
        assert_eq!(oci[0]["options"].as_array().unwrap().last().unwrap(), "ro");
    }
}
