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

    /// The end of the first match (by priority) that starts at `start`.
    fn match_at(&self, s: &[char], start: usize, greedy: bool) -> Option<usize> {
        let mut search = Search {
            toks: &self.toks,
            s,
            greedy,
            memo: vec![None; (self.toks.len() + 1) * (s.len() + 1)],
        };
        search.first_end(0, start)
    }
}

/// One [`Pattern::match_at`], memoised on (token, position).
struct Search<'a> {
    toks: &'a [Tok],
    s: &'a [char],
    greedy: bool,
    memo: Vec<Option<Option<usize>>>,
}

impl Search<'_> {
    /// The end of the first match of tokens from `t` on, starting at `p`.
    fn first_end(&mut self, t: usize, p: usize) -> Option<usize> {
        let key = t * (self.s.len() + 1) + p;
        if let Some(known) = self.memo[key] {
            return known;
        }
        let result = self.step(t, p);
        self.memo[key] = Some(result);
        result
    }

    fn step(&mut self, t: usize, p: usize) -> Option<usize> {
        let Some(tok) = self.toks.get(t) else {
            return Some(p);
        };
        match tok {
            Tok::Lit(c) if self.s.get(p) == Some(c) => self.first_end(t + 1, p + 1),
            Tok::Any if p < self.s.len() => self.first_end(t + 1, p + 1),
            Tok::Star if self.greedy => (p..=self.s.len())
                .rev()
                .find_map(|q| self.first_end(t + 1, q)),
            Tok::Star => (p..=self.s.len()).find_map(|q| self.first_end(t + 1, q)),
            _ => None,
        }
    }
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
