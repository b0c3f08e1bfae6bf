//! The Dockerfile parser: text into [`ast::Dockerfile`](crate::ast::Dockerfile).
//!
//! It follows docker's parser: directives at the very top (`# syntax=`, `# escape=`,
//! `# check=`), whole-line comments dropped, the escape character continuing lines,
//! instruction names in any case, the JSON form when the arguments are a JSON array of
//! strings, heredocs for `RUN`, `COPY` and `ADD`, `--flags` checked per instruction.
//! Words stay unexpanded: the builder expands them stage by stage (see `expand`).
//! Every error names the line and column of the instruction at fault.

mod command;
mod flags;
mod instruction;
mod lines;
mod words;

pub(crate) use command::go_duration_nanos;
pub use flags::FlagError;

use crate::ast::{Dockerfile, Instruction, Located, Pos, Stage};
use crate::expand::ExpandError;
use instruction::Parsed;
use thiserror::Error;

/// A Dockerfile that cannot be parsed: docker's message with where it happened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("dockerfile parse error on line {line} (column {column}): {kind}")]
pub struct ParseError {
    /// 1-based line of the instruction (or directive) at fault.
    pub line: usize,
    /// 1-based column where that instruction starts.
    pub column: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// What is wrong with a Dockerfile, in docker's words.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseErrorKind {
    /// Nothing but comments and blank lines.
    #[error("file with no instructions")]
    NoInstructions,
    /// Only `ARG`s, no `FROM`.
    #[error("dockerfile contains no stages to build")]
    NoStages,
    /// An instruction other than `ARG` before the first `FROM`.
    #[error("no build stage in current context")]
    NoStage,
    /// An instruction name docker does not know.
    #[error("unknown instruction: {name}")]
    UnknownInstruction {
        /// The name as written.
        name: String,
    },
    /// A bad `--flag`.
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// A directive given twice.
    #[error("only one {name} parser directive can be used")]
    DuplicateDirective {
        /// The directive's name.
        name: String,
    },
    /// `# escape=` with something other than `\` or `` ` ``.
    #[error("invalid escape token '{value}' does not match ` or \\")]
    BadEscape {
        /// The value given.
        value: String,
    },
    /// A heredoc whose terminator never comes.
    #[error("unterminated heredoc")]
    UnterminatedHeredoc,
    /// A heredoc word that cannot be read (`<<"EOF`).
    #[error("bad heredoc {word}: {source}")]
    BadHeredoc {
        /// The word.
        word: String,
        /// Why.
        source: ExpandError,
    },
    /// `["a", 1]`.
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    NotStringArray,
    /// An instruction with no arguments that needs some.
    #[error("{instruction} requires at least one argument")]
    AtLeastOne {
        /// The instruction.
        instruction: &'static str,
    },
    /// `WORKDIR`, `USER`, `STOPSIGNAL`, `MAINTAINER` without an argument.
    #[error("{instruction} requires exactly one argument")]
    ExactlyOne {
        /// The instruction.
        instruction: &'static str,
    },
    /// `ENV =x`, `ARG =x`.
    #[error("{instruction} names can not be blank")]
    BlankName {
        /// The instruction.
        instruction: &'static str,
    },
    /// `ENV name` (legacy form without a value).
    #[error("{instruction} must have two arguments")]
    TwoArguments {
        /// The instruction.
        instruction: &'static str,
    },
    /// `ENV a=1 b`.
    #[error("Syntax error - can't find = in {word:?}. Must be of the form: name=value")]
    NoEquals {
        /// The word without `=`.
        word: String,
    },
    /// `FROM a b`.
    #[error("FROM requires either one or three arguments")]
    FromArguments,
    /// `FROM x AS 1st`.
    #[error(
        "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
    )]
    StageName {
        /// The name as written.
        name: String,
    },
    /// Two stages with the same name.
    #[error("duplicate stage name {name:?}")]
    DuplicateStage {
        /// The (lowercased) name.
        name: String,
    },
    /// `COPY src` without a destination.
    #[error("{instruction} requires at least two arguments, but only one was provided. Destination could not be determined")]
    NoDestination {
        /// The instruction.
        instruction: &'static str,
    },
    /// `COPY x <<EOF`.
    #[error("{instruction} cannot accept a heredoc as a destination")]
    HeredocDestination {
        /// The instruction.
        instruction: &'static str,
    },
    /// `VOLUME ""`.
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
    /// `SHELL /bin/sh`.
    #[error("SHELL requires the arguments to be in JSON form")]
    ShellNotJson,
    /// `ONBUILD ONBUILD ...`.
    #[error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChain,
    /// `ONBUILD FROM` / `ONBUILD MAINTAINER`.
    #[error("{name} isn't allowed as an ONBUILD trigger")]
    OnbuildTrigger {
        /// The trigger's instruction.
        name: String,
    },
    /// `HEALTHCHECK NONE x`.
    #[error("HEALTHCHECK NONE takes no arguments")]
    HealthcheckNoneArguments,
    /// `HEALTHCHECK FOO`.
    #[error("Unknown type {name:?} in HEALTHCHECK (try CMD)")]
    HealthcheckType {
        /// The type as written.
        name: String,
    },
    /// `HEALTHCHECK CMD` alone.
    #[error("Missing command after HEALTHCHECK CMD")]
    HealthcheckCommand,
    /// `--interval=soon`: not a Go duration.
    #[error("{message}")]
    Duration {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Go's message (`time: missing unit in duration "5"`).
        message: String,
    },
    /// `--interval=10us`: a duration under docker's minimum.
    #[error("Interval {flag:?} cannot be less than 1ms")]
    ShortDuration {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// `--retries=x`.
    #[error("strconv.ParseInt: parsing {value:?}: invalid syntax")]
    Retries {
        /// The value given.
        value: String,
    },
    /// `--retries=-1`.
    #[error("--retries cannot be negative ({value})")]
    NegativeRetries {
        /// The value given.
        value: String,
    },
    /// `RUN --network=bridge`.
    #[error("unsupported network mode {value:?}")]
    Network {
        /// The value given.
        value: String,
    },
    /// `RUN --mount=type=nfs`.
    #[error("unsupported mount type {kind:?}")]
    MountType {
        /// The type given.
        kind: String,
    },
    /// `RUN --mount=type=bind,foo=bar`.
    #[error("unexpected key '{key}' in '{field}'")]
    MountKey {
        /// The key.
        key: String,
        /// The whole field.
        field: String,
    },
    /// `RUN --mount=type=cache` without `target=`.
    #[error("mount type {kind} requires a target")]
    MountTarget {
        /// The mount's type.
        kind: String,
    },
    /// `RUN --mount=target="x` (an unclosed quote in the CSV).
    #[error("bad --mount value {value:?}: unterminated quote")]
    MountQuote {
        /// The value given.
        value: String,
    },
}

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let lines = lines::split(text)?;
    let mut file = Dockerfile {
        directives: lines.directives,
        ..Dockerfile::default()
    };
    let Some(last) = lines.logical.last() else {
        return Err(ParseError {
            line: lines.last_line.max(1),
            column: 1,
            kind: ParseErrorKind::NoInstructions,
        });
    };
    for line in &lines.logical {
        let at = |kind| ParseError {
            line: line.pos.line,
            column: line.pos.column,
            kind,
        };
        let parsed = instruction::parse(line, lines.escape).map_err(at)?;
        add(&mut file, parsed, line.pos, &line.text).map_err(at)?;
    }
    if file.stages.is_empty() {
        return Err(ParseError {
            line: last.pos.line,
            column: last.pos.column,
            kind: ParseErrorKind::NoStages,
        });
    }
    Ok(file)
}

/// Adds one parsed instruction: a new stage, a global `ARG`, or a stage's step.
fn add(
    file: &mut Dockerfile,
    parsed: Parsed,
    pos: Pos,
    source: &str,
) -> Result<(), ParseErrorKind> {
    match parsed {
        Parsed::From(mut stage) => {
            if let Some(name) = &stage.name {
                if file.stages.iter().any(|s| s.name.as_ref() == Some(name)) {
                    return Err(ParseErrorKind::DuplicateStage { name: name.clone() });
                }
            }
            stage.pos = pos;
            file.stages.push(stage);
        }
        Parsed::Step(Instruction::Arg(args)) if file.stages.is_empty() => {
            file.global_args
                .extend(args.into_iter().map(|a| located(pos, source, a)));
        }
        Parsed::Step(step) => current(file)?.instructions.push(located(pos, source, step)),
    }
    Ok(())
}

fn located<T>(pos: Pos, source: &str, value: T) -> Located<T> {
    Located {
        pos,
        source: source.to_string(),
        value,
    }
}

/// The stage being filled.
fn current(file: &mut Dockerfile) -> Result<&mut Stage, ParseErrorKind> {
    file.stages.last_mut().ok_or(ParseErrorKind::NoStage)
}
