//! `pull`: `POST /images/create?fromImage=` with the registry's credentials, progress as
//! docker draws it, then the full reference.

use std::io::IsTerminal;

use crate::client::{json_messages, Client, Payload, Query};
use crate::registry::progress::Display;

/// Flags of `pull`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Download all tagged images in the repository
    #[arg(short, long)]
    all_tags: bool,
    /// Skip image verification
    #[arg(long, default_value_t = true)]
    disable_content_trust: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// The image: NAME[:TAG|@DIGEST]
    image: String,
}

/// `pull`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let image = if a.all_tags {
        if a.image.contains('@') || a.image.rsplit('/').next().is_some_and(|l| l.contains(':')) {
            anyhow::bail!("tag can't be used with --all-tags/-a");
        }
        a.image.clone()
    } else {
        let tagged = super::tagged(&a.image);
        if tagged != a.image && !a.quiet {
            println!("Using default tag: latest");
        }
        tagged
    };
    let quiet = a.quiet;
    let out = std::io::stdout();
    let tty = out.is_terminal();
    let mut display = Display::new(out, tty);
    pull_image(c, &image, a.platform.as_deref(), |m| {
        if !quiet {
            display.show(m).ok();
        }
    })?;
    if !a.all_tags || quiet {
        println!("{}", full_name(&image));
    }
    Ok(0)
}

/// Pulls `image` (with a tag or digest), passing each progress message to `each`.
pub fn pull_image(
    c: &Client,
    image: &str,
    platform: Option<&str>,
    mut each: impl FnMut(&serde_json::Value),
) -> anyhow::Result<()> {
    let auth = super::auth_header(image)?;
    let q = Query::new()
        .add("fromImage", image)
        .opt("platform", platform);
    let headers = [("X-Registry-Auth", auth.as_str())];
    let r = crate::client::check(c.send("POST", "/images/create", q, &headers, Payload::Empty)?)?;
    json_messages(r.body, |m| each(m))?;
    Ok(())
}

/// Pulls `image` for `run`/`create`, drawing progress on stderr.
pub fn pull_for_create(c: &Client, image: &str) -> anyhow::Result<()> {
    let mut err = std::io::stderr();
    let tty = err.is_terminal();
    let mut display = Display::new(&mut err, tty);
    pull_image(c, image, None, |m| {
        display.show(m).ok();
    })
}

/// The name docker prints after a pull: `docker.io/library/busybox:latest`.
fn full_name(image: &str) -> String {
    if super::registry_of(image) != "docker.io" || image.starts_with("docker.io/") {
        return image.to_string();
    }
    if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    }
}
