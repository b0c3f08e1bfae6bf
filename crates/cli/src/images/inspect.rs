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
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for name in &args.images {
        match c.get_raw(&format!("/images/{}/json", image_path(name)), Query::new()) {
            Ok(doc) => docs.push(doc),
            Err(e) => errors.push(e),
        }
    }
    format::inspect(&docs, args.format.as_deref())?;
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(u8::from(!errors.is_empty()))
}
