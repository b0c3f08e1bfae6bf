//! `image export IMAGE` (a berth extension): the image's merged file system as a tar.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::save::to_file;
use super::{open, refuse_terminal};
use crate::Cli;

/// Flags of `image export`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The image
    image: String,
}

pub(super) fn run(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let store = open(cli)?;
    match &args.output {
        Some(path) => to_file(path, |f| Ok(store.export_image(&args.image, f)?)),
        None => {
            refuse_terminal()?;
            let out = BufWriter::new(std::io::stdout().lock());
            store.export_image(&args.image, out)?.flush()?;
            Ok(0)
        }
    }
}
