//! The host's cgroup layout, found once: which version is mounted under the cgroup root
//! and, for v1, where each hierarchy is mounted. Finding it takes a `statfs`, a directory
//! listing and a `stat` per mount; a caller that opens many cgroups (or one that can do
//! the work ahead of time, like a prepared shim) discovers it once and opens every
//! [`crate::Manager`] from it with [`crate::Manager::with_hierarchies`].

use std::path::{Path, PathBuf};

use crate::{detect, fs, Result, Version};

/// The cgroup hierarchies mounted under one root (normally `/sys/fs/cgroup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchies {
    root: PathBuf,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The unified tree at the root.
    V2,
    /// Per-controller hierarchies, and the unified tree at `root/unified` on hybrid hosts.
    V1 {
        mounts: Vec<Mount>,
        unified: Option<PathBuf>,
    },
}

/// One mounted v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// Controllers bound to it (`cpu`, `cpuacct`, ... or `systemd` for `name=systemd`).
    pub controllers: Vec<String>,
    /// Where it is mounted.
    pub path: PathBuf,
}

impl Hierarchies {
    /// Finds the version mounted at `root` and, for v1, every hierarchy under it.
    pub fn discover(root: &Path) -> Result<Self> {
        Self::with_version(root, detect(root)?)
    }

    /// Like [`Hierarchies::discover`] with the version given (v2 on
    /// `/sys/fs/cgroup/unified`, or on a fake tree): only v1 looks at the file system.
    pub fn with_version(root: &Path, v: Version) -> Result<Self> {
        let kind = match v {
            Version::V2 => Kind::V2,
            Version::V1 => v1_mounts(root)?,
        };
        Ok(Self {
            root: root.to_path_buf(),
            kind,
        })
    }

    /// The cgroup root they were found under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The version mounted there.
    pub fn version(&self) -> Version {
        match self.kind {
            Kind::V1 { .. } => Version::V1,
            Kind::V2 => Version::V2,
        }
    }

    pub(crate) fn kind(&self) -> &Kind {
        &self.kind
    }
}

/// The v1 hierarchies mounted under `root`, and the unified tree beside them if any.
fn v1_mounts(root: &Path) -> Result<Kind> {
    let mut mounts = Vec::new();
    let mut unified = None;
    for path in fs::child_dirs(root)? {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if name == "unified" && fs::is_cgroup2(&path)? {
            unified = Some(path);
        } else if is_hierarchy(&path) {
            let controllers = name.split(',').map(str::to_string).collect();
            mounts.push(Mount { controllers, path });
        }
    }
    Ok(Kind::V1 { mounts, unified })
}

/// A mounted hierarchy has `cgroup.procs` at its root; symlinks (`cpu -> cpu,cpuacct`) are
/// skipped by [`fs::child_dirs`].
fn is_hierarchy(mount: &Path) -> bool {
    mount.join("cgroup.procs").exists()
}
