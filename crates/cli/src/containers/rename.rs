//! `berth rename OLD NEW`.

use super::path_part;
use crate::client::{Client, Query};

/// `rename` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container
    container: String,
    /// Its new name
    new_name: String,
}

/// `rename`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let new = a.new_name.trim();
    if new.is_empty() {
        anyhow::bail!("Error: Neither old nor new names may be empty");
    }
    let path = format!("/containers/{}/rename", path_part(&a.container));
    c.post(&path, Query::new().add("name", new))?;
    Ok(0)
}
