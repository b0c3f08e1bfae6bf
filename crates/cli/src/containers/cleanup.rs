//! `berth cleanup ID` (hidden): what a detached container's shim runs once the container
//! has exited, to record its end (and remove it after `run --rm`) with no daemon around.

use berth_engine::{Engine, EngineError};

/// `cleanup` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container's full id.
    id: String,
}

/// `cleanup`: looking the container up finishes a run whose shim recorded its exit.
pub fn run(engine: &Engine, a: &Args) -> anyhow::Result<u8> {
    match engine.find(&a.id) {
        Ok(_) | Err(EngineError::NoSuchContainer(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}
