//! A build in progress: the stages run in order, each step through the two ways docker's
//! classic builder makes an image (a config change with an empty layer, or a container
//! committed), the cache consulted first, and what a failed build made removed.

use serde_json::Value;

use crate::ast::{Dockerfile, Stage};

use super::error::BuildError;
use super::vars::{BuildArgs, Scope};
use super::{cache, config, stages, Backend, Built, ContainerSpec, Image, Options, Output};

/// The default shell of RUN, CMD and ENTRYPOINT in shell form.
pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// The PATH a stage gets when its base sets none (docker's default on Linux).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A build in progress.
pub struct Run<'a> {
    pub(super) df: &'a Dockerfile,
    pub(super) opts: &'a Options,
    pub(super) backend: &'a mut dyn Backend,
    pub(super) out: &'a mut dyn Output,
    pub(super) build_args: BuildArgs,
    pub(super) global: Scope,
    /// The image each stage built (None: not built).
    pub(super) stage_images: Vec<Option<String>>,
    /// Images this build committed (not cache hits), for the clean-up of a failure.
    made_images: Vec<(String, String)>,
    /// Containers not removed yet.
    containers: Vec<String>,
    step: usize,
    total: usize,
    /// The time history entries get.
    pub(super) created: String,
    /// The Dockerfile's escape character.
    escape: char,
    /// Output dropped (`-q`).
    pub(super) silent: Silent,
}

/// An output that drops everything.
pub struct Silent;

impl Output for Silent {
    fn stream(&mut self, _text: &str) {}
    fn image_id(&mut self, _id: &str) {}
}

/// The state of the stage being built.
pub struct StageState {
    /// The image so far (id empty: a scratch stage with nothing committed yet).
    pub image: Image,
    /// The stage's ARGs.
    pub scope: Scope,
    /// The stage's SHELL.
    pub shell: Vec<String>,
    /// A CMD was set in this stage (an ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    /// The stage's index.
    pub index: usize,
    /// The line of the instruction running.
    pub line: usize,
    /// The Dockerfile's escape character.
    pub escape: char,
}

impl StageState {
    /// The stage's current environment (`config.Env`).
    pub fn env(&self) -> Vec<String> {
        config::env(&self.image.config)
    }

    /// Expands `word` with the stage's ENV and ARGs.
    pub fn expand(&self, word: &str) -> Result<String, BuildError> {
        let env = self.env();
        super::vars::expand(word, &|k| self.scope.lookup(&env, k), self.escape).map_err(|why| {
            BuildError::Expand {
                line: self.line,
                why,
            }
        })
    }

    /// Expands `$VAR`s in a heredoc body: only variables, no quote removal (each line
    /// expanded as a word would lose its quotes, so quotes are escaped first).
    pub fn expand_text(&self, text: &str) -> Result<String, BuildError> {
        let env = self.env();
        let e = self.escape;
        let mut protected = String::with_capacity(text.len());
        for c in text.chars() {
            if c == '\'' || c == '"' || c == e {
                protected.push(e);
            }
            protected.push(c);
        }
        super::vars::expand(&protected, &|k| self.scope.lookup(&env, k), e).map_err(|why| {
            BuildError::Expand {
                line: self.line,
                why,
            }
        })
    }

    /// The current `config.WorkingDir`.
    pub fn workdir(&self) -> String {
        self.image
            .config
            .pointer("/config/WorkingDir")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    }
}

/// How a step that makes a container changes the image.
pub struct LayerStep<'s> {
    /// The cache key's instruction text (expanded).
    pub key_text: String,
    /// For COPY and ADD: the content hash.
    pub content: Option<String>,
    /// The history entry's `created_by`.
    pub created_by: String,
    /// The container's command.
    pub cmd: Vec<String>,
    /// Run the container's command (RUN) rather than just commit its layer.
    pub run: bool,
    /// RUN --network.
    pub network: Option<String>,
    /// RUN --mount.
    pub mounts: Vec<super::StepMount>,
    /// Called with the container before the commit (COPY writes its files).
    pub fill: Option<Fill<'s>>,
}

impl<'s> LayerStep<'s> {
    /// A step whose layer is what `fill` writes (COPY, ADD, WORKDIR): no command runs;
    /// its history and container command are docker's `#(nop)` form of `text`.
    pub fn files(key_text: String, content: Option<String>, text: &str, fill: Fill<'s>) -> Self {
        LayerStep {
            key_text,
            content,
            created_by: format!("/bin/sh -c #(nop) {text}"),
            cmd: super::instr::nop(text),
            run: false,
            network: None,
            mounts: Vec::new(),
            fill: Some(fill),
        }
    }
}

/// What fills a step's container.
pub type Fill<'s> = Box<dyn FnOnce(&mut dyn Backend, &str) -> Result<(), BuildError> + 's>;

/// The first 12 hex characters of an id.
pub fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

impl<'a> Run<'a> {
    /// Prepares a build: the target's stages chosen, the global ARGs declared.
    pub fn new(
        df: &'a Dockerfile,
        opts: &'a Options,
        backend: &'a mut dyn Backend,
        out: &'a mut dyn Output,
    ) -> Result<Run<'a>, BuildError> {
        let escape = escape_char(df);
        let mut build_args = BuildArgs::new(&opts.build_args);
        let mut global = Scope::default();
        for a in &df.global_args {
            for arg in std::slice::from_ref(&a.value) {
                global
                    .declare(arg, &mut build_args, None, &[], escape)
                    .map_err(|why| BuildError::Expand {
                        line: a.pos.line,
                        why,
                    })?;
            }
        }
        let created = created_time(opts.source_date_epoch);
        Ok(Run {
            df,
            opts,
            backend,
            out,
            build_args,
            global,
            stage_images: vec![None; df.stages.len()],
            made_images: Vec::new(),
            containers: Vec::new(),
            step: 0,
            total: 0,
            created,
            escape,
            silent: Silent,
        })
    }

    /// Builds the needed stages, tags the result.
    pub fn all(&mut self) -> Result<Built, BuildError> {
        let target = stages::target(self.df, self.opts.target.as_deref())?;
        let bases = self
            .df
            .stages
            .iter()
            .map(|st| self.base_of(st))
            .collect::<Result<Vec<_>, _>>()?;
        let need = stages::needed(self.df, target, &bases);
        let extra = usize::from(!self.opts.labels.is_empty());
        self.total = need
            .iter()
            .enumerate()
            .filter(|(_, n)| **n)
            .map(|(i, _)| 1 + self.df.stages[i].instructions.len())
            .sum::<usize>()
            + extra;
        for i in (0..=target).filter(|i| need[*i]) {
            let id = self.stage(i, i == target)?;
            self.stage_images[i] = Some(id);
        }
        let id = self.stage_images[target].clone().unwrap_or_default();
        self.finish(id)
    }

    /// Warnings, the id, the tags.
    fn finish(&mut self, id: String) -> Result<Built, BuildError> {
        let unused = self.build_args.unused();
        if !unused.is_empty() {
            let list = unused.join(" ");
            self.say(&format!(
                "[Warning] One or more build-args [{list}] were not consumed\n"
            ));
        }
        self.out.image_id(&id);
        if self.opts.quiet {
            // docker's clients print what a quiet build streams: the id alone.
            self.out.stream(&format!("{id}\n"));
        }
        self.say(&format!("Successfully built {}\n", short(&id)));
        let mut tags = Vec::new();
        for t in &self.opts.tags {
            let name = self
                .backend
                .tag(&id, t)
                .map_err(BuildError::backend("tag the image"))?;
            self.say(&format!("Successfully tagged {name}\n"));
            tags.push(name);
        }
        Ok(Built { id, tags })
    }

    /// Prints progress (nothing with `-q`).
    pub fn say(&mut self, text: &str) {
        if !self.opts.quiet {
            self.out.stream(text);
        }
    }

    /// Prints `Step N/M : text`.
    pub fn announce(&mut self, text: &str) -> Result<(), BuildError> {
        if self.out.gone() {
            return Err(BuildError::Cancelled);
        }
        self.step += 1;
        let line = format!("Step {}/{} : {}\n", self.step, self.total, text);
        self.say(&line);
        Ok(())
    }

    /// Builds stage `i`; returns its image id.
    fn stage(&mut self, i: usize, last: bool) -> Result<String, BuildError> {
        let stage = &self.df.stages[i];
        self.announce(&from_text(stage))?;
        let mut st = self.from(stage, i)?;
        self.triggers(&mut st)?;
        for ins in &stage.instructions {
            st.line = ins.pos.line;
            self.announce(&ins.source)?;
            self.instruction(&mut st, ins)?;
        }
        if last && !self.opts.labels.is_empty() {
            self.option_labels(&mut st)?;
        }
        if st.image.id.is_empty() {
            return Err(BuildError::BadValue {
                line: stage.pos.line,
                instruction: "FROM",
                why: "No image was generated. Is your Dockerfile empty?".into(),
            });
        }
        Ok(st.image.id)
    }

    /// The `--label`s as a last LABEL step.
    fn option_labels(&mut self, st: &mut StageState) -> Result<(), BuildError> {
        let pairs: Vec<(String, String)> = self
            .opts
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let text = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(" ");
        self.announce(&format!("LABEL {text}"))?;
        self.meta(st, &format!("LABEL {text}"), &mut |img| {
            for (k, v) in &pairs {
                config::set_label(img, k, v);
            }
        })
    }

    /// A stage's `FROM` with the global ARGs expanded.
    fn base_of(&self, stage: &Stage) -> Result<String, BuildError> {
        let lookup = |k: &str| self.global.get(k).map(String::from);
        super::vars::expand(&stage.base, &lookup, self.escape).map_err(|why| BuildError::Expand {
            line: stage.pos.line,
            why,
        })
    }

    /// The stage's base: an earlier stage, scratch or an image.
    fn from(&mut self, stage: &Stage, i: usize) -> Result<StageState, BuildError> {
        let base = self.base_of(stage)?;
        let image = if let Some(j) = stages::find(&self.df.stages, i, &base) {
            let id = self.stage_images[j]
                .clone()
                .ok_or_else(|| BuildError::BadStage {
                    line: stage.pos.line,
                    name: base.clone(),
                    why: "stage not built",
                })?;
            self.backend
                .image(&id)
                .map_err(BuildError::backend("read the stage's image"))?
        } else if base.eq_ignore_ascii_case("scratch") {
            Image {
                id: String::new(),
                config: config::scratch(),
            }
        } else {
            let (pull, platform) = (self.opts.pull, stage.platform.clone());
            let out: &mut dyn Output = match self.opts.quiet {
                true => &mut self.silent,
                false => &mut *self.out,
            };
            self.backend
                .base_image(&base, pull, platform.as_deref(), out)
                .map_err(|source| BuildError::Image {
                    line: stage.pos.line,
                    name: base.clone(),
                    source,
                })?
        };
        if !image.id.is_empty() {
            let line = format!(" ---> {}\n", short(&image.id));
            self.say(&line);
        }
        let mut image = image;
        if !config::env(&image.config)
            .iter()
            .any(|e| e.starts_with("PATH="))
        {
            // As docker's builder: a stage whose base sets no PATH gets the default one.
            config::set_env(&mut image.config, "PATH", DEFAULT_PATH);
        }
        Ok(StageState {
            image,
            scope: Scope::default(),
            shell: DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
            cmd_set: false,
            index: i,
            line: stage.pos.line,
            escape: self.escape,
        })
    }

    /// Runs the base image's ONBUILD triggers, then clears them from the config.
    fn triggers(&mut self, st: &mut StageState) -> Result<(), BuildError> {
        let triggers = config::strings(st.image.config.pointer("/config/OnBuild"));
        if triggers.is_empty() {
            return Ok(());
        }
        let n = triggers.len();
        let s = if n == 1 { "" } else { "s" };
        self.say(&format!("# Executing {n} build trigger{s}\n"));
        config::section(&mut st.image.config).remove("OnBuild");
        for t in triggers {
            let ins = super::parse_trigger(&t).map_err(|why| BuildError::Trigger {
                line: st.line,
                trigger: t.clone(),
                why,
            })?;
            self.instruction(st, &ins)?;
        }
        Ok(())
    }

    /// A config-only step: `edit` applied, an empty-layer history entry
    /// (`/bin/sh -c #(nop)  <text>`), a new image (or the cached one).
    pub fn meta(
        &mut self,
        st: &mut StageState,
        text: &str,
        edit: &mut dyn FnMut(&mut Value),
    ) -> Result<(), BuildError> {
        let args = st.scope.run_env(&st.env());
        let key = cache::key(&st.image.id, &format!("meta {text}"), &args, None);
        if self.cached(st, &key)? {
            return Ok(());
        }
        let mut cfg = st.image.config.clone();
        edit(&mut cfg);
        let by = format!("/bin/sh -c #(nop)  {text}");
        config::push_history(&mut cfg, &self.created, &by, true);
        let parent = (!st.image.id.is_empty()).then_some(st.image.id.as_str());
        let id = self
            .backend
            .commit(None, parent, &cfg, None)
            .map_err(BuildError::backend("commit the image"))?;
        self.made(st, key, Image { id, config: cfg })
    }

    /// Records a new image of this build as the stage's current one.
    fn made(&mut self, st: &mut StageState, key: String, image: Image) -> Result<(), BuildError> {
        self.backend
            .cache_put(&key, &image.id)
            .map_err(BuildError::backend("record the build cache"))?;
        self.made_images.push((image.id.clone(), key));
        self.say(&format!(" ---> {}\n", short(&image.id)));
        st.image = image;
        Ok(())
    }

    /// Takes the cached result of `key` if there is one (and the cache is on).
    fn cached(&mut self, st: &mut StageState, key: &str) -> Result<bool, BuildError> {
        if self.opts.no_cache {
            return Ok(false);
        }
        let Some(id) = self.backend.cache_get(key) else {
            return Ok(false);
        };
        let Ok(image) = self.backend.image(&id) else {
            return Ok(false);
        };
        self.say(&format!(" ---> Using cache\n ---> {}\n", short(&image.id)));
        st.image = image;
        Ok(true)
    }

    /// A step that commits a container's layer: cache first; else a container from the
    /// current image, filled or run, committed, removed.
    pub fn layer(&mut self, st: &mut StageState, step: LayerStep<'_>) -> Result<(), BuildError> {
        let args = st.scope.run_env(&st.env());
        let key = cache::key(&st.image.id, &step.key_text, &args, step.content.as_deref());
        if self.cached(st, &key)? {
            return Ok(());
        }
        self.ensure_image(st)?;
        let spec = ContainerSpec {
            image: st.image.id.clone(),
            cmd: step.cmd.clone(),
            env: args,
            network: step.network.clone().or_else(|| self.opts.network.clone()),
            mounts: step.mounts.clone(),
        };
        let cid = self
            .backend
            .create(&spec)
            .map_err(BuildError::backend("create the step's container"))?;
        self.containers.push(cid.clone());
        let done = self.fill_and_commit(st, &cid, step);
        if self.opts.rm || self.opts.force_rm {
            self.remove_container(&cid, done.is_ok())?;
        } else {
            self.containers.retain(|c| c != &cid);
        }
        let image = done?;
        self.made(st, key, image)
    }

    fn fill_and_commit(
        &mut self,
        st: &StageState,
        cid: &str,
        step: LayerStep<'_>,
    ) -> Result<Image, BuildError> {
        if step.run {
            self.say(&format!(" ---> Running in {}\n", short(cid)));
            let out: &mut dyn Output = match self.opts.quiet {
                true => &mut self.silent,
                false => &mut *self.out,
            };
            let code = self
                .backend
                .run(cid, out)
                .map_err(BuildError::backend("run the step's container"))?;
            if code != 0 {
                return Err(BuildError::RunFailed {
                    command: step.cmd.join(" "),
                    code,
                });
            }
        }
        if let Some(fill) = step.fill {
            fill(self.backend, cid)?;
        }
        let mut cfg = st.image.config.clone();
        config::push_history(&mut cfg, &self.created, &step.created_by, false);
        let id = self
            .backend
            .commit(
                Some(cid),
                Some(&st.image.id),
                &cfg,
                self.opts.source_date_epoch,
            )
            .map_err(BuildError::backend("commit the step's container"))?;
        let image = self
            .backend
            .image(&id)
            .map_err(BuildError::backend("read the committed image"))?;
        Ok(image)
    }

    fn remove_container(&mut self, cid: &str, say: bool) -> Result<(), BuildError> {
        self.containers.retain(|c| c != cid);
        if say {
            self.say(&format!("Removing intermediate container {}\n", short(cid)));
        }
        self.backend
            .remove_container(cid)
            .map_err(BuildError::backend("remove the intermediate container"))
    }

    /// A scratch stage gets an image (no layers) before its first container.
    fn ensure_image(&mut self, st: &mut StageState) -> Result<(), BuildError> {
        if !st.image.id.is_empty() {
            return Ok(());
        }
        let id = self
            .backend
            .commit(None, None, &st.image.config, None)
            .map_err(BuildError::backend("commit the empty base"))?;
        self.made_images.push((id.clone(), String::new()));
        st.image.id = id;
        Ok(())
    }

    /// After a failure: the containers left are removed, and the images this build made
    /// that nothing else holds.
    pub fn clean_up_failed(&mut self) {
        for c in std::mem::take(&mut self.containers) {
            // The build's error is the one reported.
            self.backend.remove_container(&c).ok();
        }
        for (id, _) in std::mem::take(&mut self.made_images).into_iter().rev() {
            self.backend.remove_image(&id).ok();
        }
    }

    /// The current ARG and stage lookups for COPY --from.
    pub fn stage_image(&self, st: &StageState, from: &str) -> Option<String> {
        stages::find(&self.df.stages, st.index, from).and_then(|j| self.stage_images[j].clone())
    }
}

/// The `# escape=` directive's character (default `\\`).
fn escape_char(df: &Dockerfile) -> char {
    df.directives
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case("escape"))
        .and_then(|(_, v)| v.chars().next())
        .unwrap_or('\\')
}

/// The FROM line as docker prints it.
fn from_text(stage: &Stage) -> String {
    let mut s = String::from("FROM ");
    if let Some(p) = &stage.platform {
        s.push_str(&format!("--platform={p} "));
    }
    s.push_str(&stage.base);
    if let Some(n) = &stage.name {
        s.push_str(&format!(" AS {n}"));
    }
    s
}

/// RFC 3339 time of history entries: SOURCE_DATE_EPOCH's, else now.
fn created_time(epoch: Option<i64>) -> String {
    let t = match epoch {
        Some(s) => std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.max(0) as u64),
        None => std::time::SystemTime::now(),
    };
    rfc3339(t)
}

/// `2006-01-02T15:04:05.999999999Z` (Go's RFC3339Nano).
fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, dd) = civil(days);
    // Go's RFC3339Nano: the fraction without trailing zeros, none when zero.
    let nanos = format!(".{:09}", d.subsec_nanos());
    let fraction = nanos.trim_end_matches('0').trim_end_matches('.');
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}{fraction}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
    )
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(super::rfc3339(t), "2023-11-14T22:13:20Z");
        let t = t + std::time::Duration::from_millis(250);
        assert_eq!(super::rfc3339(t), "2023-11-14T22:13:20.25Z");
    }
}
