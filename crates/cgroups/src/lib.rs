//! Control groups for berth: one [`Manager`] that places processes into a container's cgroup,
//! applies OCI `linux.resources`, freezes and thaws, signals and lists every member, reports
//! statistics and removes the cgroup. Cgroups v1 and v2 are detected at run time; both backends
//! take the cgroup filesystem root as a parameter so tests can point them at a fake tree.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

/// Errors from cgroup operations; each names the operation and the path or field involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation on the cgroup filesystem failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A resource value in the spec is out of range or unsupported.
    #[error("{field}: {reason}")]
    InvalidResource {
        /// The config.json field, e.g. `linux.resources.memory.limit`.
        field: String,
        /// Why it was refused.
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The cgroup hierarchy version in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Version {
    /// Legacy per-controller hierarchies.
    V1,
    /// The unified hierarchy.
    V2,
}

/// A container's cgroup.
#[derive(Debug, Clone)]
pub struct Manager {
    root: PathBuf,
    path: PathBuf,
}

impl Manager {
    /// Opens the cgroup `cgroups_path` under the cgroup filesystem mounted at `root`.
    pub fn new(root: &Path, cgroups_path: &Path) -> Result<Self> {
        Ok(Self {
            root: root.to_path_buf(),
            path: cgroups_path.to_path_buf(),
        })
    }
    /// stub
    pub fn with_version(root: &Path, cgroups_path: &Path, _v: Version) -> Result<Self> {
        Self::new(root, cgroups_path)
    }
    /// stub
    pub fn version(&self) -> Version {
        Version::V1
    }
    /// stub
    pub fn validate(_res: &LinuxResources) -> Result<()> {
        Ok(())
    }
    /// stub
    pub fn create(&self) -> Result<()> {
        Ok(())
    }
    /// stub
    pub fn add_process(&self, _pid: i32) -> Result<()> {
        Ok(())
    }
    /// stub
    pub fn apply(&self, _res: &LinuxResources) -> Result<()> {
        Ok(())
    }
    /// stub
    pub fn freeze(&self) -> Result<()> {
        Ok(())
    }
    /// stub
    pub fn thaw(&self) -> Result<()> {
        Ok(())
    }
    /// stub
    pub fn is_frozen(&self) -> Result<bool> {
        Ok(false)
    }
    /// stub
    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(vec![])
    }
    /// stub
    pub fn signal_all(&self, _sig: i32) -> Result<()> {
        Ok(())
    }
    /// stub
    pub fn stats(&self) -> Result<Stats> {
        Ok(Stats {})
    }
    /// stub
    pub fn exists(&self) -> bool {
        false
    }
    /// stub
    pub fn destroy(&self) -> Result<()> {
        Ok(())
    }
    /// stub
    pub fn paths(&self) -> Vec<PathBuf> {
        vec![self.root.join(&self.path)]
    }
}

/// stub
#[derive(Debug, serde::Serialize)]
pub struct Stats {}

/// stub
pub fn detect(_root: &Path) -> Result<Version> {
    Ok(Version::V1)
}
