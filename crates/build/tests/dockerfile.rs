//! The Dockerfile parser: each instruction and form, directives, continuations,
//! heredocs, and each error with its line and column.

use berth_build::ast::{Arg, Command, CopySpec, Healthcheck, Heredoc, Instruction, Pos, RunMount};
use berth_build::dockerfile::{parse, FlagError, ParseError, ParseErrorKind};

fn ok(text: &str) -> berth_build::ast::Dockerfile {
    parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// The instructions of the only stage of `FROM scratch\n<body>`.
fn steps(body: &str) -> Vec<Instruction> {
    let file = ok(&format!("FROM scratch\n{body}"));
    file.stages[0]
        .instructions
        .iter()
        .map(|l| l.value.clone())
        .collect()
}

fn step(body: &str) -> Instruction {
    let mut all = steps(body);
    assert_eq!(all.len(), 1, "{body:?}: {all:?}");
    all.remove(0)
}

fn err(text: &str) -> ParseError {
    parse(text).expect_err(text)
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn shell(cmd: &str) -> Instruction {
    Instruction::Run {
        command: Command::Shell(cmd.into()),
        heredocs: vec![],
        mounts: vec![],
        network: None,
    }
}

#[test]
fn from_forms() {
    let file =
        ok("FROM busybox\nFROM --platform=linux/amd64 alpine:3 AS Build\nFROM build\nFROM 0");
    let st = &file.stages;
    assert_eq!(st.len(), 4);
    assert_eq!(
        (st[0].base.as_str(), st[0].name.as_deref()),
        ("busybox", None)
    );
    assert_eq!(st[1].base, "alpine:3");
    assert_eq!(st[1].name.as_deref(), Some("build"));
    assert_eq!(st[1].platform.as_deref(), Some("linux/amd64"));
    assert_eq!(st[1].pos, Pos { line: 2, column: 1 });
    assert_eq!(st[2].base, "build");
    assert_eq!(st[3].base, "0");
    assert_eq!(ok("from scratch as x").stages[0].name.as_deref(), Some("x"));
    assert_eq!(ok("FROM ${IMG:-busybox}").stages[0].base, "${IMG:-busybox}");
}

#[test]
fn from_errors() {
    let e = err("FROM a b");
    assert_eq!(e.kind, ParseErrorKind::FromArguments);
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 1 (column 1): FROM requires either one or three arguments"
    );
    assert_eq!(err("FROM").kind, ParseErrorKind::FromArguments);
    assert_eq!(err("FROM a AS b c").kind, ParseErrorKind::FromArguments);
    assert!(matches!(
        err("FROM a AS 1x").kind,
        ParseErrorKind::StageName { .. }
    ));
    assert!(matches!(
        err("FROM a AS x$y").kind,
        ParseErrorKind::StageName { .. }
    ));
    let e = err("FROM --foo=bar a");
    assert_eq!(
        e.kind,
        ParseErrorKind::Flag(FlagError::Unknown { flag: "foo".into() })
    );
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 1 (column 1): unknown flag: foo"
    );
    let e = err("FROM a AS x\nRUN true\nFROM b AS X");
    assert_eq!(
        (e.line, e.kind),
        (3, ParseErrorKind::DuplicateStage { name: "x".into() })
    );
}

#[test]
fn global_args_and_stage_args() {
    let file = ok("ARG V=1 W\nARG X\nFROM img:$V\nARG V\n");
    let names: Vec<_> = file.global_args.iter().map(|a| a.value.clone()).collect();
    assert_eq!(
        names,
        [
            Arg {
                name: "V".into(),
                default: Some("1".into())
            },
            Arg {
                name: "W".into(),
                default: None
            },
            Arg {
                name: "X".into(),
                default: None
            },
        ]
    );
    assert_eq!(file.global_args[2].pos.line, 2);
    assert_eq!(file.global_args[0].source, "ARG V=1 W");
    assert_eq!(
        file.stages[0].instructions[0].value,
        Instruction::Arg(vec![Arg {
            name: "V".into(),
            default: None
        }])
    );
    assert_eq!(
        step("ARG a=\"x y\" b=''"),
        Instruction::Arg(vec![
            Arg {
                name: "a".into(),
                default: Some("\"x y\"".into())
            },
            Arg {
                name: "b".into(),
                default: Some("''".into())
            },
        ])
    );
    assert_eq!(
        err("FROM a\nARG").kind,
        ParseErrorKind::AtLeastOne { instruction: "ARG" }
    );
    assert_eq!(
        err("FROM a\nARG =1").kind,
        ParseErrorKind::BlankName { instruction: "ARG" }
    );
}

#[test]
fn no_stage_errors() {
    let e = err("# comment\n\nRUN x\nFROM a");
    assert_eq!(
        (e.line, e.column, e.kind.clone()),
        (3, 1, ParseErrorKind::NoStage)
    );
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 3 (column 1): no build stage in current context"
    );
    assert_eq!(err("").kind, ParseErrorKind::NoInstructions);
    let e = err("# just\n\n   # comments\n");
    assert_eq!(e.kind, ParseErrorKind::NoInstructions);
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 3 (column 1): file with no instructions"
    );
    assert_eq!(err("ARG a").kind, ParseErrorKind::NoStages);
}

#[test]
fn unknown_instruction() {
    let e = err("FROM a\n\n  FOO bar\n");
    assert_eq!((e.line, e.column), (3, 3));
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 3 (column 3): unknown instruction: FOO"
    );
    // docker checks the instruction before the stage
    assert!(matches!(
        err("BAR x").kind,
        ParseErrorKind::UnknownInstruction { .. }
    ));
}

#[test]
fn run_forms() {
    assert_eq!(step("RUN echo hi  there"), shell("echo hi  there"));
    assert_eq!(step("run   echo"), shell("echo"));
    assert_eq!(
        step(r#"RUN ["echo", "a b"]"#),
        Instruction::Run {
            command: Command::Exec(s(&["echo", "a b"])),
            heredocs: vec![],
            mounts: vec![],
            network: None
        }
    );
    // not valid JSON: the shell form, as written
    assert_eq!(step("RUN [\"echo\", 'x']"), shell("[\"echo\", 'x']"));
    assert_eq!(step("RUN [ echo ]"), shell("[ echo ]"));
    assert_eq!(
        err("FROM a\nRUN [\"a\", 1]").kind,
        ParseErrorKind::NotStringArray
    );
    assert_eq!(
        step("RUN echo $HOME # not a comment"),
        shell("echo $HOME # not a comment")
    );
}

#[test]
fn run_flags() {
    let Instruction::Run { mounts, network, command, .. } = step(
        "RUN --mount=type=cache,target=/root/.cache,id=pip --mount=target=/src,from=build,ro --network=none pip install x",
    ) else {
        panic!()
    };
    assert_eq!(command, Command::Shell("pip install x".into()));
    assert_eq!(network.as_deref(), Some("none"));
    assert_eq!(
        mounts,
        [
            RunMount {
                kind: "cache".into(),
                fields: vec![
                    ("type".into(), Some("cache".into())),
                    ("target".into(), Some("/root/.cache".into())),
                    ("id".into(), Some("pip".into())),
                ]
            },
            RunMount {
                kind: "bind".into(),
                fields: vec![
                    ("target".into(), Some("/src".into())),
                    ("from".into(), Some("build".into())),
                    ("ro".into(), None),
                ]
            },
        ]
    );
    let Instruction::Run { mounts, .. } = step(r#"RUN --mount='type=bind,"target=/a,b"' true"#)
    else {
        panic!()
    };
    assert_eq!(mounts[0].fields[1], ("target".into(), Some("/a,b".into())));
    let Instruction::Run { mounts, .. } =
        step("RUN --mount=type=secret,id=tok cat /run/secrets/tok")
    else {
        panic!()
    };
    assert_eq!(mounts[0].kind, "secret");
    for (line, kind) in [
        (
            "RUN --network=bridge x",
            ParseErrorKind::Network {
                value: "bridge".into(),
            },
        ),
        (
            "RUN --mount=type=nfs,target=/x x",
            ParseErrorKind::MountType { kind: "nfs".into() },
        ),
        (
            "RUN --mount=type=cache x",
            ParseErrorKind::MountTarget {
                kind: "cache".into(),
            },
        ),
        (
            "RUN --mount=target=/x,colour=red x",
            ParseErrorKind::MountKey {
                key: "colour".into(),
                field: "colour=red".into(),
            },
        ),
        (
            "RUN --foo x",
            ParseErrorKind::Flag(FlagError::Unknown { flag: "foo".into() }),
        ),
        (
            "RUN --network=host --network=none x",
            ParseErrorKind::Flag(FlagError::Duplicate {
                flag: "network".into(),
            }),
        ),
        (
            "RUN --network x",
            ParseErrorKind::Flag(FlagError::MissingValue {
                flag: "network".into(),
            }),
        ),
    ] {
        let e = err(&format!("FROM a\n{line}"));
        assert_eq!((e.line, e.kind), (2, kind), "{line}");
    }
    // `--` ends the flags
    assert_eq!(step("RUN -- --not-a-flag"), shell("--not-a-flag"));
}

#[test]
fn cmd_and_entrypoint() {
    assert_eq!(
        step("CMD [\"sh\", \"-c\", \"echo\"]"),
        Instruction::Cmd(Command::Exec(s(&["sh", "-c", "echo"])))
    );
    assert_eq!(
        step("CMD echo $X"),
        Instruction::Cmd(Command::Shell("echo $X".into()))
    );
    assert_eq!(
        step("ENTRYPOINT []"),
        Instruction::Entrypoint(Command::Exec(vec![]))
    );
    assert_eq!(
        step("ENTRYPOINT top -b"),
        Instruction::Entrypoint(Command::Shell("top -b".into()))
    );
    assert_eq!(step("CMD"), Instruction::Cmd(Command::Shell(String::new())));
    assert!(matches!(
        err("FROM a\nCMD --x y").kind,
        ParseErrorKind::Flag(FlagError::Unknown { .. })
    ));
}

#[test]
fn copy_and_add() {
    assert_eq!(
        step("COPY --from=build --chown=1:2 --chmod=0755 --link a b* /dst/"),
        Instruction::Copy(CopySpec {
            sources: s(&["a", "b*"]),
            dest: "/dst/".into(),
            from: Some("build".into()),
            chown: Some("1:2".into()),
            chmod: Some("0755".into()),
            link: true,
            ..CopySpec::default()
        })
    );
    assert_eq!(
        step(r#"COPY ["a b", "/c d/"]"#),
        Instruction::Copy(CopySpec {
            sources: s(&["a b"]),
            dest: "/c d/".into(),
            ..CopySpec::default()
        })
    );
    assert_eq!(
        step("ADD --checksum=sha256:abc --keep-git-dir=true --link=false --exclude=*.md --exclude=x https://e/x.tgz /"),
        Instruction::Add(CopySpec {
            sources: s(&["https://e/x.tgz"]),
            dest: "/".into(),
            checksum: Some("sha256:abc".into()),
            keep_git_dir: true,
            excludes: s(&["*.md", "x"]),
            ..CopySpec::default()
        })
    );
    assert_eq!(
        step("COPY --parents a/b ./"),
        Instruction::Copy(CopySpec {
            sources: s(&["a/b"]),
            dest: "./".into(),
            parents: true,
            ..CopySpec::default()
        })
    );
    let e = err("FROM a\nCOPY x");
    assert_eq!(
        e.kind,
        ParseErrorKind::NoDestination {
            instruction: "COPY"
        }
    );
    assert_eq!(
        err("FROM a\nADD").kind,
        ParseErrorKind::NoDestination { instruction: "ADD" }
    );
    assert_eq!(
        err("FROM a\nADD --from=x a b").kind,
        ParseErrorKind::Flag(FlagError::Unknown {
            flag: "from".into()
        })
    );
    assert_eq!(
        err("FROM a\nCOPY --checksum=x a b").kind,
        ParseErrorKind::Flag(FlagError::Unknown {
            flag: "checksum".into()
        })
    );
    assert_eq!(
        err("FROM a\nCOPY --link=maybe a b").kind,
        ParseErrorKind::Flag(FlagError::NotBool {
            flag: "link".into(),
            value: "maybe".into()
        })
    );
    assert_eq!(
        err("FROM a\nCOPY --link= a b").kind,
        ParseErrorKind::Flag(FlagError::MissingValue {
            flag: "link".into()
        })
    );
}

#[test]
fn flag_values_with_quotes() {
    assert_eq!(
        step("COPY --chown=\"a b\" x y"),
        Instruction::Copy(CopySpec {
            sources: s(&["x"]),
            dest: "y".into(),
            chown: Some("a b".into()),
            ..CopySpec::default()
        })
    );
}

#[test]
fn env_forms() {
    assert_eq!(
        step("ENV a=1 b=\"x y\" c='$z' d=e\\ f"),
        Instruction::Env(vec![
            ("a".into(), "1".into()),
            ("b".into(), "\"x y\"".into()),
            ("c".into(), "'$z'".into()),
            ("d".into(), "e\\ f".into()),
        ])
    );
    assert_eq!(
        step("ENV PATH /usr/local/bin:$PATH"),
        Instruction::Env(vec![("PATH".into(), "/usr/local/bin:$PATH".into())])
    );
    assert_eq!(
        step("ENV msg hello   big world"),
        Instruction::Env(vec![("msg".into(), "hello   big world".into())])
    );
    assert_eq!(
        step("ENV a="),
        Instruction::Env(vec![("a".into(), String::new())])
    );
    assert_eq!(
        err("FROM a\nENV").kind,
        ParseErrorKind::AtLeastOne { instruction: "ENV" }
    );
    assert_eq!(
        err("FROM a\nENV x").kind,
        ParseErrorKind::TwoArguments { instruction: "ENV" }
    );
    assert_eq!(
        err("FROM a\nENV =x").kind,
        ParseErrorKind::BlankName { instruction: "ENV" }
    );
    let e = err("FROM a\nENV a=1 b");
    assert_eq!(e.kind, ParseErrorKind::NoEquals { word: "b".into() });
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 2 (column 1): Syntax error - can't find = in \"b\". Must be of the form: name=value"
    );
}

#[test]
fn label_expose_volume() {
    assert_eq!(
        step("LABEL a=b \"c d\"=\"e f\""),
        Instruction::Label(vec![
            ("a".into(), "b".into()),
            ("\"c d\"".into(), "\"e f\"".into())
        ])
    );
    assert_eq!(
        step("LABEL version 1.0"),
        Instruction::Label(vec![("version".into(), "1.0".into())])
    );
    assert_eq!(
        err("FROM a\nLABEL").kind,
        ParseErrorKind::AtLeastOne {
            instruction: "LABEL"
        }
    );
    assert_eq!(
        step("EXPOSE 80 443/tcp\t53/udp"),
        Instruction::Expose(s(&["80", "443/tcp", "53/udp"]))
    );
    assert_eq!(
        err("FROM a\nEXPOSE").kind,
        ParseErrorKind::AtLeastOne {
            instruction: "EXPOSE"
        }
    );
    assert_eq!(step("VOLUME /a /b"), Instruction::Volume(s(&["/a", "/b"])));
    assert_eq!(step("VOLUME [\"/a b\"]"), Instruction::Volume(s(&["/a b"])));
    assert_eq!(step("VOLUME [\" /c \"]"), Instruction::Volume(s(&["/c"])));
    assert_eq!(
        err("FROM a\nVOLUME []").kind,
        ParseErrorKind::AtLeastOne {
            instruction: "VOLUME"
        }
    );
    assert_eq!(
        err("FROM a\nVOLUME [\"\"]").kind,
        ParseErrorKind::EmptyVolume
    );
}

#[test]
fn single_argument_instructions() {
    assert_eq!(
        step("USER app:staff"),
        Instruction::User("app:staff".into())
    );
    assert_eq!(step("WORKDIR /a b"), Instruction::Workdir("/a b".into()));
    assert_eq!(
        step("STOPSIGNAL SIGKILL"),
        Instruction::StopSignal("SIGKILL".into())
    );
    assert_eq!(
        step("MAINTAINER Jane <j@e.x>"),
        Instruction::Maintainer("Jane <j@e.x>".into())
    );
    for name in ["USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER"] {
        let e = err(&format!("FROM a\n{name}"));
        assert!(
            matches!(e.kind, ParseErrorKind::ExactlyOne { .. }),
            "{name}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "dockerfile parse error on line 2 (column 1): {name} requires exactly one argument"
            )
        );
    }
}

#[test]
fn shell_instruction() {
    assert_eq!(
        step("SHELL [\"/bin/bash\", \"-c\"]"),
        Instruction::Shell(s(&["/bin/bash", "-c"]))
    );
    assert_eq!(
        err("FROM a\nSHELL /bin/sh -c").kind,
        ParseErrorKind::ShellNotJson
    );
    assert_eq!(
        err("FROM a\nSHELL []").kind,
        ParseErrorKind::AtLeastOne {
            instruction: "SHELL"
        }
    );
}

#[test]
fn healthcheck_forms() {
    assert_eq!(
        step("HEALTHCHECK NONE"),
        Instruction::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        step("healthcheck none"),
        Instruction::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        step("HEALTHCHECK --interval=5s --timeout=1m30s --start-period=0 --start-interval=1.5s --retries=3 CMD curl -f http://x/ || exit 1"),
        Instruction::Healthcheck(Healthcheck::Check {
            command: Command::Shell("curl -f http://x/ || exit 1".into()),
            interval: Some("5s".into()),
            timeout: Some("1m30s".into()),
            start_period: Some("0".into()),
            start_interval: Some("1.5s".into()),
            retries: Some(3),
        })
    );
    assert_eq!(
        step("HEALTHCHECK CMD [\"true\"]"),
        Instruction::Healthcheck(Healthcheck::Check {
            command: Command::Exec(s(&["true"])),
            interval: None,
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: None,
        })
    );
    for (line, kind) in [
        (
            "HEALTHCHECK NONE x",
            ParseErrorKind::HealthcheckNoneArguments,
        ),
        (
            "HEALTHCHECK PING x",
            ParseErrorKind::HealthcheckType {
                name: "PING".into(),
            },
        ),
        ("HEALTHCHECK CMD", ParseErrorKind::HealthcheckCommand),
        (
            "HEALTHCHECK",
            ParseErrorKind::AtLeastOne {
                instruction: "HEALTHCHECK",
            },
        ),
        (
            "HEALTHCHECK --retries=-1 CMD x",
            ParseErrorKind::NegativeRetries { value: "-1".into() },
        ),
        (
            "HEALTHCHECK --retries=x CMD x",
            ParseErrorKind::Retries { value: "x".into() },
        ),
        (
            "HEALTHCHECK --interval=soon CMD x",
            ParseErrorKind::Duration {
                flag: "interval",
                value: "soon".into(),
                message: "time: invalid duration \"soon\"".into(),
            },
        ),
        (
            "HEALTHCHECK --interval=1 CMD x",
            ParseErrorKind::Duration {
                flag: "interval",
                value: "1".into(),
                message: "time: missing unit in duration \"1\"".into(),
            },
        ),
        (
            "HEALTHCHECK --interval=1.2.3s CMD x",
            ParseErrorKind::Duration {
                flag: "interval",
                value: "1.2.3s".into(),
                message: "time: missing unit in duration \"1.2.3s\"".into(),
            },
        ),
        (
            "HEALTHCHECK --timeout=10us CMD x",
            ParseErrorKind::ShortDuration {
                flag: "timeout",
                value: "10us".into(),
            },
        ),
        (
            "HEALTHCHECK --timeout=-1s CMD x",
            ParseErrorKind::ShortDuration {
                flag: "timeout",
                value: "-1s".into(),
            },
        ),
        (
            "HEALTHCHECK --every=1s CMD x",
            ParseErrorKind::Flag(FlagError::Unknown {
                flag: "every".into(),
            }),
        ),
    ] {
        assert_eq!(err(&format!("FROM a\n{line}")).kind, kind, "{line}");
    }
    // docker's words
    assert_eq!(
        err("FROM a\nHEALTHCHECK --interval=5x CMD x").to_string(),
        "dockerfile parse error on line 2 (column 1): time: unknown unit \"x\" in duration \"5x\""
    );
    assert_eq!(
        step("HEALTHCHECK --interval=.5s --timeout=1h2m3.5s --start-period=+3ms CMD x"),
        Instruction::Healthcheck(Healthcheck::Check {
            command: Command::Shell("x".into()),
            interval: Some(".5s".into()),
            timeout: Some("1h2m3.5s".into()),
            start_period: Some("+3ms".into()),
            start_interval: None,
            retries: None,
        })
    );
    assert_eq!(
        err("FROM a\nHEALTHCHECK --interval=1us CMD x").to_string(),
        "dockerfile parse error on line 2 (column 1): Interval \"interval\" cannot be less than 1ms"
    );
}

#[test]
fn onbuild() {
    assert_eq!(
        step("ONBUILD RUN echo  hi"),
        Instruction::Onbuild("RUN echo  hi".into())
    );
    assert_eq!(
        step("onbuild copy . /app"),
        Instruction::Onbuild("copy . /app".into())
    );
    assert_eq!(
        err("FROM a\nONBUILD ONBUILD RUN x").kind,
        ParseErrorKind::OnbuildChain
    );
    assert_eq!(
        err("FROM a\nONBUILD from x").kind,
        ParseErrorKind::OnbuildTrigger {
            name: "FROM".into()
        }
    );
    assert_eq!(
        err("FROM a\nONBUILD MAINTAINER x").to_string(),
        "dockerfile parse error on line 2 (column 1): MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("FROM a\nONBUILD").kind,
        ParseErrorKind::AtLeastOne {
            instruction: "ONBUILD"
        }
    );
}

#[test]
fn continuations_and_comments() {
    let file = ok("FROM a\nRUN echo a \\\n    b \\\n# a comment\n\n    c\nRUN x");
    let run = &file.stages[0].instructions[0];
    assert_eq!(run.value, shell("echo a     b     c"));
    assert_eq!(run.source, "RUN echo a     b     c");
    assert_eq!(run.pos, Pos { line: 2, column: 1 });
    assert_eq!(file.stages[0].instructions[1].pos.line, 7);
    // blanks after the escape character still continue the line
    assert_eq!(step("RUN a \\  \t\n b"), shell("a  b"));
    // a continuation at the end of the file ends the instruction
    assert_eq!(step("RUN a \\"), shell("a"));
    // leading whitespace and indented comments
    assert_eq!(steps("   # indented comment\n\t RUN x\n"), [shell("x")]);
    // instruction name continued on the next line
    assert_eq!(step("RU\\\nN x"), shell("x"));
}

#[test]
fn crlf_and_bom() {
    let file = ok("\u{feff}FROM a\r\nRUN x \\\r\n  y\r\n");
    assert_eq!(file.stages[0].instructions[0].value, shell("x   y"));
}

#[test]
fn directives() {
    let file = ok("# syntax=docker/dockerfile:1\n#escape = `\n# check=skip=all\nFROM a\nRUN a `\n b\nRUN c \\");
    assert_eq!(
        file.directives,
        [
            ("syntax".into(), "docker/dockerfile:1".into()),
            ("escape".into(), "`".into()),
            ("check".into(), "skip=all".into()),
        ]
    );
    assert_eq!(
        file.stages[0]
            .instructions
            .iter()
            .map(|i| i.value.clone())
            .collect::<Vec<_>>(),
        [shell("a  b"), shell("c \\")]
    );
    // backtick escape in ENV words
    assert_eq!(
        ok("# escape=`\nFROM a\nENV p=C:\\dir q=a` b").stages[0].instructions[0].value,
        Instruction::Env(vec![
            ("p".into(), "C:\\dir".into()),
            ("q".into(), "a` b".into())
        ])
    );
    // a blank line, a plain comment or an instruction ends the block
    assert!(ok("\n# escape=`\nFROM a").directives.is_empty());
    assert!(ok("# hello\n# escape=`\nFROM a").directives.is_empty());
    assert!(ok("FROM a\n# escape=`\n").directives.is_empty());
    // an unknown directive also ends it
    assert!(ok("# foo=bar\n# escape=`\nFROM a").directives.is_empty());
    let e = err("# escape=`\n# escape=\\\nFROM a");
    assert_eq!(
        (e.line, e.kind),
        (
            2,
            ParseErrorKind::DuplicateDirective {
                name: "escape".into()
            }
        )
    );
    let e = err("# escape=x\nFROM a");
    assert_eq!(e.to_string(), "dockerfile parse error on line 1 (column 1): invalid escape token 'x' does not match ` or \\");
    assert_eq!(
        ok("# SYNTAX = x/y \nFROM a").directives,
        [("syntax".into(), "x/y".into())]
    );
}

#[test]
fn run_heredocs() {
    let file = ok("FROM a\nRUN <<EOF\necho hi\n  $X\nEOF\nRUN x");
    let Instruction::Run {
        command, heredocs, ..
    } = &file.stages[0].instructions[0].value
    else {
        panic!()
    };
    assert_eq!(command, &Command::Shell("<<EOF".into()));
    assert_eq!(
        heredocs,
        &[Heredoc {
            name: "EOF".into(),
            content: "echo hi\n  $X\n".into(),
            expand: true,
            strip_tabs: false
        }]
    );
    assert_eq!(file.stages[0].instructions[0].source, "RUN <<EOF");
    assert_eq!(file.stages[0].instructions[1].pos.line, 6);

    let Instruction::Run {
        command, heredocs, ..
    } = step("RUN python3 <<'PY' && cat <<-\"E2\" > /f\nprint(1)\nPY\n\tindented\n\t\tmore\n\tE2")
    else {
        panic!()
    };
    assert_eq!(
        command,
        Command::Shell("python3 <<'PY' && cat <<-\"E2\" > /f".into())
    );
    assert_eq!(heredocs.len(), 2);
    assert_eq!(
        (heredocs[0].name.as_str(), heredocs[0].expand),
        ("PY", false)
    );
    assert_eq!(heredocs[0].content, "print(1)\n");
    assert_eq!(
        (
            heredocs[1].name.as_str(),
            heredocs[1].expand,
            heredocs[1].strip_tabs
        ),
        ("E2", false, true)
    );
    assert_eq!(heredocs[1].content, "indented\nmore\n");

    // empty body; `<<` inside quotes or JSON is no heredoc
    let Instruction::Run { heredocs, .. } = step("RUN cat <<EOF\nEOF") else {
        panic!()
    };
    assert_eq!(heredocs[0].content, "");
    assert_eq!(step("RUN echo '<<EOF'"), shell("echo '<<EOF'"));
    assert!(matches!(
        step("RUN [\"cat\", \"<<EOF\"]"),
        Instruction::Run {
            command: Command::Exec(_),
            ..
        }
    ));
    // CMD never reads heredocs
    assert_eq!(
        steps("CMD cat <<EOF\nRUN x"),
        [
            Instruction::Cmd(Command::Shell("cat <<EOF".into())),
            shell("x")
        ]
    );

    let e = err("FROM a\nRUN <<EOF\nno end\n");
    assert_eq!((e.line, e.kind), (2, ParseErrorKind::UnterminatedHeredoc));
}

#[test]
fn copy_heredocs() {
    let Instruction::Copy(spec) =
        step("COPY --chmod=755 <<A <<\"B\" x /dst/\nfirst $V\nA\nsecond $V\nB")
    else {
        panic!()
    };
    assert_eq!(spec.sources, s(&["x"]));
    assert_eq!(spec.dest, "/dst/");
    assert_eq!(spec.chmod.as_deref(), Some("755"));
    assert_eq!(
        spec.heredocs,
        [
            Heredoc {
                name: "A".into(),
                content: "first $V\n".into(),
                expand: true,
                strip_tabs: false
            },
            Heredoc {
                name: "B".into(),
                content: "second $V\n".into(),
                expand: false,
                strip_tabs: false
            },
        ]
    );
    let Instruction::Add(spec) = step("ADD <<-EOF /f\n\thi\n\tEOF") else {
        panic!()
    };
    assert_eq!(spec.heredocs[0].content, "hi\n");
    let e = err("FROM a\nCOPY x <<EOF\nhi\nEOF");
    assert_eq!(
        e.kind,
        ParseErrorKind::HeredocDestination {
            instruction: "COPY"
        }
    );
}

#[test]
fn sources_are_docker_step_text() {
    let file = ok("FROM a AS b\n  ENV  x=1 \nCOPY --from=b \\\n  /a /b\n");
    let st = &file.stages[0];
    assert_eq!(st.instructions[0].source, "ENV  x=1");
    assert_eq!(st.instructions[0].pos, Pos { line: 2, column: 3 });
    assert_eq!(st.instructions[1].source, "COPY --from=b   /a /b");
}

#[test]
fn error_lines_count_every_physical_line() {
    let e = err("FROM a\nRUN <<EOF\n1\n2\nEOF\n# c\nRUN a \\\n  b\nBAD");
    assert_eq!((e.line, e.column), (9, 1));
    let e = err("FROM a\nRUN a \\\n b\n  COPY x");
    assert_eq!((e.line, e.column), (4, 3));
}

#[test]
fn heredoc_word_forms() {
    // blanks between `<<` and the delimiter, as BuildKit allows
    let Instruction::Run { heredocs, .. } = step("RUN cat <<  EOF\nx\nEOF") else {
        panic!()
    };
    assert_eq!(
        (heredocs[0].name.as_str(), heredocs[0].content.as_str()),
        ("EOF", "x\n")
    );
    // an unset-looking delimiter stays as written
    let Instruction::Run { heredocs, .. } = step("RUN <<$EOF\nx\n$EOF") else {
        panic!()
    };
    assert_eq!(heredocs[0].name, "$EOF");
    // quotes anywhere in the delimiter turn expansion off; escaped ones do not
    let Instruction::Run { heredocs, .. } = step("RUN <<eo'f' <<eo\\'f\na\neof\nb\neo'f") else {
        panic!()
    };
    assert_eq!(
        (heredocs[0].name.as_str(), heredocs[0].expand),
        ("eof", false)
    );
    assert_eq!(
        (heredocs[1].name.as_str(), heredocs[1].expand),
        ("eo'f", true)
    );
    // bodies are read in order; each only ends at its own delimiter
    let Instruction::Copy(spec) = step("COPY <<X <<Y /dest\nY\nX\nX\nY") else {
        panic!()
    };
    assert_eq!(spec.heredocs[0].content, "Y\n");
    assert_eq!(spec.heredocs[1].content, "X\n");
    // a quoted `<<` opens nothing
    assert_eq!(step("RUN echo \"<<NOPE\""), shell("echo \"<<NOPE\""));
}

#[test]
fn onbuild_heredocs() {
    let file = ok("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\nRUN x");
    let st = &file.stages[0].instructions;
    assert_eq!(
        st[0].value,
        Instruction::Onbuild("RUN <<EOF\necho hi\nEOF".into())
    );
    assert_eq!(st[1].value, shell("x"));
    // the trigger text parses again into the same instruction
    let Instruction::Onbuild(trigger) = &st[0].value else {
        panic!()
    };
    let again = ok(&format!("FROM a\n{trigger}"));
    let Instruction::Run { heredocs, .. } = &again.stages[0].instructions[0].value else {
        panic!()
    };
    assert_eq!(heredocs[0].content, "echo hi\n");
}
