//! One logical line into a stage start or an instruction, with each instruction's
//! argument rules and flags.

use super::command::{healthcheck, run, shell_or_exec};
use super::flags::{Flags, Kind};
use super::lines::Logical;
use super::words::{heredoc, json_array, quoted_words, split_command, whitespace_words};
use super::ParseErrorKind;
use crate::ast::{Arg, CopySpec, Heredoc, Instruction, Pos, Stage};

/// A parsed line: a `FROM` or a step (an `ARG` before any `FROM` is a global arg).
#[derive(Debug)]
pub(super) enum Parsed {
    /// `FROM`: a new stage, instructions still empty.
    From(Stage),
    /// Any other instruction.
    Step(Instruction),
}

const NO_FLAGS: &[(&str, Kind)] = &[];
const FROM_FLAGS: &[(&str, Kind)] = &[("platform", Kind::Str)];
const RUN_FLAGS: &[(&str, Kind)] = &[
    ("mount", Kind::Strs),
    ("network", Kind::Str),
    ("security", Kind::Str),
];
const COPY_FLAGS: &[(&str, Kind)] = &[
    ("from", Kind::Str),
    ("chown", Kind::Str),
    ("chmod", Kind::Str),
    ("link", Kind::Bool),
    ("parents", Kind::Bool),
    ("exclude", Kind::Strs),
];
const ADD_FLAGS: &[(&str, Kind)] = &[
    ("chown", Kind::Str),
    ("chmod", Kind::Str),
    ("link", Kind::Bool),
    ("checksum", Kind::Str),
    ("keep-git-dir", Kind::Bool),
    ("exclude", Kind::Strs),
];
const HEALTHCHECK_FLAGS: &[(&str, Kind)] = &[
    ("interval", Kind::Str),
    ("timeout", Kind::Str),
    ("start-period", Kind::Str),
    ("start-interval", Kind::Str),
    ("retries", Kind::Str),
];

/// The flags an instruction (lowercase) accepts; None for an unknown instruction.
fn flag_spec(name: &str) -> Option<&'static [(&'static str, Kind)]> {
    Some(match name {
        "from" => FROM_FLAGS,
        "run" => RUN_FLAGS,
        "copy" => COPY_FLAGS,
        "add" => ADD_FLAGS,
        "healthcheck" => HEALTHCHECK_FLAGS,
        "cmd" | "entrypoint" | "env" | "arg" | "label" | "expose" | "volume" | "user"
        | "workdir" | "shell" | "stopsignal" | "onbuild" | "maintainer" => NO_FLAGS,
        _ => return None,
    })
}

/// Parses one logical line.
pub(super) fn parse(line: &Logical, escape: char) -> Result<Parsed, ParseErrorKind> {
    let (cmd, flag_words, args) = split_command(&line.text);
    let name = cmd.to_ascii_lowercase();
    let spec = flag_spec(&name).ok_or_else(|| ParseErrorKind::UnknownInstruction {
        name: cmd.to_string(),
    })?;
    let flags = Flags::parse(&flag_words, spec)?;
    if name == "from" {
        return from(args, &flags).map(Parsed::From);
    }
    step(&name, args, &flags, line, escape).map(Parsed::Step)
}

/// Any instruction but `FROM`.
fn step(
    name: &str,
    args: &str,
    flags: &Flags,
    line: &Logical,
    escape: char,
) -> Result<Instruction, ParseErrorKind> {
    Ok(match name {
        "run" => run(args, flags, &line.heredocs)?,
        "cmd" => Instruction::Cmd(shell_or_exec(args)?),
        "entrypoint" => Instruction::Entrypoint(shell_or_exec(args)?),
        "copy" => Instruction::Copy(copy(args, flags, &line.heredocs, "COPY")?),
        "add" => Instruction::Add(copy(args, flags, &line.heredocs, "ADD")?),
        "env" => Instruction::Env(name_values(args, escape, "ENV")?),
        "label" => Instruction::Label(name_values(args, escape, "LABEL")?),
        "arg" => Instruction::Arg(arg(args, escape)?),
        "expose" => Instruction::Expose(at_least_one(whitespace_words(args), "EXPOSE")?),
        "volume" => Instruction::Volume(volume(args)?),
        "user" => Instruction::User(exactly_one(args, "USER")?),
        "workdir" => Instruction::Workdir(exactly_one(args, "WORKDIR")?),
        "stopsignal" => Instruction::StopSignal(exactly_one(args, "STOPSIGNAL")?),
        "maintainer" => Instruction::Maintainer(exactly_one(args, "MAINTAINER")?),
        "shell" => Instruction::Shell(shell(args)?),
        "healthcheck" => Instruction::Healthcheck(healthcheck(args, flags)?),
        _ => Instruction::Onbuild(onbuild(args, &line.heredocs)?),
    })
}

/// `FROM [--platform=p] base [AS name]`.
fn from(args: &str, flags: &Flags) -> Result<Stage, ParseErrorKind> {
    let words = whitespace_words(args);
    let name = match words.as_slice() {
        [_] => None,
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(stage_name(name)?),
        _ => return Err(ParseErrorKind::FromArguments),
    };
    Ok(Stage {
        pos: Pos::default(),
        base: words[0].clone(),
        name,
        platform: flags.get("platform"),
        instructions: Vec::new(),
    })
}

/// A stage name, lowercased: a letter, then letters, digits, `-`, `_`, `.`.
fn stage_name(name: &str) -> Result<String, ParseErrorKind> {
    let lower = name.to_ascii_lowercase();
    let mut chars = lower.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if ok {
        Ok(lower)
    } else {
        Err(ParseErrorKind::StageName { name: name.into() })
    }
}

/// `COPY`/`ADD`: sources (paths or heredocs) and the destination, JSON or shell form.
fn copy(
    args: &str,
    flags: &Flags,
    heredocs: &[Heredoc],
    instruction: &'static str,
) -> Result<CopySpec, ParseErrorKind> {
    let words = json_array(args)?.unwrap_or_else(|| whitespace_words(args));
    let Some((dest, sources)) = words.split_last().filter(|(_, s)| !s.is_empty()) else {
        return Err(ParseErrorKind::NoDestination { instruction });
    };
    if matches!(heredoc(dest), Ok(Some(_))) {
        return Err(ParseErrorKind::HeredocDestination { instruction });
    }
    let mut spec = CopySpec {
        dest: dest.clone(),
        from: flags.get("from"),
        chown: flags.get("chown"),
        chmod: flags.get("chmod"),
        link: flags.on("link"),
        checksum: flags.get("checksum"),
        keep_git_dir: flags.on("keep-git-dir"),
        excludes: flags.all("exclude"),
        parents: flags.on("parents"),
        ..CopySpec::default()
    };
    for source in sources {
        match heredoc(source).ok().flatten() {
            Some(doc) => spec.heredocs.push(heredoc_body(doc, heredocs)),
            None => spec.sources.push(source.clone()),
        }
    }
    Ok(spec)
}

/// A heredoc source with the body read for it (matched by name).
fn heredoc_body(doc: Heredoc, read: &[Heredoc]) -> Heredoc {
    read.iter()
        .find(|h| h.name == doc.name)
        .cloned()
        .unwrap_or(doc)
}

/// `ENV`/`LABEL`: `k=v ...` or the legacy `k v`; values unexpanded, quotes kept.
fn name_values(
    args: &str,
    escape: char,
    instruction: &'static str,
) -> Result<Vec<(String, String)>, ParseErrorKind> {
    let words = quoted_words(args, escape);
    let Some(first) = words.first() else {
        return Err(ParseErrorKind::AtLeastOne { instruction });
    };
    let pairs = if first.contains('=') {
        words
            .iter()
            .map(|w| match w.split_once('=') {
                Some((k, v)) => Ok((k.to_string(), v.to_string())),
                None => Err(ParseErrorKind::NoEquals { word: w.clone() }),
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let (key, value) = args
            .split_once([' ', '\t', '\r', '\u{b}', '\u{c}'])
            .ok_or(ParseErrorKind::TwoArguments { instruction })?;
        vec![(key.to_string(), value.trim_start().to_string())]
    };
    if pairs.iter().any(|(k, _)| k.is_empty()) {
        return Err(ParseErrorKind::BlankName { instruction });
    }
    Ok(pairs)
}

/// `ARG a b=2 ...`.
fn arg(args: &str, escape: char) -> Result<Vec<Arg>, ParseErrorKind> {
    let words = at_least_one(quoted_words(args, escape), "ARG")?;
    words
        .into_iter()
        .map(|word| {
            let (name, default) = match word.split_once('=') {
                Some((n, d)) => (n.to_string(), Some(d.to_string())),
                None => (word, None),
            };
            if name.is_empty() {
                return Err(ParseErrorKind::BlankName { instruction: "ARG" });
            }
            Ok(Arg { name, default })
        })
        .collect()
}

/// `VOLUME ["/a"]` or `VOLUME /a /b`, each path trimmed.
fn volume(args: &str) -> Result<Vec<String>, ParseErrorKind> {
    let words = json_array(args)?.unwrap_or_else(|| whitespace_words(args));
    let words = at_least_one(words, "VOLUME")?;
    let words: Vec<String> = words.iter().map(|w| w.trim().to_string()).collect();
    if words.iter().any(String::is_empty) {
        return Err(ParseErrorKind::EmptyVolume);
    }
    Ok(words)
}

/// `SHELL ["exe", "args"]`: JSON only, not empty.
fn shell(args: &str) -> Result<Vec<String>, ParseErrorKind> {
    let words = json_array(args)?.ok_or(ParseErrorKind::ShellNotJson)?;
    at_least_one(words, "SHELL")
}

/// `ONBUILD <instruction>`: the trigger's text (with the bodies and terminators of
/// its heredocs, so that it parses again); not `ONBUILD`, `FROM`, `MAINTAINER`.
fn onbuild(args: &str, heredocs: &[Heredoc]) -> Result<String, ParseErrorKind> {
    let trigger = args.split_whitespace().next().unwrap_or_default();
    match trigger.to_ascii_uppercase().as_str() {
        "" => Err(ParseErrorKind::AtLeastOne {
            instruction: "ONBUILD",
        }),
        "ONBUILD" => Err(ParseErrorKind::OnbuildChain),
        name @ ("FROM" | "MAINTAINER") => Err(ParseErrorKind::OnbuildTrigger { name: name.into() }),
        _ => Ok(heredocs.iter().fold(args.to_string(), |text, doc| {
            format!("{text}\n{}{}", doc.content, doc.name)
        })),
    }
}

/// The whole argument text, which must not be empty.
fn exactly_one(args: &str, instruction: &'static str) -> Result<String, ParseErrorKind> {
    if args.is_empty() {
        return Err(ParseErrorKind::ExactlyOne { instruction });
    }
    Ok(args.to_string())
}

fn at_least_one(
    words: Vec<String>,
    instruction: &'static str,
) -> Result<Vec<String>, ParseErrorKind> {
    if words.is_empty() {
        return Err(ParseErrorKind::AtLeastOne { instruction });
    }
    Ok(words)
}
