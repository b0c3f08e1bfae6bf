//! The engine's error type: every variant names the container, image, path or step.

use std::path::PathBuf;

use berth_image::content::ContentError;
use berth_image::metadata::DbError;
use berth_image::store::StoreError;

use crate::spec::SpecError;

/// Why a container process could not be started, as docker tells it apart in `run`'s exit
/// code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartKind {
    /// The command is not in the container (exit 127).
    NotFound,
    /// The command exists but cannot be executed (exit 126).
    NotExecutable,
    /// Anything else (exit 125).
    Other,
}

impl StartKind {
    /// Classifies a runtime failure by the init's report of its exec step.
    pub fn of_message(message: &str) -> StartKind {
        // The runtime words these `exec: "<arg0>": ...` (see its process errors).
        if !message.contains("exec: \"") {
            return StartKind::Other;
        }
        if message.contains("executable file not found") || message.contains("ENOENT") {
            StartKind::NotFound
        } else if ["EACCES", "EISDIR", "ENOEXEC", "EPERM"]
            .iter()
            .any(|e| message.contains(e))
        {
            StartKind::NotExecutable
        } else {
            StartKind::Other
        }
    }

    /// The exit code `docker run` gives for this failure.
    pub fn exit_code(self) -> u8 {
        match self {
            StartKind::NotFound => 127,
            StartKind::NotExecutable => 126,
            StartKind::Other => 125,
        }
    }
}

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A networking failure (a network missing, a port taken, an address refused).
    #[error(transparent)]
    Network(#[from] berth_net::NetError),
    /// No container by this id, prefix or name.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// A path that is not in the container.
    #[error("Could not find the file {0} in container")]
    NoSuchPath(String),
    /// An extraction point that is not a directory.
    #[error("extraction point is not a directory: {0}")]
    NotADirectory(String),
    /// A prefix that matches more than one container.
    #[error("multiple containers match {0:?}")]
    Ambiguous(String),
    /// The name is taken.
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse {
        /// The name asked for.
        name: String,
        /// The container that has it.
        id: String,
    },
    /// A name docker would refuse.
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    BadName(String),
    /// A rename to no name.
    #[error("Neither old nor new names may be empty")]
    EmptyName,
    /// A rename to the name the container has.
    #[error("Renaming a container with the same name as its current name")]
    SameName(String),
    /// `rm` of a running container without force.
    #[error("cannot remove container \"/{name}\": container is running: stop the container before removing or force remove")]
    Running {
        /// The container's name.
        name: String,
    },
    /// An operation that needs a running container.
    #[error("container {0} is not running")]
    NotRunning(String),
    /// Something the daemonless engine cannot do yet.
    #[error("{0} is not supported without the daemon yet")]
    Unsupported(&'static str),
    /// `pause` of a paused container.
    #[error("Container {0} is already paused")]
    AlreadyPaused(String),
    /// `unpause` of a container that is not paused.
    #[error("Container {0} is not paused")]
    NotPaused(String),
    /// `start -a` of a container that runs already.
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    /// The container's process could not be started.
    #[error("failed to create task for container {id}: {message}")]
    Start {
        /// The container.
        id: String,
        /// What kind of failure (for the exit code).
        kind: StartKind,
        /// The runtime's report.
        message: String,
    },
    /// A runtime operation failed.
    #[error("{op} container {id}: {source}")]
    Runtime {
        /// The operation.
        op: &'static str,
        /// The container.
        id: String,
        /// The runtime's error.
        source: Box<berth_runtime::Error>,
    },
    /// The container did not stop.
    #[error("container {id}: still running {secs}s after SIGKILL")]
    StopTimeout {
        /// The container.
        id: String,
        /// How long we waited.
        secs: u64,
    },
    /// The image store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The metadata database failed (unknown image, image in use, ...).
    #[error(transparent)]
    Db(#[from] DbError),
    /// The snapshotter failed.
    #[error(transparent)]
    Snapshot(#[from] berth_image::snapshot::Error),
    /// Making or applying a layer failed.
    #[error(transparent)]
    Layer(#[from] berth_image::layer::Error),
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The runtime spec cannot be made.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A mount that cannot be made as asked.
    #[error(transparent)]
    Mount(#[from] crate::mounts::MountError),
    /// The volume store refused or failed.
    #[error(transparent)]
    Volume(#[from] crate::volumes::VolumeError),
    /// The image's config blob does not parse.
    #[error("image {image}: config: {source}")]
    ImageConfig {
        /// The image id.
        image: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A container record cannot be read or written.
    #[error("container record {path}: {source}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A container record written by a newer berth.
    #[error("container record {path}: version {found} is newer than this berth's {supported}")]
    Version {
        /// The record file.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The version this code writes.
        supported: u32,
    },
    /// A `--change` instruction that cannot be applied.
    #[error("invalid change {line:?}: {reason}")]
    Change {
        /// The instruction.
        line: String,
        /// Why.
        reason: &'static str,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The container's shim could not be started.
    #[error("container {id}: start its shim: {source}")]
    ShimLaunch {
        /// The container.
        id: String,
        /// What went wrong.
        source: berth_shim::launch::LaunchError,
    },
    /// A request to the container's shim failed.
    #[error("container {id}: {source}")]
    Shim {
        /// The container.
        id: String,
        /// What went wrong.
        source: berth_shim::client::ClientError,
    },
    /// A system call on the engine's own process failed (fork, pipe, wait).
    #[error("{op}: {source}")]
    Sys {
        /// The operation.
        op: &'static str,
        /// The errno.
        source: nix::errno::Errno,
    },
}

/// Result alias for the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// A closure that wraps an I/O error with the operation and path.
    pub(crate) fn io<'a>(
        op: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> EngineError + 'a {
        move |source| EngineError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// A closure that wraps a runtime error with the operation and container.
    pub(crate) fn runtime<'a>(
        op: &'static str,
        id: &'a str,
    ) -> impl FnOnce(berth_runtime::Error) -> EngineError + 'a {
        move |source| EngineError::Runtime {
            op,
            id: id.to_string(),
            source: Box::new(source),
        }
    }

    /// The exit code the CLI gives for this error: docker's 125, or 126/127 when the
    /// container's command cannot be run.
    pub fn exit_code(&self) -> u8 {
        match self {
            EngineError::Start { kind, .. } => kind.exit_code(),
            _ => 125,
        }
    }
}
