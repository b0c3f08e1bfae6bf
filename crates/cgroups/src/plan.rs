//! A write plan: the cgroup file writes that apply a `linux.resources`, worked out (with any
//! reads they need) before the first write, so unsupported or out-of-range settings fail
//! without touching the cgroup.

use std::borrow::Cow;
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
        });
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
        for w in &self.writes {
            crate::fs::write(&w.path, &w.value).map_err(|source| Error::Write {
                field: w.field.clone(),
                path: w.path.clone(),
                value: w.value.clone(),
                source,
            })?;
        }
        Ok(())
    }
}
