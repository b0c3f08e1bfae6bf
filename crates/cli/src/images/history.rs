//! `history`: an image's build steps, newest first.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{image_path, short_id, since_unix, unix_time};
use crate::client::{Client, Query};
use crate::format::{self, ellipsis, human_size, Format};

/// Flags of `history`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format output using a custom template
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

/// `history`.
pub fn run(c: &Client, args: &Args) -> anyhow::Result<u8> {
    let h = c.get_json(
        &format!("/images/{}/history", image_path(&args.image)),
        Query::new(),
    )?;
    let items: Vec<Value> = h
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| item(e, args))
        .collect();
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
    format::emit(&fmt, &items, default, &headers)?;
    Ok(0)
}

fn item(h: &Value, args: &Args) -> Value {
    let created = h["Created"].as_i64().unwrap_or(0);
    let t = unix_time(created);
    let mut created_by = h["CreatedBy"]
        .as_str()
        .unwrap_or_default()
        .replace('\t', " ");
    if !args.no_trunc {
        created_by = ellipsis(&created_by, CREATED_BY_WIDTH);
    }
    let size = h["Size"].as_i64().unwrap_or(0).max(0) as u64;
    let (since, size) = if args.human {
        (since_unix(created), human_size(size))
    } else {
        (
            humantime::format_rfc3339_seconds(t).to_string(),
            size.to_string(),
        )
    };
    let id = match h["Id"].as_str() {
        Some(id) if id.starts_with("sha256:") => short_id(id, args.no_trunc),
        _ => "<missing>".into(),
    };
    json!({
        "Comment": h["Comment"].as_str().unwrap_or_default(),
        "CreatedAt": format::go_time(Some(t)),
        "CreatedBy": created_by,
        "CreatedSince": since,
        "ID": id,
        "Size": size,
    })
}
