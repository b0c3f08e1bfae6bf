//! berth-runtime: an OCI runtime with runc's command line, so containerd, dockerd and podman
//! can drive berth's runtime library.

mod events;
mod exec;
mod features;
mod lifecycle;
mod list;
mod logging;
mod ps;
mod spec;
mod tty;
mod update;

use std::path::PathBuf;
use std::process::ExitCode;

use berth_runtime::container::Runtime;
use clap::{Parser, Subcommand, ValueEnum};

/// Command-line of berth-runtime, matching runc's.
#[derive(Parser, Debug)]
#[command(name = "berth-runtime", version = version(), about = "An OCI runtime (runc-compatible command line)")]
struct Cli {
    /// Directory for container state.
    #[arg(long, global = true, default_value = "/run/berth-runtime")]
    root: PathBuf,
    /// File to write errors and warnings to (stderr when unset).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of the log: text or json.
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: logging::Format,
    /// Log more.
    #[arg(long, global = true)]
    debug: bool,
    /// Use the systemd cgroup driver (not supported by berth).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Rootless mode: true, false or auto.
    #[arg(long, value_enum)]
    rootless: Option<Rootless>,
    /// Path of criu (checkpoint/restore is not supported by berth).
    #[arg(long, global = true)]
    criu: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Rootless {
    True,
    False,
    Auto,
}

fn version() -> &'static str {
    concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0")
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a container; its process waits for `start`.
    Create(lifecycle::CreateArgs),
    /// Start the process of a created container.
    Start(lifecycle::IdArg),
    /// Create and start a container, and wait for it unless detached.
    Run(lifecycle::RunArgs),
    /// Print a container's state as JSON.
    State(lifecycle::IdArg),
    /// Send a signal to a container's init (or to all its processes).
    Kill(lifecycle::KillArgs),
    /// Delete a container and everything it holds.
    Delete(lifecycle::DeleteArgs),
    /// Run a new process in a running container.
    Exec(exec::ExecArgs),
    /// List the processes of a container.
    Ps(ps::PsArgs),
    /// Freeze every process of a container.
    Pause(lifecycle::IdArg),
    /// Thaw a paused container.
    Resume(lifecycle::IdArg),
    /// Change the resource limits of a container.
    Update(update::UpdateArgs),
    /// Print the features this runtime supports, as JSON.
    Features,
    /// List containers.
    List(list::ListArgs),
    /// Write a default config.json.
    Spec(spec::SpecArgs),
    /// Print container statistics and events.
    Events(events::EventsArgs),
    /// Checkpoint a container (not supported by berth).
    Checkpoint(Unsupported),
    /// Restore a container (not supported by berth).
    Restore(Unsupported),
}

/// Arguments of a command berth does not support.
#[derive(clap::Args, Debug)]
struct Unsupported {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

/// Turns flags berth cannot honour into an error instead of ignoring them.
fn refuse_unsupported(cli: &Cli) -> anyhow::Result<()> {
    if cli.systemd_cgroup {
        anyhow::bail!(
            "--systemd-cgroup: the systemd cgroup driver is not supported; use cgroupfs paths"
        );
    }
    if let Some(Rootless::True) = cli.rootless {
        anyhow::bail!("--rootless=true: rootless mode is not supported; run as root");
    }
    if cli.criu.is_some() {
        anyhow::bail!("--criu: checkpoint/restore is not supported");
    }
    match &cli.command {
        Command::Checkpoint(_) | Command::Restore(_) => {
            anyhow::bail!("checkpoint/restore is not supported by berth-runtime")
        }
        _ => Ok(()),
    }
}

fn dispatch(cli: &Cli) -> anyhow::Result<i32> {
    refuse_unsupported(cli)?;
    let rt = Runtime::new(&cli.root);
    match &cli.command {
        Command::Create(a) => lifecycle::create(&rt, a).map(|_| 0),
        Command::Start(a) => rt.start(&a.id).map(|_| 0).map_err(Into::into),
        Command::Run(a) => lifecycle::run(&rt, a),
        Command::State(a) => lifecycle::state(&rt, &a.id).map(|_| 0),
        Command::Kill(a) => lifecycle::kill(&rt, a).map(|_| 0),
        Command::Delete(a) => rt.delete(&a.id, a.force).map(|_| 0).map_err(Into::into),
        Command::Exec(a) => exec::run(&rt, a),
        Command::Ps(a) => ps::run(&rt, a).map(|_| 0),
        Command::Pause(a) => rt.pause(&a.id).map(|_| 0).map_err(Into::into),
        Command::Resume(a) => rt.resume(&a.id).map(|_| 0).map_err(Into::into),
        Command::Update(a) => update::run(&rt, a).map(|_| 0),
        Command::Features => features::run().map(|_| 0),
        Command::List(a) => list::run(&rt, a).map(|_| 0),
        Command::Spec(a) => spec::run(a).map(|_| 0),
        Command::Events(a) => events::run(&rt, a).map(|_| 0),
        Command::Checkpoint(_) | Command::Restore(_) => Ok(1),
    }
}

/// The error and its causes on one line, skipping causes the message already quotes.
fn message(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text = format!("{text}: {c}");
        }
    }
    text
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    ) {
        if let Err(e) = berth_runtime::selfexe::ensure_protected_exe() {
            logging::error(cli.log.as_deref(), cli.log_format, &e.to_string());
            return ExitCode::from(1);
        }
    }
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            logging::error(cli.log.as_deref(), cli.log_format, &message(&e));
            ExitCode::from(1)
        }
    }
}
