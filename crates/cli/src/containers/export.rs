//! `berth export`: a container's filesystem as a tar archive, to a file or STDOUT.

use std::path::PathBuf;

use super::path_part;
use crate::client::{Client, Payload, Query};

/// `export` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The container
    container: String,
}

/// `export`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    if a.output.is_none() {
        crate::images::refuse_terminal()?;
    }
    let path = format!("/containers/{}/export", path_part(&a.container));
    let r = c.call("GET", &path, Query::new(), Payload::Empty)?;
    crate::images::write_out(a.output.as_deref(), false, r.body)?;
    Ok(0)
}
