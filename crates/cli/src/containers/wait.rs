//! `berth wait`: block until containers stop, printing each one's exit code.

use super::{each_status, path_part};
use crate::client::{Client, Query};

/// `wait` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The containers
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `wait`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    Ok(each_status(&a.containers, |name| {
        let path = format!("/containers/{}/wait", path_part(name));
        let v = c.post_json(&path, Query::new().add("condition", "not-running"), None)?;
        Ok(super::wait_status(&v)?.to_string())
    }))
}
