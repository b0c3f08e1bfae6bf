//! `berth stop`: SIGTERM, then SIGKILL after the grace period.

use std::time::Duration;

use berth_engine::Engine;

/// `stop` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds to wait before killing the container.
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        default_value_t = 10
    )]
    time: u64,
    /// Containers to stop.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `stop`.
pub fn run(engine: &Engine, a: &Args) -> anyhow::Result<u8> {
    let grace = Duration::from_secs(a.time);
    super::each(engine, &a.containers, |c| engine.stop(c, grace))
}
