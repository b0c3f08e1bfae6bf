//! The shell patterns of `${VAR#pattern}`, `${VAR%pattern}` and
//! `${VAR/pattern/replacement}`: `*` any run of characters, `?` any one character,
//! `\*`, `\?`, `\\` literal; no bracket expressions. Matching follows the priority
//! rules of docker's regular expressions (a greedy `*` tries the longest run first,
//! a lazy one the shortest), so the same text is removed or replaced.

/// One piece of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Any,
    Star,
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(super) struct Pattern {
    toks: Vec<Tok>,
}

impl Pattern {
    /// Compiles `text` (escapes still in it); the error is docker's reason.
    pub fn new(text: &str) -> Result<Pattern, String> {
        let mut toks = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(ch) = chars.next() {
            toks.push(match ch {
                '*' => Tok::Star,
                '?' => Tok::Any,
                '\\' => match chars.peek().copied() {
                    Some('}' | '/') => continue,
                    Some(c @ ('*' | '?' | '\\')) => {
                        chars.next();
                        Tok::Lit(c)
                    }
                    Some(c) => return Err(format!("invalid escape '\\{c}'")),
                    None => return Err("invalid escape '\\' at the end".into()),
                },
                c => Tok::Lit(c),
            });
        }
        Ok(Pattern { toks })
    }

    /// The same pattern read right to left.
    fn reversed(&self) -> Pattern {
        Pattern {
            toks: self.toks.iter().rev().copied().collect(),
        }
    }

    /// The end of the first match (by priority) that starts at `start`: a table
    /// filled from the last token back, so nothing recurses.
    fn match_at(&self, s: &[char], start: usize, greedy: bool) -> Option<usize> {
        let n = s.len();
        // next[p]: where the first match of the tokens after the current one ends
        let mut next: Vec<Option<usize>> = (0..=n).map(Some).collect();
        for tok in self.toks.iter().rev() {
            next = row(*tok, s, &next, greedy);
        }
        next.get(start).copied().flatten()
    }
}

/// One token's row: `row[p]` is where the first match of the token and those after
/// it (`next`) from `p` ends. A greedy star prefers the longest run, a lazy one the
/// shortest.
fn row(tok: Tok, s: &[char], next: &[Option<usize>], greedy: bool) -> Vec<Option<usize>> {
    let n = s.len();
    let mut cur = vec![None; n + 2];
    for p in (0..=n).rev() {
        cur[p] = match tok {
            Tok::Lit(c) if s.get(p) == Some(&c) => next[p + 1],
            Tok::Any if p < n => next[p + 1],
            Tok::Star if greedy => cur[p + 1].or(next[p]),
            Tok::Star => next[p].or(cur[p + 1]),
            _ => None,
        };
    }
    cur.truncate(n + 1);
    cur
}

/// `${VAR#pattern}` (shortest) / `${VAR##pattern}` (greedy): `value` without the
/// matching prefix.
pub(super) fn trim_prefix(pattern: &Pattern, value: &str, greedy: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    match pattern.match_at(&chars, 0, greedy) {
        Some(end) => chars[end..].iter().collect(),
        None => value.into(),
    }
}

/// `${VAR%pattern}` / `${VAR%%pattern}`: `value` without the matching suffix.
pub(super) fn trim_suffix(pattern: &Pattern, value: &str, greedy: bool) -> String {
    let reversed: String = value.chars().rev().collect();
    trim_prefix(&pattern.reversed(), &reversed, greedy)
        .chars()
        .rev()
        .collect()
}

/// `${VAR/pattern/replacement}` (first match) and `${VAR//pattern/replacement}`
/// (every match; an empty match right after another is not replaced).
pub(super) fn replace(pattern: &Pattern, value: &str, replacement: &str, all: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let (mut search, mut last_end) = (0, 0);
    while search <= chars.len() {
        let Some((start, end)) =
            (search..=chars.len()).find_map(|i| pattern.match_at(&chars, i, true).map(|e| (i, e)))
        else {
            break;
        };
        out.extend(&chars[last_end..start]);
        if end > last_end || start == 0 {
            out.push_str(replacement);
        }
        last_end = end;
        search = if end > search { end } else { search + 1 };
        if !all {
            break;
        }
    }
    out.extend(&chars[last_end.min(chars.len())..]);
    out
}
