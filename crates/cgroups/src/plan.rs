//! A write plan: the cgroup file writes that apply a `linux.resources`, worked out (with any
//! reads they need) before the first write, so unsupported or out-of-range settings fail
//! without touching the cgroup.

use std::borrow::Cow;
use std::io::Write as _;
use std::path::PathBuf;

use crate::{Error, Result};

/// One file write and the config.json field it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Write {
    /// The cgroup file.
    pub path: PathBuf,
    /// The exact text written.
    pub value: String,
    /// The config.json field, for error messages.
    pub field: Cow<'static, str>,
    /// The file takes one record per write (v1 `devices.allow`): a following write of
    /// a record to the same file goes through the same open file.
    pub record: bool,
}

/// An ordered list of writes.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub writes: Vec<Write>,
}

impl Plan {
    /// Appends a write of `value` to `path` for `field`.
    pub fn push(
        &mut self,
        path: PathBuf,
        value: impl ToString,
        field: impl Into<Cow<'static, str>>,
    ) {
        self.writes.push(Write {
            path,
            value: value.to_string(),
            field: field.into(),
            record: false,
        });
    }

    /// Appends a write of one record to a file that takes one per write, so that a run
    /// of them shares one open of the file.
    pub fn push_record(
        &mut self,
        path: PathBuf,
        value: impl ToString,
        field: impl Into<Cow<'static, str>>,
    ) {
        self.push(path, value, field);
        if let Some(w) = self.writes.last_mut() {
            w.record = true;
        }
    }

    /// Appends a write of `value` when it is `Some`.
    pub fn push_opt(
        &mut self,
        path: PathBuf,
        value: Option<impl ToString>,
        field: impl Into<Cow<'static, str>>,
    ) {
        if let Some(v) = value {
            self.push(path, v, field);
        }
    }

    /// Performs the writes in order, stopping at the first failure.
    pub fn execute(&self) -> Result<()> {
        // The file the last record went to, kept open for the next one.
        let mut open: Option<(&PathBuf, std::fs::File)> = None;
        for w in &self.writes {
            let failed = |source| Error::Write {
                field: w.field.clone(),
                path: w.path.clone(),
                value: w.value.clone(),
                source,
            };
            if !w.record {
                open = None;
                crate::fs::write(&w.path, &w.value).map_err(failed)?;
                continue;
            }
            let file = match open.take() {
                Some((path, file)) if path == &w.path => file,
                _ => crate::fs::open_write(&w.path).map_err(failed)?,
            };
            (&file).write_all(w.value.as_bytes()).map_err(failed)?;
            open = Some((&w.path, file));
        }
        Ok(())
    }
}
