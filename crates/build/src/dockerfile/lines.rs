//! From text to logical lines: parser directives at the top, comments dropped, the
//! escape character's line continuations joined, heredoc bodies read after the line
//! that opens them.

use super::words::{heredoc_words, may_have_heredocs};
use super::{ParseError, ParseErrorKind};
use crate::ast::{Heredoc, Pos};

/// The directives docker knows; another name ends the directive block.
const DIRECTIVES: &[&str] = &["syntax", "escape", "check"];

/// One instruction's text, continuations joined, with the heredocs it opened.
#[derive(Debug)]
pub(super) struct Logical {
    /// Line and column of the instruction's first character.
    pub pos: Pos,
    /// The joined text, trimmed.
    pub text: String,
    /// Heredoc bodies, in the order their `<<` appear.
    pub heredocs: Vec<Heredoc>,
}

/// The whole file as directives and logical lines.
#[derive(Debug)]
pub(super) struct Lines {
    /// `(name, value)` in order, names lowercased.
    pub directives: Vec<(String, String)>,
    /// The escape character the directives chose (`\` by default).
    pub escape: char,
    /// The instructions' lines.
    pub logical: Vec<Logical>,
    /// The number of physical lines (for "file with no instructions").
    pub last_line: usize,
}

/// Reads the parser directives at the top of the file.
struct Directives {
    done: bool,
    found: Vec<(String, String)>,
    escape: char,
}

impl Directives {
    /// Looks at one (left-trimmed) line while still in the directive block.
    fn line(&mut self, line: &str) -> Result<(), ParseErrorKind> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        let name = name.to_ascii_lowercase();
        if !DIRECTIVES.contains(&name.as_str()) {
            self.done = true;
            return Ok(());
        }
        if self.found.iter().any(|(n, _)| *n == name) {
            return Err(ParseErrorKind::DuplicateDirective { name });
        }
        if name == "escape" {
            self.escape = match value {
                "\\" => '\\',
                "`" => '`',
                _ => {
                    return Err(ParseErrorKind::BadEscape {
                        value: value.into(),
                    })
                }
            };
        }
        self.found.push((name, value.into()));
        Ok(())
    }
}

/// `# name = value` (name: a letter then letters and digits; value non-empty).
fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..end];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[end..].trim_start().strip_prefix('=')?.trim();
    (!value.is_empty()).then_some((name, value))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Strips a trailing escape character (and the blanks after it): `(rest, ended)`.
fn continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(rest) => (rest, false),
        None => (line, true),
    }
}

/// Splits `text` into directives and logical lines.
pub(super) fn split(text: &str) -> Result<Lines, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader {
        lines: text.lines().collect(),
        next: 0,
        directives: Directives {
            done: false,
            found: Vec::new(),
            escape: '\\',
        },
    };
    let mut logical = Vec::new();
    while let Some(line) = reader.instruction()? {
        logical.push(line);
    }
    Ok(Lines {
        directives: reader.directives.found,
        escape: reader.directives.escape,
        logical,
        last_line: reader.lines.len(),
    })
}

/// Physical lines and the reading position (`next` is the 0-based next line).
struct Reader<'a> {
    lines: Vec<&'a str>,
    next: usize,
    directives: Directives,
}

impl<'a> Reader<'a> {
    /// The next physical line and its 1-based number.
    fn physical(&mut self) -> Option<(&'a str, usize)> {
        let line = *self.lines.get(self.next)?;
        self.next += 1;
        Some((line, self.next))
    }

    /// Feeds a line to the directive reader, locating its error.
    fn directive(&mut self, line: &str, number: usize) -> Result<(), ParseError> {
        self.directives.line(line).map_err(|kind| ParseError {
            line: number,
            column: 1,
            kind,
        })
    }

    /// The next instruction, or None at the end of the text.
    fn instruction(&mut self) -> Result<Option<Logical>, ParseError> {
        while let Some((raw, number)) = self.physical() {
            let line = raw.trim_start();
            self.directive(line, number)?;
            if is_comment(line) {
                continue;
            }
            let (first, ended) = continuation(line, self.directives.escape);
            if ended && first.is_empty() {
                continue;
            }
            let column = raw[..raw.len() - line.len()].chars().count() + 1;
            let pos = Pos {
                line: number,
                column,
            };
            let mut joined = first.to_string();
            if !ended {
                self.continued(&mut joined)?;
            }
            let text = joined.trim().to_string();
            let heredocs = self.heredocs(&text, pos)?;
            return Ok(Some(Logical {
                pos,
                text,
                heredocs,
            }));
        }
        Ok(None)
    }

    /// Appends continuation lines until one does not end with the escape character;
    /// comment lines and blank lines inside are skipped, as docker does.
    fn continued(&mut self, joined: &mut String) -> Result<(), ParseError> {
        while let Some((raw, number)) = self.physical() {
            self.directive(raw.trim_start(), number)?;
            if is_comment(raw) || raw.trim().is_empty() {
                continue;
            }
            let (part, ended) = continuation(raw, self.directives.escape);
            joined.push_str(part);
            if ended {
                break;
            }
        }
        Ok(())
    }

    /// Reads the bodies of the heredocs `text` opens (RUN, COPY and ADD only).
    fn heredocs(&mut self, text: &str, pos: Pos) -> Result<Vec<Heredoc>, ParseError> {
        if !may_have_heredocs(text) {
            return Ok(Vec::new());
        }
        let mut docs = heredoc_words(text).map_err(|kind| ParseError {
            line: pos.line,
            column: pos.column,
            kind,
        })?;
        for doc in &mut docs {
            doc.content = self.body(&doc.name, doc.strip_tabs).ok_or(ParseError {
                line: pos.line,
                column: pos.column,
                kind: ParseErrorKind::UnterminatedHeredoc,
            })?;
        }
        Ok(docs)
    }

    /// Lines up to the terminator `name` (tabs before it allowed with `<<-`), joined
    /// with `\n`; leading tabs stripped with `<<-`. None when the text ends first.
    fn body(&mut self, name: &str, strip_tabs: bool) -> Option<String> {
        let mut content = String::new();
        while let Some((raw, _)) = self.physical() {
            let line = if strip_tabs {
                raw.trim_start_matches('\t')
            } else {
                raw
            };
            if line == name {
                return Some(content);
            }
            content.push_str(line);
            content.push('\n');
        }
        None
    }
}
