//! `save`: images to a `docker save` archive (or an OCI layout with `--format oci`), to a
//! file (gzipped when its name ends in `.gz` or `.tgz`) or STDOUT.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use berth_image::archive::ArchiveForm;

use super::{open, refuse_terminal};
use crate::Cli;

/// Flags of `save`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Archive layout: docker (default) or oci (a berth extension)
    #[arg(long, default_value = "docker", value_parser = ["docker", "oci"])]
    format: String,
    /// The images
    #[arg(required = true)]
    images: Vec<String>,
}

pub(super) fn run(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let form = match args.format.as_str() {
        "oci" => ArchiveForm::Oci,
        _ => ArchiveForm::Docker,
    };
    let store = open(cli)?;
    match &args.output {
        Some(path) => to_file(path, |f| {
            Ok(store.save(&args.images, form, gzipped(path), f)?)
        }),
        None => {
            refuse_terminal()?;
            let out = BufWriter::new(std::io::stdout().lock());
            store.save(&args.images, form, false, out)?.flush()?;
            Ok(0)
        }
    }
}

fn gzipped(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".gz") || name.ends_with(".tgz")
}

/// Writes through a temporary file beside `path`, renamed into place when complete.
pub(super) fn to_file(
    path: &Path,
    write: impl FnOnce(BufWriter<std::fs::File>) -> anyhow::Result<BufWriter<std::fs::File>>,
) -> anyhow::Result<u8> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| anyhow::anyhow!("create a file in {}: {e}", dir.display()))?;
    let file = tmp.reopen()?;
    let mut out = write(BufWriter::new(file))?;
    out.flush()?;
    out.get_ref().sync_all()?;
    let file = tmp
        .persist(path)
        .map_err(|e| anyhow::anyhow!("write {}: {}", path.display(), e.error))?;
    // As docker creates it (0666 less the usual umask), not a temporary file's 0600.
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    Ok(0)
}
