//! `.dockerignore` matching, checked against docker's documented rules and examples.

use berth_build::ignore::{Ignore, IgnoreError};

fn ig(text: &str) -> Ignore {
    Ignore::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn check(text: &str, excluded: &[&str], kept: &[&str]) {
    let ignore = ig(text);
    for path in excluded {
        assert!(ignore.is_excluded(path), "{text:?} should exclude {path}");
    }
    for path in kept {
        assert!(!ignore.is_excluded(path), "{text:?} should keep {path}");
    }
}

#[test]
fn docker_documentation_examples() {
    let text = "# comment\n*/temp*\n*/*/temp*\ntemp?\n";
    check(
        text,
        &[
            "somedir/temporary.txt",
            "somedir/temp",
            "a/b/temp.txt",
            "tempa",
            "tempa/x",
        ],
        &[
            "temp",
            "temporary.txt",
            "a/b/c/temp",
            "comment",
            "# comment",
        ],
    );
    check("**/*.go", &["a.go", "x/y/z.go"], &["a.goo", "go"]);
    check(
        "*.md\n!README.md",
        &["CHANGES.md"],
        &["README.md", "x/CHANGES.md"],
    );
    check(
        "*.md\n!README*.md\nREADME-secret.md",
        &["CHANGES.md", "README-secret.md"],
        &["README-public.md"],
    );
    check(
        "*.md\nREADME-secret.md\n!README*.md",
        &["CHANGES.md"],
        &["README-secret.md", "README-public.md"],
    );
}

#[test]
fn directories_exclude_their_contents() {
    check(
        "node_modules",
        &["node_modules", "node_modules/a/b.js"],
        &["src/node_modules", "node_modules2"],
    );
    check("a/b", &["a/b", "a/b/c", "a/b/c/d"], &["a", "a/bc", "b"]);
    check(
        "**/node_modules",
        &["node_modules/x", "a/b/node_modules/x"],
        &["a/node_modulesx"],
    );
    check(
        "build/**",
        &["build/x", "build/a/b"],
        &["buildx", "x/build/y"],
    );
    check("**", &["a", "a/b"], &[]);
}

#[test]
fn cleaning_and_whitespace() {
    check(
        "/a\n./b\n  c  \nd/\ne//f\ng/../h",
        &["a", "b/x", "c", "d", "e/f", "h"],
        &["g", "g/h"],
    );
    check("\n\n# only comments\n   \n", &[], &["a", ".dockerignore"]);
    // a comment must start the line; with spaces before it is a pattern
    check(" #x", &["#x"], &["x"]);
    // paths given to is_excluded are cleaned too
    check("a/b", &["./a/b", "/a/b/", "a//b/c"], &[]);
}

#[test]
fn exceptions_and_order() {
    check(
        "*\n!keep\n!dir/keep",
        &["x", "dir", "dir/other"],
        &["keep", "dir/keep"],
    );
    check("!a\na", &["a"], &[]);
    check("a\n!a/b\na/b/c", &["a/x", "a/b/c"], &["a/b", "a/b/d"]);
    check("!  spaced", &[], &["spaced"]);
}

#[test]
fn globs() {
    check(
        "[a-c]?.txt",
        &["a1.txt", "cz.txt"],
        &["d1.txt", "a.txt", "a/1.txt"],
    );
    check("[^a]*", &["b", "bcd"], &["a", "abc"]);
    check("\\*.txt", &[], &["a.txt"]);
    check("*.txt", &["a.txt", ".txt"], &["a/b.txt"]);
    check("a/*/c", &["a/b/c", "a/x/c/d"], &["a/c", "a/b/b/c"]);
    check("a/**/c", &["a/c", "a/b/c", "a/b/b/c"], &["a/b/cd"]);
}

#[test]
fn bad_patterns() {
    assert!(matches!(
        Ignore::parse("ok\n[a-"),
        Err(IgnoreError::Pattern { line: 2, .. })
    ));
    assert!(matches!(
        Ignore::parse("[]"),
        Err(IgnoreError::Pattern { line: 1, .. })
    ));
    assert!(matches!(
        Ignore::parse("x\n\n!"),
        Err(IgnoreError::LoneBang { line: 3 })
    ));
    assert_eq!(
        Ignore::parse("!").unwrap_err().to_string(),
        ".dockerignore line 1: illegal exclusion pattern: \"!\""
    );
}

#[test]
fn walking_help() {
    let ignore = ig("vendor\n!vendor/keep/**\nbuild");
    assert!(ignore.has_exceptions());
    assert!(ignore.may_contain_included("vendor"));
    assert!(ignore.may_contain_included("vendor/keep"));
    assert!(ignore.may_contain_included("vendor/keep/x"));
    assert!(!ignore.may_contain_included("vendor/other"));
    assert!(!ignore.may_contain_included("build"));
    assert!(ig("*\n!**/*.go").may_contain_included("any/where"));
    assert!(ig("*\n!src/*.go").may_contain_included("src"));
    assert!(!ig("*\n!src/*.go").may_contain_included("docs"));
    assert!(!ig("x").may_contain_included("x"));
    assert!(ig("").is_empty());
}
