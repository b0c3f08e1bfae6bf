//! COPY and ADD: sources resolved in the context (or in a stage's root for `--from`),
//! URLs downloaded, heredocs written out, hashed for the cache key, then written into
//! the step's container with `--chown` and `--chmod`.

use std::io::Write as _;

use crate::ast::{CopySpec, Heredoc};
use crate::context::Context;
use crate::ignore::Ignore;

use super::copy::{self, Part};
use super::error::BuildError;
use super::instr::expand_all;
use super::step::{LayerStep, Run, StageState};
use super::{Backend, Output};

impl Run<'_> {
    /// COPY or ADD (`op`).
    pub(super) fn copy_step(
        &mut self,
        st: &mut StageState,
        spec: &CopySpec,
        op: &'static str,
    ) -> Result<(), BuildError> {
        let line = st.line;
        let sources = expand_all(st, &spec.sources)?;
        let dest = copy::absolute(&st.expand(&spec.dest)?, &st.workdir());
        let chown = spec.chown.as_deref().map(|c| st.expand(c)).transpose()?;
        let chmod =
            match spec.chmod.as_deref() {
                None => None,
                Some(m) => Some(u32::from_str_radix(&st.expand(m)?, 8).map_err(|_| {
                    BuildError::BadValue {
                        line,
                        instruction: op,
                        why: format!("invalid chmod parameter: {m}"),
                    }
                })?),
            };
        let mut view = None;
        let ctx = match &spec.from {
            None => self.context(line, op)?,
            Some(from) => {
                let from = st.expand(from)?;
                let (cid, path) = self.view_of(st, &from)?;
                view = Some(cid);
                Context::new(path, Ignore::default())
            }
        };
        let done = self.copy_parts(st, op, &sources, &dest, &ctx, chown, chmod, spec);
        if let Some(cid) = view {
            self.backend
                .remove_container(&cid)
                .map_err(BuildError::backend("release the source stage"))?;
        }
        done
    }

    /// The build context with its `.dockerignore`.
    pub(super) fn context(&self, line: usize, op: &'static str) -> Result<Context, BuildError> {
        Context::open(&self.opts.context).map_err(|source| BuildError::Resolve { line, op, source })
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_parts(
        &mut self,
        st: &mut StageState,
        op: &'static str,
        sources: &[String],
        dest: &str,
        ctx: &Context,
        chown: Option<String>,
        chmod: Option<u32>,
        spec: &CopySpec,
    ) -> Result<(), BuildError> {
        let mut downloads = Vec::new();
        let parts = self.parts(st, op, sources, dest, ctx, spec, &mut downloads)?;
        let hash = copy::hash(&parts, &mut |p, m| self.backend.file_digest(p, m))?;
        let kind = if parts.len() > 1 { "multi" } else { "file" };
        let text = format!("{op} {kind}:{hash} in {dest} ");
        let key_text = format!("{op} {sources:?} {dest} {chown:?} {chmod:?}");
        let fill: super::step::Fill<'_> = Box::new(move |b: &mut dyn Backend, cid: &str| {
            let _keep = downloads;
            let ids = match &chown {
                Some(c) => b
                    .resolve_user(cid, c)
                    .map_err(BuildError::backend("resolve the --chown user"))?,
                None => (0, 0),
            };
            let attrs = copy::Attrs { ids, chmod };
            for part in &parts {
                put(b, cid, part, attrs)?;
            }
            Ok(())
        });
        self.layer(st, LayerStep::files(key_text, Some(hash), &text, fill))
    }

    /// What each source of a COPY or ADD puts where.
    #[allow(clippy::too_many_arguments)]
    fn parts(
        &mut self,
        st: &StageState,
        op: &'static str,
        sources: &[String],
        dest: &str,
        ctx: &Context,
        spec: &CopySpec,
        downloads: &mut Vec<tempfile::TempPath>,
    ) -> Result<Vec<Part>, BuildError> {
        let line = st.line;
        let mut parts = Vec::new();
        let mut matched = Vec::new();
        for s in sources {
            if op == "ADD" && (s.starts_with("http://") || s.starts_with("https://")) {
                parts.push(self.download(line, s, dest, spec.checksum.as_deref(), downloads)?);
                continue;
            }
            let found =
                ctx.resolve(s)
                    .map_err(|source| BuildError::Resolve { line, op, source })?;
            matched.extend(found);
        }
        let many = matched.len() + parts.len() + spec.heredocs.len() > 1;
        let dir = dest.trim_end_matches('/').to_string();
        let dir = if dir.is_empty() { "/".to_string() } else { dir };
        let exclude =
            Ignore::parse(&spec.excludes.join("\n")).map_err(|e| BuildError::BadValue {
                line,
                instruction: op,
                why: format!("--exclude: {e}"),
            })?;
        let entries = |src: &crate::context::Source| {
            let all = copy::flatten(ctx, src, None).map_err(|source| BuildError::Resolve {
                line,
                op,
                source,
            })?;
            Ok::<_, BuildError>(
                all.into_iter()
                    .filter(|i| !exclude.is_excluded(&i.name.to_string_lossy()))
                    .collect(),
            )
        };
        matched.retain(|src| exclude.is_empty() || !exclude.is_excluded(&src.rel));
        for src in matched {
            if src.is_dir || many || dest.ends_with('/') {
                if op == "ADD" && !src.is_dir && copy::is_archive(&src.path) {
                    parts.push(Part::Archive {
                        dir: dir.clone(),
                        path: src.path,
                    });
                    continue;
                }
                parts.push(Part::Files {
                    dir: dir.clone(),
                    items: entries(&src)?,
                });
            } else if op == "ADD" && copy::is_archive(&src.path) {
                parts.push(Part::Archive {
                    dir: dir.clone(),
                    path: src.path,
                });
            } else {
                parts.push(Part::File {
                    path: src.path,
                    dest: dir.clone(),
                });
            }
        }
        for doc in &spec.heredocs {
            parts.push(heredoc_part(
                st,
                doc,
                &dir,
                many || dest.ends_with('/'),
                downloads,
            )?);
        }
        Ok(parts)
    }

    /// ADD of a URL: downloaded (checked against `--checksum`) into a temporary file.
    fn download(
        &mut self,
        line: usize,
        url: &str,
        dest: &str,
        checksum: Option<&str>,
        keep: &mut Vec<tempfile::TempPath>,
    ) -> Result<Part, BuildError> {
        let tmp_err = |source| BuildError::Context {
            path: std::env::temp_dir(),
            source,
        };
        let mut file = tempfile::NamedTempFile::new().map_err(tmp_err)?;
        self.backend
            .fetch(url, file.as_file_mut())
            .map_err(BuildError::backend("download the ADD source"))?;
        let path = file.into_temp_path();
        if let Some(expected) = checksum {
            let mut h = <sha2::Sha256 as sha2::Digest>::new();
            copy::hash_file(&mut h, &path)?;
            let actual = format!("sha256:{}", copy::hex(&sha2::Digest::finalize(h)));
            if actual != expected {
                return Err(BuildError::Checksum {
                    line,
                    url: url.into(),
                    expected: expected.into(),
                    actual,
                });
            }
        }
        let (dir, name) = if dest.ends_with('/') {
            let last = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            let last = last.split(['?', '#']).next().unwrap_or("");
            (dest.trim_end_matches('/').to_string(), last.to_string())
        } else {
            (copy::parent_dir(dest), copy::base_name(dest).to_string())
        };
        let part = Part::Download {
            path: path.to_path_buf(),
            dir: if dir.is_empty() { "/".into() } else { dir },
            name,
        };
        keep.push(path);
        Ok(part)
    }

    /// A container over `from` (a stage or an image) whose root is mounted; its id and
    /// the root's path.
    pub(super) fn view_of(
        &mut self,
        st: &StageState,
        from: &str,
    ) -> Result<(String, std::path::PathBuf), BuildError> {
        let id = match self.stage_image(st, from) {
            Some(id) => id,
            None => {
                let pull = self.opts.pull;
                let out: &mut dyn Output = match self.opts.quiet {
                    true => &mut self.silent,
                    false => &mut *self.out,
                };
                self.backend
                    .base_image(from, pull, None, out)
                    .map_err(|source| BuildError::Image {
                        line: st.line,
                        name: from.to_string(),
                        source,
                    })?
                    .id
            }
        };
        self.backend
            .view(&id)
            .map_err(BuildError::backend("mount the COPY --from source"))
    }
}

/// Writes one part into container `cid`.
fn put(b: &mut dyn Backend, cid: &str, part: &Part, attrs: copy::Attrs) -> Result<(), BuildError> {
    let copy_err = BuildError::backend("copy files into the step's container");
    match part {
        Part::Files { dir, items } => {
            let mut tar = copy::tar_of(items, attrs)?;
            b.copy_in(cid, dir, attrs.ids, &mut tar).map_err(copy_err)
        }
        Part::File { path, dest } => {
            let is_dir = b
                .is_dir(cid, dest)
                .map_err(BuildError::backend("look at the COPY destination"))?;
            let (dir, name) = if is_dir {
                let name = path.file_name().map(Into::into).unwrap_or_default();
                (dest.clone(), name)
            } else {
                (copy::parent_dir(dest), copy::base_name(dest).into())
            };
            let mut tar = copy::tar_of(&[copy::Item::new(path.clone(), name)], attrs)?;
            b.copy_in(cid, &dir, attrs.ids, &mut tar).map_err(copy_err)
        }
        Part::Download { path, dir, name } => {
            let mut f = std::fs::File::open(path).map_err(|source| BuildError::Context {
                path: path.clone(),
                source,
            })?;
            let mode = attrs.chmod.unwrap_or(0o600);
            let mut tar = copy::tar_of_file(name, &mut f, mode)?;
            b.copy_in(cid, dir, attrs.ids, &mut tar).map_err(copy_err)
        }
        Part::Archive { dir, path } => {
            let mut r = copy::archive_reader(path)?;
            b.copy_in(cid, dir, attrs.ids, &mut r).map_err(copy_err)
        }
    }
}

/// A `COPY <<EOF dest` source: the body (expanded unless its delimiter was quoted) in a
/// temporary file kept in `keep`, named after the delimiter in a directory destination.
fn heredoc_part(
    st: &StageState,
    doc: &Heredoc,
    dir: &str,
    into_dir: bool,
    keep: &mut Vec<tempfile::TempPath>,
) -> Result<Part, BuildError> {
    let body = match doc.expand {
        true => st.expand_text(&doc.content)?,
        false => doc.content.clone(),
    };
    let tmp_err = |source| BuildError::Context {
        path: std::env::temp_dir(),
        source,
    };
    let mut file = tempfile::NamedTempFile::new().map_err(tmp_err)?;
    file.write_all(body.as_bytes()).map_err(tmp_err)?;
    std::fs::set_permissions(
        file.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .map_err(tmp_err)?;
    let path = file.into_temp_path();
    let host = path.to_path_buf();
    keep.push(path);
    Ok(match into_dir {
        true => Part::Files {
            dir: dir.to_string(),
            items: vec![copy::Item::new(host, doc.name.clone().into())],
        },
        false => Part::File {
            path: host,
            dest: dir.to_string(),
        },
    })
}
