//! Splitting an instruction's text the ways docker does: the leading `--flags`, the
//! JSON form, `name=value` words (quotes kept for the builder's expansion), plain
//! whitespace, and the `<<EOF` words that open heredocs.

use super::ParseErrorKind;
use crate::ast::Heredoc;
use crate::expand::{lex, Options};

/// Splits `text` into the instruction word, its `--flags` and the rest (trimmed).
pub(super) fn split_command(text: &str) -> (&str, Vec<String>, &str) {
    let text = text.trim();
    match text.split_once(|c: char| c.is_whitespace()) {
        None => (text, Vec::new(), ""),
        Some((cmd, rest)) => {
            let (flags, rest) = extract_flags(rest);
            (cmd, flags, rest.trim())
        }
    }
}

/// The leading words that start with `--` (quotes and `\` inside them processed), and
/// the text after them. A lone `--` ends the flags.
fn extract_flags(line: &str) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start();
        if !trimmed.starts_with("--") {
            return (flags, trimmed);
        }
        let (word, after) = flag_word(trimmed);
        if word == "--" {
            return (flags, after);
        }
        flags.push(word);
        rest = after;
    }
}

/// One flag word up to unquoted whitespace: quotes removed, `\` escapes the next
/// character (in or out of quotes).
fn flag_word(text: &str) -> (String, &str) {
    let mut word = String::new();
    let mut quote = None;
    let mut chars = text.char_indices();
    while let Some((i, ch)) = chars.next() {
        match (quote, ch) {
            (None, c) if c.is_whitespace() => return (word, &text[i..]),
            (None, '\'' | '"') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (_, '\\') => {
                if let Some((_, next)) = chars.next() {
                    word.push(next);
                }
            }
            _ => word.push(ch),
        }
    }
    (word, "")
}

/// The JSON form: `Ok(Some(words))` for a JSON array of strings, `Ok(None)` when the
/// text is not a JSON array (the shell form), an error for an array of non-strings.
pub(super) fn json_array(text: &str) -> Result<Option<Vec<String>>, ParseErrorKind> {
    let text = text.trim_start();
    if !text.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(text) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(ParseErrorKind::NotStringArray),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Splits on runs of blanks (space, tab, CR, VT, FF), nothing else.
pub(super) fn whitespace_words(text: &str) -> Vec<String> {
    text.split([' ', '\t', '\r', '\u{b}', '\u{c}'])
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// Words for `ENV`, `LABEL` and `ARG`: split on unquoted whitespace, quotes and escape
/// characters kept (the builder's expansion removes them).
pub(super) fn quoted_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut started = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if quote.is_none() && ch.is_whitespace() {
            if started {
                words.push(std::mem::take(&mut word));
                started = false;
            }
            continue;
        }
        started = true;
        match quote {
            None if ch == '\'' || ch == '"' => quote = Some(ch),
            Some(q) if ch == q => quote = None,
            _ => {}
        }
        if ch == escape && quote != Some('\'') {
            match chars.next() {
                None => continue,
                Some(next) => {
                    word.push(ch);
                    word.push(next);
                    continue;
                }
            }
        }
        word.push(ch);
    }
    if started {
        words.push(word);
    }
    words
}

/// True when `text` (a whole instruction) is a `RUN`, `COPY` or `ADD` in shell form
/// (or an `ONBUILD` of one) that mentions `<<`.
pub(super) fn may_have_heredocs(text: &str) -> bool {
    let (mut cmd, _, mut rest) = split_command(text);
    while cmd.eq_ignore_ascii_case("onbuild") {
        (cmd, _, rest) = split_command(rest);
    }
    let cmd = cmd.to_ascii_lowercase();
    ["run", "copy", "add"].contains(&cmd.as_str())
        && rest.contains("<<")
        && !matches!(json_array(rest), Ok(Some(_)) | Err(_))
}

/// The heredocs a line opens, bodies still empty, in order.
pub(super) fn heredoc_words(text: &str) -> Result<Vec<Heredoc>, ParseErrorKind> {
    let raw = Options {
        escape: '\\',
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
        skip_quotes: false,
        heredoc_words: true,
    };
    let Ok((_, words)) = lex(text, &|_| None, raw) else {
        return Ok(Vec::new());
    };
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// `[n]<<[-]NAME` as one word: the heredoc it opens, or None for any other word.
pub(super) fn heredoc(word: &str) -> Result<Option<Heredoc>, ParseErrorKind> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = rest.strip_prefix("<<") else {
        return Ok(None);
    };
    let (strip_tabs, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let opts = |raw_quotes| Options {
        escape: '\\',
        raw_quotes,
        raw_escapes: false,
        skip_unset: true,
        skip_quotes: false,
        heredoc_words: false,
    };
    let bad = |source| ParseErrorKind::BadHeredoc {
        word: word.into(),
        source,
    };
    let (_, plain) = lex(rest, &|_| None, opts(false)).map_err(bad)?;
    let [name] = plain.as_slice() else {
        return Ok(None);
    };
    let (_, raw) = lex(rest, &|_| None, opts(true)).map_err(bad)?;
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    let raw_quotes: usize = raw.iter().map(|w| quotes(w)).sum();
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand: quotes(name) == raw_quotes,
        strip_tabs,
    }))
}
