//! berth: the command line, with docker's commands and flags. Like docker's CLI it is a
//! client of the daemon: every command is one or a few Docker Engine API calls to berthd
//! (or any daemon that speaks the API), printed as docker prints them.

mod client;
mod containers;
mod format;
mod images;
mod networks;
mod registry;
mod stream;
mod system;
mod tty;
mod volumes;

use std::process::ExitCode;

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use client::{Client, ClientError, DEFAULT_HOST};

/// berth's command line.
#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "A container engine with docker's commands",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Daemon socket to connect to (unix:///path or tcp://host:port); else $BERTH_HOST,
    /// $DOCKER_HOST, or unix:///run/berth/berth.sock.
    #[arg(short = 'H', long = "host")]
    pub host: Option<String>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the largest command's flags does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    #[command(flatten)]
    Containers(containers::Command),
    #[command(flatten)]
    Images(images::Command),
    #[command(flatten)]
    Registry(registry::Command),
    #[command(flatten)]
    System(system::Command),
    #[command(flatten)]
    Volumes(volumes::Command),
    #[command(flatten)]
    Networks(networks::Command),
}

impl Cli {
    /// The daemon address: `-H`, `$BERTH_HOST`, `$DOCKER_HOST`, else the default socket.
    pub fn host(&self) -> String {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        self.host
            .clone()
            .or_else(|| env("BERTH_HOST"))
            .or_else(|| env("DOCKER_HOST"))
            .unwrap_or_else(|| DEFAULT_HOST.to_string())
    }

    /// Connects to the daemon.
    pub fn connect(&self) -> Result<Client, ClientError> {
        Client::connect(&self.host())
    }
}

/// The global flags alone: the root of [`one_command_parse`]'s parser.
#[derive(Parser)]
#[command(name = "berth")]
struct Globals {
    #[arg(short = 'H', long = "host")]
    host: Option<String>,
}

/// Parses the command line. Building the parser of every command and flag is most of a
/// short command's start-up, so a command named first (`berth run ...`, as scripts run
/// it in loops) is tried with a parser of only that command; anything that parser does
/// not accept (help, a bad flag, global flags first) goes to the full parser, so what is
/// printed is always the full parser's.
fn parse(args: Vec<OsString>) -> Cli {
    one_command_parse(&args).unwrap_or_else(|| Cli::parse_from(args))
}

fn one_command_parse(args: &[OsString]) -> Option<Cli> {
    let sub = containers::one_command(args.get(1)?.to_str()?)?;
    let matches = Globals::command()
        .subcommand(sub)
        .try_get_matches_from(args)
        .ok()?;
    Cli::from_arg_matches(&matches).ok()
}

fn main() -> ExitCode {
    let cli = parse(std::env::args_os().collect());
    let result = match &cli.command {
        Command::System(system::Command::Version(a)) => system::version::run(&cli, a),
        _ => cli
            .connect()
            .map_err(anyhow::Error::from)
            .and_then(|c| dispatch(&cli, &c)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // A reader that went away (`berth logs | head`) is not worth a message.
        Err(e) if is_broken_pipe(&e) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{}", message(&e));
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: &Cli, client: &Client) -> anyhow::Result<u8> {
    match &cli.command {
        Command::Containers(c) => containers::run(client, c),
        Command::Images(c) => images::run(client, c),
        Command::Registry(c) => registry::run(client, c),
        Command::System(c) => system::run(client, c),
        Command::Volumes(c) => volumes::run(client, c),
        Command::Networks(c) => networks::run(client, c),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// An error as docker prints it: the API's own words, or the cause chain.
pub fn message(e: &anyhow::Error) -> String {
    match e.downcast_ref::<ClientError>() {
        Some(c) => c.to_string(),
        None => format!("{e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::parse_from([
            "berth",
            "-H",
            "unix:///x.sock",
            "run",
            "-h",
            "h",
            "-it",
            "busybox",
        ]);
        assert_eq!(cli.host(), "unix:///x.sock");
        Cli::parse_from(["berth", "history", "-H=false", "busybox"]);
        Cli::parse_from(["berth", "container", "ls", "-a"]);
        Cli::parse_from(["berth", "image", "ls"]);
        Cli::parse_from(["berth", "system", "df"]);
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    fn args(line: &[&str]) -> Vec<OsString> {
        std::iter::once("berth")
            .chain(line.iter().copied())
            .map(Into::into)
            .collect()
    }

    #[test]
    fn one_command_parse_gives_what_the_full_parser_gives() {
        let lines: &[&[&str]] = &[
            &["run", "--rm", "busybox", "true"],
            &[
                "run",
                "-d",
                "--network",
                "none",
                "-e",
                "A=1",
                "--name",
                "x",
                "busybox",
                "sh",
                "-c",
                "exit 3",
            ],
            &["run", "-it", "--rm", "busybox", "ls", "-l", "--color"],
            &["create", "-p", "80:80", "--memory", "1g", "busybox"],
            &["start", "-a", "x"],
            &[
                "ps",
                "-aq",
                "--format",
                "{{.ID}}",
                "--filter",
                "status=exited",
            ],
            &["rm", "-f", "a", "b"],
            &["exec", "-it", "x", "sh", "-c", "echo hi"],
            &["logs", "-f", "--tail", "3", "x"],
        ];
        for line in lines {
            let fast = one_command_parse(&args(line)).expect("the one-command parser");
            let full = Cli::try_parse_from(args(line)).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{line:?}");
        }
    }

    #[test]
    fn the_one_command_parsers_are_consistent() {
        for name in ["run", "create", "start", "ps", "rm", "exec", "logs"] {
            let sub = containers::one_command(name).unwrap();
            Globals::command().subcommand(sub).debug_assert();
        }
    }

    #[test]
    fn anything_else_is_left_to_the_full_parser() {
        let lines: &[&[&str]] = &[
            &["run", "--help"],
            &["run", "--no-such-flag", "busybox"],
            &["ps", "--help"],
            &["-H", "unix:///x.sock", "ps"],
            &["images"],
            &["version"],
        ];
        for line in lines {
            assert!(one_command_parse(&args(line)).is_none(), "{line:?}");
        }
    }
}
