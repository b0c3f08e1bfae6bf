//! Image commands: build, load, save, images, inspect, history, tag, rmi, prune, import. Each
//! file parses one command's flags, calls the daemon and prints as docker prints.

mod build;
mod history;
mod import;
mod inspect;
mod list;
mod load;
mod prune;
mod rmi;
pub use rmi::print_lines;
mod save;
mod tag;

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use anyhow::Context;
use clap::Subcommand;

use crate::client::Client;

/// The image commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build an image from a Dockerfile.
    Build(build::Args),
    /// Manage builds.
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Load images from a tar archive (docker save or OCI layout form).
    Load(load::Args),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(save::Args),
    /// List images.
    Images(list::Args),
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
}

/// `builder ...`.
// Parsed once per process: the size of the largest command's flags does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum BuilderCommand {
    /// Build an image from a Dockerfile.
    Build(build::Args),
    /// Remove build cache.
    Prune(build::PruneArgs),
}

/// `image ...`.
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile.
    Build(build::Args),
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
    /// Download an image from a registry.
    Pull(crate::registry::pull::Args),
    /// Upload an image to a registry.
    Push(crate::registry::push::Args),
}

/// Runs an image command; returns the exit code.
pub fn run(c: &Client, cmd: &Command) -> anyhow::Result<u8> {
    match cmd {
        Command::Build(a) => build::run(c, a),
        Command::Builder(BuilderCommand::Build(a)) => build::run(c, a),
        Command::Builder(BuilderCommand::Prune(a)) => build::prune(c, a),
        Command::Load(a) => load::run(c, a),
        Command::Save(a) => save::run(c, a),
        Command::Images(a) => list::run(c, a),
        Command::History(a) => history::run(c, a),
        Command::Tag(a) => tag::run(c, a),
        Command::Rmi(a) => rmi::run(c, a),
        Command::Import(a) => import::run(c, a),
        Command::Image(sub) => run_image(c, sub),
    }
}

fn run_image(c: &Client, cmd: &ImageCommand) -> anyhow::Result<u8> {
    match cmd {
        ImageCommand::Build(a) => build::run(c, a),
        ImageCommand::Ls(a) => list::run(c, a),
        ImageCommand::Inspect(a) => inspect::run(c, a),
        ImageCommand::History(a) => history::run(c, a),
        ImageCommand::Tag(a) => tag::run(c, a),
        ImageCommand::Rm(a) => rmi::run(c, a),
        ImageCommand::Prune(a) => prune::run(c, a),
        ImageCommand::Import(a) => import::run(c, a),
        ImageCommand::Load(a) => load::run(c, a),
        ImageCommand::Save(a) => save::run(c, a),
        ImageCommand::Pull(a) => crate::registry::pull::run(c, a),
        ImageCommand::Push(a) => crate::registry::push::run(c, a),
    }
}

/// An image name in a path: names keep their `/`, `:` and `@`; anything else unusual is
/// escaped.
pub fn image_path(name: &str) -> String {
    name.split('/')
        .map(|seg| {
            form_urlencoded::byte_serialize(seg.as_bytes())
                .collect::<String>()
                .replace("%3A", ":")
                .replace("%40", "@")
                .replace('+', "%20")
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// An image ID as tables show it: 12 hex digits, or the full `sha256:...` with `no_trunc`.
pub fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.trim_start_matches("sha256:").chars().take(12).collect()
    }
}

/// Refuses to write binary data to a terminal, as `docker save` does.
pub fn refuse_terminal() -> anyhow::Result<()> {
    if std::io::stdout().is_terminal() {
        anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    Ok(())
}

/// Copies `body` to `path` (through a temporary file renamed into place when complete;
/// gzipped when `gzip`) or to STDOUT.
pub fn write_out(path: Option<&Path>, gzip: bool, mut body: impl Read) -> anyhow::Result<()> {
    let Some(path) = path else {
        let mut out = std::io::stdout().lock();
        std::io::copy(&mut body, &mut out).context("write to stdout")?;
        return out.flush().context("write to stdout");
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("create a file in {}", dir.display()))?;
    let file = std::io::BufWriter::new(tmp.reopen()?);
    let write = |e| anyhow::Error::new(e).context(format!("write {}", path.display()));
    let file = if gzip {
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        std::io::copy(&mut body, &mut gz).map_err(write)?;
        gz.finish().map_err(write)?
    } else {
        let mut file = file;
        std::io::copy(&mut body, &mut file).map_err(write)?;
        file
    };
    let file = file.into_inner().map_err(|e| write(e.into_error()))?;
    file.sync_all().map_err(write)?;
    let file = tmp
        .persist(path)
        .map_err(|e| anyhow::anyhow!("write {}: {}", path.display(), e.error))?;
    // As docker creates it (0666 less the usual umask), not a temporary file's 0600.
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    Ok(())
}

/// `2 hours ago` for Unix seconds.
pub fn since_unix(secs: i64) -> String {
    crate::format::ago(Some(unix_time(secs)), std::time::SystemTime::now())
}

/// Unix seconds as a time.
pub fn unix_time(secs: i64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64)
}
