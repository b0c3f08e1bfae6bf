//! `berth run`: create a container and start it, in the foreground (its exit code is
//! ours) or detached (`-d` prints its id); `--rm` removes it once it exits.

use berth_engine::Engine;

use super::create::Flags;

/// `run` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run in the background and print the container id.
    #[arg(short, long)]
    detach: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    #[command(flatten)]
    flags: Flags,
}

/// `run`.
pub fn run(engine: &Engine, a: &Args) -> anyhow::Result<u8> {
    let c = engine.create(&a.flags.request(a.rm))?;
    let started = if a.detach {
        engine.start_detached(&c).map(|()| 0)
    } else {
        engine.start_attached(&c)
    };
    match started {
        Ok(code) => {
            if a.detach {
                println!("{}", c.id);
            }
            Ok(code as u8)
        }
        Err(e) => {
            if a.rm {
                // The start error is the one to report.
                engine.remove(&c, true).ok();
            }
            super::start_failure(e)
        }
    }
}
