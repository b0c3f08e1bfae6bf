//! No input makes the parser, the expander or the ignore matcher panic: random texts
//! made of the characters that matter to them (a fixed-seed generator, so a failure
//! repeats).

use berth_build::dockerfile::parse;
use berth_build::expand::{expand, expand_heredoc, expand_words};
use berth_build::ignore::Ignore;

/// A small xorshift generator: the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A text of up to `max` pieces drawn from `pieces`.
    fn text(&mut self, pieces: &[&str], max: usize) -> String {
        let len = self.below(max + 1);
        (0..len).map(|_| pieces[self.below(pieces.len())]).collect()
    }
}

const DOCKERFILE_PIECES: &[&str] = &[
    "FROM ",
    "RUN ",
    "COPY ",
    "ADD ",
    "ENV ",
    "ARG ",
    "LABEL ",
    "HEALTHCHECK ",
    "ONBUILD ",
    "SHELL ",
    "CMD ",
    "VOLUME ",
    "EXPOSE ",
    "WORKDIR ",
    "USER ",
    "STOPSIGNAL ",
    "AS ",
    "x",
    "é",
    "\n",
    "\r\n",
    " ",
    "\t",
    "\\",
    "`",
    "#",
    "# escape=`\n",
    "# syntax=a\n",
    "<<",
    "<<-",
    "EOF",
    "'",
    "\"",
    "[",
    "]",
    "\"a\"",
    ",",
    "=",
    "--",
    "--mount=",
    "type=cache,target=/x",
    "--interval=",
    "5s",
    "--from=",
    "NONE",
    "$",
    "${",
    "}",
    ":-",
    "-",
    "\u{feff}",
];

const WORD_PIECES: &[&str] = &[
    "$", "{", "}", "A", "é", ":", "-", "+", "?", "#", "%", "/", "*", "\\", "`", "'", "\"", " ",
    "\t", "x", "<<", "0", "[",
];

const IGNORE_PIECES: &[&str] = &[
    "*", "**", "?", "[", "]", "^", "-", "\\", "/", "!", "#", ".", "..", "a", "é", " ", "\n",
];

#[test]
fn parse_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let text = rng.text(DOCKERFILE_PIECES, 40);
        let _ = parse(&text);
    }
}

#[test]
fn expand_never_panics() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let lookup = |name: &str| (name == "A").then(|| "a b*é".to_string());
    for _ in 0..20_000 {
        let word = rng.text(WORD_PIECES, 24);
        let _ = expand(&word, &lookup, '\\');
        let _ = expand(&word, &lookup, '`');
        let _ = expand_words(&word, &lookup, '\\');
        let _ = expand_heredoc(&word, &lookup);
    }
}

#[test]
fn ignore_never_panics() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..5_000 {
        let text = rng.text(IGNORE_PIECES, 20);
        if let Ok(ignore) = Ignore::parse(&text) {
            for _ in 0..5 {
                let path = rng.text(IGNORE_PIECES, 10);
                let _ = ignore.is_excluded(&path);
                let _ = ignore.may_contain_included(&path);
            }
        }
    }
}

#[test]
fn many_stars_stay_fast() {
    let start = std::time::Instant::now();
    let ignore = Ignore::parse("*a*a*a*a*a*a*a*a*a*a*b\n**/**/**/**/**/**/**/z").unwrap();
    let long = "a".repeat(200);
    let deep = "d/".repeat(60) + "y";
    assert!(!ignore.is_excluded(&long));
    assert!(!ignore.is_excluded(&deep));
    let lookup = |_: &str| Some("a".repeat(300));
    let word = "${X//*a*a*a*a*a*a*a*a*b/}";
    assert_eq!(expand(word, &lookup, '\\').unwrap(), "a".repeat(300));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = "${A:-".repeat(100_000) + &"}".repeat(100_000);
    let lookup = |_: &str| None;
    assert!(matches!(
        expand(&deep, &lookup, '\\'),
        Err(berth_build::expand::ExpandError::TooDeep { .. })
    ));
    let nested = "${A:-".repeat(60) + "x" + &"}".repeat(60);
    assert_eq!(expand(&nested, &lookup, '\\').unwrap(), "x");
    // a long chain of ONBUILDs is refused without recursing
    let chain = format!("FROM a\n{}RUN <<EOF\nx\nEOF\n", "ONBUILD ".repeat(100_000));
    assert!(parse(&chain).is_err());
    // long patterns and paths are matched without recursing
    let long_pattern = "a".repeat(3_000) + "*";
    let ignore = Ignore::parse(&long_pattern).unwrap();
    assert!(ignore.is_excluded(&("a".repeat(3_000) + "b")));
    let value = "b".repeat(2_000);
    let lookup = |_: &str| Some(value.clone());
    let word = format!("${{X##{}*}}", "b".repeat(1_000));
    assert_eq!(expand(&word, &lookup, '\\').unwrap(), "");
}
