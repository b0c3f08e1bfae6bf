//! An instruction's `--name=value` options checked against the flags it accepts.

use thiserror::Error;

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `--link` or `--link=true|false`.
    Bool,
    /// `--from=x`, once.
    Str,
    /// `--mount=x`, repeatable.
    Strs,
}

/// A bad flag, with docker's wording.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlagError {
    /// A flag the instruction does not have.
    #[error("unknown flag: {flag}")]
    Unknown {
        /// The flag's name, without `--`.
        flag: String,
    },
    /// A non-repeatable flag given twice.
    #[error("duplicate flag specified: {flag}")]
    Duplicate {
        /// The flag's name.
        flag: String,
    },
    /// `--from` without `=value`, or `--link=`.
    #[error("missing a value on flag: {flag}")]
    MissingValue {
        /// The flag's name.
        flag: String,
    },
    /// `--link=maybe`.
    #[error("expecting boolean value for flag {flag}, not: {value}")]
    NotBool {
        /// The flag's name.
        flag: String,
        /// The value given.
        value: String,
    },
}

/// The flags given, in order, as `(name, value)`; booleans as `"true"`/`"false"`.
#[derive(Debug, Default)]
pub(super) struct Flags(Vec<(&'static str, String)>);

impl Flags {
    /// Checks `words` (each `--name[=value]`) against `spec`.
    pub fn parse(words: &[String], spec: &[(&'static str, Kind)]) -> Result<Flags, FlagError> {
        let mut flags = Flags::default();
        for word in words {
            let word = word.strip_prefix("--").unwrap_or(word);
            let (name, value) = match word.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (word, None),
            };
            let Some(&(name, kind)) = spec.iter().find(|(n, _)| *n == name) else {
                return Err(FlagError::Unknown { flag: name.into() });
            };
            if kind != Kind::Strs && flags.0.iter().any(|(n, _)| *n == name) {
                return Err(FlagError::Duplicate { flag: name.into() });
            }
            flags.0.push((name, value_of(name, kind, value)?));
        }
        Ok(flags)
    }

    /// The value of a single-valued flag.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    /// Every value of a repeatable flag, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean flag: given without `=false`.
    pub fn on(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v == "true")
    }
}

/// The stored value of one flag occurrence.
fn value_of(name: &str, kind: Kind, value: Option<&str>) -> Result<String, FlagError> {
    let missing = || FlagError::MissingValue { flag: name.into() };
    match (kind, value) {
        (Kind::Bool, None) => Ok("true".into()),
        (Kind::Bool, Some("")) => Err(missing()),
        (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
            "true" => Ok("true".into()),
            "false" => Ok("false".into()),
            _ => Err(FlagError::NotBool {
                flag: name.into(),
                value: v.into(),
            }),
        },
        (_, None) => Err(missing()),
        (_, Some(v)) => Ok(v.into()),
    }
}
