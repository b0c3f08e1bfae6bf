//! COPY and ADD sources: resolved in the context (globs, docker's directory semantics),
//! hashed for the cache key, and written as the tar the backend extracts.
//!
//! Sources are resolved by [`crate::context`]. Semantics as docker's: a directory source copies its contents; the destination is a
//! directory when it ends in `/`, when there are several sources, when the source is a
//! directory or when it is a directory in the image already; a relative destination is
//! relative to WORKDIR. ADD extracts local tar archives (plain, gzip, bzip2, xz) into the
//! destination and downloads URLs.

use std::fs::{File, Metadata};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::error::BuildError;
use crate::context::{Context, ContextError, Entry, EntryKind, Source};
use crate::digests::StatKey;

/// One thing to put into the image.
#[derive(Debug, Clone)]
pub enum Part {
    /// Files and trees from the context, into directory `dir`.
    Files {
        /// The absolute directory in the image.
        dir: String,
        /// Each entry (not recursive).
        items: Vec<Item>,
    },
    /// One file to `dest`, or into `dest` when that is a directory in the image.
    File {
        /// The host path.
        path: PathBuf,
        /// The absolute destination as written (no trailing `/`).
        dest: String,
    },
    /// A downloaded file (ADD of a URL) as `dir/name`, mode 0600.
    Download {
        /// The downloaded file.
        path: PathBuf,
        /// The absolute directory in the image.
        dir: String,
        /// The file's name there.
        name: String,
    },
    /// A local archive extracted into directory `dir`.
    Archive {
        /// The absolute directory in the image.
        dir: String,
        /// The archive.
        path: PathBuf,
    },
}

/// One entry a [`Part::Files`] puts under its directory.
#[derive(Debug, Clone)]
pub struct Item {
    /// On the host.
    pub path: PathBuf,
    /// Its name under the directory.
    pub name: PathBuf,
    /// What walking the context saw of it (None: looked at when needed).
    pub seen: Option<Entry>,
}

impl Item {
    /// An entry not seen yet.
    pub fn new(path: PathBuf, name: PathBuf) -> Item {
        Item {
            path,
            name,
            seen: None,
        }
    }
}

/// Joins `dest` to the working directory `workdir` unless it is absolute; keeps a
/// trailing `/`.
pub fn absolute(dest: &str, workdir: &str) -> String {
    if dest.starts_with('/') {
        return dest.to_string();
    }
    let base = if workdir.is_empty() { "/" } else { workdir };
    let dest = dest.strip_prefix("./").unwrap_or(dest);
    if dest == "." {
        return format!("{}/", base.trim_end_matches('/'));
    }
    format!("{}/{}", base.trim_end_matches('/'), dest)
}

/// The entries a resolved source puts into the image, each (host path, name under the
/// destination directory): a directory's contents (not itself), or the file as `name`.
pub fn flatten(
    ctx: &Context,
    source: &Source,
    name: Option<&Path>,
) -> Result<Vec<Item>, ContextError> {
    if !source.is_dir {
        let own = Path::new(&source.real)
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        return Ok(vec![Item::new(
            source.path.clone(),
            name.map_or(own, Path::to_path_buf),
        )]);
    }
    Ok(ctx
        .entries(source)?
        .into_iter()
        .filter(|e| !e.rel.is_empty())
        .map(|e| {
            let name = e
                .path
                .strip_prefix(&source.path)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| PathBuf::from(&e.rel));
            Item {
                path: e.path.clone(),
                name,
                seen: Some(e),
            }
        })
        .collect())
}

/// The file name of the last component of `path` (`/a/b/` → `b`).
pub fn base_name(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

/// The parent directory of absolute `path` (`/a/b` → `/a`, `/a` → `/`).
pub fn parent_dir(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/".into(),
        Some((p, _)) => p.into(),
    }
}

/// Whether the file at `path` is a tar archive docker's ADD extracts: plain, gzip,
/// bzip2 or xz, with a tar header inside.
pub fn is_archive(path: &Path) -> bool {
    let Ok(mut r) = archive_reader(path) else {
        return false;
    };
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n == head.len() && &head[257..262] == b"ustar"
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// Where [`hash`] gets a file's sha256 from: its path and what its stat says.
pub type DigestOf<'d> = dyn FnMut(&Path, &StatKey) -> std::io::Result<[u8; 32]> + 'd;

/// The content hash of `parts`: names, kinds, modes, sizes, link targets and the
/// sha256 of each file's content (from `digest`, which may remember it).
pub fn hash(parts: &[Part], digest: &mut DigestOf<'_>) -> Result<String, BuildError> {
    let mut h = Sha256::new();
    h.update(b"berth-content-v2\0");
    for part in parts {
        match part {
            Part::Files { dir, items } => {
                h.update(dir.as_bytes());
                for item in items {
                    match &item.seen {
                        Some(e) => hash_seen(&mut h, e, &item.name, digest)?,
                        None => {
                            let meta = meta_of(&item.path)?;
                            hash_entry(&mut h, &item.path, &item.name, &meta, digest)?;
                        }
                    }
                }
            }
            Part::File { path, dest } => {
                h.update(dest.as_bytes());
                let meta = meta_of(path)?;
                hash_entry(&mut h, path, Path::new(base_name(dest)), &meta, digest)?;
            }
            Part::Archive { dir, path } => {
                h.update(dir.as_bytes());
                let meta = std::fs::metadata(path).map_err(context_err(path))?;
                let stat = StatKey::of(&meta);
                h.update(digest(path, &stat).map_err(context_err(path))?);
            }
            Part::Download { path, dir, .. } => {
                h.update(dir.as_bytes());
                h.update(crate::digests::read_digest(path).map_err(context_err(path))?);
            }
        }
    }
    Ok(hex(&h.finalize()))
}

fn context_err(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Context {
        path: path.into(),
        source,
    }
}

/// What `path` is (a link itself, not its target).
fn meta_of(path: &Path) -> Result<Metadata, BuildError> {
    path.symlink_metadata().map_err(context_err(path))
}

fn hash_entry(
    h: &mut Sha256,
    path: &Path,
    name: &Path,
    meta: &Metadata,
    digest: &mut DigestOf<'_>,
) -> Result<(), BuildError> {
    h.update(name.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(meta.mode().to_le_bytes());
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_err(context_err(path))?;
        h.update(target.as_os_str().as_encoded_bytes());
    } else if meta.is_file() {
        h.update(meta.len().to_le_bytes());
        let stat = StatKey::of(meta);
        h.update(digest(path, &stat).map_err(context_err(path))?);
    }
    h.update([0]);
    Ok(())
}

/// [`hash_entry`] of an entry the context's walk saw (the same bytes, no stat).
fn hash_seen(
    h: &mut Sha256,
    e: &Entry,
    name: &Path,
    digest: &mut DigestOf<'_>,
) -> Result<(), BuildError> {
    h.update(name.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(e.mode.to_le_bytes());
    match &e.kind {
        EntryKind::Symlink(target) => h.update(target.as_os_str().as_encoded_bytes()),
        EntryKind::File(size) => {
            h.update(size.to_le_bytes());
            h.update(digest(&e.path, &e.stat).map_err(context_err(&e.path))?);
        }
        EntryKind::Dir | EntryKind::Other => {}
    }
    h.update([0]);
    Ok(())
}

/// Feeds the contents of `path` to `h`.
pub fn hash_file(h: &mut Sha256, path: &Path) -> Result<(), BuildError> {
    let ctx = |source| BuildError::Context {
        path: path.into(),
        source,
    };
    let mut f = File::open(path).map_err(ctx)?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f.read(&mut buf).map_err(ctx)?;
        if n == 0 {
            return Ok(());
        }
        h.update(&buf[..n]);
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Ownership and mode overrides of a COPY.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attrs {
    /// Owner (0:0 without --chown).
    pub ids: (u32, u32),
    /// `--chmod`.
    pub chmod: Option<u32>,
}

/// A tar (in an unnamed temporary file, rewound) of `items` with `attrs`.
pub fn tar_of(items: &[Item], attrs: Attrs) -> Result<File, BuildError> {
    let tmp_err = |source| BuildError::Context {
        path: std::env::temp_dir(),
        source,
    };
    let file = tempfile::tempfile().map_err(tmp_err)?;
    let mut tar = tar::Builder::new(file);
    tar.follow_symlinks(false);
    for i in items {
        append(&mut tar, &i.path, &i.name, &meta_of(&i.path)?, attrs)?;
    }
    let mut file = tar.into_inner().map_err(tmp_err)?;
    file.rewind().map_err(tmp_err)?;
    Ok(file)
}

fn append(
    tar: &mut tar::Builder<File>,
    path: &Path,
    name: &Path,
    meta: &Metadata,
    attrs: Attrs,
) -> Result<(), BuildError> {
    let ctx = |source| BuildError::Context {
        path: path.into(),
        source,
    };
    let mut h = tar::Header::new_gnu();
    let mode = attrs.chmod.unwrap_or(meta.permissions().mode() & 0o7777);
    h.set_mode(mode);
    h.set_uid(attrs.ids.0.into());
    h.set_gid(attrs.ids.1.into());
    h.set_mtime(meta.mtime().max(0) as u64);
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = std::fs::read_link(path).map_err(ctx)?;
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        tar.append_link(&mut h, name, target).map_err(ctx)
    } else if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        tar.append_data(&mut h, name, std::io::empty()).map_err(ctx)
    } else if ft.is_file() {
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(meta.len());
        let f = File::open(path).map_err(ctx)?;
        tar.append_data(&mut h, name, f.take(meta.len()))
            .map_err(ctx)
    } else {
        Ok(()) // devices, fifos and sockets in a context are not copied
    }
}

/// A tar holding one regular file `name` with `data`'s contents.
pub fn tar_of_file(name: &str, data: &mut File, mode: u32) -> Result<File, BuildError> {
    let tmp_err = |source| BuildError::Context {
        path: std::env::temp_dir(),
        source,
    };
    let size = data.seek(std::io::SeekFrom::End(0)).map_err(tmp_err)?;
    data.rewind().map_err(tmp_err)?;
    let mut tar = tar::Builder::new(tempfile::tempfile().map_err(tmp_err)?);
    let mut h = tar::Header::new_gnu();
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, data).map_err(tmp_err)?;
    let mut file = tar.into_inner().map_err(tmp_err)?;
    file.flush().map_err(tmp_err)?;
    file.rewind().map_err(tmp_err)?;
    Ok(file)
}

/// The uncompressed stream of archive `path` (gzip undone).
pub fn archive_reader(path: &Path) -> Result<Box<dyn Read>, BuildError> {
    let ctx = |source| BuildError::Context {
        path: path.into(),
        source,
    };
    let mut f = File::open(path).map_err(ctx)?;
    let mut magic = [0u8; 6];
    let n = read_up_to(&mut f, &mut magic);
    f.rewind().map_err(ctx)?;
    let buffered = std::io::BufReader::new(f);
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::GzDecoder::new(buffered)),
        [b'B', b'Z', b'h', ..] => Box::new(bzip2::read::BzDecoder::new(buffered)),
        [0xfd, b'7', b'z', b'X', b'Z', 0] => Box::new(unxz(buffered).map_err(ctx)?),
        _ => Box::new(buffered),
    })
}

/// An xz stream decompressed into an unnamed temporary file, rewound (the decoder
/// writes rather than reads).
fn unxz(mut input: impl std::io::BufRead) -> std::io::Result<File> {
    let mut out = tempfile::tempfile()?;
    {
        let mut w = std::io::BufWriter::new(&mut out);
        lzma_rs::xz_decompress(&mut input, &mut w).map_err(std::io::Error::other)?;
        w.flush()?;
    }
    out.rewind()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(absolute("x", "/app"), "/app/x");
        assert_eq!(absolute(".", "/app"), "/app/");
        assert_eq!(absolute("/y/", "/app"), "/y/");
        assert_eq!(parent_dir("/a/b"), "/a");
        assert_eq!(parent_dir("/a"), "/");
        assert_eq!(base_name("/a/b/"), "b");
    }
}
