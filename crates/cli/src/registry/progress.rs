//! Docker's progress display for pull and push streams: on a terminal each layer keeps
//! its own line, rewritten in place with its bar; elsewhere only status changes are
//! printed, one per line, without bars.

use std::io::{self, Write};

use serde_json::Value;

/// Draws a stream of JSON progress messages.
pub struct Display<W: Write> {
    out: W,
    tty: bool,
    /// The IDs with a line of their own, in order.
    ids: Vec<String>,
}

impl<W: Write> Display<W> {
    /// Draws on `out`, with cursor movement if it is a terminal.
    pub fn new(out: W, tty: bool) -> Self {
        Self {
            out,
            tty,
            ids: Vec::new(),
        }
    }

    /// Draws one message.
    pub fn show(&mut self, m: &Value) -> io::Result<()> {
        let id = m["id"].as_str().filter(|id| !id.is_empty());
        let tracked = id.filter(|_| m.get("progressDetail").is_some());
        let mut diff = 0;
        match tracked {
            Some(id) => {
                let line = match self.ids.iter().position(|i| i == id) {
                    Some(line) => line,
                    None => {
                        self.ids.push(id.to_string());
                        if self.tty {
                            writeln!(self.out)?;
                        }
                        self.ids.len() - 1
                    }
                };
                diff = self.ids.len() - line;
                if self.tty {
                    write!(self.out, "\x1b[{diff}A")?;
                }
            }
            None => self.ids.clear(),
        }
        self.line(m, id)?;
        if tracked.is_some() && self.tty {
            write!(self.out, "\x1b[{diff}B")?;
        }
        self.out.flush()
    }

    /// One message's text.
    fn line(&mut self, m: &Value, id: Option<&str>) -> io::Result<()> {
        let progress = m["progress"].as_str().filter(|p| !p.is_empty());
        if !self.tty && progress.is_some() {
            return Ok(());
        }
        if m.get("aux").is_some() && m["status"].as_str().is_none_or(str::is_empty) {
            return Ok(());
        }
        if self.tty {
            write!(self.out, "\x1b[2K\r")?;
        }
        if let Some(id) = id {
            write!(self.out, "{id}: ")?;
        }
        let status = m["status"].as_str().unwrap_or_default();
        match progress {
            Some(p) if self.tty => write!(self.out, "{status} {p}")?,
            _ => write!(self.out, "{status}")?,
        }
        let end = if self.tty && m.get("progressDetail").is_some() {
            "\r"
        } else {
            "\n"
        };
        write!(self.out, "{end}")
    }
}
