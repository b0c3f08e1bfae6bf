//! `berth commit`: a new image from a container's changes.

use crate::client::{Client, Query};

/// `commit` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pause: bool,
    /// The container
    container: String,
    /// REPOSITORY[:TAG] for the new image
    reference: Option<String>,
}

/// `commit`: prints the new image's ID.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let (repo, tag) = match a.reference.as_deref() {
        Some(r) => split_reference(r),
        None => (None, None),
    };
    let mut q = Query::new()
        .add("container", &a.container)
        .opt("repo", repo)
        .opt("tag", tag)
        .opt("comment", a.message.as_deref())
        .opt("author", a.author.as_deref())
        .add("pause", if a.pause { "1" } else { "0" });
    for ch in &a.change {
        q = q.add("changes", ch);
    }
    let v = c.post_json("/commit", q, None)?;
    println!("{}", v["Id"].as_str().unwrap_or_default());
    Ok(0)
}

/// `name:tag` into its repository and tag (a `:` in a registry's host:port is not a tag).
pub fn split_reference(r: &str) -> (Option<&str>, Option<&str>) {
    if r.contains('@') {
        return (Some(r), None);
    }
    match r.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (Some(repo), Some(tag)),
        _ => (Some(r), None),
    }
}
