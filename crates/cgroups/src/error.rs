//! The crate's error type: every variant names the operation and the path or config field.

use std::borrow::Cow;
use std::path::PathBuf;

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
    /// Writing a resource value to a cgroup file failed.
    #[error("{field}: write {value:?} to {path}: {source}")]
    Write {
        /// The config.json field the value came from.
        field: Cow<'static, str>,
        /// The cgroup file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A resource value in the spec is out of range or cannot be applied on this host.
    #[error("{field}: {reason}")]
    InvalidResource {
        /// The config.json field, e.g. `linux.resources.memory.limit`.
        field: Cow<'static, str>,
        /// Why it was refused.
        reason: String,
    },
    /// `linux.cgroupsPath` cannot be used.
    #[error("linux.cgroupsPath {path:?}: {reason}")]
    InvalidPath {
        /// The path from the spec.
        path: PathBuf,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A cgroup file held something this crate cannot parse.
    #[error("parse {path}: unexpected content {content:?}")]
    Parse {
        /// The file read.
        path: PathBuf,
        /// The offending text.
        content: String,
    },
    /// A state change (freeze, thaw) did not complete in time.
    #[error("{op} {path}: timed out waiting for the kernel")]
    Timeout {
        /// What was being waited for.
        op: &'static str,
        /// The cgroup file polled.
        path: PathBuf,
    },
    /// An operation needs a controller that this host does not provide.
    #[error("{op}: {reason}")]
    NotAvailable {
        /// The operation, e.g. `freeze`.
        op: &'static str,
        /// What is missing.
        reason: &'static str,
    },
    /// Sending a signal to a member process failed.
    #[error("signal {signal} to pid {pid}: {source}")]
    Signal {
        /// The signal number.
        signal: i32,
        /// The process.
        pid: i32,
        /// The errno.
        source: nix::errno::Errno,
    },
    /// `signal_all` was given a number that is not a signal.
    #[error("signal {signal}: not a valid signal number")]
    InvalidSignal {
        /// The number given.
        signal: i32,
    },
    /// Building, loading or attaching the cgroup v2 device filter failed.
    #[error(transparent)]
    Devices(#[from] crate::v2::devices::Error),
}

impl Error {
    /// Returns a closure turning an `io::Error` into [`Error::Io`] for `op` on `path`.
    pub(crate) fn io(
        op: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { op, path, source }
    }

    /// An [`Error::InvalidResource`] for `field`.
    pub(crate) fn invalid(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        Self::InvalidResource {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
