//! `push`: `POST /images/{name}/push?tag=` with the registry's credentials.

use std::io::IsTerminal;

use crate::client::{json_messages, Client, Payload, Query};
use crate::registry::progress::Display;

/// Flags of `push`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Push all tags of an image to the repository
    #[arg(short, long)]
    all_tags: bool,
    /// Skip image signing
    #[arg(long, default_value_t = true)]
    disable_content_trust: bool,
    /// Push a platform-specific manifest as a single-platform image to the registry
    #[arg(long)]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// The image: NAME[:TAG]
    image: String,
}

/// `push`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let image = if a.all_tags {
        a.image.clone()
    } else {
        let tagged = super::tagged(&a.image);
        if tagged != a.image && !a.quiet {
            println!("Using default tag: latest");
        }
        tagged
    };
    let (name, tag) = match a.all_tags {
        true => (image.as_str(), None),
        false => {
            let (n, t) = split_tag(&image);
            (n, Some(t))
        }
    };
    let auth = super::auth_header(&image)?;
    let path = format!("/images/{}/push", crate::images::image_path(name));
    let q = Query::new().opt("tag", tag);
    let headers = [("X-Registry-Auth", auth.as_str())];
    let r = crate::client::check(c.send("POST", &path, q, &headers, Payload::Empty)?)?;
    let mut out = std::io::stdout();
    let tty = out.is_terminal();
    let mut display = Display::new(&mut out, tty);
    let quiet = a.quiet;
    json_messages(r.body, |m| {
        if !quiet {
            display.show(m).ok();
        }
    })?;
    if quiet {
        println!("{image}");
    }
    Ok(0)
}

/// `name:tag` split at the tag's colon (a registry port is not a tag).
fn split_tag(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}
