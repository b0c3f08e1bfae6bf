//! `save`: images to a `docker save` archive, to a file (gzipped when its name ends in
//! `.gz` or `.tgz`, a berth extension) or STDOUT.

use std::path::{Path, PathBuf};

use crate::client::{Client, Payload, Query};

/// Flags of `save`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The images
    #[arg(required = true)]
    images: Vec<String>,
}

/// `save`.
pub fn run(c: &Client, args: &Args) -> anyhow::Result<u8> {
    if args.output.is_none() {
        super::refuse_terminal()?;
    }
    let mut q = Query::new();
    for name in &args.images {
        q = q.add("names", name);
    }
    let r = c.call("GET", "/images/get", q, Payload::Empty)?;
    let out = args.output.as_deref();
    super::write_out(out, out.is_some_and(gzipped), r.body)?;
    Ok(0)
}

fn gzipped(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".gz") || name.ends_with(".tgz")
}
