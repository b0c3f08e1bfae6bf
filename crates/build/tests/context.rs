//! Build contexts on real temporary directories: source resolution, `.dockerignore`,
//! symlinks kept inside, the entries a source selects and the content hash.

use berth_build::context::{Context, ContextError, EntryKind, Source};
use berth_build::ignore::Ignore;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// A context with a few files, dirs and links.
fn sample() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (rel, content) in [
        ("a.txt", "a"),
        ("b.txt", "b"),
        ("c.md", "c"),
        ("src/main.rs", "fn main() {}"),
        ("src/lib.rs", "//! lib"),
        ("src/deep/x.rs", "x"),
        ("docs/guide.md", "guide"),
        ("secret/key", "k"),
    ] {
        write(root, rel, content);
    }
    symlink("a.txt", root.join("link")).unwrap();
    symlink("/src", root.join("abs")).unwrap();
    symlink("../../../../etc/passwd", root.join("escape")).unwrap();
    symlink("loop2", root.join("loop1")).unwrap();
    symlink("loop1", root.join("loop2")).unwrap();
    symlink("../a.txt", root.join("src/up")).unwrap();
    dir
}

fn rels(sources: &[Source]) -> Vec<&str> {
    sources.iter().map(|s| s.rel.as_str()).collect()
}

fn ctx(dir: &tempfile::TempDir, ignore: &str) -> Context {
    Context::new(dir.path(), Ignore::parse(ignore).unwrap())
}

#[test]
fn named_sources() {
    let dir = sample();
    let c = ctx(&dir, "");
    let s = c.resolve("a.txt").unwrap();
    assert_eq!(rels(&s), ["a.txt"]);
    assert_eq!(s[0].path, dir.path().join("a.txt"));
    assert!(!s[0].is_dir);
    assert!(c.resolve("src").unwrap()[0].is_dir);
    assert!(c.resolve("src/").unwrap()[0].is_dir);
    assert_eq!(c.resolve(".").unwrap()[0].rel, ".");
    assert_eq!(c.resolve("./src/../a.txt").unwrap()[0].rel, "a.txt");
    // `..` never leaves the context
    assert_eq!(c.resolve("../../a.txt").unwrap()[0].rel, "a.txt");
    assert_eq!(c.resolve("/b.txt").unwrap()[0].rel, "b.txt");
}

#[test]
fn missing_sources() {
    let dir = sample();
    let c = ctx(&dir, "");
    let e = c.resolve("nope").unwrap_err();
    assert!(matches!(&e, ContextError::NotFound { name } if name == "nope"));
    assert_eq!(
        e.to_string(),
        "file not found in build context or excluded by .dockerignore: stat nope: file does not exist"
    );
    assert!(matches!(
        c.resolve("a.txt/x"),
        Err(ContextError::NotFound { .. })
    ));
    assert!(matches!(
        c.resolve("*.none"),
        Err(ContextError::NoMatch { .. })
    ));
    assert!(matches!(c.resolve("loop1"), Err(ContextError::Loop { .. })));
    assert!(matches!(
        c.resolve("[a-"),
        Err(ContextError::Pattern { .. })
    ));
}

#[test]
fn symlinks_stay_inside() {
    let dir = sample();
    let c = ctx(&dir, "");
    let s = &c.resolve("link").unwrap()[0];
    assert_eq!((s.rel.as_str(), s.real.as_str()), ("link", "a.txt"));
    // an absolute target is taken inside the context
    let s = &c.resolve("abs/main.rs").unwrap()[0];
    assert_eq!(s.real, "src/main.rs");
    assert_eq!(s.path, dir.path().join("src/main.rs"));
    // a target climbing out lands inside: /etc/passwd in the context, which is absent
    assert!(matches!(
        c.resolve("escape"),
        Err(ContextError::NotFound { .. })
    ));
    write(dir.path(), "etc/passwd", "mine");
    assert_eq!(
        c.resolve("escape").unwrap()[0].path,
        dir.path().join("etc/passwd")
    );
    assert_eq!(c.resolve("src/up").unwrap()[0].real, "a.txt");
}

#[test]
fn globs() {
    let dir = sample();
    let c = ctx(&dir, "");
    assert_eq!(rels(&c.resolve("*.txt").unwrap()), ["a.txt", "b.txt"]);
    assert_eq!(rels(&c.resolve("?.*").unwrap()), ["a.txt", "b.txt", "c.md"]);
    assert_eq!(rels(&c.resolve("[ab].txt").unwrap()), ["a.txt", "b.txt"]);
    assert_eq!(
        rels(&c.resolve("src/*.rs").unwrap()),
        ["src/lib.rs", "src/main.rs"]
    );
    assert_eq!(rels(&c.resolve("*/*.md").unwrap()), ["docs/guide.md"]);
    // `*` does not cross `/`; a matched directory is one source
    assert_eq!(rels(&c.resolve("s*").unwrap()), ["secret", "src"]);
    assert!(c.resolve("s*").unwrap().iter().all(|s| s.is_dir));
    // a glob does not walk through a symlinked directory
    assert!(matches!(
        c.resolve("ab*/*.rs"),
        Err(ContextError::NoMatch { .. })
    ));
    // a matched symlink is taken as a link
    let link = &c.resolve("li?k").unwrap()[0];
    assert_eq!(
        (link.rel.as_str(), link.real.as_str(), link.is_dir),
        ("link", "link", false)
    );
    assert_eq!(
        c.entries(link).unwrap()[0].kind,
        EntryKind::Symlink("a.txt".into())
    );
    assert_eq!(
        rels(&c.resolve("[ae]*").unwrap()),
        ["a.txt", "abs", "escape"]
    );
}

#[test]
fn ignored_files_are_invisible() {
    let dir = sample();
    write(
        dir.path(),
        ".dockerignore",
        "secret\n*.md\n!docs/guide.md\nsrc/deep\n",
    );
    let c = Context::open(dir.path()).unwrap();
    assert!(matches!(
        c.resolve("secret/key"),
        Err(ContextError::NotFound { .. })
    ));
    assert!(matches!(
        c.resolve("secret"),
        Err(ContextError::NotFound { .. })
    ));
    assert!(matches!(
        c.resolve("c.md"),
        Err(ContextError::NotFound { .. })
    ));
    assert!(c.resolve("docs/guide.md").is_ok());
    assert_eq!(
        rels(&c.resolve("*").unwrap()),
        [
            ".dockerignore",
            "a.txt",
            "abs",
            "b.txt",
            "docs",
            "escape",
            "link",
            "loop1",
            "loop2",
            "src"
        ]
    );
    // a link to an excluded file is not a way around the rules
    symlink("secret/key", dir.path().join("peek")).unwrap();
    assert!(matches!(
        c.resolve("peek"),
        Err(ContextError::NotFound { .. })
    ));

    let all = c.resolve(".").unwrap();
    let names: Vec<String> = c
        .entries(&all[0])
        .unwrap()
        .into_iter()
        .map(|e| e.rel)
        .collect();
    assert!(names.contains(&"src/main.rs".to_string()));
    assert!(names.contains(&"docs/guide.md".to_string()));
    for hidden in ["secret", "secret/key", "c.md", "src/deep", "src/deep/x.rs"] {
        assert!(
            !names.contains(&hidden.to_string()),
            "{hidden} in {names:?}"
        );
    }
    // the docs dir is there because of its exception
    assert!(names.contains(&"docs".to_string()));
}

#[test]
fn entries_of_sources() {
    let dir = sample();
    let c = ctx(&dir, "");
    let file = &c.resolve("a.txt").unwrap()[0];
    let e = c.entries(file).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].rel.as_str(), e[0].kind.clone()),
        ("", EntryKind::File(1))
    );
    let src = &c.resolve("src").unwrap()[0];
    let e = c.entries(src).unwrap();
    let listed: Vec<_> = e.iter().map(|e| (e.rel.as_str(), e.kind.clone())).collect();
    assert_eq!(
        listed,
        [
            ("", EntryKind::Dir),
            ("deep", EntryKind::Dir),
            ("deep/x.rs", EntryKind::File(1)),
            ("lib.rs", EntryKind::File(7)),
            ("main.rs", EntryKind::File(12)),
            ("up", EntryKind::Symlink("../a.txt".into())),
        ]
    );
}

#[test]
fn bad_dockerignore_is_an_error() {
    let dir = sample();
    write(dir.path(), ".dockerignore", "[x");
    assert!(matches!(
        Context::open(dir.path()),
        Err(ContextError::Ignore(_))
    ));
}

/// The tree the recorded docker runs copied from.
fn docker_tree(ignore: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "a.txt",
        "b.md",
        "README.md",
        "README-secret.md",
        "docs/guide.md",
        "docs/x.txt",
        "src/main.go",
        "src/deep/a.go",
        "src/node_modules/m.js",
        "node_modules/n.js",
        "tempa",
        "temp",
        "x/temp1",
        "x/y/temp2",
        "vendor/keep/k",
        "vendor/other/o",
        "build/out",
        "buildx",
        "#x",
        "sp ace",
        ".hidden",
        "a/b/c/d.txt",
    ];
    for rel in files {
        write(dir.path(), rel, rel);
    }
    symlink("a.txt", dir.path().join("link")).unwrap();
    write(dir.path(), ".dockerignore", ignore);
    write(dir.path(), "Dockerfile", "FROM scratch\nCOPY . /c/\n");
    dir
}

#[test]
fn copy_dot_matches_docker() {
    for (ignore, expected) in DOCKER_COPIED {
        let dir = docker_tree(ignore);
        let c = Context::open(dir.path()).unwrap();
        let all = c.resolve(".").unwrap();
        let mut got: Vec<String> = c
            .entries(&all[0])
            .unwrap()
            .into_iter()
            .map(|e| e.rel)
            .filter(|r| !r.is_empty())
            .collect();
        got.sort();
        assert_eq!(got, *expected, "with .dockerignore {ignore:?}");
    }
}

/// What docker 20.10's classic builder copied for `COPY . /c/` with each
/// `.dockerignore` (recorded by running it on the same tree).
const DOCKER_COPIED: &[(&str, &[&str])] = &[
    (
        "*.md\n!README*.md\nREADME-secret.md",
        &[
            "#x",
            ".dockerignore",
            ".hidden",
            "Dockerfile",
            "README.md",
            "a",
            "a.txt",
            "a/b",
            "a/b/c",
            "a/b/c/d.txt",
            "build",
            "build/out",
            "buildx",
            "docs",
            "docs/guide.md",
            "docs/x.txt",
            "link",
            "node_modules",
            "node_modules/n.js",
            "sp ace",
            "src",
            "src/deep",
            "src/deep/a.go",
            "src/main.go",
            "src/node_modules",
            "src/node_modules/m.js",
            "temp",
            "tempa",
            "vendor",
            "vendor/keep",
            "vendor/keep/k",
            "vendor/other",
            "vendor/other/o",
            "x",
            "x/temp1",
            "x/y",
            "x/y/temp2",
        ],
    ),
    (
        "*/temp*\n*/*/temp*\ntemp?",
        &[
            "#x",
            ".dockerignore",
            ".hidden",
            "Dockerfile",
            "README-secret.md",
            "README.md",
            "a",
            "a.txt",
            "a/b",
            "a/b/c",
            "a/b/c/d.txt",
            "b.md",
            "build",
            "build/out",
            "buildx",
            "docs",
            "docs/guide.md",
            "docs/x.txt",
            "link",
            "node_modules",
            "node_modules/n.js",
            "sp ace",
            "src",
            "src/deep",
            "src/deep/a.go",
            "src/main.go",
            "src/node_modules",
            "src/node_modules/m.js",
            "temp",
            "vendor",
            "vendor/keep",
            "vendor/keep/k",
            "vendor/other",
            "vendor/other/o",
            "x",
            "x/y",
        ],
    ),
    (
        "**/*.go\nnode_modules",
        &[
            "#x",
            ".dockerignore",
            ".hidden",
            "Dockerfile",
            "README-secret.md",
            "README.md",
            "a",
            "a.txt",
            "a/b",
            "a/b/c",
            "a/b/c/d.txt",
            "b.md",
            "build",
            "build/out",
            "buildx",
            "docs",
            "docs/guide.md",
            "docs/x.txt",
            "link",
            "sp ace",
            "src",
            "src/deep",
            "src/node_modules",
            "src/node_modules/m.js",
            "temp",
            "tempa",
            "vendor",
            "vendor/keep",
            "vendor/keep/k",
            "vendor/other",
            "vendor/other/o",
            "x",
            "x/temp1",
            "x/y",
            "x/y/temp2",
        ],
    ),
    (
        "**/node_modules\n/build\n./docs/*.md",
        &[
            "#x",
            ".dockerignore",
            ".hidden",
            "Dockerfile",
            "README-secret.md",
            "README.md",
            "a",
            "a.txt",
            "a/b",
            "a/b/c",
            "a/b/c/d.txt",
            "b.md",
            "buildx",
            "docs",
            "docs/x.txt",
            "link",
            "sp ace",
            "src",
            "src/deep",
            "src/deep/a.go",
            "src/main.go",
            "temp",
            "tempa",
            "vendor",
            "vendor/keep",
            "vendor/keep/k",
            "vendor/other",
            "vendor/other/o",
            "x",
            "x/temp1",
            "x/y",
            "x/y/temp2",
        ],
    ),
    (
        "vendor\n!vendor/keep/**\nbuild/**",
        &[
            "#x",
            ".dockerignore",
            ".hidden",
            "Dockerfile",
            "README-secret.md",
            "README.md",
            "a",
            "a.txt",
            "a/b",
            "a/b/c",
            "a/b/c/d.txt",
            "b.md",
            "build",
            "buildx",
            "docs",
            "docs/guide.md",
            "docs/x.txt",
            "link",
            "node_modules",
            "node_modules/n.js",
            "sp ace",
            "src",
            "src/deep",
            "src/deep/a.go",
            "src/main.go",
            "src/node_modules",
            "src/node_modules/m.js",
            "temp",
            "tempa",
            "vendor",
            "vendor/keep",
            "vendor/keep/k",
            "x",
            "x/temp1",
            "x/y",
            "x/y/temp2",
        ],
    ),
    (
        "*\n!src\n!docs/guide.md",
        &[
            "docs",
            "docs/guide.md",
            "src",
            "src/deep",
            "src/deep/a.go",
            "src/main.go",
            "src/node_modules",
            "src/node_modules/m.js",
        ],
    ),
    (
        "# comment\n #x\nsp ace\n.*",
        &[
            "Dockerfile",
            "README-secret.md",
            "README.md",
            "a",
            "a.txt",
            "a/b",
            "a/b/c",
            "a/b/c/d.txt",
            "b.md",
            "build",
            "build/out",
            "buildx",
            "docs",
            "docs/guide.md",
            "docs/x.txt",
            "link",
            "node_modules",
            "node_modules/n.js",
            "src",
            "src/deep",
            "src/deep/a.go",
            "src/main.go",
            "src/node_modules",
            "src/node_modules/m.js",
            "temp",
            "tempa",
            "vendor",
            "vendor/keep",
            "vendor/keep/k",
            "vendor/other",
            "vendor/other/o",
            "x",
            "x/temp1",
            "x/y",
            "x/y/temp2",
        ],
    ),
    (
        "a/b\n!a/b/c/d.txt",
        &[
            "#x",
            ".dockerignore",
            ".hidden",
            "Dockerfile",
            "README-secret.md",
            "README.md",
            "a",
            "a.txt",
            "a/b",
            "a/b/c",
            "a/b/c/d.txt",
            "b.md",
            "build",
            "build/out",
            "buildx",
            "docs",
            "docs/guide.md",
            "docs/x.txt",
            "link",
            "node_modules",
            "node_modules/n.js",
            "sp ace",
            "src",
            "src/deep",
            "src/deep/a.go",
            "src/main.go",
            "src/node_modules",
            "src/node_modules/m.js",
            "temp",
            "tempa",
            "vendor",
            "vendor/keep",
            "vendor/keep/k",
            "vendor/other",
            "vendor/other/o",
            "x",
            "x/temp1",
            "x/y",
            "x/y/temp2",
        ],
    ),
    (
        "[a-c]*\n!b*\nlink",
        &[
            "#x",
            ".dockerignore",
            ".hidden",
            "Dockerfile",
            "README-secret.md",
            "README.md",
            "b.md",
            "build",
            "build/out",
            "buildx",
            "docs",
            "docs/guide.md",
            "docs/x.txt",
            "node_modules",
            "node_modules/n.js",
            "sp ace",
            "src",
            "src/deep",
            "src/deep/a.go",
            "src/main.go",
            "src/node_modules",
            "src/node_modules/m.js",
            "temp",
            "tempa",
            "vendor",
            "vendor/keep",
            "vendor/keep/k",
            "vendor/other",
            "vendor/other/o",
            "x",
            "x/temp1",
            "x/y",
            "x/y/temp2",
        ],
    ),
];

#[test]
fn names_that_are_not_utf8() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = sample();
    let odd = dir
        .path()
        .join("src")
        .join(OsStr::from_bytes(b"caf\xe9.txt"));
    fs::write(&odd, "x").unwrap();
    let c = ctx(&dir, "");
    let src = &c.resolve("src").unwrap()[0];
    let entries = c.entries(src).unwrap();
    let found = entries
        .iter()
        .find(|e| e.path == odd)
        .expect("the odd name is listed");
    assert_eq!(found.kind, EntryKind::File(1));
}

#[test]
fn excluded_directory_with_an_exception() {
    let dir = sample();
    let c = ctx(&dir, "docs\n!docs/guide.md\nsrc\n!src/deep/x.rs\n");
    let docs = &c.resolve("docs").unwrap()[0];
    let names: Vec<String> = c
        .entries(docs)
        .unwrap()
        .into_iter()
        .map(|e| e.rel)
        .collect();
    assert_eq!(names, ["", "guide.md"]);
    let src = &c.resolve("src").unwrap()[0];
    let names: Vec<String> = c.entries(src).unwrap().into_iter().map(|e| e.rel).collect();
    assert_eq!(names, ["", "deep", "deep/x.rs"]);
    assert!(matches!(
        c.resolve("src/main.rs"),
        Err(ContextError::NotFound { .. })
    ));
    assert_eq!(rels(&c.resolve("*/*.md").unwrap()), ["docs/guide.md"]);
}

#[test]
fn copy_visible_makes_a_private_view_without_ignored_files() {
    let dir = sample();
    let root = dir.path();
    fs::set_permissions(root.join("src/main.rs"), fs::Permissions::from_mode(0o750)).unwrap();
    let c = Context::new(root, Ignore::parse("src/deep\n").unwrap());
    let into = tempfile::tempdir().unwrap();
    let src = &c.resolve("src").unwrap()[0];
    let top = c.copy_visible(src, into.path()).unwrap();
    assert_eq!(top, into.path());
    let mut names: Vec<_> = fs::read_dir(&top)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["lib.rs", "main.rs", "up"]);
    assert_eq!(fs::read_to_string(top.join("lib.rs")).unwrap(), "//! lib");
    let mode = fs::metadata(top.join("main.rs"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750);
    assert_eq!(
        fs::read_link(top.join("up")).unwrap(),
        Path::new("../a.txt")
    );
    // A file source is copied as itself under the directory.
    let into = tempfile::tempdir().unwrap();
    let a = &c.resolve("link").unwrap()[0];
    let top = c.copy_visible(a, into.path()).unwrap();
    assert_eq!(top, into.path().join("a.txt"));
    assert_eq!(fs::read_to_string(&top).unwrap(), "a");
}
