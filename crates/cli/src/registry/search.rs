//! `search`: `GET /images/search` (the registry's v1 search API, through the daemon),
//! printed as docker prints it: NAME, DESCRIPTION (45 columns unless `--no-trunc`),
//! STARS, OFFICIAL.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::client::{Client, Payload, Query};
use crate::containers::filters_json;
use crate::format::{self, ellipsis, Format};

/// Flags of `search`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Max number of search results
    #[arg(long)]
    limit: Option<u32>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// The term: words, or REGISTRY/words
    term: String,
}

/// The DESCRIPTION column's width.
const DESCRIPTION_WIDTH: usize = 45;

/// `search`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let limit = a.limit.map(|l| l.to_string());
    let q = Query::new()
        .add("term", &a.term)
        .opt("limit", limit.as_deref())
        .opt("filters", filters_json(&a.filter).as_deref());
    let auth = super::auth_header(&a.term)?;
    let headers = [("X-Registry-Auth", auth.as_str())];
    let r = crate::client::check(c.send("GET", "/images/search", q, &headers, Payload::Empty)?)?;
    let results: Value = serde_json::from_slice(&r.body.bytes()?)?;
    let items: Vec<Value> = results
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| item(r, a.no_trunc))
        .collect();
    let default = "{{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";
    let headers = HashMap::from([
        ("Name", "NAME"),
        ("Description", "DESCRIPTION"),
        ("StarCount", "STARS"),
        ("IsOfficial", "OFFICIAL"),
    ]);
    format::emit(
        &Format::parse(a.format.as_deref()),
        &items,
        default,
        &headers,
    )?;
    Ok(0)
}

fn item(r: &Value, no_trunc: bool) -> Value {
    let mut description = r["description"]
        .as_str()
        .unwrap_or_default()
        .replace('\n', " ");
    if !no_trunc {
        description = ellipsis(&description, DESCRIPTION_WIDTH);
    }
    let official = if r["is_official"].as_bool() == Some(true) {
        "[OK]"
    } else {
        ""
    };
    json!({
        "Name": r["name"],
        "Description": description,
        "StarCount": r["star_count"].as_u64().unwrap_or(0).to_string(),
        "IsOfficial": official,
    })
}
