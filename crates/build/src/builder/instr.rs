//! Each instruction's effect: the config change of metadata steps, the command of RUN,
//! the files of COPY and ADD, the directory of WORKDIR.

use serde_json::{json, Value};

use std::io::Write as _;

use crate::ast::{Command, CopySpec, Healthcheck, Heredoc, Instruction, Located, RunMount};

use super::copy::{self, Part};
use super::error::BuildError;
use super::step::{LayerStep, Run, StageState};
use super::{config, Backend, Output, StepMount};
use crate::context::Context;
use crate::ignore::Ignore;

impl Run<'_> {
    /// Runs one instruction of the stage.
    pub fn instruction(
        &mut self,
        st: &mut StageState,
        ins: &Located<Instruction>,
    ) -> Result<(), BuildError> {
        match &ins.value {
            Instruction::Run {
                command,
                network,
                mounts,
                heredocs,
            } => self.run_step(st, command, heredocs, network.as_deref(), mounts),
            Instruction::Cmd(c) => {
                let argv = argv(st, c);
                st.cmd_set = true;
                let text = format!("CMD {}", json!(argv));
                self.meta(st, &text, &mut |img| {
                    config::section(img).insert("Cmd".into(), json!(argv));
                })
            }
            Instruction::Entrypoint(c) => {
                let argv = argv(st, c);
                let keep_cmd = st.cmd_set;
                let text = format!("ENTRYPOINT {}", json!(argv));
                self.meta(st, &text, &mut |img| {
                    let cfg = config::section(img);
                    cfg.insert("Entrypoint".into(), json!(argv));
                    if !keep_cmd {
                        cfg.insert("Cmd".into(), Value::Null);
                    }
                })
            }
            Instruction::Copy(spec) => self.copy_step(st, spec, "COPY"),
            Instruction::Add(spec) => self.copy_step(st, spec, "ADD"),
            Instruction::Env(pairs) => self.env_step(st, pairs),
            Instruction::Arg(args) => self.arg_step(st, args),
            Instruction::Label(pairs) => {
                let pairs = expand_pairs(st, pairs)?;
                let text = pairs_text("LABEL", &pairs, true);
                self.meta(st, &text, &mut |img| {
                    for (k, v) in &pairs {
                        config::set_label(img, k, v);
                    }
                })
            }
            Instruction::Expose(ports) => self.expose_step(st, ports),
            Instruction::Volume(vols) => {
                let vols = expand_all(st, vols)?;
                let text = format!("VOLUME [{}]", vols.join(" "));
                self.meta(st, &text, &mut |img| {
                    for v in &vols {
                        config::add_to_set(img, "Volumes", v);
                    }
                })
            }
            Instruction::User(u) => {
                let u = st.expand(u)?;
                self.set_field(st, "USER", "User", &u)
            }
            Instruction::Workdir(w) => self.workdir_step(st, w),
            Instruction::Shell(sh) => {
                st.shell = sh.clone();
                let text = format!("SHELL {}", json!(sh));
                self.meta(st, &text, &mut |img| {
                    config::section(img).insert("Shell".into(), json!(sh));
                })
            }
            Instruction::StopSignal(s) => {
                let s = st.expand(s)?;
                self.set_field(st, "STOPSIGNAL", "StopSignal", &s)
            }
            Instruction::Healthcheck(h) => self.healthcheck_step(st, h),
            Instruction::Onbuild(t) => {
                let text = format!("ONBUILD {t}");
                self.meta(st, &text, &mut |img| {
                    let mut list = config::strings(img.pointer("/config/OnBuild"));
                    list.push(t.clone());
                    config::section(img).insert("OnBuild".into(), json!(list));
                })
            }
            Instruction::Maintainer(m) => {
                let text = format!("MAINTAINER {m}");
                self.meta(st, &text, &mut |img| {
                    if let Value::Object(root) = img {
                        root.insert("author".into(), json!(m));
                    }
                })
            }
        }
    }

    /// `USER`, `STOPSIGNAL`: one string field of the config.
    fn set_field(
        &mut self,
        st: &mut StageState,
        keyword: &str,
        field: &str,
        value: &str,
    ) -> Result<(), BuildError> {
        let text = format!("{keyword} {value}");
        self.meta(st, &text, &mut |img| {
            config::section(img).insert(field.into(), json!(value));
        })
    }

    fn env_step(
        &mut self,
        st: &mut StageState,
        pairs: &[(String, String)],
    ) -> Result<(), BuildError> {
        let pairs = expand_pairs(st, pairs)?;
        let text = pairs_text("ENV", &pairs, false);
        self.meta(st, &text, &mut |img| {
            for (k, v) in &pairs {
                config::set_env(img, k, v);
            }
        })
    }

    fn arg_step(
        &mut self,
        st: &mut StageState,
        args: &[crate::ast::Arg],
    ) -> Result<(), BuildError> {
        let env = st.env();
        let mut words = Vec::new();
        for a in args {
            st.scope
                .declare(a, &mut self.build_args, Some(&self.global), &env, st.escape)
                .map_err(|why| BuildError::Expand { line: st.line, why })?;
            words.push(match &a.default {
                Some(d) => format!("{}={d}", a.name),
                None => a.name.clone(),
            });
        }
        let text = format!("ARG {}", words.join(" "));
        self.meta(st, &text, &mut |_| {})
    }

    fn expose_step(&mut self, st: &mut StageState, ports: &[String]) -> Result<(), BuildError> {
        let mut all = Vec::new();
        for p in expand_all(st, ports)? {
            let list = config::ports(&p).ok_or_else(|| BuildError::BadValue {
                line: st.line,
                instruction: "EXPOSE",
                why: format!("invalid containerPort: {p}"),
            })?;
            all.extend(list);
        }
        let text = format!("EXPOSE {}", all.join(" "));
        self.meta(st, &text, &mut |img| {
            for p in &all {
                config::add_to_set(img, "ExposedPorts", p);
            }
        })
    }

    fn healthcheck_step(&mut self, st: &mut StageState, h: &Healthcheck) -> Result<(), BuildError> {
        let value = healthcheck(st, h)?;
        let text = match h {
            Healthcheck::None => "HEALTHCHECK NONE".to_string(),
            Healthcheck::Check { .. } => format!("HEALTHCHECK &{{{}}}", value),
        };
        self.meta(st, &text, &mut |img| {
            config::section(img).insert("Healthcheck".into(), value.clone());
        })
    }

    fn run_step(
        &mut self,
        st: &mut StageState,
        command: &Command,
        heredocs: &[Heredoc],
        network: Option<&str>,
        mounts: &[RunMount],
    ) -> Result<(), BuildError> {
        let cmd = run_argv(st, command, heredocs);
        let args = st.scope.run_env(&st.env());
        let mut created_by = cmd.join(" ");
        if !args.is_empty() {
            created_by = format!("|{} {} {created_by}", args.len(), args.join(" "));
        }
        let mut views = Vec::new();
        let resolved = self.step_mounts(st, mounts, &mut views);
        let done = resolved.and_then(|(mounts, content)| {
            let key_text = format!("RUN {} {:?} {network:?}", json!(cmd), mounts_key(&mounts));
            self.layer(
                st,
                LayerStep {
                    key_text,
                    content,
                    created_by,
                    cmd,
                    run: true,
                    network: network.map(String::from),
                    mounts,
                    fill: None,
                },
            )
        });
        for v in views {
            self.backend
                .remove_container(&v)
                .map_err(BuildError::backend("release a mounted stage"))?;
        }
        done
    }

    /// The `--mount`s of a RUN, and the content hash of what bind mounts show (part of
    /// the cache key). Stages mounted with `from=` are noted in `views`.
    fn step_mounts(
        &mut self,
        st: &StageState,
        mounts: &[RunMount],
        views: &mut Vec<String>,
    ) -> Result<(Vec<StepMount>, Option<String>), BuildError> {
        let mut out = Vec::new();
        let mut parts = Vec::new();
        for m in mounts {
            let field = |k: &str| {
                m.fields
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone().unwrap_or_default())
            };
            let target = field("target")
                .or_else(|| field("dst"))
                .or_else(|| field("destination"))
                .map(|t| st.expand(&t))
                .transpose()?
                .unwrap_or_default();
            let target = copy::absolute(&target, &st.workdir());
            let flag = |k: &str| field(k).is_some_and(|v| v.is_empty() || v == "true");
            let read_only = flag("ro") || flag("readonly");
            let writable = flag("rw") || flag("readwrite");
            match m.kind.as_str() {
                "cache" => out.push(StepMount::Cache {
                    id: field("id").unwrap_or_else(|| target.clone()),
                    target,
                    read_only,
                }),
                "tmpfs" => out.push(StepMount::Tmpfs { target }),
                "bind" => {
                    let line = st.line;
                    let op = "RUN --mount";
                    let ctx = match field("from") {
                        None => self.context(line, op)?,
                        Some(from) => {
                            let (cid, path) = self.view_of(st, &st.expand(&from)?)?;
                            views.push(cid);
                            Context::new(path, Ignore::default())
                        }
                    };
                    let src =
                        st.expand(&field("source").or_else(|| field("src")).unwrap_or_default())?;
                    let src = if src.is_empty() { ".".to_string() } else { src };
                    let resolve_err = |source| BuildError::Resolve { line, op, source };
                    let found = ctx.resolve(&src).map_err(resolve_err)?;
                    let Some(source) = found.into_iter().next() else {
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
                    out.push(StepMount::Bind {
                        source: source.path,
                        target,
                        read_only: !writable,
                    });
                }
                other => {
                    return Err(BuildError::BadValue {
                        line: st.line,
                        instruction: "RUN",
                        why: format!("--mount=type={other} is not supported"),
                    })
                }
            }
        }
        let content = (!parts.is_empty())
            .then(|| copy::hash(&parts))
            .transpose()?;
        Ok((out, content))
    }

    fn workdir_step(&mut self, st: &mut StageState, w: &str) -> Result<(), BuildError> {
        let w = st.expand(w)?;
        let dir = normalize(&copy::absolute(&w, &st.workdir()));
        config::section(&mut st.image.config).insert("WorkingDir".into(), json!(dir));
        let text = format!("WORKDIR {dir}");
        let target = dir.clone();
        let fill: super::step::Fill<'_> = Box::new(move |b: &mut dyn Backend, cid: &str| {
            let mut empty = std::io::Cursor::new(vec![0u8; 1024]);
            b.copy_in(cid, &target, (0, 0), &mut empty)
                .map_err(BuildError::backend("create the working directory"))
        });
        self.layer(
            st,
            LayerStep {
                key_text: text.clone(),
                content: None,
                created_by: format!("/bin/sh -c #(nop) {text}"),
                cmd: nop(&text),
                run: false,
                network: None,
                mounts: Vec::new(),
                fill: Some(fill),
            },
        )
    }

    fn copy_step(
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
    fn context(&self, line: usize, op: &'static str) -> Result<Context, BuildError> {
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
        let hash = copy::hash(&parts)?;
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
        self.layer(
            st,
            LayerStep {
                key_text,
                content: Some(hash),
                created_by: format!("/bin/sh -c #(nop) {text}"),
                cmd: nop(&text),
                run: false,
                network: None,
                mounts: Vec::new(),
                fill: Some(fill),
            },
        )
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
                    .filter(|(_, name)| !exclude.is_excluded(&name.to_string_lossy()))
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
    fn view_of(
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
            let mut tar = copy::tar_of(&[(path.clone(), name)], attrs)?;
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

/// The argv of a command: JSON form as is, shell form through the stage's SHELL.
fn argv(st: &StageState, c: &Command) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => st.shell.iter().cloned().chain([s.clone()]).collect(),
    }
}

/// The argv of a RUN with heredocs: a line that is only `<<EOF` runs the heredoc as
/// the script; otherwise the shell gets the line with its heredocs attached (and so
/// feeds them to the command as a shell does).
fn run_argv(st: &StageState, c: &Command, heredocs: &[Heredoc]) -> Vec<String> {
    let Command::Shell(line) = c else {
        return argv(st, c);
    };
    if heredocs.is_empty() {
        return argv(st, c);
    }
    let bare = line.trim().trim_start_matches("<<").trim_start_matches('-');
    let bare = bare.trim_matches(['"', '\'']);
    let script = match heredocs {
        [doc] if bare == doc.name => doc.content.clone(),
        _ => {
            let mut s = format!("{line}\n");
            for doc in heredocs {
                s.push_str(&doc.content);
                s.push_str(&doc.name);
                s.push('\n');
            }
            s
        }
    };
    st.shell.iter().cloned().chain([script]).collect()
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
            items: vec![(host, doc.name.clone().into())],
        },
        false => Part::File {
            path: host,
            dest: dir.to_string(),
        },
    })
}

/// The command of a container that only holds a layer (docker's `#(nop)`).
fn nop(text: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), format!("#(nop) {text}")]
}

fn expand_all(st: &StageState, words: &[String]) -> Result<Vec<String>, BuildError> {
    words.iter().map(|w| st.expand(w)).collect()
}

fn expand_pairs(
    st: &StageState,
    pairs: &[(String, String)],
) -> Result<Vec<(String, String)>, BuildError> {
    pairs
        .iter()
        .map(|(k, v)| Ok((st.expand(k)?, st.expand(v)?)))
        .collect()
}

/// `ENV a=b c=d` as docker's history writes it (LABEL values quoted).
fn pairs_text(keyword: &str, pairs: &[(String, String)], quote: bool) -> String {
    let words: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            if quote {
                format!("{k}={v:?}")
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    format!("{keyword} {}", words.join(" "))
}

/// A clean absolute path (`/a/./b/../c/` → `/a/c`).
fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// The config's `Healthcheck` object.
fn healthcheck(st: &StageState, h: &Healthcheck) -> Result<Value, BuildError> {
    let Healthcheck::Check {
        command,
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    } = h
    else {
        return Ok(json!({"Test": ["NONE"]}));
    };
    let test: Vec<String> = match command {
        Command::Exec(v) => std::iter::once("CMD".to_string())
            .chain(v.clone())
            .collect(),
        Command::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
    };
    let mut v = json!({"Test": test});
    for (field, d) in [
        ("Interval", interval),
        ("Timeout", timeout),
        ("StartPeriod", start_period),
        ("StartInterval", start_interval),
    ] {
        if let Some(d) = d {
            let ns = config::duration_ns(d).ok_or_else(|| BuildError::BadValue {
                line: st.line,
                instruction: "HEALTHCHECK",
                why: format!("invalid duration {d:?}"),
            })?;
            v[field] = json!(ns);
        }
    }
    if let Some(r) = retries {
        v["Retries"] = json!(r);
    }
    Ok(v)
}

/// The mounts as the cache key sees them (host paths of binds are temporary: their
/// content hash stands for them).
fn mounts_key(mounts: &[StepMount]) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    #[test]
    fn normalizes() {
        assert_eq!(super::normalize("/a/./b/../c/"), "/a/c");
        assert_eq!(super::normalize("/"), "/");
    }
}
