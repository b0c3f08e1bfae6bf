//! The shim's command line, as a type: callers build it, the shim parses it back.
//!
//! ```text
//! berth-shim start --id ID --bundle DIR --runtime-root DIR --state DIR [--tty] [--stdin]
//!     [--log-driver json-file|none] [--log-path FILE] [--log-opt K=V]...
//!     [--exit-command PROG [--exit-command-arg ARG]...]
//! berth-shim exec --id ID --runtime-root DIR --state DIR --process FILE [--tty] [--stdin]
//! ```
//!
//! A prepared shim (`berth-shim --wait-command`, see [`crate::launch::Prepared`]) reads
//! the same command from its stdin instead, framed by [`ShimCommand::encode`]: the
//! length of what follows in decimal and a newline, then every argument followed by a
//! NUL byte.
//!
//! `--exit-command` is run (the shim execs it, so it inherits the shim's pid) once the
//! container has exited and `exit.json` is written: a daemonless caller uses it to
//! finish the container (podman's conmon has the same hook).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// Errors in a shim command line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgError {
    /// No `start` or `exec` first.
    #[error("usage: berth-shim start|exec --id ID --state DIR ...")]
    NoCommand,
    /// A command other than `start` and `exec`.
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// A flag the command does not take.
    #[error("unknown flag {0:?}")]
    UnknownFlag(String),
    /// A flag given without its value.
    #[error("flag {0} needs a value")]
    MissingValue(&'static str),
    /// A required flag left out.
    #[error("flag {0} is required")]
    Required(&'static str),
    /// A value that must be text is not UTF-8.
    #[error("flag {0}: the value is not UTF-8")]
    NotUtf8(&'static str),
    /// A `--log-opt` without `=`.
    #[error("--log-opt {0:?}: expected KEY=VALUE")]
    BadLogOpt(String),
    /// A command read from a pipe that is not framed as [`ShimCommand::encode`] frames it
    /// (cut short, say).
    #[error("the shim command on the pipe is malformed: {0}")]
    BadFrame(&'static str),
}

/// How the container's output is logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogArgs {
    /// `json-file` or `none`.
    pub driver: String,
    /// The log file (json-file).
    pub path: Option<PathBuf>,
    /// Driver options (`max-size`, `max-file`).
    pub opts: BTreeMap<String, String>,
}

impl Default for LogArgs {
    fn default() -> Self {
        LogArgs {
            driver: "none".into(),
            path: None,
            opts: BTreeMap::new(),
        }
    }
}

/// `berth-shim start`: create a container and serve it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartArgs {
    /// The container id (the runtime's).
    pub id: String,
    /// The OCI bundle.
    pub bundle: PathBuf,
    /// The runtime's state root.
    pub runtime_root: PathBuf,
    /// The shim's state directory (socket, pid file, exit status, its log).
    pub state: PathBuf,
    /// Give the container a terminal.
    pub tty: bool,
    /// Keep the container's stdin open for attached clients.
    pub stdin: bool,
    /// Logging.
    pub log: LogArgs,
    /// Program and arguments the shim execs once the container has exited.
    pub exit_command: Vec<OsString>,
}

/// `berth-shim exec`: run a process in a running container and serve it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecArgs {
    /// The container id (the runtime's).
    pub id: String,
    /// The runtime's state root.
    pub runtime_root: PathBuf,
    /// The shim's state directory for this exec.
    pub state: PathBuf,
    /// The OCI `process` JSON to run.
    pub process: PathBuf,
    /// Give the process a terminal.
    pub tty: bool,
    /// Keep the process's stdin open for attached clients.
    pub stdin: bool,
}

/// A shim command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShimCommand {
    /// `start`.
    Start(StartArgs),
    /// `exec`.
    Exec(ExecArgs),
}

fn push(out: &mut Vec<OsString>, flag: &str, value: impl AsRef<OsStr>) {
    out.push(flag.into());
    out.push(value.as_ref().to_os_string());
}

impl ShimCommand {
    /// The state directory.
    pub fn state(&self) -> &std::path::Path {
        match self {
            ShimCommand::Start(a) => &a.state,
            ShimCommand::Exec(a) => &a.state,
        }
    }

    /// The arguments (after the program name) that express this command.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut out = Vec::new();
        match self {
            ShimCommand::Start(a) => {
                out.push("start".into());
                push(&mut out, "--id", &a.id);
                push(&mut out, "--bundle", &a.bundle);
                push(&mut out, "--runtime-root", &a.runtime_root);
                push(&mut out, "--state", &a.state);
                flags(&mut out, a.tty, a.stdin);
                push(&mut out, "--log-driver", &a.log.driver);
                if let Some(p) = &a.log.path {
                    push(&mut out, "--log-path", p);
                }
                for (k, v) in &a.log.opts {
                    push(&mut out, "--log-opt", format!("{k}={v}"));
                }
                if let Some((prog, rest)) = a.exit_command.split_first() {
                    push(&mut out, "--exit-command", prog);
                    rest.iter()
                        .for_each(|x| push(&mut out, "--exit-command-arg", x));
                }
            }
            ShimCommand::Exec(a) => {
                out.push("exec".into());
                push(&mut out, "--id", &a.id);
                push(&mut out, "--runtime-root", &a.runtime_root);
                push(&mut out, "--state", &a.state);
                push(&mut out, "--process", &a.process);
                flags(&mut out, a.tty, a.stdin);
            }
        }
        out
    }

    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<ShimCommand, ArgError> {
        let mut it = args.into_iter();
        let cmd = it.next().ok_or(ArgError::NoCommand)?;
        let mut p = Parsed::default();
        while let Some(flag) = it.next() {
            p.take(&flag, &mut it)?;
        }
        match cmd.to_str() {
            Some("start") => p.start(),
            Some("exec") => p.exec(),
            _ => Err(ArgError::UnknownCommand(cmd.to_string_lossy().into())),
        }
    }

    /// The command as a prepared shim reads it from its pipe: the length of the rest in
    /// decimal and a newline, then each of [`ShimCommand::to_args`] followed by a NUL.
    pub fn encode(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        let mut body = Vec::new();
        for arg in self.to_args() {
            body.extend_from_slice(arg.as_bytes());
            body.push(0);
        }
        let mut out = format!("{}\n", body.len()).into_bytes();
        out.append(&mut body);
        out
    }

    /// Parses what [`ShimCommand::encode`] wrote (all of it: a frame shorter or longer
    /// than its length says is refused, as is an argument containing NUL).
    pub fn decode(bytes: &[u8]) -> Result<ShimCommand, ArgError> {
        use std::os::unix::ffi::OsStrExt;
        let newline = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or(ArgError::BadFrame("no length line"))?;
        let len: usize = std::str::from_utf8(&bytes[..newline])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(ArgError::BadFrame("the length is not a number"))?;
        let body = &bytes[newline + 1..];
        if body.len() != len {
            return Err(ArgError::BadFrame("the length does not match"));
        }
        let Some(body) = body.strip_suffix(&[0]) else {
            return Err(ArgError::BadFrame(
                "the last argument is not NUL-terminated",
            ));
        };
        let args = body.split(|b| *b == 0).map(|a| OsStr::from_bytes(a).into());
        ShimCommand::parse(args)
    }
}

fn flags(out: &mut Vec<OsString>, tty: bool, stdin: bool) {
    if tty {
        out.push("--tty".into());
    }
    if stdin {
        out.push("--stdin".into());
    }
}

/// Every flag of either command, as given.
#[derive(Default)]
struct Parsed {
    id: Option<OsString>,
    bundle: Option<OsString>,
    runtime_root: Option<OsString>,
    state: Option<OsString>,
    process: Option<OsString>,
    tty: bool,
    stdin: bool,
    log: LogArgs,
    exit_command: Vec<OsString>,
    exit_args: Vec<OsString>,
}

fn text(flag: &'static str, v: OsString) -> Result<String, ArgError> {
    v.into_string().map_err(|_| ArgError::NotUtf8(flag))
}

impl Parsed {
    fn take(
        &mut self,
        flag: &OsStr,
        it: &mut impl Iterator<Item = OsString>,
    ) -> Result<(), ArgError> {
        let Some(name) = flag.to_str() else {
            return Err(ArgError::UnknownFlag(flag.to_string_lossy().into()));
        };
        let mut value = |f: &'static str| it.next().ok_or(ArgError::MissingValue(f));
        match name {
            "--tty" => self.tty = true,
            "--stdin" => self.stdin = true,
            "--id" => self.id = Some(value("--id")?),
            "--bundle" => self.bundle = Some(value("--bundle")?),
            "--runtime-root" => self.runtime_root = Some(value("--runtime-root")?),
            "--state" => self.state = Some(value("--state")?),
            "--process" => self.process = Some(value("--process")?),
            "--log-driver" => self.log.driver = text("--log-driver", value("--log-driver")?)?,
            "--log-path" => self.log.path = Some(value("--log-path")?.into()),
            "--log-opt" => {
                let kv = text("--log-opt", value("--log-opt")?)?;
                let (k, v) = kv.split_once('=').ok_or(ArgError::BadLogOpt(kv.clone()))?;
                self.log.opts.insert(k.into(), v.into());
            }
            "--exit-command" => self.exit_command = vec![value("--exit-command")?],
            "--exit-command-arg" => self.exit_args.push(value("--exit-command-arg")?),
            other => return Err(ArgError::UnknownFlag(other.into())),
        }
        Ok(())
    }

    fn start(mut self) -> Result<ShimCommand, ArgError> {
        if self.process.is_some() {
            return Err(ArgError::UnknownFlag("--process".into()));
        }
        if !self.exit_command.is_empty() {
            self.exit_command.append(&mut self.exit_args);
        }
        Ok(ShimCommand::Start(StartArgs {
            id: text("--id", self.id.ok_or(ArgError::Required("--id"))?)?,
            bundle: self.bundle.ok_or(ArgError::Required("--bundle"))?.into(),
            runtime_root: self
                .runtime_root
                .ok_or(ArgError::Required("--runtime-root"))?
                .into(),
            state: self.state.ok_or(ArgError::Required("--state"))?.into(),
            tty: self.tty,
            stdin: self.stdin,
            log: self.log,
            exit_command: self.exit_command,
        }))
    }

    fn exec(self) -> Result<ShimCommand, ArgError> {
        if self.bundle.is_some() || self.log.path.is_some() || !self.exit_command.is_empty() {
            return Err(ArgError::UnknownFlag(
                "--bundle, --log-* and --exit-command are for start".into(),
            ));
        }
        Ok(ShimCommand::Exec(ExecArgs {
            id: text("--id", self.id.ok_or(ArgError::Required("--id"))?)?,
            runtime_root: self
                .runtime_root
                .ok_or(ArgError::Required("--runtime-root"))?
                .into(),
            state: self.state.ok_or(ArgError::Required("--state"))?.into(),
            process: self.process.ok_or(ArgError::Required("--process"))?.into(),
            tty: self.tty,
            stdin: self.stdin,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip() {
        let start = ShimCommand::Start(StartArgs {
            id: "abc".into(),
            bundle: "/b".into(),
            runtime_root: "/r".into(),
            state: "/s".into(),
            tty: true,
            stdin: false,
            log: LogArgs {
                driver: "json-file".into(),
                path: Some("/s/abc-json.log".into()),
                opts: [("max-size".to_string(), "1m".to_string())].into(),
            },
            exit_command: vec!["/bin/berth".into(), "cleanup".into(), "abc".into()],
        });
        assert_eq!(ShimCommand::parse(start.to_args()), Ok(start.clone()));
        let exec = ShimCommand::Exec(ExecArgs {
            id: "abc".into(),
            runtime_root: "/r".into(),
            state: "/s/e1".into(),
            process: "/s/e1/process.json".into(),
            tty: false,
            stdin: true,
        });
        assert_eq!(ShimCommand::parse(exec.to_args()), Ok(exec.clone()));
        assert_eq!(ShimCommand::decode(&start.encode()), Ok(start));
        assert_eq!(ShimCommand::decode(&exec.encode()), Ok(exec));
    }

    #[test]
    fn bad_frames_are_refused() {
        let exec = ShimCommand::Exec(ExecArgs {
            id: "abc".into(),
            state: "/s".into(),
            process: "/p".into(),
            ..Default::default()
        });
        let bytes = exec.encode();
        assert_eq!(
            ShimCommand::decode(&bytes[..bytes.len() - 1]),
            Err(ArgError::BadFrame("the length does not match"))
        );
        assert_eq!(
            ShimCommand::decode(b"start"),
            Err(ArgError::BadFrame("no length line"))
        );
        assert_eq!(
            ShimCommand::decode(b"x\nstart\0"),
            Err(ArgError::BadFrame("the length is not a number"))
        );
        assert_eq!(
            ShimCommand::decode(b"3\nrun"),
            Err(ArgError::BadFrame(
                "the last argument is not NUL-terminated"
            ))
        );
        assert_eq!(
            ShimCommand::decode(b"4\nrun\0"),
            Err(ArgError::UnknownCommand("run".into()))
        );
    }

    #[test]
    fn bad_command_lines_are_named() {
        let parse = |a: &[&str]| ShimCommand::parse(a.iter().map(OsString::from));
        assert_eq!(parse(&[]), Err(ArgError::NoCommand));
        assert_eq!(parse(&["run"]), Err(ArgError::UnknownCommand("run".into())));
        assert_eq!(
            parse(&["start", "--id"]),
            Err(ArgError::MissingValue("--id"))
        );
        assert_eq!(
            parse(&["start", "--id", "x", "--bundle", "b", "--runtime-root", "r"]),
            Err(ArgError::Required("--state"))
        );
        assert_eq!(
            parse(&["exec", "--nope"]),
            Err(ArgError::UnknownFlag("--nope".into()))
        );
        assert_eq!(
            parse(&["start", "--log-opt", "max-size"]),
            Err(ArgError::BadLogOpt("max-size".into()))
        );
    }
}
