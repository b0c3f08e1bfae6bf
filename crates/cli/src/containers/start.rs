//! `berth start`: start a created or exited container, detached or attached (`-a`).

use berth_engine::Engine;

/// `start` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Attach: wait for the container and return its exit code.
    #[arg(short, long)]
    attach: bool,
    /// Containers to start.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `start`.
pub fn run(engine: &Engine, a: &Args) -> anyhow::Result<u8> {
    if a.attach {
        let [one] = a.containers.as_slice() else {
            anyhow::bail!("you cannot start and attach multiple containers at once");
        };
        let c = engine.find(one)?;
        return match engine.start_attached(&c) {
            Ok(code) => Ok(code as u8),
            Err(e) => super::start_failure(e),
        };
    }
    super::each(engine, &a.containers, |c| engine.start_detached(c))
}
