//! `berth cp`: files between a container and the host (or a tar on STDIN/STDOUT with
//! `-`), with docker's rules for names: into an existing directory a copy keeps its
//! name, onto a path that does not exist it takes that name, and `SRC/.` copies what is
//! in a directory rather than the directory.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::path_part;
use crate::client::{Client, ClientError, Payload, Query};

/// `cp` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short, long)]
    quiet: bool,
    /// CONTAINER:SRC_PATH or SRC_PATH or -
    source: String,
    /// CONTAINER:DEST_PATH or DEST_PATH or -
    destination: String,
}

/// `container:path`, or None for a host path (`-`, absolute, or with no colon before a
/// slash).
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

/// `cp`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    match (split(&a.source), split(&a.destination)) {
        (Some((ctr, src)), None) => from_container(c, ctr, src, &a.destination),
        (None, Some((ctr, dst))) => to_container(c, &a.source, ctr, dst),
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }?;
    Ok(0)
}

/// What the daemon's path-stat header says (None when the path is not there).
fn stat(c: &Client, ctr: &str, path: &str) -> anyhow::Result<Option<serde_json::Value>> {
    let q = Query::new().add("path", path);
    let url = format!("/containers/{}/archive", path_part(ctr));
    match c.call("HEAD", &url, q, Payload::Empty) {
        Ok(r) => Ok(Some(decode_stat(r.header("x-docker-container-path-stat"))?)),
        Err(ClientError::Api { status: 404, .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn decode_stat(h: Option<&str>) -> anyhow::Result<serde_json::Value> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(h.unwrap_or_default())
        .context("path stat header")?;
    Ok(serde_json::from_slice(&raw)?)
}

fn is_dir(stat: &serde_json::Value) -> bool {
    stat["mode"].as_u64().is_some_and(|m| m & (1 << 31) != 0)
}

fn from_container(c: &Client, ctr: &str, src: &str, dst: &str) -> anyhow::Result<()> {
    let q = Query::new().add("path", src);
    let url = format!("/containers/{}/archive", path_part(ctr));
    let r = c.call("GET", &url, q, Payload::Empty)?;
    if dst == "-" {
        std::io::copy(&mut { r.body }, &mut std::io::stdout().lock())?;
        return Ok(());
    }
    let src_is_dir = is_dir(&decode_stat(r.header("x-docker-container-path-stat"))?);
    let contents_only = src.ends_with("/.");
    let dst = Path::new(dst);
    if dst.exists() && src_is_dir && !dst.is_dir() {
        bail!("cannot copy a directory to a file: {}", dst.display());
    }
    if contents_only && src_is_dir {
        std::fs::create_dir_all(dst).with_context(|| format!("create {}", dst.display()))?;
        return unpack(r.body, dst);
    }
    if dst.is_dir() {
        return unpack(r.body, dst);
    }
    let parent = match dst.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => bail!("invalid destination {}", dst.display()),
    };
    if !parent.is_dir() {
        bail!("destination directory {} does not exist", parent.display());
    }
    unpack_renamed(r.body, parent, dst)
}

/// Extracts a tar into `dir` (entries cannot leave it).
fn unpack(tar: impl Read, dir: &Path) -> anyhow::Result<()> {
    let mut a = tar::Archive::new(tar);
    a.set_preserve_permissions(true);
    a.unpack(dir)
        .with_context(|| format!("extract into {}", dir.display()))
}

/// Extracts a tar whose top entry is one file or directory into a scratch directory in
/// `dir`, then moves that entry to `to`.
fn unpack_renamed(tar: impl Read, dir: &Path, to: &Path) -> anyhow::Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix(".berth-cp-")
        .tempdir_in(dir)
        .with_context(|| format!("create a scratch directory in {}", dir.display()))?;
    unpack(tar, scratch.path())?;
    let mut tops = std::fs::read_dir(scratch.path())?.collect::<Result<Vec<_>, _>>()?;
    let Some(top) = tops.pop().filter(|_| tops.is_empty()) else {
        bail!("the archive does not hold exactly one file or directory");
    };
    move_onto(&top.path(), to)
}

fn move_onto(from: &Path, to: &Path) -> anyhow::Result<()> {
    if to.is_dir() && from.is_dir() {
        for e in std::fs::read_dir(from)? {
            let e = e?;
            move_onto(&e.path(), &to.join(e.file_name()))?;
        }
        return Ok(());
    }
    std::fs::rename(from, to).with_context(|| format!("move into {}", to.display()))
}

fn to_container(c: &Client, src: &str, ctr: &str, dst: &str) -> anyhow::Result<()> {
    let url = format!("/containers/{}/archive", path_part(ctr));
    if src == "-" {
        let q = Query::new().add("path", dst);
        let mut stdin = std::io::stdin().lock();
        c.call(
            "PUT",
            &url,
            q,
            Payload::Stream(&mut stdin, "application/x-tar"),
        )?;
        return Ok(());
    }
    let src_path = Path::new(src);
    let meta = std::fs::symlink_metadata(src_path).with_context(|| format!("lstat {src}"))?;
    let contents_only = src.ends_with("/.");
    let (target, name) = match stat(c, ctr, dst)? {
        Some(s) if is_dir(&s) && !contents_only => (dst.to_string(), base_name(src_path)),
        Some(s) if is_dir(&s) => (dst.to_string(), PathBuf::from(".")),
        Some(_) if meta.is_dir() => bail!("cannot copy a directory to a file: {dst}"),
        None if dst.ends_with('/') => bail!("no such directory: {ctr}:{dst}"),
        _ => {
            let (parent, base) = dst
                .trim_end_matches('/')
                .rsplit_once('/')
                .unwrap_or(("", dst));
            let parent = if parent.is_empty() { "/" } else { parent };
            (parent.to_string(), PathBuf::from(base))
        }
    };
    let tar = build_tar(src_path, &name, &meta)?;
    let q = Query::new()
        .add("path", &target)
        .add("noOverwriteDirNonDir", "true");
    c.call("PUT", &url, q, Payload::Bytes(&tar, "application/x-tar"))?;
    Ok(())
}

fn base_name(p: &Path) -> PathBuf {
    p.file_name()
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// A tar of `src` whose top entry is named `name` ("." for a directory's contents).
fn build_tar(src: &Path, name: &Path, meta: &std::fs::Metadata) -> anyhow::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    if meta.is_dir() {
        b.append_dir_all(name, src)
            .with_context(|| format!("archive {}", src.display()))?;
    } else {
        b.append_path_with_name(src, name)
            .with_context(|| format!("archive {}", src.display()))?;
    }
    Ok(b.into_inner()?)
}
