//! `berth stop` and `berth restart`: the stop signal, then SIGKILL after the grace period.

use super::each;
use crate::client::{Client, Query};

/// `stop` / `restart` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Signal to send to the container
    #[arg(short, long)]
    signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        allow_hyphen_values = true
    )]
    time: Option<i64>,
    /// The containers
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `stop` or `restart` (`verb`).
pub fn run(c: &Client, a: &Args, verb: &str) -> anyhow::Result<u8> {
    let t = a.time.map(|t| t.to_string());
    Ok(each(c, &a.containers, verb, || {
        Query::new()
            .opt("t", t.as_deref())
            .opt("signal", a.signal.as_deref())
    }))
}
