//! `berth diff`: the changes of a container's filesystem (`A`, `C`, `D` per path).

use berth_engine::Engine;

/// `diff` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container.
    container: String,
}

/// `diff`.
pub fn run(engine: &Engine, a: &Args) -> anyhow::Result<u8> {
    let c = engine.find(&a.container)?;
    for change in engine.diff(&c)? {
        println!("{} {}", change.kind.letter(), change.path);
    }
    Ok(0)
}
