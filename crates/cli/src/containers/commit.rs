//! `berth commit`: a new image from a container's changes.

use berth_engine::{CommitRequest, Engine};

/// `commit` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Commit message.
    #[arg(short, long)]
    message: Option<String>,
    /// Author (e.g. "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Pause container during commit.
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pause: bool,
    /// The container.
    container: String,
    /// REPOSITORY[:TAG] for the new image.
    reference: Option<String>,
}

/// `commit`.
pub fn run(engine: &Engine, a: &Args) -> anyhow::Result<u8> {
    let c = engine.find(&a.container)?;
    let id = engine.commit(
        &c,
        &CommitRequest {
            reference: a.reference.clone(),
            message: a.message.clone(),
            author: a.author.clone(),
            changes: a.change.clone(),
            pause: a.pause,
        },
    )?;
    println!("{id}");
    Ok(0)
}
