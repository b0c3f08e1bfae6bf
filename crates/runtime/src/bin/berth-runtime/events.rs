//! `events`: container statistics, once (`--stats`) or every interval until it stops.

use std::time::Duration;

use berth_runtime::container::{Runtime, Status};

/// `events` flags.
#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// The container id.
    pub id: String,
    /// Seconds between reports (e.g. 5s).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Print statistics once and exit.
    #[arg(long)]
    pub stats: bool,
}

fn print_stats(rt: &Runtime, id: &str) -> anyhow::Result<()> {
    let data = rt.stats(id)?;
    let ev = serde_json::json!({"type": "stats", "id": id, "data": data});
    println!("{ev}");
    Ok(())
}

/// Runs `events`.
pub fn run(rt: &Runtime, a: &EventsArgs) -> anyhow::Result<()> {
    let interval = humantime::parse_duration(&a.interval)
        .map_err(|e| anyhow::anyhow!("--interval {:?}: {e}", a.interval))?;
    if interval.is_zero() {
        anyhow::bail!("--interval: must be greater than 0");
    }
    if a.stats {
        return print_stats(rt, &a.id);
    }
    loop {
        let saved = rt.root.load(&a.id)?;
        if rt.status(&saved) == Status::Stopped {
            return Ok(());
        }
        print_stats(rt, &a.id)?;
        std::thread::sleep(interval.max(Duration::from_millis(100)));
    }
}
