//! berth: the command line. It takes docker's commands and flags; until the daemon exists
//! the image and container commands call the libraries directly on a data root.

mod containers;
mod format;
mod images;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// berth's command line.
#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "A container engine with docker's commands"
)]
pub struct Cli {
    /// Where images, layers and containers are kept.
    #[arg(
        long = "data-root",
        global = true,
        env = "BERTH_DATA_ROOT",
        default_value = "/var/lib/berth"
    )]
    pub data_root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[command(flatten)]
    Images(images::Command),
    #[command(flatten)]
    Containers(containers::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Images(c) => images::run(&cli, c),
        Command::Containers(c) => containers::run(&cli, c),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("Error: {e:#}");
            // docker exits 125 when the engine itself fails.
            ExitCode::from(125)
        }
    }
}
