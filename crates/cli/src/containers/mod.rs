//! Container commands: create, start, run, ps, rm, stop, kill, export, diff, commit. Each
//! is one file; the work is in `berth_engine`.

mod cleanup;
mod commit;
mod create;
mod diff;
mod export;
mod kill;
mod ps;
mod rm;
mod run;
mod start;
mod stop;

use berth_engine::{Engine, EngineError};
use clap::Subcommand;

use crate::Cli;

/// The container commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new container.
    Create(create::Args),
    /// Start a stopped container.
    Start(start::Args),
    /// Create and run a new container from an image.
    Run(run::Args),
    /// List containers.
    Ps(ps::Args),
    /// Remove one or more containers.
    Rm(rm::Args),
    /// Stop one or more running containers.
    Stop(stop::Args),
    /// Kill one or more running containers.
    Kill(kill::Args),
    /// Export a container's filesystem as a tar archive.
    Export(export::Args),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(diff::Args),
    /// Create a new image from a container's changes.
    Commit(commit::Args),
    /// Record the end of a detached container (run by its shim).
    #[command(hide = true)]
    Cleanup(cleanup::Args),
}

/// Runs a container command; returns the exit code.
pub fn run(cli: &Cli, cmd: &Command) -> anyhow::Result<u8> {
    let mut engine = Engine::open(&cli.data_root)?;
    // With no daemon, a detached container's shim runs `berth cleanup ID` when it exits.
    let exe = std::env::current_exe()?;
    let root = std::path::absolute(&cli.data_root)?;
    engine.set_exit_hook(vec![
        exe.into(),
        "--data-root".into(),
        root.into(),
        "cleanup".into(),
    ]);
    match cmd {
        Command::Create(a) => create::run(&engine, a),
        Command::Start(a) => start::run(&engine, a),
        Command::Run(a) => run::run(&engine, a),
        Command::Ps(a) => ps::run(&engine, a),
        Command::Rm(a) => rm::run(&engine, a),
        Command::Stop(a) => stop::run(&engine, a),
        Command::Kill(a) => kill::run(&engine, a),
        Command::Export(a) => export::run(&engine, a),
        Command::Diff(a) => diff::run(&engine, a),
        Command::Commit(a) => commit::run(&engine, a),
        Command::Cleanup(a) => cleanup::run(&engine, a),
    }
}

/// Turns a failure to start a container's command into docker's exit code (126, 127)
/// after printing it; other errors go on to be printed with 125.
fn start_failure(e: EngineError) -> anyhow::Result<u8> {
    match e.exit_code() {
        125 => Err(e.into()),
        code => {
            eprintln!("Error: {e}");
            Ok(code)
        }
    }
}

/// Runs `op` on each named container, printing the name as given on success and the
/// error otherwise, as docker's multi-container commands do; exit code 1 if any failed.
fn each(
    engine: &Engine,
    names: &[String],
    op: impl Fn(&berth_engine::record::Container) -> Result<(), EngineError>,
) -> anyhow::Result<u8> {
    let mut code = 0;
    for name in names {
        match engine.find(name).and_then(|c| op(&c)) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
