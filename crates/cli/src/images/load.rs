//! `load`: images from a `docker save` or OCI layout archive, file or STDIN, streamed to
//! the daemon.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;

use crate::client::{json_messages, Client, Payload, Query};

/// Flags of `load`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

/// `load`.
pub fn run(c: &Client, args: &Args) -> anyhow::Result<u8> {
    let mut input: Box<dyn Read> = match &args.input {
        Some(p) => {
            Box::new(std::fs::File::open(p).with_context(|| format!("open {}", p.display()))?)
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                anyhow::bail!("requested load from stdin, but stdin is empty");
            }
            Box::new(std::io::stdin().lock())
        }
    };
    let q = Query::new().flag("quiet", true);
    let r = c.call(
        "POST",
        "/images/load",
        q,
        Payload::Stream(&mut *input, "application/x-tar"),
    )?;
    let quiet = args.quiet;
    json_messages(r.body, |m| {
        if let Some(s) = m["stream"].as_str().filter(|_| !quiet) {
            print!("{s}");
        }
    })?;
    Ok(0)
}
