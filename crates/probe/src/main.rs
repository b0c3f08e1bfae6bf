//! berth-probe: a small static binary run inside test containers. It reports what the
//! container sees (identity, capabilities, namespaces, mounts, limits, ...) as one JSON
//! object on stdout, so tests check facts instead of parsing shell output.
//!
//! Usage: `berth-probe <subcommand> [args...]`; `berth-probe help` lists the subcommands.
//! A failed observation (say `read` of a masked file) is a fact, reported in the JSON with
//! its errno; only a malformed command line makes the probe exit 2.

mod errno;
mod fs;
mod ids;
mod sys;

use serde_json::{json, Value};
use std::process::ExitCode;

/// A malformed command line: the message says which subcommand and argument.
#[derive(Debug)]
pub struct Usage(pub String);

/// What a subcommand produces: its JSON report, or a usage error.
pub type Report = Result<Value, Usage>;

/// A subcommand's implementation: its arguments in, its report out.
type Handler = fn(&[String]) -> Report;

/// Every subcommand: name, argument synopsis, handler.
const COMMANDS: &[(&str, &str, Handler)] = &[
    ("ids", "", ids::ids),
    ("caps", "", ids::caps),
    ("hostname", "", ids::hostname),
    ("ns", "", ids::namespaces),
    ("cgroup", "[file...]", fs::cgroup),
    ("read", "<path>", fs::read),
    ("open", "<path>", fs::open),
    ("mknod-open", "<path> <major> <minor>", fs::mknod_open),
    ("write", "<path> <data>", fs::write),
    ("stat", "<path>", fs::stat),
    ("mounts", "", fs::mounts),
    ("fds", "", fs::fds),
    ("cwd", "", fs::cwd),
    ("oom", "", fs::oom),
    ("sysctl", "<key>", fs::sysctl),
    ("syscall", "<name> [args...]", sys::syscall),
    ("rlimits", "", sys::rlimits),
    ("env", "", sys::env),
    ("sched", "", sys::sched),
    ("ioprio", "", sys::ioprio),
    ("personality", "", sys::personality),
    ("signals", "", sys::signals),
    ("sleep", "<seconds>", sys::sleep),
    ("exit", "<code>", sys::exit),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((name, rest)) = args.split_first() else {
        return usage(&Usage("missing subcommand".into()));
    };
    let Some((_, _, handler)) = COMMANDS.iter().find(|(n, _, _)| n == name) else {
        if name == "help" {
            print_help();
            return ExitCode::SUCCESS;
        }
        return usage(&Usage(format!("unknown subcommand `{name}`")));
    };
    match handler(rest) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(err) => usage(&err),
    }
}

fn usage(err: &Usage) -> ExitCode {
    println!("{}", json!({ "error": err.0 }));
    eprintln!("berth-probe: {}; try `berth-probe help`", err.0);
    ExitCode::from(2)
}

fn print_help() {
    println!("usage: berth-probe <subcommand> [args...]\nsubcommands:");
    for (name, synopsis, _) in COMMANDS {
        println!("  {name} {synopsis}");
    }
}

/// The `idx`-th argument of subcommand `cmd`, or a usage error naming it.
pub fn arg<'a>(args: &'a [String], idx: usize, cmd: &str, what: &str) -> Result<&'a str, Usage> {
    args.get(idx)
        .map(String::as_str)
        .ok_or_else(|| Usage(format!("{cmd}: missing argument <{what}>")))
}

/// Parses the `idx`-th argument of `cmd` as a number.
pub fn num_arg<T: std::str::FromStr>(
    args: &[String],
    idx: usize,
    cmd: &str,
    what: &str,
) -> Result<T, Usage> {
    let raw = arg(args, idx, cmd, what)?;
    raw.parse()
        .map_err(|_| Usage(format!("{cmd}: <{what}> must be a number, got `{raw}`")))
}
