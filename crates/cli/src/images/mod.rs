//! Image commands: load, save, images, inspect, history, tag, rmi, prune, import, export,
//! system df. Each file parses one command's flags, calls the image store and prints as
//! docker prints.

mod df;
mod export;
mod history;
mod import;
mod inspect;
mod list;
mod load;
mod prune;
mod rmi;
mod save;
mod tag;

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

use berth_image::store::ImageStore;
use clap::Subcommand;

use crate::format::{self, Format};
use crate::Cli;

/// The image commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load images from a tar archive (docker save or OCI layout form).
    Load(load::Args),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(save::Args),
    /// List images.
    Images(list::Args),
    /// Return low-level information on images.
    Inspect(inspect::Args),
    /// Show the history of an image.
    History(history::Args),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(tag::Args),
    /// Remove one or more images.
    Rmi(rmi::Args),
    /// Import the contents from a tarball to create a filesystem image.
    Import(import::Args),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage berth.
    #[command(subcommand)]
    System(SystemCommand),
}

/// `image ...`.
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images.
    #[command(visible_alias = "list")]
    Ls(list::Args),
    /// Display detailed information on one or more images.
    Inspect(inspect::Args),
    /// Show the history of an image.
    History(history::Args),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(tag::Args),
    /// Remove one or more images.
    #[command(visible_alias = "remove")]
    Rm(rmi::Args),
    /// Remove unused images.
    Prune(prune::Args),
    /// Import the contents from a tarball to create a filesystem image.
    Import(import::Args),
    /// Load an image from a tar archive or STDIN.
    Load(load::Args),
    /// Save one or more images to a tar archive.
    Save(save::Args),
    /// Write an image's file system as a tar archive (a berth extension).
    #[command(hide = true)]
    Export(export::Args),
}

/// `system ...`.
#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show disk usage.
    Df(df::Args),
}

/// Runs an image command; returns the exit code. Failures print `Error: ...` and exit 1,
/// as docker's image commands do.
pub fn run(cli: &Cli, cmd: &Command) -> anyhow::Result<u8> {
    match dispatch(cli, cmd) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("Error: {e}");
            Ok(1)
        }
    }
}

fn dispatch(cli: &Cli, cmd: &Command) -> anyhow::Result<u8> {
    match cmd {
        Command::Load(a) => load::run(cli, a),
        Command::Save(a) => save::run(cli, a),
        Command::Images(a) => list::run(cli, a),
        Command::Inspect(a) => inspect::run(cli, a),
        Command::History(a) => history::run(cli, a),
        Command::Tag(a) => tag::run(cli, a),
        Command::Rmi(a) => rmi::run(cli, a),
        Command::Import(a) => import::run(cli, a),
        Command::Image(c) => dispatch_image(cli, c),
        Command::System(SystemCommand::Df(a)) => df::run(cli, a),
    }
}

fn dispatch_image(cli: &Cli, cmd: &ImageCommand) -> anyhow::Result<u8> {
    match cmd {
        ImageCommand::Ls(a) => list::run(cli, a),
        ImageCommand::Inspect(a) => inspect::run(cli, a),
        ImageCommand::History(a) => history::run(cli, a),
        ImageCommand::Tag(a) => tag::run(cli, a),
        ImageCommand::Rm(a) => rmi::run(cli, a),
        ImageCommand::Prune(a) => prune::run(cli, a),
        ImageCommand::Import(a) => import::run(cli, a),
        ImageCommand::Load(a) => load::run(cli, a),
        ImageCommand::Save(a) => save::run(cli, a),
        ImageCommand::Export(a) => export::run(cli, a),
    }
}

/// Opens the image store under the data root.
fn open(cli: &Cli) -> anyhow::Result<ImageStore> {
    Ok(ImageStore::open(&cli.data_root)?)
}

/// An image ID as tables show it: 12 hex digits, or the full `sha256:...` with `no_trunc`.
fn short_id(id: &berth_image::digest::Digest, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.hex().chars().take(12).collect()
    }
}

/// A config's `created` time.
fn parse_time(created: Option<&str>) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(created?).ok()
}

/// `2 hours ago`, as docker's CREATED columns print a time.
fn since(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return "N/A".into();
    };
    let age = SystemTime::now()
        .duration_since(t)
        .unwrap_or(Duration::ZERO);
    format!("{} ago", format::human_duration(age))
}

/// Go's `time.Time.String()` in UTC: `2026-11-22 09:20:22 +0000 UTC`.
fn go_time(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return String::new();
    };
    let s = humantime::format_rfc3339_seconds(t).to_string();
    format!(
        "{} +0000 UTC",
        s.trim_end_matches('Z').replacen('T', " ", 1)
    )
}

/// Prints `items` as `--format` asks: the command's default table (`default` template),
/// a `table` template, a plain template per item, or JSON lines.
fn emit(
    fmt: &Format,
    items: &[serde_json::Value],
    default: &str,
    headers: &HashMap<&str, &str>,
) -> anyhow::Result<()> {
    let out = &mut std::io::stdout().lock();
    match fmt {
        Format::Default => table(out, default, items, headers),
        Format::Table(t) => table(out, t, items, headers),
        Format::Template(t) => {
            for item in items {
                writeln!(out, "{}", format::render(t, item)?)?;
            }
            Ok(())
        }
        Format::Json => {
            for item in items {
                writeln!(out, "{}", serde_json::to_string(item)?)?;
            }
            Ok(())
        }
    }
}

fn table(
    out: &mut impl Write,
    template: &str,
    items: &[serde_json::Value],
    headers: &HashMap<&str, &str>,
) -> anyhow::Result<()> {
    let header = format::table_header(template, headers);
    let header: Vec<&str> = header.split('\t').collect();
    let rows = items
        .iter()
        .map(|i| {
            Ok(format::render(template, i)?
                .split('\t')
                .map(String::from)
                .collect())
        })
        .collect::<anyhow::Result<Vec<Vec<String>>>>()?;
    format::table(out, &header, &rows)?;
    Ok(())
}

/// Refuses to write binary data to a terminal, as `docker save` does.
fn refuse_terminal() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    Ok(())
}
