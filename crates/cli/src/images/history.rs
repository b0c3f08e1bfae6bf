//! `history`: an image's build steps from its config's history, newest first.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::inspect::config_of;
use super::{emit, go_time, open, parse_time, short_id, since};
use crate::format::{human_size, Format};
use crate::Cli;

/// Flags of `history`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Pretty-print history using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// The image
    image: String,
}

/// The CREATED BY column's width in docker's table.
const CREATED_BY_WIDTH: usize = 45;

pub(super) fn run(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let store = open(cli)?;
    let id = store.db().resolve_id(&args.image)?;
    let summary = store.summary(&id)?;
    let cfg = config_of(&store, &summary)?;
    let entries = history_entries(&cfg, summary.image.layers.len());
    let mut sizes = summary
        .image
        .layers
        .iter()
        .map(|l| store.layer_size(&l.chain_id));
    let mut items: Vec<Value> = entries
        .iter()
        .map(|h| {
            let empty = h["empty_layer"].as_bool().unwrap_or(false);
            let size = if empty { 0 } else { sizes.next().unwrap_or(0) };
            item(h, size, args)
        })
        .collect();
    items.reverse();
    if let Some(top) = items.first_mut() {
        top["ID"] = short_id(&id, args.no_trunc).into();
    }
    let fmt = if args.quiet {
        Format::Template("{{.ID}}".into())
    } else {
        Format::parse(args.format.as_deref())
    };
    let default = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
    let headers = HashMap::from([
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
    ]);
    emit(&fmt, &items, default, &headers)?;
    Ok(0)
}

/// The config's history, or one anonymous entry per layer when it has none.
fn history_entries(cfg: &Value, layers: usize) -> Vec<Value> {
    match cfg["history"].as_array() {
        Some(h) if !h.is_empty() => h.clone(),
        _ => (0..layers).map(|_| json!({})).collect(),
    }
}

fn item(h: &Value, size: u64, args: &Args) -> Value {
    let t = parse_time(h["created"].as_str());
    let mut created_by = h["created_by"]
        .as_str()
        .unwrap_or_default()
        .replace('\t', " ");
    if !args.no_trunc {
        created_by = ellipsis(&created_by, CREATED_BY_WIDTH);
    }
    let (created, size) = if args.human {
        (since(t), human_size(size))
    } else {
        let at = t.map(|t| humantime::format_rfc3339_seconds(t).to_string());
        (at.unwrap_or_default(), size.to_string())
    };
    json!({
        "Comment": h["comment"].as_str().unwrap_or_default(),
        "CreatedAt": go_time(t),
        "CreatedBy": created_by,
        "CreatedSince": created,
        "ID": "<missing>",
        "Size": size,
    })
}

/// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}
