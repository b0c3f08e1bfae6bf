//! What the shim runs: a container (created at once, started on request, deleted at the
//! end) or an exec (run on request in a running container).

use std::path::Path;

use anyhow::{Context, Result};
use berth_runtime::container::{CreateOptions, Created, Runtime};
use berth_runtime::exec::ExecOptions;
use oci_spec::runtime::Process;

use crate::signals::Signals;
use crate::stdio::Stdio;

/// The container or exec the shim serves.
pub enum Target {
    /// A container, created by the shim.
    Container {
        /// Its runtime.
        rt: Runtime,
        /// What its create made: its state and cgroup, kept for the end.
        created: Box<Created>,
    },
    /// A process to run in a running container.
    Exec {
        /// The container's runtime.
        rt: Runtime,
        /// The container's id.
        id: String,
        /// The process.
        process: Box<Process>,
    },
}

impl Target {
    /// Creates the container in `bundle` (its init waits for start).
    pub fn create(
        rt: Runtime,
        id: &str,
        bundle: &std::path::Path,
        stdio: &mut Stdio,
        signals: &Signals,
    ) -> Result<Target> {
        // A state left by a run whose end nobody recorded.
        rt.delete(id, true)
            .with_context(|| format!("delete the old state of {id}"))?;
        let created = stdio.spawn(|console| {
            let opts = CreateOptions {
                id: id.into(),
                bundle: bundle.into(),
                console_socket: console.map(Into::into),
                // The bundle is the engine's container directory, its config unchanged
                // while the container exists: no copy of it.
                config_in_bundle: true,
                ..Default::default()
            };
            signals
                .unmasked(|| rt.create_kept(&opts))
                .map_err(anyhow::Error::from)
        })?;
        Ok(Target::Container {
            rt,
            created: Box::new(created),
        })
    }

    /// The container's init, or None for an exec.
    pub fn init_pid(&self) -> Option<i32> {
        match self {
            Target::Container { created, .. } => Some(created.saved.pid),
            Target::Exec { .. } => None,
        }
    }

    /// Starts the container, or runs the exec; returns the process's pid.
    pub fn start(&self, stdio: &mut Stdio, signals: &Signals) -> Result<i32> {
        match self {
            Target::Container { rt, created } => {
                rt.start(&created.saved.id)?;
                Ok(created.saved.pid)
            }
            Target::Exec { rt, id, process } => {
                let started = stdio.spawn(|console| {
                    let opts = ExecOptions {
                        id: id.clone(),
                        process: (**process).clone(),
                        console_socket: console.map(Into::into),
                        preserve_fds: 0,
                        ignore_paused: false,
                    };
                    signals
                        .unmasked(|| rt.exec(&opts))
                        .map_err(anyhow::Error::from)
                })?;
                Ok(started.pid.as_raw())
            }
        }
    }

    /// Whether the OOM killer ended a process of the container (an exec's is the
    /// container's business): read before [`Target::cleanup`] removes the cgroup.
    pub fn oom_killed(&self) -> Result<bool> {
        match self {
            Target::Container { created, .. } => Ok(created.oom_kills() > 0),
            Target::Exec { .. } => Ok(false),
        }
    }

    /// Undoes what the shim made once the process is gone: the container's cgroup (any
    /// process left in it is killed), then its runtime state, which is moved into the
    /// shim's state directory (the container's directory, the working directory) as
    /// [`STATE_GRAVE`]: removed with that directory, or at the next run's end.
    pub fn cleanup(&self) -> Result<()> {
        match self {
            Target::Container { rt, created } => {
                Ok(rt.delete_created_moving(created, Some(Path::new(STATE_GRAVE)))?)
            }
            Target::Exec { .. } => Ok(()),
        }
    }

    /// Whether this is an exec.
    pub fn is_exec(&self) -> bool {
        matches!(self, Target::Exec { .. })
    }
}

/// Where the runtime state of an ended container is moved, in the shim's state directory.
pub const STATE_GRAVE: &str = "runtime.ended";

/// The exit code docker gives an exec that could not start: 127 when the command is not
/// there, 126 otherwise.
pub fn failed_start_code(message: &str) -> i32 {
    if message.contains("executable file not found") || message.contains("ENOENT") {
        127
    } else {
        126
    }
}
