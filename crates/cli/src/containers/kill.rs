//! `berth kill`: send a signal (SIGKILL by default) to running containers.

use super::each;
use crate::client::{Client, Query};

/// `kill` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Signal to send to the container
    #[arg(short, long)]
    signal: Option<String>,
    /// The containers
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `kill`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    Ok(each(c, &a.containers, "kill", || {
        Query::new().opt("signal", a.signal.as_deref())
    }))
}
