//! `berth pause` and `berth unpause`: freeze and thaw every process of containers.

use super::each;
use crate::client::{Client, Query};

/// `pause` / `unpause` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The containers
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `pause` or `unpause` (`verb`).
pub fn run(c: &Client, a: &Args, verb: &str) -> anyhow::Result<u8> {
    Ok(each(c, &a.containers, verb, Query::new))
}
