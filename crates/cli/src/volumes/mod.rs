//! `volume create|ls|inspect|rm|prune`, as docker's.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::{Client, Query};
use crate::containers::{each_with, filters_json, path_part};
use crate::format::{self, human_size, Format};

/// `volume ...`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Manage volumes.
    #[command(subcommand)]
    Volume(VolumeCommand),
}

/// The volume commands.
#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume.
    Create(CreateArgs),
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more volumes.
    Inspect(InspectArgs),
    /// Remove one or more volumes.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes.
    Prune(PruneArgs),
}

/// Flags of `volume create`.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    /// The name (random when absent)
    name: Option<String>,
}

/// Flags of `volume ls`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
}

/// Flags of `volume inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// The volumes
    #[arg(required = true)]
    volumes: Vec<String>,
}

/// Flags of `volume rm`.
#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    force: bool,
    /// The volumes
    #[arg(required = true)]
    volumes: Vec<String>,
}

/// Flags of `volume prune`.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

/// Runs a volume command.
pub fn run(c: &Client, cmd: &Command) -> anyhow::Result<u8> {
    let Command::Volume(v) = cmd;
    match v {
        VolumeCommand::Create(a) => create(c, a),
        VolumeCommand::Ls(a) => list(c, a),
        VolumeCommand::Inspect(a) => inspect(c, a),
        VolumeCommand::Rm(a) => remove(c, a),
        VolumeCommand::Prune(a) => prune(c, a),
    }
}

fn pairs(list: &[String]) -> serde_json::Map<String, Value> {
    list.iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), json!(v))
        })
        .collect()
}

fn create(c: &Client, a: &CreateArgs) -> anyhow::Result<u8> {
    let body = json!({
        "Name": a.name.clone().unwrap_or_default(),
        "Driver": a.driver,
        "DriverOpts": pairs(&a.opt),
        "Labels": pairs(&a.label),
    });
    let v = c.post_json("/volumes/create", Query::new(), Some(&body))?;
    println!("{}", v["Name"].as_str().unwrap_or_default());
    Ok(0)
}

fn list(c: &Client, a: &ListArgs) -> anyhow::Result<u8> {
    let q = Query::new().opt("filters", filters_json(&a.filter).as_deref());
    let v = c.get_json("/volumes", q)?;
    let vols = v["Volumes"].as_array().cloned().unwrap_or_default();
    if a.quiet {
        for vol in &vols {
            println!("{}", vol["Name"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    let items: Vec<Value> = vols.iter().map(list_item).collect();
    let headers = HashMap::from([("Name", "VOLUME NAME"), ("Mountpoint", "MOUNTPOINT")]);
    let fmt = Format::parse(a.format.as_deref());
    format::emit(&fmt, &items, "{{.Driver}}\t{{.Name}}", &headers)?;
    Ok(0)
}

/// A volume's fields as `volume ls --format` knows them.
fn list_item(v: &Value) -> Value {
    let labels = v["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "Name": v["Name"], "Driver": v["Driver"], "Scope": v["Scope"],
        "Mountpoint": v["Mountpoint"], "Labels": labels, "CreatedAt": v["CreatedAt"],
        "Size": "N/A", "Links": "N/A",
    })
}

fn inspect(c: &Client, a: &InspectArgs) -> anyhow::Result<u8> {
    format::inspect_each(&a.volumes, a.format.as_deref(), |name| {
        c.get_raw(&format!("/volumes/{}", path_part(name)), Query::new())
    })
}

fn remove(c: &Client, a: &RmArgs) -> anyhow::Result<u8> {
    Ok(each_with(&a.volumes, |name| {
        let q = Query::new().flag("force", a.force);
        c.delete(&format!("/volumes/{}", path_part(name)), q)
            .map(drop)
    }))
}

fn prune(c: &Client, a: &PruneArgs) -> anyhow::Result<u8> {
    if !a.force && !confirm(a.all)? {
        println!("Total reclaimed space: 0B");
        return Ok(0);
    }
    let mut filters = a.filter.clone();
    if a.all {
        filters.push("all=true".into());
    }
    let q = Query::new().opt("filters", filters_json(&filters).as_deref());
    let v = c.post_json("/volumes/prune", q, None)?;
    let deleted = v["VolumesDeleted"].as_array().cloned().unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Volumes:");
        for d in &deleted {
            println!("{}", d.as_str().unwrap_or_default());
        }
        println!();
    }
    let reclaimed = v["SpaceReclaimed"].as_u64().unwrap_or(0);
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(0)
}

fn confirm(all: bool) -> anyhow::Result<bool> {
    let what = if all {
        "all local volumes not used by at least one container"
    } else {
        "anonymous local volumes not used by at least one container"
    };
    print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y"))
}
