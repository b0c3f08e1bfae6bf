//! `image inspect`: docker's JSON for images, as the daemon gives it.

use super::image_path;
use crate::client::{Client, Query};
use crate::format;

/// Flags of `image inspect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// The images
    #[arg(required = true)]
    images: Vec<String>,
}

/// `image inspect`.
pub fn run(c: &Client, args: &Args) -> anyhow::Result<u8> {
    format::inspect_each(&args.images, args.format.as_deref(), |name| {
        c.get_raw(&format!("/images/{}/json", image_path(name)), Query::new())
    })
}
