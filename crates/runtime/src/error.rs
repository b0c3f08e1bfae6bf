//! The runtime's error type: every variant names the operation and the path or field.

use std::path::PathBuf;

/// Errors from the runtime library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Setting up the root filesystem failed.
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::Error),
    /// Building or loading a seccomp filter failed.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::Error),
    /// Preparing the container process (user, capabilities, limits, ...) failed.
    #[error(transparent)]
    Process(#[from] crate::process::Error),
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::Error),
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Result alias for the runtime library.
pub type Result<T> = std::result::Result<T, Error>;
