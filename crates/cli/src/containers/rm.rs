//! `berth rm`: remove containers (`-f` kills running ones first).

use super::{each_with, path_part};
use crate::client::{Client, Query};

/// `rm` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    /// Remove the specified link
    #[arg(short, long)]
    link: bool,
    /// The containers
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `rm`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    Ok(each_with(&a.containers, |name| {
        let q = Query::new()
            .flag("force", a.force)
            .flag("v", a.volumes)
            .flag("link", a.link);
        c.delete(&format!("/containers/{}", path_part(name)), q)
            .map(drop)
    }))
}
