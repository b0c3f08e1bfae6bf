//! System commands: info, version, system df.

mod df;
mod events;
mod info;
mod prune;
pub mod version;

use clap::Subcommand;

use crate::client::Client;

/// The system commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Display system-wide information.
    Info(info::Args),
    /// Get real time events from the server.
    Events(events::Args),
    /// Show the berth version information.
    Version(version::Args),
    /// Manage berth.
    #[command(subcommand)]
    System(SystemCommand),
}

/// `system ...`.
#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show disk usage.
    Df(df::Args),
    /// Display system-wide information.
    Info(info::Args),
    /// Remove unused data.
    Prune(prune::Args),
    /// Get real time events from the server.
    Events(events::Args),
}

/// Runs a system command (not `version`, which runs without a daemon too).
pub fn run(c: &Client, cmd: &Command) -> anyhow::Result<u8> {
    match cmd {
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => info::run(c, a),
        Command::System(SystemCommand::Df(a)) => df::run(c, a),
        Command::Events(a) | Command::System(SystemCommand::Events(a)) => events::run(c, a),
        Command::System(SystemCommand::Prune(a)) => prune::run(c, a),
        Command::Version(_) => anyhow::bail!("version runs before connecting"),
    }
}
