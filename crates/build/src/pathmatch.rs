//! Path patterns as Go matches them: `filepath.Match` globs (`*`, `?`, `[a-z]`, `\`
//! escapes; `*` never crosses `/`), `.dockerignore`'s `**` on top of them, and
//! `filepath.Clean`.

use thiserror::Error;

/// A malformed pattern (an unclosed `[`, a bad range, a trailing `\` in a class).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("syntax error in pattern {pattern:?}")]
pub struct BadPattern {
    /// The pattern.
    pub pattern: String,
}

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// This character.
    Lit(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: any run of characters without `/`.
    Star,
    /// `**/` (or `**` inside): any run of whole directories, possibly none.
    AnyDirs,
    /// A trailing `**`: anything.
    AnyPath,
    /// `[...]`: ranges, possibly negated.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    toks: Vec<Tok>,
}

impl Glob {
    /// Compiles a `filepath.Match` pattern (no `**`).
    pub fn new(pattern: &str) -> Result<Glob, BadPattern> {
        compile(pattern, false).map(|(toks, _)| Glob { toks })
    }

    /// True when the whole of `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let chars: Vec<char> = name.chars().collect();
        match_toks(&self.toks, &chars)
    }
}

/// True when `s` has a glob metacharacter (`*`, `?`, `[`, or a `\` escape).
pub(crate) fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '\\'])
}

/// How a `.dockerignore` pattern is matched (docker's shortcuts for simple ones).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// No metacharacters: the path equals the pattern.
    Exact,
    /// `literal**`: the path starts with the literal part.
    Prefix,
    /// `**literal`: the path ends with the literal part.
    Suffix,
    /// Anything else: the compiled tokens.
    Tokens,
}

/// A `.dockerignore` pattern, already cleaned, without its `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IgnorePattern {
    text: String,
    mode: Mode,
    toks: Vec<Tok>,
}

impl IgnorePattern {
    /// Compiles a cleaned pattern.
    pub fn new(text: &str) -> Result<IgnorePattern, BadPattern> {
        let (toks, mode) = compile(text, true)?;
        Ok(IgnorePattern {
            text: text.into(),
            mode,
            toks,
        })
    }

    /// The pattern as given (cleaned).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True when the whole of `path` (cleaned, relative, `/`-separated) matches.
    pub fn matches(&self, path: &str) -> bool {
        match (
            &self.mode,
            self.text.strip_suffix("**"),
            self.text.strip_prefix("**"),
        ) {
            (Mode::Exact, _, _) => path == self.text,
            (Mode::Prefix, Some(prefix), _) => path.starts_with(prefix),
            (Mode::Suffix, _, Some(suffix)) => {
                path.ends_with(suffix) || suffix.strip_prefix('/') == Some(path)
            }
            _ => {
                let chars: Vec<char> = path.chars().collect();
                match_toks(&self.toks, &chars)
            }
        }
    }
}

/// Compiles `pattern`; with `double_star`, `**` is docker's any-directories wildcard.
fn compile(pattern: &str, double_star: bool) -> Result<(Vec<Tok>, Mode), BadPattern> {
    let bad = || BadPattern {
        pattern: pattern.into(),
    };
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut mode = Mode::Exact;
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        i += 1;
        match chars[start] {
            '*' if double_star && chars.get(i) == Some(&'*') => {
                i = double_star_at(&chars, i + 1, &mut toks, &mut mode);
                if start == 0 {
                    mode = Mode::Suffix;
                }
            }
            '*' => {
                toks.push(Tok::Star);
                mode = Mode::Tokens;
            }
            '?' => {
                toks.push(Tok::One);
                mode = Mode::Tokens;
            }
            '[' => {
                let (tok, next) = class(&chars, i).ok_or_else(bad)?;
                toks.push(tok);
                i = next;
                mode = Mode::Tokens;
            }
            '\\' => {
                let ch = *chars.get(i).ok_or_else(bad)?;
                toks.push(Tok::Lit(ch));
                i += 1;
            }
            ch => toks.push(Tok::Lit(ch)),
        }
    }
    Ok((toks, mode))
}

/// `**` (its second `*` just read, `i` after it): a trailing `**` matches anything
/// (a prefix match when all before it was literal), an inner `**/` any directories.
/// Returns the index after it (and after its `/`).
fn double_star_at(chars: &[char], mut i: usize, toks: &mut Vec<Tok>, mode: &mut Mode) -> usize {
    if chars.get(i) == Some(&'/') {
        i += 1;
    }
    if i < chars.len() {
        toks.push(Tok::AnyDirs);
        *mode = Mode::Tokens;
    } else {
        toks.push(Tok::AnyPath);
        *mode = if *mode == Mode::Exact {
            Mode::Prefix
        } else {
            Mode::Tokens
        };
    }
    i
}

/// A character class starting after its `[`: the token and the index after its `]`.
fn class(chars: &[char], mut i: usize) -> Option<(Tok, usize)> {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Some((Tok::Class { negated, ranges }, i + 1));
        }
        let (lo, next) = class_char(chars, i)?;
        i = next;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            (hi, i) = class_char(chars, i + 1)?;
            if hi < lo {
                return None;
            }
        }
        ranges.push((lo, hi));
    }
}

/// One (possibly escaped) character inside a class; `-` and `]` must be escaped.
fn class_char(chars: &[char], i: usize) -> Option<(char, usize)> {
    match *chars.get(i)? {
        '-' | ']' => None,
        '\\' => chars.get(i + 1).map(|c| (*c, i + 2)),
        c => Some((c, i + 1)),
    }
}

/// True when `toks` match the whole of `s`: a table filled from the last token back
/// (one row per token), so time is tokens × length and nothing recurses.
fn match_toks(toks: &[Tok], s: &[char]) -> bool {
    let n = s.len();
    // next[p]: the tokens after the current one match s[p..]
    let mut next: Vec<bool> = (0..=n).map(|p| p == n).collect();
    for tok in toks.iter().rev() {
        next = row(tok, s, &next);
    }
    next[0]
}

/// One token's row: `row[p]` is true when the token and those after it (`next`)
/// match `s[p..]`.
fn row(tok: &Tok, s: &[char], next: &[bool]) -> Vec<bool> {
    let n = s.len();
    let mut cur = vec![false; n + 1];
    for p in (0..=n).rev() {
        let ch = s.get(p).copied();
        let one = |ok: bool| ok && next[p + 1];
        cur[p] = match tok {
            Tok::Lit(c) => ch == Some(*c) && one(true),
            Tok::One => ch.is_some_and(|c| c != '/') && one(true),
            Tok::Class { negated, ranges } => {
                ch.is_some_and(|c| {
                    ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
                }) && one(true)
            }
            Tok::Star => next[p] || (ch.is_some_and(|c| c != '/') && cur[p + 1]),
            Tok::AnyPath => next[p] || (p < n && cur[p + 1]),
            Tok::AnyDirs => next[p] || after_slash(s, next, p),
        };
    }
    cur
}

/// True when some `q > p` just after a `/` in `s` has `next[q]`.
fn after_slash(s: &[char], next: &[bool], p: usize) -> bool {
    (p + 1..=s.len()).any(|q| s[q - 1] == '/' && next[q])
}

/// Go's `filepath.Clean` for `/`-separated paths: no empty, `.` or inner `..`
/// elements, no trailing `/`; `""` becomes `.`.
pub(crate) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}
