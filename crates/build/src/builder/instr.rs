//! Each instruction's effect: the config change of metadata steps, the command of RUN,
//! the files of COPY and ADD, the directory of WORKDIR.

use serde_json::{json, Value};

use crate::ast::{Command, Healthcheck, Heredoc, Instruction, Located, RunMount};

use super::copy;
use super::error::BuildError;
use super::step::{LayerStep, Run, StageState};
use super::{config, Backend};

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
            let key_text = format!(
                "RUN {} {:?} {network:?}",
                json!(cmd),
                super::mounts::mounts_key(&mounts)
            );
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
        self.layer(st, LayerStep::files(text.clone(), None, &text, fill))
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

/// The command of a container that only holds a layer (docker's `#(nop)`).
pub(super) fn nop(text: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), format!("#(nop) {text}")]
}

pub(super) fn expand_all(st: &StageState, words: &[String]) -> Result<Vec<String>, BuildError> {
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

#[cfg(test)]
mod tests {
    #[test]
    fn normalizes() {
        assert_eq!(super::normalize("/a/./b/../c/"), "/a/c");
        assert_eq!(super::normalize("/"), "/");
    }
}
