//! The parsed form of a Dockerfile: what the parser produces and the builder consumes.
//!
//! Words are kept as written (variables unexpanded): `$VAR` values are only known while
//! the build runs, stage by stage, so expansion is the builder's job (see `expand`).

/// A position in the Dockerfile, 1-based, for error messages ("line 3, column 5").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line of the instruction's first character.
    pub line: usize,
    /// Column of the instruction's first character.
    pub column: usize,
}

/// A whole Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// Parser directives from the top of the file (`# syntax=...`, `# escape=...`), in order.
    pub directives: Vec<(String, String)>,
    /// `ARG` instructions before the first `FROM` (usable in `FROM` lines only).
    pub global_args: Vec<Located<Arg>>,
    /// The build stages, in file order.
    pub stages: Vec<Stage>,
}

/// One `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Where the `FROM` is.
    pub pos: Pos,
    /// The base as written: an image reference, `scratch`, an earlier stage's name or index.
    pub base: String,
    /// `FROM ... AS name`, lowercased as docker does.
    pub name: Option<String>,
    /// `FROM --platform=...`.
    pub platform: Option<String>,
    /// The stage's instructions in order (not including the `FROM`).
    pub instructions: Vec<Located<Instruction>>,
}

/// A value with the position of the instruction it came from and its original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// Where the instruction starts.
    pub pos: Pos,
    /// The instruction as written, continuations joined (for `build` progress and history).
    pub source: String,
    /// The parsed value.
    pub value: T,
}

/// The command of `RUN`, `CMD`, `ENTRYPOINT` and `HEALTHCHECK CMD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// JSON form `["a", "b"]`: run as is, never expanded.
    Exec(Vec<String>),
    /// Shell form: run by the stage's `SHELL` (default `/bin/sh -c`).
    Shell(String),
}

/// A heredoc body (`RUN <<EOF`, `COPY <<EOF dest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter name (`EOF`).
    pub name: String,
    /// The body, lines joined with `\n`, ending with `\n`.
    pub content: String,
    /// True unless the delimiter was quoted (`<<"EOF"`): then `$VAR` in the body expands.
    pub expand: bool,
    /// `<<-EOF`: leading tabs were stripped from the body.
    pub strip_tabs: bool,
}

/// `ARG name[=default]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// The argument's name.
    pub name: String,
    /// Its default, unexpanded.
    pub default: Option<String>,
}

/// A `RUN --mount=...` option, parsed into its `key=value` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    /// `type=` (`bind`, `cache`, `tmpfs`, `secret`, `ssh`); `bind` when absent.
    pub kind: String,
    /// All the fields as written, `type` included, in order (`target=/x`, `from=stage`, `ro`).
    pub fields: Vec<(String, Option<String>)>,
}

/// `COPY`/`ADD` options and operands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopySpec {
    /// Source paths or URLs as written (globs allowed), unexpanded.
    pub sources: Vec<String>,
    /// Heredoc sources (`COPY <<EOF /dest`): each becomes a file named after its delimiter.
    pub heredocs: Vec<Heredoc>,
    /// The destination as written.
    pub dest: String,
    /// `--from=stage|index|image` (COPY only).
    pub from: Option<String>,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod=0755`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--checksum=sha256:...` (ADD only).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD only).
    pub keep_git_dir: bool,
    /// `--exclude=pattern` (repeatable).
    pub excludes: Vec<String>,
    /// `--parents`.
    pub parents: bool,
}

/// `HEALTHCHECK` options and command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`.
    None,
    /// `HEALTHCHECK [options] CMD ...`.
    Check {
        /// The command.
        command: Command,
        /// `--interval=`, as written (a Go duration like `30s`).
        interval: Option<String>,
        /// `--timeout=`.
        timeout: Option<String>,
        /// `--start-period=`.
        start_period: Option<String>,
        /// `--start-interval=`.
        start_interval: Option<String>,
        /// `--retries=`.
        retries: Option<u32>,
    },
}

/// One instruction after `FROM`. Words are unexpanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `RUN [--mount=...] [--network=...] [--security=...] command` with heredocs.
    Run {
        /// The command (for a heredoc-only `RUN <<EOF`, the shell form of the heredoc line).
        command: Command,
        /// Heredocs the command line refers to.
        heredocs: Vec<Heredoc>,
        /// `--mount=` options.
        mounts: Vec<RunMount>,
        /// `--network=default|none|host`.
        network: Option<String>,
    },
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `COPY`.
    Copy(CopySpec),
    /// `ADD`.
    Add(CopySpec),
    /// `ENV k=v ...` (or the legacy `ENV k v`), in order.
    Env(Vec<(String, String)>),
    /// `ARG` (several per line allowed).
    Arg(Vec<Arg>),
    /// `LABEL k=v ...`.
    Label(Vec<(String, String)>),
    /// `EXPOSE 80 443/tcp ...` as written.
    Expose(Vec<String>),
    /// `VOLUME ["/a"]` or `VOLUME /a /b`.
    Volume(Vec<String>),
    /// `USER user[:group]`.
    User(String),
    /// `WORKDIR path`.
    Workdir(String),
    /// `SHELL ["executable", "params"]` (JSON form only).
    Shell(Vec<String>),
    /// `STOPSIGNAL signal`.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `ONBUILD <instruction>`: kept as the trigger's text, run when an image built from
    /// this one is used as a base.
    Onbuild(String),
    /// `MAINTAINER name` (deprecated; sets the image's Author).
    Maintainer(String),
}
