//! Word expansion against the results docker's builder gives for the same words.

use berth_build::expand::{expand, expand_words, expands, ExpandError};

fn env(name: &str) -> Option<String> {
    match name {
        "A" => Some("a".into()),
        "EMPTY" => Some(String::new()),
        "SPACED" => Some("x  y".into()),
        "PATH" => Some("/usr/bin".into()),
        "V" => Some("/usr/local/bin/app.tar.gz".into()),
        "1" => Some("one".into()),
        _ => None,
    }
}

fn x(word: &str) -> String {
    expand(word, &env, '\\').unwrap_or_else(|e| panic!("{word}: {e}"))
}

fn xb(word: &str) -> String {
    expand(word, &env, '`').unwrap_or_else(|e| panic!("{word}: {e}"))
}

fn words(text: &str) -> Vec<String> {
    expand_words(text, &env, '\\').unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(word: &str) -> ExpandError {
    expand(word, &env, '\\').expect_err(word)
}

#[test]
fn plain_variables() {
    assert_eq!(x("$A"), "a");
    assert_eq!(x("${A}"), "a");
    assert_eq!(x("pre$A.post"), "prea.post");
    assert_eq!(x("${A}b"), "ab");
    assert_eq!(x("$Ab"), "");
    assert_eq!(x("$UNSET"), "");
    assert_eq!(x("${UNSET}"), "");
    assert_eq!(x("$PATH:/bin"), "/usr/bin:/bin");
    assert_eq!(x("$1x"), "onex");
}

#[test]
fn lone_dollars_stay() {
    assert_eq!(x("$"), "$");
    assert_eq!(x("a$"), "a$");
    assert_eq!(x("$/x"), "$/x");
    assert_eq!(x("$ a"), "$ a");
}

#[test]
fn defaults_and_alternatives() {
    assert_eq!(x("${A:-d}"), "a");
    assert_eq!(x("${UNSET:-d}"), "d");
    assert_eq!(x("${EMPTY:-d}"), "d");
    assert_eq!(x("${EMPTY-d}"), "");
    assert_eq!(x("${UNSET-d}"), "d");
    assert_eq!(x("${A:+alt}"), "alt");
    assert_eq!(x("${EMPTY:+alt}"), "");
    assert_eq!(x("${EMPTY+alt}"), "alt");
    assert_eq!(x("${UNSET:+alt}"), "");
    assert_eq!(x("${UNSET+alt}"), "");
    assert_eq!(x("${UNSET:-$A}"), "a");
    assert_eq!(x("${UNSET:-${A}x}"), "ax");
    assert_eq!(x("${UNSET:-a b}"), "a b");
    assert_eq!(x("${UNSET:-'q}'}"), "q}");
    assert_eq!(x("${UNSET:-}"), "");
}

#[test]
fn required_variables() {
    assert_eq!(x("${A:?}"), "a");
    assert_eq!(x("${EMPTY?}"), "");
    assert_eq!(
        err("${UNSET:?}").to_string(),
        r#"failed to process "${UNSET:?}": UNSET: is not allowed to be unset"#
    );
    assert_eq!(
        err("${EMPTY:?}").to_string(),
        r#"failed to process "${EMPTY:?}": EMPTY: is not allowed to be empty"#
    );
    assert_eq!(
        err("${UNSET?set it}").to_string(),
        r#"failed to process "${UNSET?set it}": UNSET: set it"#
    );
}

#[test]
fn syntax_errors() {
    assert!(matches!(err("${A"), ExpandError::MissingBrace { .. }));
    assert!(matches!(err("${"), ExpandError::MissingBrace { .. }));
    assert!(matches!(err("${A:-x"), ExpandError::MissingBrace { .. }));
    assert!(matches!(err("${A:"), ExpandError::MissingBrace { .. }));
    assert!(matches!(err("${}"), ExpandError::BadSubstitution { .. }));
    assert!(matches!(err("${:x}"), ExpandError::BadSubstitution { .. }));
    assert!(matches!(err("${{A}"), ExpandError::BadSubstitution { .. }));
    assert_eq!(
        err("${A^}"),
        ExpandError::UnsupportedModifier {
            word: "${A^}".into(),
            modifier: "^".into()
        }
    );
    assert_eq!(
        err("${A:0:1}").to_string(),
        r#"failed to process "${A:0:1}": unsupported modifier (:0) in substitution"#
    );
    assert_eq!(
        err("'abc").to_string(),
        r#"failed to process "'abc": unexpected end of statement while looking for matching single-quote"#
    );
    assert!(matches!(
        err("\"abc"),
        ExpandError::Unterminated {
            what: "double-quote",
            ..
        }
    ));
}

#[test]
fn quotes() {
    assert_eq!(x("'$A'"), "$A");
    assert_eq!(x("\"$A\""), "a");
    assert_eq!(x("\"'$A'\""), "'a'");
    assert_eq!(x("'\"$A\"'"), "\"$A\"");
    assert_eq!(x("a'b c'd"), "ab cd");
    assert_eq!(x("\"a\\\"b\""), "a\"b");
    assert_eq!(x("\"a\\$A\""), "a$A");
    assert_eq!(x("\"a\\\\b\""), "a\\b");
    assert_eq!(x("\"a\\nb\""), "a\\nb");
    assert_eq!(x("'a\\nb'"), "a\\nb");
    assert_eq!(x("\"\""), "");
}

#[test]
fn escapes() {
    assert_eq!(x("\\$A"), "$A");
    assert_eq!(x("\\${A}"), "${A}");
    assert_eq!(x("a\\ b"), "a b");
    assert_eq!(x("a\\\\b"), "a\\b");
    assert_eq!(x("\\'a\\'"), "'a'");
    assert_eq!(x("C:\\path"), "C:path");
    assert_eq!(x("end\\"), "end");
}

#[test]
fn backtick_escape() {
    assert_eq!(xb("`$A"), "$A");
    assert_eq!(xb("C:\\path"), "C:\\path");
    assert_eq!(xb("\"a`\"b\""), "a\"b");
    assert_eq!(xb("a``b"), "a`b");
    assert_eq!(xb("$A"), "a");
}

#[test]
fn word_splitting() {
    assert_eq!(words("80 443/tcp"), ["80", "443/tcp"]);
    assert_eq!(words("  a   b  "), ["a", "b"]);
    assert_eq!(words("'a b' c"), ["a b", "c"]);
    assert_eq!(words("\"$SPACED\" z"), ["x  y", "z"]);
    assert_eq!(words("$SPACED z"), ["x", "y", "z"]);
    assert_eq!(words("a\\ b c"), ["a b", "c"]);
    assert_eq!(words("$UNSET"), Vec::<String>::new());
    assert_eq!(words("'' a"), ["a"]);
    assert_eq!(words("${A}1 ${UNSET:-d}"), ["a1", "d"]);
}

#[test]
fn instructions_that_expand() {
    for name in [
        "ADD",
        "copy",
        "Env",
        "EXPOSE",
        "FROM",
        "LABEL",
        "STOPSIGNAL",
        "USER",
    ] {
        assert!(expands(name), "{name}");
    }
    for name in ["VOLUME", "WORKDIR", "ARG"] {
        assert!(expands(name), "{name}");
    }
    for name in [
        "RUN",
        "CMD",
        "ENTRYPOINT",
        "ONBUILD",
        "SHELL",
        "HEALTHCHECK",
        "MAINTAINER",
    ] {
        assert!(!expands(name), "{name}");
    }
}

#[test]
fn pattern_removal_and_replacement() {
    assert_eq!(x("${V#*/}"), "usr/local/bin/app.tar.gz");
    assert_eq!(x("${V##*/}"), "app.tar.gz");
    assert_eq!(x("${V%.*}"), "/usr/local/bin/app.tar");
    assert_eq!(x("${V%%.*}"), "/usr/local/bin/app");
    assert_eq!(x("${V%/*}"), "/usr/local/bin");
    assert_eq!(x("${V#/usr}"), "/local/bin/app.tar.gz");
    assert_eq!(x("${V#nomatch}"), "/usr/local/bin/app.tar.gz");
    assert_eq!(x("${V%?z}"), "/usr/local/bin/app.tar.");
    assert_eq!(x("${V#\\*}"), "/usr/local/bin/app.tar.gz");
    assert_eq!(x("${UNSET#x}"), "");
    assert_eq!(x("${A%$A}"), "");
    assert_eq!(x("${V/local/LOCAL}"), "/usr/LOCAL/bin/app.tar.gz");
    assert_eq!(x("${V//\\//:}"), ":usr:local:bin:app.tar.gz");
    assert_eq!(x("${V/a*/X}"), "/usr/locX");
    assert_eq!(x("${V//?/x}"), "x".repeat(25));
    assert_eq!(x("${V/zzz/y}"), "/usr/local/bin/app.tar.gz");
    assert_eq!(x("${V//a/}"), "/usr/locl/bin/pp.tr.gz");
    assert_eq!(x("${A//*/[&]}"), "[&]");
    assert_eq!(x("${UNSET/a/b}"), "");
    assert!(matches!(err("${V#\\a}"), ExpandError::Pattern { .. }));
    assert!(matches!(err("${V/x"), ExpandError::MissingSlash { .. }));
    assert!(matches!(err("${V/x/y"), ExpandError::MissingBrace { .. }));
    assert!(matches!(err("${V#x"), ExpandError::MissingBrace { .. }));
}

#[test]
fn heredoc_bodies() {
    use berth_build::expand::expand_heredoc;
    let body = "echo \"$A\" '$A' ${UNSET:-d}\n\\$A a\\nb\nC:\\\\x\n";
    assert_eq!(
        expand_heredoc(body, &env).unwrap(),
        "echo \"a\" 'a' d\n$A anb\nC:\\x\n"
    );
    assert!(expand_heredoc("${A", &env).is_err());
}
