//! `RUN --mount`: cache directories kept between builds, read-only binds of the context
//! or of a stage (their content hashed into the step's cache key), tmpfs.

use crate::ast::RunMount;
use crate::context::Context;
use crate::ignore::Ignore;

use super::copy::{self, Part};
use super::error::BuildError;
use super::step::{Run, StageState};
use super::StepMount;

/// One `--mount`'s fields.
struct Fields<'a>(&'a RunMount);

impl Fields<'_> {
    /// The value of `key` (a bare flag: empty).
    fn get(&self, key: &str) -> Option<String> {
        self.0
            .fields
            .iter()
            .find(|(n, _)| n == key)
            .map(|(_, v)| v.clone().unwrap_or_default())
    }

    /// Whether flag `key` is set (`ro`, `ro=true`).
    fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v.is_empty() || v == "true")
    }
}

impl Run<'_> {
    /// The `--mount`s of a RUN, and the content hash of what bind mounts show (part of
    /// the cache key). Stages mounted with `from=` are noted in `views`.
    pub(super) fn step_mounts(
        &mut self,
        st: &StageState,
        mounts: &[RunMount],
        views: &mut Vec<String>,
    ) -> Result<(Vec<StepMount>, Option<String>), BuildError> {
        let mut out = Vec::new();
        let mut parts = Vec::new();
        for m in mounts {
            let f = Fields(m);
            let target = ["target", "dst", "destination"]
                .iter()
                .find_map(|k| f.get(k))
                .map(|t| st.expand(&t))
                .transpose()?
                .unwrap_or_default();
            let target = copy::absolute(&target, &st.workdir());
            let read_only = f.flag("ro") || f.flag("readonly");
            out.push(match m.kind.as_str() {
                "cache" => StepMount::Cache {
                    id: f.get("id").unwrap_or_else(|| target.clone()),
                    target,
                    read_only,
                },
                "tmpfs" => StepMount::Tmpfs { target },
                "bind" => self.bind_mount(st, &f, target, views, &mut parts)?,
                other => {
                    return Err(BuildError::BadValue {
                        line: st.line,
                        instruction: "RUN",
                        why: format!("--mount=type={other} is not supported"),
                    })
                }
            });
        }
        let content = (!parts.is_empty())
            .then(|| copy::hash(&parts, &mut |p, m| self.backend.file_digest(p, m)))
            .transpose()?;
        Ok((out, content))
    }

    /// A bind mount of the context (or of `from=`'s root): its source resolved there,
    /// what it shows added to `parts` for the hash.
    fn bind_mount(
        &mut self,
        st: &StageState,
        f: &Fields<'_>,
        target: String,
        views: &mut Vec<String>,
        parts: &mut Vec<Part>,
    ) -> Result<StepMount, BuildError> {
        let (line, op) = (st.line, "RUN --mount");
        let ctx = match f.get("from") {
            None => self.context(line, op)?,
            Some(from) => {
                let (cid, path) = self.view_of(st, &st.expand(&from)?)?;
                views.push(cid);
                Context::new(path, Ignore::default())
            }
        };
        let src = st.expand(&f.get("source").or_else(|| f.get("src")).unwrap_or_default())?;
        let src = if src.is_empty() { ".".to_string() } else { src };
        let resolve_err = |source| BuildError::Resolve { line, op, source };
        let Some(source) = ctx.resolve(&src).map_err(resolve_err)?.into_iter().next() else {
            return Err(BuildError::NoSource {
                line,
                op,
                source_path: src,
            });
        };
        parts.push(Part::Files {
            dir: target.clone(),
            items: copy::flatten(&ctx, &source, None).map_err(resolve_err)?,
        });
        Ok(StepMount::Bind {
            source: source.path,
            target,
            read_only: !(f.flag("rw") || f.flag("readwrite")),
        })
    }
}

/// The mounts as the cache key sees them (host paths of binds are temporary: their
/// content hash stands for them).
pub(super) fn mounts_key(mounts: &[StepMount]) -> Vec<String> {
    mounts
        .iter()
        .map(|m| match m {
            StepMount::Bind {
                target, read_only, ..
            } => format!("bind {target} {read_only}"),
            StepMount::Cache {
                id,
                target,
                read_only,
            } => format!("cache {id} {target} {read_only}"),
            StepMount::Tmpfs { target } => format!("tmpfs {target}"),
        })
        .collect()
}
