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
    /// The bundle's configuration is wrong.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// A state directory problem (unknown or duplicate id, unreadable state).
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// Creating or joining a namespace failed.
    #[error(transparent)]
    Namespace(#[from] crate::namespaces::NsError),
    /// A hook failed.
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// Setting up the terminal failed.
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    /// The container init reported a failure (its message names the step).
    #[error("{0}")]
    Init(String),
    /// The command was used wrongly.
    #[error("{0}")]
    Usage(String),
    /// The container is not in a state that allows the operation.
    #[error("container {id:?} is {status}, not {want}")]
    BadStatus {
        /// Container id.
        id: String,
        /// Its status.
        status: &'static str,
        /// The status the operation needs.
        want: &'static str,
    },
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
