//! Container commands: create, start, run, ps, rm, export, diff, commit.

use clap::Subcommand;

use crate::Cli;

/// The container commands.
#[derive(Subcommand, Debug)]
pub enum Command {}

/// Runs a container command; returns the exit code.
pub fn run(_cli: &Cli, cmd: &Command) -> anyhow::Result<u8> {
    match *cmd {}
}
