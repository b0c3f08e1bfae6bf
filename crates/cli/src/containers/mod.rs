//! Container commands, one file each: create, run, start, attach, exec, logs, ps, stop,
//! restart, kill, rm, inspect, top, wait, rename, pause, unpause, export, diff, commit.

mod attach;
mod commit;
mod cp;
mod create;
mod diff;
mod exec;
mod export;
mod inspect;
mod kill;
mod logs;
mod netflags;
pub mod opts;
mod pause;
pub mod prune;
mod ps;
mod rename;
mod rm;
mod run;
mod session;
mod start;
mod stats;
mod stop;
mod top;
mod update;
mod wait;

use clap::Subcommand;

use crate::client::{Client, ClientError, Query};

pub use commit::split_reference;
pub use ps::filters_json;

/// The parser of just one container command, for the commands scripts run in loops
/// (see `main`'s `parse`); None for the others. Only a successful parse is taken from it.
pub fn one_command(name: &str) -> Option<clap::Command> {
    use clap::{Args as _, Command};
    Some(match name {
        "run" => run::Args::augment_args(Command::new("run").disable_help_flag(true)),
        "create" => create::Args::augment_args(Command::new("create").disable_help_flag(true)),
        "start" => start::Args::augment_args(Command::new("start")),
        "ps" => ps::Args::augment_args(Command::new("ps")),
        "rm" => rm::Args::augment_args(Command::new("rm")),
        "exec" => exec::Args::augment_args(Command::new("exec")),
        "logs" => logs::Args::augment_args(Command::new("logs")),
        _ => return None,
    })
}

/// The container commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and run a new container from an image.
    Run(run::Args),
    /// Create a new container.
    Create(create::Args),
    /// Start one or more stopped containers.
    Start(start::Args),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(attach::Args),
    /// Execute a command in a running container.
    Exec(exec::Args),
    /// Fetch the logs of a container.
    Logs(logs::Args),
    /// List containers.
    Ps(ps::Args),
    /// Stop one or more running containers.
    Stop(stop::Args),
    /// Restart one or more containers.
    Restart(stop::Args),
    /// Kill one or more running containers.
    Kill(kill::Args),
    /// Remove one or more containers.
    Rm(rm::Args),
    /// Return low-level information on Docker objects.
    Inspect(inspect::Args),
    /// Display the running processes of a container.
    Top(top::Args),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(stats::Args),
    /// Update configuration of one or more containers.
    Update(update::Args),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(wait::Args),
    /// Rename a container.
    Rename(rename::Args),
    /// Pause all processes within one or more containers.
    Pause(pause::Args),
    /// Unpause all processes within one or more containers.
    Unpause(pause::Args),
    /// Copy files/folders between a container and the local filesystem.
    Cp(cp::Args),
    /// Export a container's filesystem as a tar archive.
    Export(export::Args),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(diff::Args),
    /// Create a new image from a container's changes.
    Commit(commit::Args),
    /// Manage containers.
    #[command(subcommand)]
    Container(ContainerCommand),
}

/// `container ...`: the same commands under docker's management command.
#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Create and run a new container from an image.
    Run(run::Args),
    /// Create a new container.
    Create(create::Args),
    /// Start one or more stopped containers.
    Start(start::Args),
    /// Attach to a running container.
    Attach(attach::Args),
    /// Execute a command in a running container.
    Exec(exec::Args),
    /// Fetch the logs of a container.
    Logs(logs::Args),
    /// List containers.
    #[command(visible_aliases = ["list", "ps"])]
    Ls(ps::Args),
    /// Stop one or more running containers.
    Stop(stop::Args),
    /// Restart one or more containers.
    Restart(stop::Args),
    /// Kill one or more running containers.
    Kill(kill::Args),
    /// Remove one or more containers.
    #[command(visible_alias = "remove")]
    Rm(rm::Args),
    /// Display detailed information on one or more containers.
    Inspect(inspect::ContainerArgs),
    /// Display the running processes of a container.
    Top(top::Args),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(stats::Args),
    /// Update configuration of one or more containers.
    Update(update::Args),
    /// Block until one or more containers stop.
    Wait(wait::Args),
    /// Rename a container.
    Rename(rename::Args),
    /// Pause all processes within one or more containers.
    Pause(pause::Args),
    /// Unpause all processes within one or more containers.
    Unpause(pause::Args),
    /// Copy files/folders between a container and the local filesystem.
    Cp(cp::Args),
    /// Export a container's filesystem as a tar archive.
    Export(export::Args),
    /// Inspect changes on a container's filesystem.
    Diff(diff::Args),
    /// Create a new image from a container's changes.
    Commit(commit::Args),
    /// Remove all stopped containers.
    Prune(prune::Args),
}

/// Runs a container command; returns the exit code.
pub fn run(c: &Client, cmd: &Command) -> anyhow::Result<u8> {
    match cmd {
        Command::Run(a) => run::run(c, a),
        Command::Create(a) => create::run(c, a),
        Command::Start(a) => start::run(c, a),
        Command::Attach(a) => attach::run(c, a),
        Command::Exec(a) => exec::run(c, a),
        Command::Logs(a) => logs::run(c, a),
        Command::Ps(a) => ps::run(c, a),
        Command::Stop(a) => stop::run(c, a, "stop"),
        Command::Restart(a) => stop::run(c, a, "restart"),
        Command::Kill(a) => kill::run(c, a),
        Command::Rm(a) => rm::run(c, a),
        Command::Inspect(a) => inspect::run(c, a),
        Command::Top(a) => top::run(c, a),
        Command::Stats(a) => stats::run(c, a),
        Command::Update(a) => update::run(c, a),
        Command::Wait(a) => wait::run(c, a),
        Command::Rename(a) => rename::run(c, a),
        Command::Pause(a) => pause::run(c, a, "pause"),
        Command::Unpause(a) => pause::run(c, a, "unpause"),
        Command::Cp(a) => cp::run(c, a),
        Command::Export(a) => export::run(c, a),
        Command::Diff(a) => diff::run(c, a),
        Command::Commit(a) => commit::run(c, a),
        Command::Container(sub) => run_container(c, sub),
    }
}

fn run_container(c: &Client, cmd: &ContainerCommand) -> anyhow::Result<u8> {
    use ContainerCommand as C;
    match cmd {
        C::Run(a) => run::run(c, a),
        C::Create(a) => create::run(c, a),
        C::Start(a) => start::run(c, a),
        C::Attach(a) => attach::run(c, a),
        C::Exec(a) => exec::run(c, a),
        C::Logs(a) => logs::run(c, a),
        C::Ls(a) => ps::run(c, a),
        C::Stop(a) => stop::run(c, a, "stop"),
        C::Restart(a) => stop::run(c, a, "restart"),
        C::Kill(a) => kill::run(c, a),
        C::Rm(a) => rm::run(c, a),
        C::Inspect(a) => inspect::run_containers(c, a),
        C::Top(a) => top::run(c, a),
        C::Stats(a) => stats::run(c, a),
        C::Update(a) => update::run(c, a),
        C::Wait(a) => wait::run(c, a),
        C::Rename(a) => rename::run(c, a),
        C::Pause(a) => pause::run(c, a, "pause"),
        C::Unpause(a) => pause::run(c, a, "unpause"),
        C::Cp(a) => cp::run(c, a),
        C::Export(a) => export::run(c, a),
        C::Diff(a) => diff::run(c, a),
        C::Commit(a) => commit::run(c, a),
        C::Prune(a) => prune::run(c, a),
    }
}

/// `POST /containers/{name}/{verb}` for each container, printing the name as given on
/// success and docker's error line otherwise; exit code 1 if any failed.
fn each(c: &Client, names: &[String], verb: &str, query: impl Fn() -> Query) -> u8 {
    each_with(names, |name| {
        c.post(&format!("/containers/{}/{verb}", path_part(name)), query())
    })
}

/// Runs `op` for each name as docker's multi-container commands do.
pub fn each_with(names: &[String], op: impl Fn(&str) -> Result<(), ClientError>) -> u8 {
    let mut code = 0;
    for name in names {
        match op(name) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    code
}

/// Runs `op` for each name, printing what it returns, or the error; exit code 1 if any
/// failed.
fn each_status(names: &[String], op: impl Fn(&str) -> anyhow::Result<String>) -> u8 {
    let mut code = 0;
    for name in names {
        match op(name) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("{}", crate::message(&e));
                code = 1;
            }
        }
    }
    code
}

/// A name or ID as one path segment (names cannot hold `/`; anything else is escaped).
pub fn path_part(name: &str) -> String {
    form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The exit status `POST /containers/{id}/wait` reports.
fn wait_status(v: &serde_json::Value) -> anyhow::Result<u8> {
    if let Some(msg) = v["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
        anyhow::bail!("{msg}");
    }
    Ok(v["StatusCode"].as_i64().unwrap_or(0) as u8)
}

/// docker's exit code for a container that could not start: 127 when the command is not
/// there, 126 when it cannot be run, else 125.
fn start_error_code(e: &ClientError) -> u8 {
    let msg = e.to_string().to_ascii_lowercase();
    if ["executable file not found", "no such file or directory"]
        .iter()
        .any(|s| msg.contains(s))
    {
        127
    } else if ["permission denied", "is a directory"]
        .iter()
        .any(|s| msg.contains(s))
    {
        126
    } else {
        125
    }
}
