//! `import file|- [REPOSITORY[:TAG]]`: a root file system tar becomes an image.

use std::io::Read;

use anyhow::Context;

use crate::client::{json_messages, Client, Payload, Query};
use crate::containers::split_reference;

/// Flags of `import`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// A file, or `-` for STDIN
    source: String,
    /// REPOSITORY[:TAG]
    repository: Option<String>,
}

/// `import`: prints the new image's ID.
pub fn run(c: &Client, args: &Args) -> anyhow::Result<u8> {
    let (repo, tag) = match args.repository.as_deref() {
        Some(r) => split_reference(r),
        None => (None, None),
    };
    let mut q = Query::new()
        .add(
            "fromSrc",
            if args.source.contains("://") {
                &args.source
            } else {
                "-"
            },
        )
        .opt("repo", repo)
        .opt("tag", tag)
        .opt("message", args.message.as_deref())
        .opt("platform", args.platform.as_deref());
    for ch in &args.change {
        q = q.add("changes", ch);
    }
    let mut input: Box<dyn Read> = if args.source == "-" {
        Box::new(std::io::stdin().lock())
    } else if args.source.contains("://") {
        Box::new(std::io::empty())
    } else {
        Box::new(
            std::fs::File::open(&args.source).with_context(|| format!("open {}", args.source))?,
        )
    };
    let r = c.call(
        "POST",
        "/images/create",
        q,
        Payload::Stream(&mut *input, "application/x-tar"),
    )?;
    json_messages(r.body, |m| {
        if let Some(s) = m["status"].as_str() {
            println!("{s}");
        }
    })?;
    Ok(0)
}
