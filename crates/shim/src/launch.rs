//! The caller's side of starting a shim: run it with `std::process::Command` (never a
//! bare fork: the daemon is multi-threaded), read its one-line report, reap the short-lived
//! process it started as (the real shim has detached from it by then).
//!
//! [`spawn`] does all of that for one command. [`Prepared`] splits it in two: the
//! process is started, forked and detached ahead of time (`berth-shim --wait-command`),
//! and [`Prepared::launch`] only sends it the command and reads the report, which takes
//! the exec and the shim's start-up off the path of a container's start.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, ExitStatus, Stdio};

use serde::Deserialize;

use crate::args::ShimCommand;

/// Errors starting a shim.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The shim binary could not be run.
    #[error("run the shim {path}: {source}")]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// The system's answer.
        source: std::io::Error,
    },
    /// Its report could not be read.
    #[error("read the shim's report: {0}")]
    Read(#[source] std::io::Error),
    /// It exited without reporting (see `shim.log` in its state directory).
    #[error("the shim exited without reporting (exit status {status}); see {log}")]
    NoReport {
        /// How the process the caller started ended.
        status: std::process::ExitStatus,
        /// The shim's own log.
        log: PathBuf,
    },
    /// The report is not what the shim writes.
    #[error("the shim's report {line:?}: {source}")]
    BadReport {
        /// The line read.
        line: String,
        /// The parser's answer.
        source: serde_json::Error,
    },
    /// The shim could not create the container (or set up the exec); its message.
    #[error("{0}")]
    Failed(String),
    /// A prepared shim ended before it said it was ready.
    #[error("the prepared shim exited before it was ready (exit status {0})")]
    NotPrepared(ExitStatus),
    /// The command could not be sent to a prepared shim (it is gone): nothing was
    /// started, so the caller may start a shim another way.
    #[error("send the command to the prepared shim: {0}")]
    Send(#[source] std::io::Error),
}

/// What a shim reports once it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// The container init's host pid (0 for an exec: it begins when started).
    pub pid: i32,
    /// The shim's pid.
    pub shim_pid: i32,
}

#[derive(Deserialize)]
struct RawReport {
    pid: Option<i32>,
    shim_pid: Option<i32>,
    error: Option<String>,
}

/// Starts the shim binary at `shim` with its report on a pipe (stdout), after `more`
/// added its arguments and stdin.
fn run_shim(
    shim: &Path,
    more: impl FnOnce(&mut Command) -> &mut Command,
) -> Result<std::process::Child, LaunchError> {
    let mut cmd = Command::new(shim);
    // argv[0] is the shim's name even when it is started from a descriptor's path.
    cmd.arg0("berth-shim");
    more(&mut cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| LaunchError::Spawn {
            path: shim.into(),
            source,
        })
}

/// Runs the shim at `shim` with `cmd` and waits for its report.
pub fn spawn(shim: &Path, cmd: &ShimCommand) -> Result<Report, LaunchError> {
    let mut child = run_shim(shim, |c| c.args(cmd.to_args()).stdin(Stdio::null()))?;
    let mut line = String::new();
    let read = match child.stdout.take() {
        Some(out) => BufReader::new(out).read_line(&mut line),
        None => Ok(0),
    };
    // The first process exits as soon as it has forked the real shim.
    let status = child.wait().map_err(LaunchError::Read)?;
    read.map_err(LaunchError::Read)?;
    if line.is_empty() {
        return Err(LaunchError::NoReport {
            status,
            log: cmd.state().join(crate::LOG_FILE),
        });
    }
    parse_report(&line)
}

/// A shim started ahead of time (`berth-shim --wait-command`): forked, detached (new
/// session, subreaper) and named `berth-shim-idle`, it says `{"idle_pid":N}` on its
/// stdout and waits for ONE command on its stdin. [`Prepared::launch`] sends it;
/// dropping the `Prepared` (or the caller's exit, even by SIGKILL) closes the pipe, and
/// the idle shim exits without a trace.
///
/// A prepared shim runs the binary it was spawned from: keep it for that binary only.
#[derive(Debug)]
pub struct Prepared {
    /// Where the command goes.
    commands: ChildStdin,
    /// Where the report comes from.
    report: BufReader<ChildStdout>,
    /// How the process the caller started ended (it forked the shim).
    status: ExitStatus,
    /// The idle shim's pid.
    pid: i32,
}

#[derive(Deserialize)]
struct RawReady {
    idle_pid: Option<i32>,
    error: Option<String>,
}

impl Prepared {
    /// Runs the shim at `shim` to wait for a command, and returns once it has forked,
    /// detached and said so.
    pub fn spawn(shim: &Path) -> Result<Prepared, LaunchError> {
        let mut child = run_shim(shim, |c| c.arg("--wait-command").stdin(Stdio::piped()))?;
        // Taken before the wait, which would close stdin.
        let pipes = (child.stdin.take(), child.stdout.take());
        let status = child.wait().map_err(LaunchError::Read)?;
        let (Some(commands), Some(out)) = pipes else {
            return Err(LaunchError::NotPrepared(status));
        };
        let mut report = BufReader::new(out);
        // An error before or after the fork comes on the same pipe.
        let line = read_line(&mut report)?;
        if line.is_empty() {
            return Err(LaunchError::NotPrepared(status));
        }
        Ok(Prepared {
            commands,
            report,
            status,
            pid: parse_ready(&line)?,
        })
    }

    /// The idle shim's pid (still its pid once it has a command).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Has the shim carry out `cmd` and waits for its report, as [`spawn`] does. A
    /// [`LaunchError::Send`] means the shim never got the command.
    pub fn launch(mut self, cmd: &ShimCommand) -> Result<Report, LaunchError> {
        self.commands
            .write_all(&cmd.encode())
            .map_err(LaunchError::Send)?;
        // The end of the command is the end of the pipe.
        drop(self.commands);
        let line = read_line(&mut self.report)?;
        if line.is_empty() {
            return Err(LaunchError::NoReport {
                status: self.status,
                log: cmd.state().join(crate::LOG_FILE),
            });
        }
        parse_report(&line)
    }
}

/// The next line on `out` (empty at EOF).
fn read_line(out: &mut impl BufRead) -> Result<String, LaunchError> {
    let mut line = String::new();
    out.read_line(&mut line).map_err(LaunchError::Read)?;
    Ok(line)
}

fn parse_ready(line: &str) -> Result<i32, LaunchError> {
    let raw: RawReady =
        serde_json::from_str(line.trim_end()).map_err(|source| LaunchError::BadReport {
            line: line.into(),
            source,
        })?;
    match (raw.error, raw.idle_pid) {
        (Some(message), _) => Err(LaunchError::Failed(message)),
        (None, Some(pid)) => Ok(pid),
        (None, None) => Err(LaunchError::BadReport {
            line: line.into(),
            source: serde::de::Error::missing_field("idle_pid"),
        }),
    }
}

fn parse_report(line: &str) -> Result<Report, LaunchError> {
    let raw: RawReport =
        serde_json::from_str(line.trim_end()).map_err(|source| LaunchError::BadReport {
            line: line.into(),
            source,
        })?;
    if let Some(message) = raw.error {
        return Err(LaunchError::Failed(message));
    }
    match (raw.pid, raw.shim_pid) {
        (Some(pid), Some(shim_pid)) => Ok(Report { pid, shim_pid }),
        _ => Err(LaunchError::BadReport {
            line: line.into(),
            source: serde::de::Error::missing_field("pid"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_parse() {
        assert_eq!(
            parse_report("{\"pid\":12,\"shim_pid\":11}\n").unwrap(),
            Report {
                pid: 12,
                shim_pid: 11
            }
        );
        assert!(matches!(
            parse_report("{\"error\":\"no such image\"}\n"),
            Err(LaunchError::Failed(m)) if m == "no such image"
        ));
        assert!(matches!(
            parse_report("{}"),
            Err(LaunchError::BadReport { .. })
        ));
    }
}
