//! COPY and ADD sources: resolved in the context (globs, docker's directory semantics),
//! hashed for the cache key, and written as the tar the backend extracts.
//!
//! Semantics as docker's: a directory source copies its contents; the destination is a
//! directory when it ends in `/`, when there are several sources, when the source is a
//! directory or when it is a directory in the image already; a relative destination is
//! relative to WORKDIR. ADD extracts local tar archives (plain or gzip) into the
//! destination and downloads URLs.

use std::fs::{File, Metadata};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::error::BuildError;

/// One thing to put into the image.
#[derive(Debug, Clone)]
pub enum Part {
    /// Files and trees from the context, into directory `dir`.
    Files {
        /// The absolute directory in the image.
        dir: String,
        /// Each source: the host path and its name under `dir` (for a directory source
        /// whose contents are copied: `.`).
        items: Vec<(PathBuf, PathBuf)>,
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

/// The context path `source` names, refused if it leaves the context. None when the
/// source names the context root itself.
pub fn in_context(context: &Path, source: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(source).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if !out.pop() => return None,
            _ => {}
        }
    }
    Some(context.join(out))
}

/// The context paths a source (maybe with `*`, `?` wildcards) matches, sorted.
pub fn matches(context: &Path, source: &str) -> Vec<PathBuf> {
    let Some(path) = in_context(context, source) else {
        return Vec::new();
    };
    if !source.contains(['*', '?', '[']) {
        return if path.symlink_metadata().is_ok() && inside(context, &path) {
            vec![path]
        } else {
            Vec::new()
        };
    }
    let rel = path.strip_prefix(context).unwrap_or(&path).to_path_buf();
    let mut found = vec![context.to_path_buf()];
    for comp in rel.components() {
        let pat = comp.as_os_str().to_string_lossy().into_owned();
        found = found
            .into_iter()
            .flat_map(|dir| children_matching(&dir, &pat))
            .collect();
    }
    found.sort();
    found.retain(|p| inside(context, p));
    found
}

/// Whether `path`'s parent directory, symlinks resolved, is inside `context`.
fn inside(context: &Path, path: &Path) -> bool {
    if path == context {
        return true;
    }
    let (Ok(root), Some(parent)) = (context.canonicalize(), path.parent()) else {
        return false;
    };
    parent.canonicalize().is_ok_and(|p| p.starts_with(root))
}

fn children_matching(dir: &Path, pat: &str) -> Vec<PathBuf> {
    if !pat.contains(['*', '?', '[']) {
        let p = dir.join(pat);
        return if p.symlink_metadata().is_ok() {
            vec![p]
        } else {
            Vec::new()
        };
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter(|e| fnmatch(pat.as_bytes(), e.file_name().as_encoded_bytes()))
        .map(|e| e.path())
        .collect()
}

/// Shell-style matching of one path component: `*`, `?`, `[abc]`, `[a-z]`, `[!a]`.
pub fn fnmatch(pat: &[u8], name: &[u8]) -> bool {
    match (pat.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            fnmatch(&pat[1..], name) || (!name.is_empty() && fnmatch(pat, &name[1..]))
        }
        (Some(b'?'), Some(_)) => fnmatch(&pat[1..], &name[1..]),
        (Some(b'['), Some(c)) => match class(&pat[1..], *c) {
            Some((true, rest)) => fnmatch(rest, &name[1..]),
            _ => false,
        },
        (Some(b'\\'), Some(c)) if pat.get(1) == Some(c) => fnmatch(&pat[2..], &name[1..]),
        (Some(p), Some(c)) if p == c => fnmatch(&pat[1..], &name[1..]),
        _ => false,
    }
}

/// Whether `c` is in the class starting after `[`; the pattern after `]`.
fn class(pat: &[u8], c: u8) -> Option<(bool, &[u8])> {
    let (negate, mut i) = match pat.first() {
        Some(b'!' | b'^') => (true, 1),
        _ => (false, 0),
    };
    let mut hit = false;
    let mut first = true;
    while i < pat.len() && (first || pat[i] != b']') {
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|e| *e != b']') {
            hit |= pat[i] <= c && c <= pat[i + 2];
            i += 3;
        } else {
            hit |= pat[i] == c;
            i += 1;
        }
    }
    (i < pat.len()).then(|| (hit != negate, &pat[i + 1..]))
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

/// Whether the file at `path` starts like a tar archive docker's ADD extracts (plain or
/// gzip).
pub fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let n = read_up_to(&mut f, &mut head);
    if n >= 2 && head[..2] == [0x1f, 0x8b] {
        return true;
    }
    n >= 262 && &head[257..262] == b"ustar"
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

/// Every entry under the source `host` (itself first unless it is a directory whose
/// contents are copied, i.e. named `.`), as (host path, name, metadata), in name order.
/// Symlinks are copied as links, never followed (a context's links may point anywhere
/// on the daemon's host).
pub fn walk(host: &Path, name: &Path) -> Result<Vec<(PathBuf, PathBuf, Metadata)>, BuildError> {
    let ctx = |source| BuildError::Context {
        path: host.to_path_buf(),
        source,
    };
    let meta = std::fs::symlink_metadata(host).map_err(ctx)?;
    let mut out = Vec::new();
    if name != Path::new(".") {
        out.push((host.to_path_buf(), name.to_path_buf(), meta.clone()));
    }
    if meta.is_dir() {
        walk_dir(host, name, &mut out)?;
    }
    Ok(out)
}

fn walk_dir(
    dir: &Path,
    name: &Path,
    out: &mut Vec<(PathBuf, PathBuf, Metadata)>,
) -> Result<(), BuildError> {
    let ctx = |source| BuildError::Context {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(ctx)?
        .collect::<Result<_, _>>()
        .map_err(ctx)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let meta = e.path().symlink_metadata().map_err(ctx)?;
        let child = if name == Path::new(".") {
            PathBuf::from(e.file_name())
        } else {
            name.join(e.file_name())
        };
        out.push((e.path(), child.clone(), meta.clone()));
        if meta.is_dir() {
            walk_dir(&e.path(), &child, out)?;
        }
    }
    Ok(())
}

/// The content hash of `parts`: names, kinds, modes, sizes, link targets and contents.
pub fn hash(parts: &[Part]) -> Result<String, BuildError> {
    let mut h = Sha256::new();
    for part in parts {
        match part {
            Part::Files { dir, items } => {
                h.update(dir.as_bytes());
                for (host, name) in items {
                    for (path, n, meta) in walk(host, name)? {
                        hash_entry(&mut h, &path, &n, &meta)?;
                    }
                }
            }
            Part::File { path, dest } => {
                h.update(dest.as_bytes());
                let meta = path
                    .symlink_metadata()
                    .map_err(|source| BuildError::Context {
                        path: path.clone(),
                        source,
                    })?;
                hash_entry(&mut h, path, Path::new(base_name(dest)), &meta)?;
            }
            Part::Archive { dir, path } | Part::Download { path, dir, .. } => {
                h.update(dir.as_bytes());
                hash_file(&mut h, path)?;
            }
        }
    }
    Ok(hex(&h.finalize()))
}

fn hash_entry(h: &mut Sha256, path: &Path, name: &Path, meta: &Metadata) -> Result<(), BuildError> {
    h.update(name.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(meta.mode().to_le_bytes());
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_err(|source| BuildError::Context {
            path: path.into(),
            source,
        })?;
        h.update(target.as_os_str().as_encoded_bytes());
    } else if meta.is_file() {
        h.update(meta.len().to_le_bytes());
        hash_file(h, path)?;
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
pub fn tar_of(items: &[(PathBuf, PathBuf)], attrs: Attrs) -> Result<File, BuildError> {
    let tmp_err = |source| BuildError::Context {
        path: std::env::temp_dir(),
        source,
    };
    let file = tempfile::tempfile().map_err(tmp_err)?;
    let mut tar = tar::Builder::new(file);
    tar.follow_symlinks(false);
    for (host, name) in items {
        for (path, n, meta) in walk(host, name)? {
            append(&mut tar, &path, &n, &meta, attrs)?;
        }
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
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut f, &mut magic);
    f.rewind().map_err(ctx)?;
    if n == 2 && magic == [0x1f, 0x8b] {
        return Ok(Box::new(flate2::read::GzDecoder::new(
            std::io::BufReader::new(f),
        )));
    }
    Ok(Box::new(std::io::BufReader::new(f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(fnmatch(b"*.txt", b"a.txt"));
        assert!(!fnmatch(b"*.txt", b"a.txb"));
        assert!(fnmatch(b"f?le[0-9]", b"file7"));
        assert!(!fnmatch(b"[!a]x", b"ax"));
    }

    #[test]
    fn paths() {
        assert_eq!(absolute("x", "/app"), "/app/x");
        assert_eq!(absolute(".", "/app"), "/app/");
        assert_eq!(absolute("/y/", "/app"), "/y/");
        assert_eq!(parent_dir("/a/b"), "/a");
        assert_eq!(parent_dir("/a"), "/");
        assert_eq!(base_name("/a/b/"), "b");
        assert!(in_context(Path::new("/c"), "../x").is_none());
        assert_eq!(in_context(Path::new("/c"), "a/../b"), Some("/c/b".into()));
    }
}
