//! Seccomp filters from `linux.seccomp`, compiled with libseccomp.
//!
//! The work is split so that the container's init child does as little as possible:
//! - [`compile`] runs in the runtime's parent before fork. It checks the config, builds the
//!   filter with libseccomp and exports it as a classic BPF program (or a shorter program
//!   of its own, `compact`, when it decides exactly alike). [`FilterCache`] keeps
//!   compiled programs on disk, so a profile shared by many containers compiles once.
//! - [`Filter::load`] runs in the init child, last thing before `execve`. It is a single
//!   `seccomp(2)` call on the precompiled program (no libseccomp, no allocation), and
//!   returns the listener fd when the filter uses `SCMP_ACT_NOTIFY`.
//! - [`send_notify_fd`] hands that fd to the seccomp agent at `linux.seccomp.listenerPath`.
//! - [`docker_profile`] turns a Docker seccomp profile into a `LinuxSeccomp`, as dockerd
//!   does for a container.

mod bpf;
mod cache;
mod compact;
mod compile;
mod docker;
mod notify;
#[cfg(test)]
mod tests;

pub use cache::FilterCache;
pub use compile::{compile, Filter};
pub use docker::{
    docker_profile, docker_profile_for_kernel, host_docker_arch, KernelVersion, DOCKER_DEFAULT_CAPS,
};
pub use notify::{process_state_json, send_notify_fd};

use std::path::PathBuf;

/// Errors while building or loading a seccomp filter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An action name that is not a seccomp action.
    #[error("{field}: unknown action \"{action}\"")]
    UnknownAction {
        /// The field holding the action, e.g. `syscalls[3].action`.
        field: String,
        /// The action as written.
        action: String,
    },
    /// A comparison operator that is not a seccomp operator.
    #[error("{field}: unknown operator \"{op}\"")]
    UnknownOperator {
        /// The field holding the operator.
        field: String,
        /// The operator as written.
        op: String,
    },
    /// An architecture name that is not known (or not supported by this libseccomp).
    #[error("{field}: unknown architecture \"{arch}\"")]
    UnknownArch {
        /// The field holding the architecture.
        field: String,
        /// The architecture as written.
        arch: String,
    },
    /// A seccomp filter flag that is not known.
    #[error("{field}: unknown flag \"{flag}\"")]
    UnknownFlag {
        /// The field holding the flag.
        field: String,
        /// The flag as written.
        flag: String,
    },
    /// A syscall argument index outside 0..=5.
    #[error("{field}: argument index must be 0..=5, got {index}")]
    ArgIndex {
        /// The field holding the index.
        field: String,
        /// The index as written.
        index: usize,
    },
    /// A rule without syscall names.
    #[error("{field}: must contain at least one syscall name")]
    NoNames {
        /// The `names` field.
        field: String,
    },
    /// An errno given for an action that does not return one.
    #[error("{field}: action {action} does not take an errno")]
    ErrnoNotAllowed {
        /// The errno field.
        field: String,
        /// The action it was given for.
        action: String,
    },
    /// An errno that does not fit in the filter's 16-bit return data.
    #[error("{field}: must be 0..=65535, got {value}")]
    ErrnoRange {
        /// The errno field.
        field: String,
        /// The value as written.
        value: u32,
    },
    /// `SCMP_ACT_NOTIFY` where the runtime cannot allow it.
    #[error("{field}: SCMP_ACT_NOTIFY {reason}")]
    Notify {
        /// The field using NOTIFY.
        field: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// `SCMP_ACT_NOTIFY` rules without `listenerPath`, or metadata without a listener.
    #[error("linux.seccomp.listenerPath: {0}")]
    ListenerPath(&'static str),
    /// libseccomp refused an operation.
    #[error("{field}: {op}: {source}")]
    Libseccomp {
        /// The config field being compiled.
        field: String,
        /// The libseccomp operation.
        op: &'static str,
        /// libseccomp's error.
        source: libseccomp::error::SeccompError,
    },
    /// Exporting the compiled BPF program failed.
    #[error("export seccomp BPF program: {op}: {source}")]
    Export {
        /// The step that failed.
        op: &'static str,
        /// The underlying error.
        source: nix::errno::Errno,
    },
    /// The compiled program is larger than the kernel accepts.
    #[error(
        "linux.seccomp: filter compiles to {0} BPF instructions, over the kernel limit of 4096"
    )]
    TooLarge(usize),
    /// The kernel refused the filter.
    #[error(
        "load seccomp filter (seccomp SECCOMP_SET_MODE_FILTER, flags {flags:#x}): {source}{hint}"
    )]
    Load {
        /// The `seccomp(2)` flags used.
        flags: u32,
        /// The kernel's error.
        source: nix::errno::Errno,
        /// Extra explanation for well-known causes.
        hint: &'static str,
    },
    /// Talking to the seccomp agent at `listenerPath` failed.
    #[error("seccomp agent at {path}: {op}: {source}")]
    Agent {
        /// The listener socket path.
        path: PathBuf,
        /// The step that failed.
        op: &'static str,
        /// The underlying error.
        source: nix::errno::Errno,
    },
    /// Serializing the container process state failed.
    #[error("serialize container process state: {0}")]
    StateJson(#[source] serde_json::Error),
    /// Building an oci-spec value failed (cannot happen with all fields set).
    #[error("build {what}: {source}")]
    OciBuild {
        /// The type being built.
        what: &'static str,
        /// oci-spec's error.
        source: oci_spec::OciSpecError,
    },
    /// Serializing `linux.seccomp` into a filter cache key failed.
    #[error("serialize linux.seccomp for the filter cache: {0}")]
    CacheKey(#[source] serde_json::Error),
    /// A Docker seccomp profile is not valid JSON for its format.
    #[error("docker seccomp profile: {0}")]
    ProfileJson(#[source] serde_path_to_error::Error<serde_json::Error>),
    /// A Docker seccomp profile sets two fields that exclude each other.
    #[error("docker seccomp profile: {field}: {reason}")]
    ProfileConflict {
        /// The field in conflict.
        field: String,
        /// Why.
        reason: &'static str,
    },
    /// A `minKernel` value that is not `<major>.<minor>`.
    #[error("{field}: invalid kernel version \"{value}\", expected \"<major>.<minor>\"")]
    MinKernel {
        /// The field.
        field: String,
        /// The value as written.
        value: String,
    },
    /// The running kernel's release string could not be parsed.
    #[error("uname release \"{0}\": cannot parse the kernel version")]
    KernelRelease(String),
    /// A Docker architecture name (as in `runtime.GOARCH`) that is not known.
    #[error("docker architecture \"{0}\": unknown (expected e.g. amd64, arm64, s390x)")]
    DockerArch(String),
}
