//! The builder: runs a parsed Dockerfile's steps over a [`Backend`] the way docker's
//! classic builder does. Every step makes a new image from the one before: metadata
//! steps (ENV, LABEL, CMD, ...) an image with the changed config and an empty-layer
//! history entry, RUN, COPY, ADD and WORKDIR a container whose writable layer is
//! committed. Each step's result is remembered in the layer cache under a key made of
//! the parent image, the instruction with its arguments expanded, the build args in use
//! and, for COPY and ADD, the content hash of the files: a hit skips the step without
//! making a container.
//!
//! Only the stages the target needs are built (its `FROM` chain and the stages its
//! `COPY --from`s name). A failed build removes the containers and the untagged images
//! it made.

mod cache;
mod config;
mod copy;
mod error;
mod files;
mod instr;
mod mounts;
mod stages;
mod step;
mod vars;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use error::{BackendError, BuildError};

use crate::ast::Dockerfile;
use crate::digests::StatKey;

/// An image as the builder sees it: its id and its whole config document (docker's image
/// JSON: `config`, `rootfs`, `history`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// `sha256:<64 hex>`.
    pub id: String,
    /// The image config.
    pub config: Value,
}

/// A container a RUN, COPY, ADD or WORKDIR step makes from its parent image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The parent image id.
    pub image: String,
    /// The whole command (entrypoint cleared).
    pub cmd: Vec<String>,
    /// `KEY=value` added to the image's environment (the build args in use).
    pub env: Vec<String>,
    /// `RUN --network=...` (`default`, `none`, `host`); None: the build's network mode.
    pub network: Option<String>,
    /// `RUN --mount=...`s.
    pub mounts: Vec<StepMount>,
}

/// A `RUN --mount` as the backend makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepMount {
    /// A host path (in the context, or a mounted stage's root) bound at `target`.
    Bind {
        /// The host path.
        source: PathBuf,
        /// The path in the container.
        target: String,
        /// Read-only (the default; `rw` makes it writable, changes are dropped).
        read_only: bool,
    },
    /// A directory kept between builds, named by `id`, at `target`.
    Cache {
        /// The cache's id (default: the target).
        id: String,
        /// The path in the container.
        target: String,
        /// Read-only.
        read_only: bool,
    },
    /// An empty tmpfs at `target`.
    Tmpfs {
        /// The path in the container.
        target: String,
    },
}

/// Where build output goes: the text lines docker's classic builder prints, and the id
/// of the image built.
pub trait Output {
    /// A piece of progress text (may hold several lines; ends with `\n` when complete).
    fn stream(&mut self, text: &str);
    /// The id of the image built (`sha256:...`), once, before "Successfully built".
    fn image_id(&mut self, id: &str);
    /// True once nobody reads the output any more (the client went away): the build
    /// stops before its next step.
    fn gone(&self) -> bool {
        false
    }
}

/// What the builder needs of an engine. Calls are short except [`Backend::run`] (which
/// waits for a container's command) and [`Backend::base_image`] (which may pull).
///
/// A container made with [`Backend::create`] is removed by the builder with
/// [`Backend::remove_container`]; images made with [`Backend::commit`] that the build
/// did not finish are removed with [`Backend::remove_image`].
pub trait Backend {
    /// The image `name` (a reference or id), pulled when missing or when `pull` is set;
    /// pull progress goes to `out`.
    fn base_image(
        &mut self,
        name: &str,
        pull: bool,
        platform: Option<&str>,
        out: &mut dyn Output,
    ) -> Result<Image, BackendError>;
    /// Image `id` as stored.
    fn image(&mut self, id: &str) -> Result<Image, BackendError>;
    /// Makes (does not start) a container; returns its id.
    fn create(&mut self, spec: &ContainerSpec) -> Result<String, BackendError>;
    /// Runs container `id` to its end, its stdout and stderr going to `out`; returns its
    /// exit code.
    fn run(&mut self, id: &str, out: &mut dyn Output) -> Result<i32, BackendError>;
    /// The uid and gid `user` (`name|uid[:group|gid]`) names in container `id`'s files.
    fn resolve_user(&mut self, id: &str, user: &str) -> Result<(u32, u32), BackendError>;
    /// Whether `path` (absolute) is a directory in container `id` (symlinks followed
    /// inside its root).
    fn is_dir(&mut self, id: &str, path: &str) -> Result<bool, BackendError>;
    /// Makes directory `dir` (absolute) and its missing parents (0755, owned by `owner`
    /// as docker's COPY --chown makes them) in container `id`, then extracts the
    /// uncompressed tar `tar` into it.
    fn copy_in(
        &mut self,
        id: &str,
        dir: &str,
        owner: (u32, u32),
        tar: &mut dyn Read,
    ) -> Result<(), BackendError>;
    /// A new image: `config` (the whole image config, its history entry added) over
    /// `parent`'s layers (none for scratch) and, with a container, that container's
    /// writable layer (its diffID appended to `rootfs.diff_ids` here), its files' times
    /// clamped to `clamp` (Unix seconds; `SOURCE_DATE_EPOCH`) when given.
    fn commit(
        &mut self,
        container: Option<&str>,
        parent: Option<&str>,
        config: &Value,
        clamp: Option<i64>,
    ) -> Result<String, BackendError>;
    /// A container over image `id` whose root file system is mounted (for reading, by
    /// `COPY --from`); its id and the root's path. [`Backend::remove_container`]
    /// unmounts and removes it.
    fn view(&mut self, id: &str) -> Result<(String, PathBuf), BackendError>;
    /// Removes container `id`.
    fn remove_container(&mut self, id: &str) -> Result<(), BackendError>;
    /// Removes image `id` if no name and no container holds it.
    fn remove_image(&mut self, id: &str) -> Result<(), BackendError>;
    /// The image a cache key was recorded with, if that image is still there.
    fn cache_get(&mut self, key: &str) -> Option<String>;
    /// Records `image` under cache key `key`.
    fn cache_put(&mut self, key: &str, image: &str) -> Result<(), BackendError>;
    /// Tags image `id` as `name`; returns the name as normalised (`foo:latest`).
    fn tag(&mut self, id: &str, name: &str) -> Result<String, BackendError>;
    /// Downloads `url` into `into` (ADD of a URL).
    fn fetch(&mut self, url: &str, into: &mut dyn Write) -> Result<(), BackendError>;
    /// The sha256 of the content of context file `path`, whose stat says `stat`: by
    /// default read from the file; a backend may remember digests (see
    /// [`crate::digests::DigestCache`]) as long as the same content always gives the
    /// same digest.
    fn file_digest(&mut self, path: &Path, stat: &StatKey) -> std::io::Result<[u8; 32]> {
        let _ = stat;
        crate::digests::read_digest(path)
    }
}

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The context directory (COPY and ADD sources are relative to it).
    pub context: PathBuf,
    /// `--build-arg`s (a None value: take it from `env`, as `--build-arg NAME` does).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `-t` names.
    pub tags: Vec<String>,
    /// `--target`: the stage to stop at.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`.
    pub pull: bool,
    /// `--label`s, set on the image built.
    pub labels: BTreeMap<String, String>,
    /// `--network` for RUN steps.
    pub network: Option<String>,
    /// Remove intermediate containers after a successful step (docker's default).
    pub rm: bool,
    /// Remove intermediate containers even after a failed step.
    pub force_rm: bool,
    /// `-q`: print nothing but the id at the end (the caller does).
    pub quiet: bool,
    /// `SOURCE_DATE_EPOCH`: the time every history entry and the image get.
    pub source_date_epoch: Option<i64>,
}

/// The result of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The image id (`sha256:...`).
    pub id: String,
    /// The names it was tagged with.
    pub tags: Vec<String>,
}

/// Builds `dockerfile` with `opts` over `backend`, progress to `out`.
pub fn build(
    dockerfile: &Dockerfile,
    opts: &Options,
    backend: &mut dyn Backend,
    out: &mut dyn Output,
) -> Result<Built, BuildError> {
    let mut run = step::Run::new(dockerfile, opts, backend, out)?;
    match run.all() {
        Ok(b) => Ok(b),
        Err(e) => {
            run.clean_up_failed();
            Err(e)
        }
    }
}

/// Parses an ONBUILD trigger (one instruction's text).
fn parse_trigger(text: &str) -> Result<crate::ast::Located<crate::ast::Instruction>, String> {
    let df =
        crate::dockerfile::parse(&format!("FROM scratch\n{text}\n")).map_err(|e| e.to_string())?;
    df.stages
        .into_iter()
        .next()
        .and_then(|s| s.instructions.into_iter().next())
        .ok_or_else(|| "not an instruction".to_string())
}
