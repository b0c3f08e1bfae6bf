//! `berth diff`: the changes of a container's filesystem (`A`, `C`, `D` per path).

use super::path_part;
use crate::client::{Client, Query};

/// `diff` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container
    container: String,
}

/// `diff`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let path = format!("/containers/{}/changes", path_part(&a.container));
    let changes = c.get_json(&path, Query::new())?;
    for ch in changes.as_array().into_iter().flatten() {
        let kind = match ch["Kind"].as_i64() {
            Some(1) => 'A',
            Some(2) => 'D',
            _ => 'C',
        };
        println!("{kind} {}", ch["Path"].as_str().unwrap_or_default());
    }
    Ok(0)
}
