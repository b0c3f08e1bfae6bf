//! The last steps before the container process runs: user and groups, capabilities,
//! rlimits, no_new_privs, scheduler, I/O priority, personality, sysctls, labels, file
//! descriptors and signal state.
//!
//! Every function here changes the calling process (or thread) and is meant to run in the
//! container init process (after it joined its namespaces and pivoted into its root) or
//! in an `exec`'d process, never in a long-lived runtime process. The caller decides the
//! order; this one works and is what the steps assume:
//!
//! 1. [`check_labels`] as early as possible (it only validates).
//! 2. [`close_range_cloexec`] `(3 + preserved fds)`: nothing from the host leaks.
//! 3. [`apply_sysctls`] (needs `/proc` mounted, before `/proc/sys` is made read-only).
//! 4. [`set_rlimits`], [`set_oom_score_adj`], [`set_scheduler`], [`set_io_priority`],
//!    [`set_personality`]: while still root with every capability (lowering
//!    `oom_score_adj` or raising priorities needs them).
//! 5. [`apply_labels`]: takes effect at the next `execve`.
//! 6. [`switch_user`], then [`apply_capabilities`] (it relies on the permitted set that
//!    `switch_user` keeps with `PR_SET_KEEPCAPS`, and on `CAP_SETPCAP` still being in it).
//! 7. [`chdir_in_root`] (as the container user, so its permissions apply).
//! 8. [`set_no_new_privs`], then the seccomp filter (not in this module).
//! 9. [`find_executable`], then [`reset_signals`] and [`exec`].

mod capabilities;
mod exec;
mod fds;
mod label;
mod limits;
mod sched;
mod signals;
mod sysctl;
mod user;

#[cfg(test)]
mod testutil;

use std::path::PathBuf;

use nix::errno::Errno;

pub use self::capabilities::{apply_capabilities, set_no_new_privs};
pub use self::exec::{chdir_in_root, exec, find_executable};
pub use self::fds::close_range_cloexec;
pub use self::label::{apply_labels, check_labels, LsmHost};
pub use self::limits::{set_oom_score_adj, set_rlimits};
pub use self::sched::{set_io_priority, set_personality, set_scheduler};
pub use self::signals::reset_signals;
pub use self::sysctl::apply_sysctls;
pub use self::user::switch_user;

/// Errors while preparing the container process. Each names the `config.json` field (or
/// the operation) it comes from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A number in the configuration is outside the range the kernel accepts.
    #[error("{field}: must be in {min}..={max}, got {value}")]
    OutOfRange {
        /// The `config.json` field.
        field: &'static str,
        /// The value asked for.
        value: i64,
        /// The smallest accepted value.
        min: i64,
        /// The largest accepted value.
        max: i64,
    },
    /// A system call applying a setting failed.
    #[error("{field}: {op}: {source}")]
    Syscall {
        /// The `config.json` field being applied.
        field: &'static str,
        /// The system call (and its main argument).
        op: &'static str,
        /// The kernel's answer.
        source: Errno,
    },
    /// An rlimit's soft limit is above its hard limit.
    #[error(
        "process.rlimits[{index}]: {resource} soft limit {soft} is above the hard limit {hard}"
    )]
    RlimitSoftAboveHard {
        /// Position in `process.rlimits`.
        index: usize,
        /// `RLIMIT_*` name.
        resource: &'static str,
        /// Requested soft limit.
        soft: u64,
        /// Requested hard limit.
        hard: u64,
    },
    /// Setting an rlimit failed.
    #[error("process.rlimits[{index}]: setrlimit({resource}, {soft}, {hard}): {source}")]
    Rlimit {
        /// Position in `process.rlimits`.
        index: usize,
        /// `RLIMIT_*` name.
        resource: &'static str,
        /// Soft limit tried.
        soft: u64,
        /// Hard limit tried.
        hard: u64,
        /// The kernel's answer.
        source: Errno,
    },
    /// Writing a `/proc` file for a setting failed.
    #[error("{field}: write {path}: {source}")]
    ProcWrite {
        /// The `config.json` field being applied.
        field: &'static str,
        /// The file written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The scheduler policy is not one Linux implements.
    #[error("process.scheduler.policy: {0} is not supported by Linux")]
    SchedulerPolicy(&'static str),
    /// SCHED_DEADLINE parameters are inconsistent.
    #[error(
        "process.scheduler: SCHED_DEADLINE needs 0 < runtime <= deadline <= period, \
         got runtime {runtime}, deadline {deadline}, period {period}"
    )]
    SchedulerDeadline {
        /// `process.scheduler.runtime`.
        runtime: u64,
        /// `process.scheduler.deadline`.
        deadline: u64,
        /// `process.scheduler.period` (0 means "same as deadline").
        period: u64,
    },
    /// A personality flag name is unknown.
    #[error("linux.personality.flags[{index}]: unknown personality flag {flag:?}")]
    PersonalityFlag {
        /// Position in `linux.personality.flags`.
        index: usize,
        /// The name given.
        flag: String,
    },
    /// A sysctl key has characters or components that are not allowed.
    #[error("linux.sysctl[{key:?}]: invalid key (dot-separated names of [A-Za-z0-9_-])")]
    SysctlKey {
        /// The key given.
        key: String,
    },
    /// Writing a sysctl failed.
    #[error("linux.sysctl[{key:?}]: write {path}: {source}")]
    Sysctl {
        /// The key given.
        key: String,
        /// The file written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A security label was asked for but the host lacks that LSM.
    #[error("{field}: {lsm} is not enabled on this host ({probe} is absent or says disabled)")]
    LsmUnavailable {
        /// `process.apparmorProfile`, `process.selinuxLabel` or `linux.mountLabel`.
        field: &'static str,
        /// "AppArmor" or "SELinux".
        lsm: &'static str,
        /// The host file probed.
        probe: PathBuf,
    },
    /// A capability operation failed.
    #[error("{field}: {op} {cap}: {source}")]
    Capability {
        /// The `process.capabilities.*` field being applied.
        field: &'static str,
        /// What was done ("drop", "raise").
        op: &'static str,
        /// The capability.
        cap: ::caps::Capability,
        /// The underlying error.
        source: ::caps::errors::CapsError,
    },
    /// Setting a whole capability set failed.
    #[error("{field}: set: {source}")]
    CapabilitySet {
        /// The `process.capabilities.*` field being applied.
        field: &'static str,
        /// The underlying error.
        source: ::caps::errors::CapsError,
    },
    /// Marking inherited file descriptors close-on-exec failed.
    #[error("mark fds >= {from} close-on-exec: {op}: {source}")]
    Cloexec {
        /// The first descriptor to mark.
        from: i32,
        /// The operation that failed.
        op: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `process.args[0]` was not found in `$PATH`.
    #[error("exec: {name:?}: executable file not found in $PATH")]
    ExecutableNotFound {
        /// `process.args[0]`.
        name: String,
    },
    /// `process.args[0]` names a file that cannot be executed.
    #[error("exec: {name:?}: {path}: {source}")]
    Executable {
        /// `process.args[0]`.
        name: String,
        /// The file checked.
        path: PathBuf,
        /// Why it cannot be executed.
        source: Errno,
    },
    /// A string passed to the kernel contains a NUL byte.
    #[error("{field}[{index}]: contains a NUL byte")]
    NulByte {
        /// `process.args` or `process.env`.
        field: &'static str,
        /// Position in that list.
        index: usize,
    },
    /// Changing into `process.cwd` failed.
    #[error("process.cwd: chdir {path}: {source}")]
    Chdir {
        /// `process.cwd`.
        path: PathBuf,
        /// The kernel's answer.
        source: Errno,
    },
    /// The working directory is outside the container's root (CVE-2024-21626).
    #[error(
        "process.cwd: {path} resolves outside the container root (getcwd: {cwd}): \
         a host directory leaked into the container"
    )]
    CwdOutsideRoot {
        /// `process.cwd`.
        path: PathBuf,
        /// What getcwd reported.
        cwd: String,
    },
    /// `execve` failed.
    #[error("exec {path}: {source}")]
    Exec {
        /// The executable.
        path: String,
        /// The kernel's answer.
        source: Errno,
    },
}

/// Builds an [`Error::Syscall`] from a field and an operation name.
fn syscall_err(field: &'static str, op: &'static str) -> impl FnOnce(Errno) -> Error {
    move |source| Error::Syscall { field, op, source }
}

/// The per-process settings the container's init and every `exec`'d process share:
/// rlimits, OOM score, scheduler, I/O priority, security labels and the working directory
/// (checked to be inside the root). Runs after the root has changed, before the user switch.
pub fn apply_process_settings(process: &oci_spec::runtime::Process) -> Result<(), Error> {
    if let Some(rlimits) = process.rlimits() {
        set_rlimits(rlimits)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        set_oom_score_adj(adj)?;
    }
    if let Some(s) = process.scheduler() {
        set_scheduler(s)?;
    }
    if let Some(p) = process.io_priority() {
        set_io_priority(p)?;
    }
    apply_labels(process, &LsmHost::system())?;
    chdir_in_root(process.cwd())
}
