//! `berth top`: the processes of a running container, as `ps` shows them.

use super::path_part;
use crate::client::{Client, Query};
use crate::format;

/// `top` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container
    container: String,
    /// Options for ps
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

/// `top`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let ps_args = a.ps_args.join(" ");
    let q = Query::new().opt("ps_args", (!ps_args.is_empty()).then_some(ps_args.as_str()));
    let v = c.get_json(&format!("/containers/{}/top", path_part(&a.container)), q)?;
    let titles: Vec<&str> = v["Titles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str())
        .collect();
    let rows: Vec<Vec<String>> = v["Processes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            p.as_array()
                .into_iter()
                .flatten()
                .map(|f| f.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .collect();
    // docker's top table: Go minwidth 20, padding 3.
    format::table_min(&mut std::io::stdout().lock(), 17, &titles, &rows)?;
    Ok(0)
}
