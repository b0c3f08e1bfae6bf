//! `berth kill`: send a signal (SIGKILL by default) to a running container.

use berth_engine::Engine;

/// `kill` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Signal to send to the container.
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    /// Containers to signal.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `kill`.
pub fn run(engine: &Engine, a: &Args) -> anyhow::Result<u8> {
    let sig = berth_runtime::signal::parse(&a.signal).map_err(anyhow::Error::msg)?;
    super::each(engine, &a.containers, |c| engine.kill(c, sig))
}
