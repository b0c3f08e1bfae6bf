//! Docker's word expansion: the small shell lexer the builder runs over instruction
//! arguments (`$VAR`, `${VAR:-default}`, quotes, the escape character).
//!
//! The rules are those of Docker's builders, not of a full POSIX shell: no command
//! substitution, no arithmetic, no field splitting inside quotes. Single quotes keep
//! everything literal, double quotes allow `$` expansion and let the escape character
//! escape `"`, `$` and itself; outside quotes the escape character escapes anything.
//! Quotes are removed from the result. BuildKit's pattern operators work too:
//! `${VAR#pat}`, `${VAR##pat}`, `${VAR%pat}`, `${VAR%%pat}`, `${VAR/pat/repl}`,
//! `${VAR//pat/repl}`.
//!
//! Which instructions expand their arguments is [`expands`]; `RUN`, `CMD` and
//! `ENTRYPOINT` never do (the shell inside the container does).

mod pattern;

use pattern::Pattern;
use thiserror::Error;

/// The instructions whose arguments the builder expands with the build's variables
/// (Docker's list; `FROM` expands with the global `ARG`s only).
pub const EXPANDING_INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "COPY",
    "ENV",
    "EXPOSE",
    "FROM",
    "LABEL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// True when `instruction` (any case) has its arguments expanded by the builder.
pub fn expands(instruction: &str) -> bool {
    EXPANDING_INSTRUCTIONS
        .iter()
        .any(|name| name.eq_ignore_ascii_case(instruction))
}

/// A word that cannot be expanded; the message names the word as docker does
/// (`failed to process "${X:?}": X: is not allowed to be unset`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpandError {
    /// More than 64 substitutions nested in one another.
    #[error("failed to process {word:?}: substitutions nested too deeply")]
    TooDeep {
        /// The word being expanded.
        word: String,
    },
    /// `${VAR` without its closing brace.
    #[error("failed to process {word:?}: syntax error: missing '}}'")]
    MissingBrace {
        /// The word being expanded.
        word: String,
    },
    /// `${}`, `${:x}`, `${{x}`.
    #[error("failed to process {word:?}: syntax error: bad substitution")]
    BadSubstitution {
        /// The word being expanded.
        word: String,
    },
    /// `${VAR/x` without the `/` that ends the pattern.
    #[error("failed to process {word:?}: syntax error: missing '/' in ${{}}")]
    MissingSlash {
        /// The word being expanded.
        word: String,
    },
    /// `${VAR:0:1}`, `${VAR^}` and other operators docker does not know.
    #[error("failed to process {word:?}: unsupported modifier ({modifier}) in substitution")]
    UnsupportedModifier {
        /// The word being expanded.
        word: String,
        /// The operator as written (`:0`, `^`).
        modifier: String,
    },
    /// `${VAR#\x}`: a pattern docker cannot read.
    #[error("failed to process {word:?}: invalid pattern ({pattern}) in substitution: {reason}")]
    Pattern {
        /// The word being expanded.
        word: String,
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// `${VAR?msg}` / `${VAR:?msg}` with the variable unset (or empty).
    #[error("failed to process {word:?}: {name}: {message}")]
    Required {
        /// The word being expanded.
        word: String,
        /// The variable.
        name: String,
        /// The message given after `?`, or docker's default.
        message: String,
    },
    /// A quote or `${` left open at the end of the word.
    #[error(
        "failed to process {word:?}: unexpected end of statement while looking for matching {what}"
    )]
    Unterminated {
        /// The word being expanded.
        word: String,
        /// `single-quote`, `double-quote` or `}`.
        what: &'static str,
    },
}

/// Expands one word: variables replaced, quotes and escapes removed.
pub fn expand(
    word: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String, ExpandError> {
    let (text, _) = lex(word, lookup, Options::plain(escape))?;
    Ok(text)
}

/// Expands `text` and splits it into words on unquoted whitespace (whitespace coming
/// from a variable's value splits too, as docker does).
pub fn expand_words(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<Vec<String>, ExpandError> {
    let (_, words) = lex(text, lookup, Options::plain(escape))?;
    Ok(words)
}

/// Expands the body of a `COPY <<EOF` heredoc whose delimiter was not quoted, as
/// BuildKit does: variables replaced, quotes kept as they are, `\` still escaping
/// the next character (`\$X` gives a literal `$X`; before any other character the
/// `\` is dropped).
pub fn expand_heredoc(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let opts = Options {
        skip_quotes: true,
        ..Options::plain('\\')
    };
    lex(content, lookup, opts).map(|(text, _)| text)
}

/// How the lexer treats quotes, escapes and unset variables.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// The escape character (`\` or `` ` ``).
    pub escape: char,
    /// Keep quote characters in the output (the parser's heredoc detection).
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave unset variables as written (`$X`, `${X:-y}`).
    pub skip_unset: bool,
    /// Treat quotes as plain characters (heredoc bodies).
    pub skip_quotes: bool,
    /// Keep the blanks after `<<` in the same word (`RUN <<  EOF` opens a heredoc).
    pub heredoc_words: bool,
}

impl Options {
    /// The builder's expansion: quotes and escapes removed, unset variables empty.
    pub fn plain(escape: char) -> Self {
        Options {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
            skip_quotes: false,
            heredoc_words: false,
        }
    }
}

/// Runs the lexer over `text`: the whole result and its whitespace-split words.
pub(crate) fn lex(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    opts: Options,
) -> Result<(String, Vec<String>), ExpandError> {
    let mut lexer = Lexer {
        chars: text.chars().collect(),
        pos: 0,
        lookup,
        opts,
        depth: 0,
    };
    lexer
        .until(None)
        .map(|(s, words)| (s, words.finish()))
        .map_err(|fail| fail.on(text))
}

/// A failure before the word is known to the error (attached by [`Fail::on`]).
enum Fail {
    TooDeep,
    MissingBrace,
    MissingSlash,
    BadSubstitution,
    Modifier(String),
    Pattern { pattern: String, reason: String },
    Required { name: String, message: String },
    Unterminated(&'static str),
}

impl Fail {
    fn on(self, word: &str) -> ExpandError {
        let word = word.to_string();
        match self {
            Fail::TooDeep => ExpandError::TooDeep { word },
            Fail::MissingBrace => ExpandError::MissingBrace { word },
            Fail::MissingSlash => ExpandError::MissingSlash { word },
            Fail::Pattern { pattern, reason } => ExpandError::Pattern {
                word,
                pattern,
                reason,
            },
            Fail::BadSubstitution => ExpandError::BadSubstitution { word },
            Fail::Modifier(modifier) => ExpandError::UnsupportedModifier { word, modifier },
            Fail::Required { name, message } => ExpandError::Required {
                word,
                name,
                message,
            },
            Fail::Unterminated(what) => ExpandError::Unterminated { word, what },
        }
    }
}

/// Words being collected: whitespace from plain text and variables splits, quoted
/// text and escaped characters never do.
#[derive(Default)]
struct Words {
    words: Vec<String>,
    word: String,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|ch| self.add_char(ch));
    }

    fn add_raw_str(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    opts: Options,
    /// How many `${` are open (bounded by [`MAX_NESTING`]).
    depth: usize,
}

/// The deepest `${...${...}...}` nesting accepted (the lexer recurses once a level).
const MAX_NESTING: usize = 64;

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    /// Processes up to `stop` (consumed) or the end of the text when `stop` is None.
    fn until(&mut self, stop: Option<char>) -> Result<(String, Words), Fail> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words));
            }
            match ch {
                '\'' | '"' if !self.opts.skip_quotes => {
                    let quoted = self.quoted(ch)?;
                    result.push_str(&quoted);
                    words.add_raw_str(&quoted);
                }
                '$' => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                    words.add_str(&value);
                }
                '<' if self.opts.heredoc_words && self.chars.get(self.pos + 1) == Some(&'<') => {
                    let op = self.heredoc_op();
                    result.push_str(&op);
                    words.add_raw_str(&op);
                }
                _ => {
                    if !self.plain_char(&mut result, &mut words) {
                        break;
                    }
                }
            }
        }
        match stop {
            Some('/') => Err(Fail::Unterminated("/")),
            Some(_) => Err(Fail::Unterminated("}")),
            None => Ok((result, words)),
        }
    }

    /// A single- or double-quoted string (quotes kept with `raw_quotes`).
    fn quoted(&mut self, quote: char) -> Result<String, Fail> {
        if quote == '\'' {
            self.single_quoted()
        } else {
            self.double_quoted()
        }
    }

    /// `<<` and the blanks after it, kept as one piece of a word.
    fn heredoc_op(&mut self) -> String {
        let start = self.pos;
        self.pos += 2;
        while self.peek().is_some_and(|c| c == ' ' || c == '\t') {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// One unquoted character (or an escape and the character it escapes); false at
    /// an escape character that ends the text.
    fn plain_char(&mut self, result: &mut String, words: &mut Words) -> bool {
        let Some(ch) = self.next() else { return false };
        if ch != self.opts.escape {
            result.push(ch);
            words.add_char(ch);
            return true;
        }
        if self.opts.raw_escapes {
            result.push(ch);
            words.add_raw_char(ch);
        }
        match self.next() {
            Some(escaped) => {
                result.push(escaped);
                words.add_raw_char(escaped);
                true
            }
            None => false,
        }
    }

    fn single_quoted(&mut self) -> Result<String, Fail> {
        self.pos += 1;
        let mut out = self.quote_open('\'');
        loop {
            match self.next() {
                None => return Err(Fail::Unterminated("single-quote")),
                Some('\'') => {
                    out.push_str(&self.quote_open('\''));
                    return Ok(out);
                }
                Some(ch) => out.push(ch),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, Fail> {
        self.pos += 1;
        let mut out = self.quote_open('"');
        loop {
            match self.peek() {
                None => return Err(Fail::Unterminated("double-quote")),
                Some('"') => {
                    self.pos += 1;
                    out.push_str(&self.quote_open('"'));
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(_) => self.double_quoted_char(&mut out),
            }
        }
    }

    /// A character inside double quotes: the escape character escapes only `"`, `$`
    /// and itself; before anything else it stays as written.
    fn double_quoted_char(&mut self, out: &mut String) {
        let Some(ch) = self.next() else { return };
        if ch != self.opts.escape {
            out.push(ch);
            return;
        }
        if self.opts.raw_escapes {
            out.push(ch);
        }
        match self.peek() {
            None => {}
            Some(next) if next == '"' || next == '$' || next == self.opts.escape => {
                self.pos += 1;
                out.push(next);
            }
            Some(_) => out.push(ch),
        }
    }

    /// The quote character itself when quotes are kept raw, else nothing.
    fn quote_open(&self, quote: char) -> String {
        if self.opts.raw_quotes {
            quote.to_string()
        } else {
            String::new()
        }
    }

    /// `$name`, `${...}`, or a lone `$`.
    fn dollar(&mut self) -> Result<String, Fail> {
        self.pos += 1;
        if self.peek() == Some('{') {
            return self.braced();
        }
        let name = self.name();
        if name.is_empty() {
            return Ok("$".into());
        }
        match (self.lookup)(&name) {
            Some(value) => Ok(value),
            None if self.opts.skip_unset => Ok(format!("${name}")),
            None => Ok(String::new()),
        }
    }

    /// `${name}` and its operators: `:-` `-` `:+` `+` `:?` `?` (defaults,
    /// alternatives, required), `#` `##` `%` `%%` (prefix and suffix removal), `/`
    /// `//` (replacement).
    fn braced(&mut self) -> Result<String, Fail> {
        if self.depth >= MAX_NESTING {
            return Err(Fail::TooDeep);
        }
        self.depth += 1;
        let result = self.braced_inner();
        self.depth -= 1;
        result
    }

    fn braced_inner(&mut self) -> Result<String, Fail> {
        self.pos += 1;
        match self.peek() {
            None => return Err(Fail::MissingBrace),
            Some('{' | '}' | ':') => return Err(Fail::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        let value = (self.lookup)(&name);
        match self.next() {
            None => Err(Fail::MissingBrace),
            Some('}') => match value {
                Some(v) => Ok(v),
                None if self.opts.skip_unset => Ok(format!("${{{name}}}")),
                None => Ok(String::new()),
            },
            Some(':') => {
                let op = self.next().ok_or(Fail::MissingBrace)?;
                let word = self.operand('}', op == '#' || op == '%')?;
                self.modify(&name, value, true, op, word)
            }
            Some(op @ ('-' | '+' | '?' | '#' | '%')) => {
                let word = self.operand('}', op == '#' || op == '%')?;
                self.modify(&name, value, false, op, word)
            }
            Some('/') => self.replace(&name, value),
            Some(other) => Err(Fail::Modifier(other.to_string())),
        }
    }

    /// The word after an operator, up to `stop` (consumed), itself expanded; with
    /// `raw`, escape characters are kept for the pattern.
    fn operand(&mut self, stop: char, raw: bool) -> Result<String, Fail> {
        let saved = self.opts.raw_escapes;
        self.opts.raw_escapes = raw;
        let result = self.until(Some(stop));
        self.opts.raw_escapes = saved;
        match result {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() && stop == '/' => Err(Fail::MissingSlash),
            Err(_) if self.peek().is_none() => Err(Fail::MissingBrace),
            Err(fail) => Err(fail),
        }
    }

    /// Applies `op` (with `colon`: an empty value counts as unset).
    fn modify(
        &self,
        name: &str,
        value: Option<String>,
        colon: bool,
        op: char,
        word: String,
    ) -> Result<String, Fail> {
        let colon = if colon { ":" } else { "" };
        if value.is_none() && self.opts.skip_unset {
            return Ok(format!("${{{name}{colon}{op}{word}}}"));
        }
        let set = value
            .as_ref()
            .is_some_and(|v| colon.is_empty() || !v.is_empty());
        match op {
            '-' if set => Ok(value.unwrap_or_default()),
            '-' => Ok(word),
            '+' if set => Ok(word),
            '+' => Ok(String::new()),
            '?' if set => Ok(value.unwrap_or_default()),
            '?' => Err(required(name, value.is_none(), word)),
            '#' | '%' => trim(op, &value.unwrap_or_default(), &word),
            other => Err(Fail::Modifier(format!("{colon}{other}"))),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn replace(&mut self, name: &str, value: Option<String>) -> Result<String, Fail> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = self.operand('/', true)?;
        let replacement = self.operand('}', true)?;
        let Some(value) = value else {
            if self.opts.skip_unset {
                return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
            }
            return Ok(String::new());
        };
        let compiled =
            Pattern::new(&pattern).map_err(|reason| Fail::Pattern { pattern, reason })?;
        Ok(pattern::replace(&compiled, &value, &replacement, all))
    }

    /// A variable name: letters, digits and `_`; or digits only (`$1`); or one
    /// special parameter character (`$@`, `$#`, ...).
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && "@*#?-$!0".contains(ch) {
                self.pos += 1;
                return ch.to_string();
            }
            if !(ch.is_alphanumeric() || ch == '_') {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

/// `${name#word}`, `${name##word}`, `${name%word}`, `${name%%word}` on `value`.
fn trim(op: char, value: &str, word: &str) -> Result<String, Fail> {
    let (greedy, text) = match word.strip_prefix(op) {
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let compiled = Pattern::new(text).map_err(|reason| Fail::Pattern {
        pattern: text.into(),
        reason,
    })?;
    Ok(if op == '%' {
        pattern::trim_suffix(&compiled, value, greedy)
    } else {
        pattern::trim_prefix(&compiled, value, greedy)
    })
}

/// The error of `${name?word}` / `${name:?word}`.
fn required(name: &str, unset: bool, word: String) -> Fail {
    let message = match (word.is_empty(), unset) {
        (false, _) => word,
        (true, true) => "is not allowed to be unset".into(),
        (true, false) => "is not allowed to be empty".into(),
    };
    Fail::Required {
        name: name.into(),
        message,
    }
}
