//! `berth events`: the daemon's events as they happen (from `--since`, until `--until`),
//! one line each as docker prints them, or through `--format`.

use std::io::Write;
use std::time::SystemTime;

use serde_json::Value;

use crate::client::{json_messages, Client, Payload, Query};
use crate::containers::filters_json;
use crate::containers::opts::timestamp;
use crate::format::Compiled;

/// `events` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
}

/// `events`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let now = SystemTime::now();
    let since = a.since.as_deref().map(|s| timestamp(s, now)).transpose()?;
    let until = a.until.as_deref().map(|s| timestamp(s, now)).transpose()?;
    let q = Query::new()
        .opt("since", since.as_deref())
        .opt("until", until.as_deref())
        .opt("filters", filters_json(&a.filter).as_deref());
    let r = c.call("GET", "/events", q, Payload::Empty)?;
    let tmpl = match a.format.as_deref() {
        Some("json") | None => None,
        Some(t) => Some(Compiled::new(t)?),
    };
    let json = a.format.as_deref() == Some("json");
    let mut out = std::io::stdout().lock();
    let mut failed = None;
    json_messages(r.body, |v| {
        let line = match &tmpl {
            Some(t) => t.render(v),
            None if json => Ok(v.to_string()),
            None => Ok(plain(v)),
        };
        match line {
            Ok(l) => {
                writeln!(out, "{l}").ok();
                out.flush().ok();
            }
            Err(e) => failed = Some(e),
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

/// `2024-01-02T03:04:05.000000000Z container start <id> (image=..., name=...)`.
fn plain(v: &Value) -> String {
    let nanos = v["timeNano"].as_i64().unwrap_or(0);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos.max(0) as u64);
    let when = humantime::format_rfc3339_nanos(t);
    let attrs: Vec<String> = v["Actor"]["Attributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    format!(
        "{when} {} {} {} ({})",
        v["Type"].as_str().unwrap_or_default(),
        v["Action"].as_str().unwrap_or_default(),
        v["Actor"]["ID"].as_str().unwrap_or_default(),
        attrs.join(", ")
    )
}
