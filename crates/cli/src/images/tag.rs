//! `tag SOURCE TARGET`.

use super::image_path;
use crate::client::{Client, Query};
use crate::containers::split_reference;

/// Arguments of `tag`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// SOURCE_IMAGE[:TAG]
    source: String,
    /// TARGET_IMAGE[:TAG]
    target: String,
}

/// `tag`.
pub fn run(c: &Client, args: &Args) -> anyhow::Result<u8> {
    let (repo, tag) = split_reference(&args.target);
    let q = Query::new().opt("repo", repo).opt("tag", tag);
    c.post(&format!("/images/{}/tag", image_path(&args.source)), q)?;
    Ok(0)
}
