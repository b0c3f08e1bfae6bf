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
}
