//! A build context on disk: `COPY`/`ADD` source resolution inside it (globs, symlinks
//! kept inside, `.dockerignore`d files invisible), the files a source selects, and
//! the content hash that keys the layer cache for `COPY` and `ADD`.

use crate::ignore::{Ignore, IgnoreError};
use crate::pathmatch::{clean, has_meta, Glob};
use std::collections::VecDeque;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// How many symlinks one source may pass through (Linux's limit is 40; Go's 255).
const MAX_LINKS: usize = 255;

/// A source that cannot be used, or the context cannot be read.
#[derive(Debug, Error)]
pub enum ContextError {
    /// A named source that does not exist (or is excluded).
    #[error("file not found in build context or excluded by .dockerignore: stat {name}: file does not exist")]
    NotFound {
        /// The source as written.
        name: String,
    },
    /// A wildcard source that matches nothing.
    #[error("no source files were specified: {pattern} matches no file in the build context")]
    NoMatch {
        /// The pattern as written.
        pattern: String,
    },
    /// A bad glob.
    #[error("bad source pattern {pattern}: {reason}")]
    Pattern {
        /// The pattern as written.
        pattern: String,
        /// Why.
        reason: crate::pathmatch::BadPattern,
    },
    /// Symlinks that loop.
    #[error("resolve {name}: too many levels of symbolic links")]
    Loop {
        /// The source as written.
        name: String,
    },
    /// The context's `.dockerignore` is bad.
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
    /// Reading the context failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ContextError + 'a {
    move |source| ContextError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A `COPY`/`ADD` source found in the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The path as named or matched, relative to the context (`.` for the context
    /// itself).
    pub rel: String,
    /// The path after resolving symlinks inside the context, relative to it (equal to
    /// `rel` unless a symlink was followed). Docker's builder names the copy of a
    /// named symlink after this path's last component (`COPY link /out/` where
    /// `link -> a.txt` makes `/out/a.txt`).
    pub real: String,
    /// `real` on disk.
    pub path: PathBuf,
    /// True for a directory (its contents are copied).
    pub is_dir: bool,
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file of this many bytes.
    File(u64),
    /// A symlink (copied as a link, never followed) to this target.
    Symlink(PathBuf),
    /// A fifo, socket or device.
    Other,
}

/// One file, directory or link a source selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path relative to the source (`""` for the source itself); a name that is
    /// not UTF-8 appears here lossily, `path` has it exactly.
    pub rel: String,
    /// On disk.
    pub path: PathBuf,
    /// What it is.
    pub kind: EntryKind,
    /// `st_mode`: type and permission bits.
    pub mode: u32,
    /// What identifies this version of its content (see [`crate::digests`]).
    pub stat: crate::digests::StatKey,
}

/// A build context: a directory and its `.dockerignore`.
#[derive(Debug, Clone)]
pub struct Context {
    root: PathBuf,
    ignore: Ignore,
}

impl Context {
    /// A context with the given ignore rules.
    pub fn new(root: impl Into<PathBuf>, ignore: Ignore) -> Context {
        Context {
            root: root.into(),
            ignore,
        }
    }

    /// A context reading `<root>/.dockerignore` when there is one.
    pub fn open(root: impl Into<PathBuf>) -> Result<Context, ContextError> {
        let root = root.into();
        let file = root.join(".dockerignore");
        let ignore = match fs::read_to_string(&file) {
            Ok(text) => Ignore::parse(&text)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ignore::default(),
            Err(e) => return Err(io_err("read", &file)(e)),
        };
        Ok(Context::new(root, ignore))
    }

    /// The context directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ignore rules.
    pub fn ignore(&self) -> &Ignore {
        &self.ignore
    }

    /// Resolves one `COPY`/`ADD` source (unexpanded words already expanded): a path
    /// (`..` cannot leave the context, symlinks are followed only inside it) or a
    /// glob (`*`, `?`, `[..]` per path component, never through a symlinked
    /// directory; a matched symlink is not followed), excluded files invisible.
    /// Matches come sorted.
    pub fn resolve(&self, source: &str) -> Result<Vec<Source>, ContextError> {
        let rel = inside(source);
        if !has_meta(&rel) {
            return self.named(source, &rel).map(|s| vec![s]);
        }
        let mut found = Vec::new();
        self.glob(source, &rel, &mut found)?;
        if found.is_empty() {
            return Err(ContextError::NoMatch {
                pattern: source.into(),
            });
        }
        found.sort();
        Ok(found.into_iter().map(|m| self.matched(m)).collect())
    }

    /// A glob match: taken as it is (a matched symlink is copied as a link).
    fn matched(&self, (rel, is_dir): (String, bool)) -> Source {
        Source {
            path: self.root.join(&rel),
            real: rel.clone(),
            rel,
            is_dir,
        }
    }

    /// A source by its path relative to the context.
    fn named(&self, source: &str, rel: &str) -> Result<Source, ContextError> {
        let not_found = || ContextError::NotFound {
            name: source.into(),
        };
        let real = self.scoped(source, rel)?.ok_or_else(not_found)?;
        let path = self.root.join(&real);
        let meta = fs::metadata(&path).map_err(|e| missing(e, source, &path))?;
        let visible = |p: &str| self.visible(p, meta.is_dir());
        if !visible(rel) || !visible(&real) {
            return Err(not_found());
        }
        Ok(Source {
            rel: rel.into(),
            real,
            path,
            is_dir: meta.is_dir(),
        })
    }

    /// Follows `rel` component by component, symlinks resolved as if the context
    /// were `/`; the real path relative to the context, None when missing.
    fn scoped(&self, source: &str, rel: &str) -> Result<Option<String>, ContextError> {
        let mut todo: VecDeque<String> = rel.split('/').map(String::from).collect();
        let mut done: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(part) = todo.pop_front() {
            match part.as_str() {
                "" | "." => {}
                ".." => {
                    done.pop();
                }
                _ => {
                    let path = self.root.join(done.join("/")).join(&part);
                    let target = match link_target(&path) {
                        Ok(Some(target)) => target,
                        Ok(None) => {
                            done.push(part);
                            continue;
                        }
                        Err(e) if gone(&e) => return Ok(None),
                        Err(e) => return Err(io_err("resolve", &path)(e)),
                    };
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(ContextError::Loop {
                            name: source.into(),
                        });
                    }
                    if target.starts_with('/') {
                        done.clear();
                    }
                    target
                        .split('/')
                        .rev()
                        .for_each(|p| todo.push_front(p.into()));
                }
            }
        }
        Ok(Some(if done.is_empty() {
            ".".into()
        } else {
            done.join("/")
        }))
    }

    /// Paths (relative) matching the glob `pattern` component by component; matched
    /// directories are not entered, symlinked directories are not walked through.
    fn glob(
        &self,
        source: &str,
        pattern: &str,
        found: &mut Vec<(String, bool)>,
    ) -> Result<(), ContextError> {
        let parts: Vec<&str> = pattern.split('/').collect();
        let mut current = vec![(String::new(), true)];
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let mut next = Vec::new();
            for (dir, _) in &current {
                self.glob_step(source, dir, part, last, &mut next)?;
            }
            current = next;
        }
        found.extend(current);
        Ok(())
    }

    /// The children of `dir` matching one pattern component (all of them visible;
    /// before the last component only real directories).
    fn glob_step(
        &self,
        source: &str,
        dir: &str,
        part: &str,
        last: bool,
        out: &mut Vec<(String, bool)>,
    ) -> Result<(), ContextError> {
        let join = |name: &str| {
            if dir.is_empty() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            }
        };
        let names = if has_meta(part) {
            let glob = Glob::new(part).map_err(|reason| ContextError::Pattern {
                pattern: source.into(),
                reason,
            })?;
            self.list(dir)?
                .into_iter()
                .filter(|n| glob.matches(n))
                .collect()
        } else {
            vec![part.to_string()]
        };
        for name in names {
            let rel = join(&name);
            let Ok(meta) = fs::symlink_metadata(self.root.join(&rel)) else {
                continue;
            };
            if (last || meta.is_dir()) && self.visible(&rel, meta.is_dir()) {
                out.push((rel, meta.is_dir()));
            }
        }
        Ok(())
    }

    /// The names in a directory of the context (lossy UTF-8).
    fn list(&self, dir: &str) -> Result<Vec<String>, ContextError> {
        let path = self.root.join(dir);
        let read = match fs::read_dir(&path) {
            Ok(read) => read,
            Err(e) if gone(&e) => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read directory", &path)(e)),
        };
        read.map(|entry| {
            entry
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .map_err(io_err("read directory", &path))
        })
        .collect()
    }

    /// False for a path `.dockerignore` hides (a directory with a re-included path
    /// under it stays visible).
    fn visible(&self, rel: &str, is_dir: bool) -> bool {
        !self.ignore.is_excluded(rel) || (is_dir && self.ignore.may_contain_included(rel))
    }

    /// Everything a source selects, sorted by path: the source itself (`rel` empty),
    /// then for a directory every visible entry under it. Symlinks under a directory
    /// are entries themselves, never followed.
    pub fn entries(&self, source: &Source) -> Result<Vec<Entry>, ContextError> {
        let meta = fs::symlink_metadata(&source.path).map_err(io_err("stat", &source.path))?;
        let mut out = vec![entry(String::new(), source.path.clone(), &meta)?];
        if source.is_dir {
            self.walk(source, &source.path, "", &mut out)?;
        }
        Ok(out)
    }

    /// Appends the visible entries under `source`/`sub`; true when it appended any.
    /// Entries are looked at relative to their directory (no path walk per entry).
    fn walk(
        &self,
        source: &Source,
        dir: &Path,
        sub: &str,
        out: &mut Vec<Entry>,
    ) -> Result<bool, ContextError> {
        let mut children: Vec<_> = fs::read_dir(dir)
            .map_err(io_err("read directory", dir))?
            .map(|e| e.and_then(|e| Ok((e.file_name(), e.metadata()?))))
            .collect::<Result<_, _>>()
            .map_err(io_err("read directory", dir))?;
        children.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut any = false;
        for (name, meta) in children {
            let lossy = name.to_string_lossy();
            let rel = if sub.is_empty() {
                lossy.into_owned()
            } else {
                format!("{sub}/{lossy}")
            };
            any |= self.walk_one(source, rel, dir.join(&name), &meta, out)?;
        }
        Ok(any)
    }

    /// One entry under a directory source (`rel` for matching, `path` on disk, `meta`
    /// what it is, not following a link), and what is under it.
    fn walk_one(
        &self,
        source: &Source,
        rel: String,
        path: PathBuf,
        meta: &Metadata,
        out: &mut Vec<Entry>,
    ) -> Result<bool, ContextError> {
        let in_context = if source.real == "." {
            rel.clone()
        } else {
            format!("{}/{rel}", source.real)
        };
        let excluded = self.ignore.is_excluded(&in_context);
        if !meta.is_dir() {
            if !excluded {
                out.push(entry(rel, path, meta)?);
            }
            return Ok(!excluded);
        }
        if excluded && !self.ignore.may_contain_included(&in_context) {
            return Ok(false);
        }
        let at = out.len();
        out.push(entry(rel.clone(), path.clone(), meta)?);
        let any = self.walk(source, &path, &rel, out)?;
        if excluded && !any {
            out.truncate(at);
            return Ok(false);
        }
        Ok(true)
    }

    /// Copies what `source` selects into the existing directory `into`: a directory's
    /// visible entries (modes and link targets kept; devices and fifos left out) into
    /// `into` itself, a file as `into/<its name>`. Returns the copy's top (what stands
    /// for the source): a private view of part of the context that hides what
    /// `.dockerignore` hides and that nothing written to reaches the context.
    pub fn copy_visible(&self, source: &Source, into: &Path) -> Result<PathBuf, ContextError> {
        let top = match source.is_dir {
            true => into.to_path_buf(),
            false => into.join(source.path.file_name().unwrap_or_default()),
        };
        for e in self.entries(source)? {
            let dest = match e.path.strip_prefix(&source.path) {
                Ok(rel) if !rel.as_os_str().is_empty() => top.join(rel),
                _ => top.clone(),
            };
            copy_entry(&e, &dest)?;
        }
        Ok(top)
    }
}

/// A source path as it lies inside the context: cleaned as if under `/`, so `..`
/// cannot climb out; `.` for the context itself.
fn inside(source: &str) -> String {
    let cleaned = clean(&format!("/{source}"));
    match cleaned.trim_start_matches('/') {
        "" => ".".into(),
        rest => rest.into(),
    }
}

/// True for the errors that mean "no such path" (a missing file or a file where a
/// directory was expected).
fn gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(20)
}

/// The target of `path` when it is a symlink, None when it is something else.
fn link_target(path: &Path) -> io::Result<Option<String>> {
    if !fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Ok(None);
    }
    Ok(Some(fs::read_link(path)?.to_string_lossy().into_owned()))
}

fn missing(e: io::Error, source: &str, path: &Path) -> ContextError {
    if gone(&e) {
        ContextError::NotFound {
            name: source.into(),
        }
    } else {
        io_err("stat", path)(e)
    }
}

fn entry(rel: String, path: PathBuf, meta: &Metadata) -> Result<Entry, ContextError> {
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        EntryKind::File(meta.len())
    } else if ft.is_symlink() {
        EntryKind::Symlink(fs::read_link(&path).map_err(io_err("readlink", &path))?)
    } else {
        EntryKind::Other
    };
    Ok(Entry {
        rel,
        path,
        kind,
        mode: meta.mode(),
        stat: crate::digests::StatKey::of(meta),
    })
}

/// Copies one entry to `dest` (its parent made already; a directory may exist).
fn copy_entry(e: &Entry, dest: &Path) -> Result<(), ContextError> {
    use std::os::unix::fs::PermissionsExt;
    match &e.kind {
        EntryKind::Dir => {
            match fs::create_dir(dest) {
                Err(err) if err.kind() != io::ErrorKind::AlreadyExists => {
                    return Err(io_err("create", dest)(err))
                }
                _ => {}
            }
            fs::set_permissions(dest, fs::Permissions::from_mode(e.mode & 0o7777))
                .map_err(io_err("chmod", dest))
        }
        EntryKind::File(_) => fs::copy(&e.path, dest)
            .map(drop)
            .map_err(io_err("copy to", dest)),
        EntryKind::Symlink(target) => {
            std::os::unix::fs::symlink(target, dest).map_err(io_err("symlink", dest))
        }
        EntryKind::Other => Ok(()),
    }
}
