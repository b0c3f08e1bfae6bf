//! The instructions that carry a command: `RUN` (with `--mount` and `--network`),
//! `CMD`, `ENTRYPOINT` and `HEALTHCHECK`.

use super::flags::Flags;
use super::words::json_array;
use super::ParseErrorKind;
use crate::ast::{Command, Healthcheck, Heredoc, Instruction, RunMount};

/// `--mount` types docker knows.
const MOUNT_TYPES: &[&str] = &["bind", "cache", "tmpfs", "secret", "ssh"];
/// `--mount` types that need a `target=`.
const MOUNT_NEEDS_TARGET: &[&str] = &["bind", "cache", "tmpfs"];
/// `--mount` keys docker knows (any type).
const MOUNT_KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "src",
    "target",
    "dst",
    "destination",
    "readonly",
    "ro",
    "readwrite",
    "rw",
    "id",
    "sharing",
    "required",
    "mode",
    "uid",
    "gid",
    "size",
    "env",
];

/// The JSON form when the text is a JSON array of strings, else the shell form.
pub(super) fn shell_or_exec(args: &str) -> Result<Command, ParseErrorKind> {
    Ok(match json_array(args)? {
        Some(words) => Command::Exec(words),
        None => Command::Shell(args.to_string()),
    })
}

/// `RUN [--mount=...] [--network=...] command`.
pub(super) fn run(
    args: &str,
    flags: &Flags,
    heredocs: &[Heredoc],
) -> Result<Instruction, ParseErrorKind> {
    let network = flags.get("network");
    if let Some(value) = &network {
        if !["default", "none", "host"].contains(&value.as_str()) {
            return Err(ParseErrorKind::Network {
                value: value.clone(),
            });
        }
    }
    let mounts = flags
        .all("mount")
        .iter()
        .map(|m| mount(m))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Instruction::Run {
        command: shell_or_exec(args)?,
        heredocs: heredocs.to_vec(),
        mounts,
        network,
    })
}

/// One `--mount=` value: CSV `key=value` fields (a bare key is a flag such as `ro`).
fn mount(value: &str) -> Result<RunMount, ParseErrorKind> {
    let fields = csv_fields(value).ok_or_else(|| ParseErrorKind::MountQuote {
        value: value.into(),
    })?;
    let mut kind = "bind".to_string();
    let mut target = false;
    let mut parsed = Vec::new();
    for field in fields {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        if !MOUNT_KEYS.contains(&key.as_str()) {
            return Err(ParseErrorKind::MountKey { key, field });
        }
        match (key.as_str(), &val) {
            ("type", Some(v)) => kind = v.clone(),
            ("target" | "dst" | "destination", Some(_)) => target = true,
            _ => {}
        }
        parsed.push((key, val));
    }
    if !MOUNT_TYPES.contains(&kind.as_str()) {
        return Err(ParseErrorKind::MountType { kind });
    }
    if !target && MOUNT_NEEDS_TARGET.contains(&kind.as_str()) {
        return Err(ParseErrorKind::MountTarget { kind });
    }
    Ok(RunMount {
        kind,
        fields: parsed,
    })
}

/// Splits one CSV record on commas; a field may be double-quoted (`""` inside is a
/// quote). Empty fields are dropped. None for an unclosed quote.
fn csv_fields(value: &str) -> Option<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut chars = value.chars().peekable();
    let (mut at_start, mut quoted) = (true, false);
    while let Some(c) = chars.next() {
        let field = fields.last_mut()?;
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if at_start => quoted = true,
            ',' if !quoted => {
                fields.push(String::new());
                at_start = true;
                continue;
            }
            c => field.push(c),
        }
        at_start = false;
    }
    (!quoted).then(|| fields.into_iter().filter(|f| !f.is_empty()).collect())
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [options] CMD command`.
pub(super) fn healthcheck(args: &str, flags: &Flags) -> Result<Healthcheck, ParseErrorKind> {
    let (typ, rest) = args
        .split_once(char::is_whitespace)
        .map_or((args, ""), |(t, r)| (t, r.trim_start()));
    match typ.to_ascii_uppercase().as_str() {
        "" => Err(ParseErrorKind::AtLeastOne {
            instruction: "HEALTHCHECK",
        }),
        "NONE" if rest.is_empty() => Ok(Healthcheck::None),
        "NONE" => Err(ParseErrorKind::HealthcheckNoneArguments),
        "CMD" => check(rest, flags),
        other => Err(ParseErrorKind::HealthcheckType { name: other.into() }),
    }
}

/// `HEALTHCHECK CMD` with its options checked.
fn check(rest: &str, flags: &Flags) -> Result<Healthcheck, ParseErrorKind> {
    let command = shell_or_exec(rest)?;
    let empty = match &command {
        Command::Exec(words) => words.is_empty(),
        Command::Shell(text) => text.is_empty(),
    };
    if empty {
        return Err(ParseErrorKind::HealthcheckCommand);
    }
    Ok(Healthcheck::Check {
        command,
        interval: interval(flags, "interval")?,
        timeout: interval(flags, "timeout")?,
        start_period: interval(flags, "start-period")?,
        start_interval: interval(flags, "start-interval")?,
        retries: retries(flags)?,
    })
}

/// A duration option: a Go duration of at least 1ms, or 0; kept as written.
fn interval(flags: &Flags, flag: &'static str) -> Result<Option<String>, ParseErrorKind> {
    let Some(value) = flags.get(flag).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let nanos = go_duration_nanos(&value).map_err(|message| ParseErrorKind::Duration {
        flag,
        value: value.clone(),
        message,
    })?;
    if nanos != 0.0 && nanos < 1e6 {
        return Err(ParseErrorKind::ShortDuration { flag, value });
    }
    Ok(Some(value))
}

/// `--retries=n`: a non-negative 32-bit count.
fn retries(flags: &Flags) -> Result<Option<u32>, ParseErrorKind> {
    let Some(value) = flags.get("retries").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match value.parse::<i32>() {
        Ok(n) if n < 0 => Err(ParseErrorKind::NegativeRetries { value }),
        Ok(n) => Ok(u32::try_from(n).ok()),
        Err(_) => Err(ParseErrorKind::Retries { value }),
    }
}

/// A Go `time.ParseDuration` string in nanoseconds (`1m30s`, `1.5h`, `-2ms`, `0`);
/// the error is Go's message.
pub(crate) fn go_duration_nanos(text: &str) -> Result<f64, String> {
    let (sign, mut rest) = match text.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0.0);
    }
    if rest.is_empty() {
        return Err(format!("time: invalid duration {text:?}"));
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let (nanos, after) = duration_term(rest, text)?;
        total += nanos;
        rest = after;
    }
    Ok(sign * total)
}

/// One `<number><unit>` term at the start of `rest`: its nanoseconds and what follows.
fn duration_term<'a>(rest: &'a str, text: &str) -> Result<(f64, &'a str), String> {
    let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let whole = digits(rest);
    let fraction = rest[whole..].strip_prefix('.').map(digits);
    let end = whole + fraction.map_or(0, |f| f + 1);
    let invalid = || format!("time: invalid duration {text:?}");
    if whole == 0 && fraction.unwrap_or(0) == 0 {
        return Err(invalid());
    }
    let number: f64 = rest[..end].parse().map_err(|_| invalid())?;
    let unit_len = rest[end..]
        .find(|c: char| c == '.' || c.is_ascii_digit())
        .unwrap_or(rest.len() - end);
    let unit = &rest[end..end + unit_len];
    let scale = match unit {
        "" => return Err(format!("time: missing unit in duration {text:?}")),
        "ns" => 1.0,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
    };
    Ok((number * scale, &rest[end + unit_len..]))
}
