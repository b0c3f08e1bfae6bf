//! `.dockerignore` as docker reads it: one pattern a line, `#` comments and blank lines
//! skipped, `!` for exceptions, leading `/` and `./` cleaned away, Go's
//! `filepath.Match` globs plus `**` for any number of directories. A pattern that
//! matches a directory excludes everything under it; the last matching pattern wins.

use crate::pathmatch::{clean, BadPattern, Glob, IgnorePattern};
use thiserror::Error;

/// A `.dockerignore` docker would refuse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IgnoreError {
    /// A malformed glob.
    #[error(".dockerignore line {line}: {source}")]
    Pattern {
        /// The 1-based line.
        line: usize,
        /// What is wrong with it.
        source: BadPattern,
    },
    /// A line that is only `!`.
    #[error(".dockerignore line {line}: illegal exclusion pattern: \"!\"")]
    LoneBang {
        /// The 1-based line.
        line: usize,
    },
}

/// One line's rule.
#[derive(Debug, Clone)]
struct Rule {
    pattern: IgnorePattern,
    /// `!pattern`: an exception that puts matching paths back.
    exception: bool,
}

/// The parsed `.dockerignore` of a build context (empty: nothing excluded).
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    rules: Vec<Rule>,
}

impl Ignore {
    /// Parses the text of a `.dockerignore`.
    pub fn parse(text: &str) -> Result<Ignore, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            if raw.starts_with('#') {
                continue;
            }
            let mut pattern = raw.trim();
            if pattern.is_empty() {
                continue;
            }
            let exception = pattern.starts_with('!');
            if exception {
                pattern = pattern[1..].trim();
                if pattern.is_empty() {
                    return Err(IgnoreError::LoneBang { line });
                }
            }
            let cleaned = clean(pattern);
            let cleaned = match cleaned.strip_prefix('/') {
                Some(rest) if !rest.is_empty() => rest.to_string(),
                _ => cleaned,
            };
            let pattern = IgnorePattern::new(&cleaned)
                .map_err(|source| IgnoreError::Pattern { line, source })?;
            rules.push(Rule { pattern, exception });
        }
        Ok(Ignore { rules })
    }

    /// True when the path (relative to the context, `/`-separated) is excluded: the
    /// last rule matching it or one of its parent directories decides.
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let path = normalize(rel_path);
        if path == "." {
            return false;
        }
        let parents: Vec<&str> = ancestors(&path).collect();
        let mut excluded = false;
        for rule in &self.rules {
            // only a rule that could change the answer is looked at
            if rule.exception != excluded {
                continue;
            }
            let hit =
                rule.pattern.matches(&path) || parents.iter().any(|p| rule.pattern.matches(p));
            if hit {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// True when there are `!` exceptions at all.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }

    /// True when some exception could put back a path under `dir` (relative to the
    /// context): a walk must then enter an excluded `dir` instead of skipping it.
    pub fn may_contain_included(&self, dir: &str) -> bool {
        let dir = normalize(dir);
        let dir_parts: Vec<&str> = dir.split('/').collect();
        self.rules
            .iter()
            .filter(|r| r.exception)
            .any(|r| reaches_under(r.pattern.text(), &dir_parts))
    }

    /// True when nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// A relative path as the rules see it: cleaned, without a leading `/` or `./`.
fn normalize(rel_path: &str) -> String {
    let cleaned = clean(rel_path);
    match cleaned.strip_prefix('/') {
        Some("") => ".".into(),
        Some(rest) => rest.into(),
        None => cleaned,
    }
}

/// The proper ancestors of a relative path, shortest first (`a`, `a/b` for `a/b/c`).
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// True when a pattern could match `dir`, one of its ancestors, or something under it,
/// judged component by component (`**` could match anything).
fn reaches_under(pattern: &str, dir_parts: &[&str]) -> bool {
    let pattern_parts: Vec<&str> = pattern.split('/').collect();
    for (i, part) in dir_parts.iter().enumerate() {
        let Some(pat) = pattern_parts.get(i) else {
            return true;
        };
        if pat.contains("**") {
            return true;
        }
        if !Glob::new(pat).is_ok_and(|g| g.matches(part)) {
            return false;
        }
    }
    true
}
