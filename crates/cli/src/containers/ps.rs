//! `berth ps`: list containers as docker does (running ones, or all with `-a`).

use std::collections::HashMap;
use std::time::SystemTime;

use berth_engine::record::{parse_time, Container, Status};
use berth_engine::Engine;

use crate::format::{self, Format};

/// `ps` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Format output using a Go template, `table`, `table TEMPLATE` or `json`.
    #[arg(long)]
    format: Option<String>,
}

const HEADER: [&str; 7] = [
    "CONTAINER ID",
    "IMAGE",
    "COMMAND",
    "CREATED",
    "STATUS",
    "PORTS",
    "NAMES",
];

/// `ps`.
pub fn run(engine: &Engine, a: &Args) -> anyhow::Result<u8> {
    let shown: Vec<Container> = engine
        .list()?
        .into_iter()
        .filter(|c| a.all || c.state.status == Status::Running)
        .collect();
    let now = SystemTime::now();
    let items: Vec<serde_json::Value> = shown.iter().map(|c| item(c, now, a.no_trunc)).collect();
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for i in &items {
            println!("{}", i["ID"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    match Format::parse(a.format.as_deref()) {
        Format::Default => format::table(
            &mut out,
            &HEADER,
            &items.iter().map(row).collect::<Vec<_>>(),
        )?,
        Format::Json => {
            for i in &items {
                println!("{}", serde_json::to_string(i)?);
            }
        }
        Format::Template(t) => {
            for i in &items {
                println!("{}", format::render(&t, i)?);
            }
        }
        Format::Table(t) => table_template(&mut out, &t, &items)?,
    }
    Ok(0)
}

fn table_template(
    out: &mut impl std::io::Write,
    t: &str,
    items: &[serde_json::Value],
) -> anyhow::Result<()> {
    let names = HashMap::from([
        ("ID", "CONTAINER ID"),
        ("RunningFor", "CREATED"),
        ("CreatedAt", "CREATED AT"),
    ]);
    let header = format::table_header(t, &names);
    let headers: Vec<&str> = header.split('\t').collect();
    let rows = items
        .iter()
        .map(|i| {
            Ok(format::render(t, i)?
                .split('\t')
                .map(String::from)
                .collect())
        })
        .collect::<anyhow::Result<Vec<Vec<String>>>>()?;
    format::table(out, &headers, &rows)?;
    Ok(())
}

fn row(i: &serde_json::Value) -> Vec<String> {
    [
        "ID",
        "Image",
        "Command",
        "RunningFor",
        "Status",
        "Ports",
        "Names",
    ]
    .iter()
    .map(|k| i[*k].as_str().unwrap_or_default().to_string())
    .collect()
}

/// One container as docker's `ps` template fields.
fn item(c: &Container, now: SystemTime, no_trunc: bool) -> serde_json::Value {
    let id = if no_trunc { &c.id } else { c.short_id() };
    serde_json::json!({
        "ID": id,
        "Image": c.image_name,
        "Command": command(&c.command, no_trunc),
        "CreatedAt": c.created,
        "RunningFor": ago(&c.created, now),
        "Ports": "",
        "Status": status(c, now),
        "State": state_name(c.state.status),
        "Names": c.name,
        "Labels": "",
        "Mounts": "",
        "Networks": "",
        "Size": "",
    })
}

/// `"echo hello"`, cut to 20 characters with an ellipsis unless `no_trunc`.
fn command(args: &[String], no_trunc: bool) -> String {
    let full = args.join(" ");
    let shown = if no_trunc || full.chars().count() <= 20 {
        full
    } else {
        full.chars().take(19).collect::<String>() + "…"
    };
    format!("{shown:?}")
}

fn since(t: &str, now: SystemTime) -> std::time::Duration {
    parse_time(t)
        .and_then(|t| now.duration_since(t).ok())
        .unwrap_or_default()
}

fn ago(t: &str, now: SystemTime) -> String {
    format!("{} ago", format::human_duration(since(t, now)))
}

fn state_name(s: Status) -> &'static str {
    match s {
        Status::Created => "created",
        Status::Running => "running",
        Status::Exited => "exited",
    }
}

/// `Up 3 seconds`, `Exited (0) 5 seconds ago`, `Created`.
fn status(c: &Container, now: SystemTime) -> String {
    match c.state.status {
        Status::Created => "Created".into(),
        Status::Running => {
            let started = c.state.started_at.as_deref().unwrap_or(&c.created);
            format!("Up {}", format::human_duration(since(started, now)))
        }
        Status::Exited => {
            let finished = c.state.finished_at.as_deref().unwrap_or(&c.created);
            let code = c.state.exit_code.unwrap_or(0);
            format!("Exited ({code}) {}", ago(finished, now))
        }
    }
}
