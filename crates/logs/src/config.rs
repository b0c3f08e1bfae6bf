//! `--log-driver` and `--log-opt`, checked the way docker checks them. berth has two
//! drivers: `json-file` (the default) and `none`.
//!
//! Docker's json-file default is one file that grows without bound, which fills disks
//! on chatty containers; berth instead defaults to `max-size=20m`, `max-file=5` (the
//! limits of docker's `local` driver) when no option is given. Explicit options behave
//! as in docker: `max-size` alone keeps one file, `max-size=-1` removes the bound.

use std::collections::BTreeMap;
use std::path::Path;

use crate::writer::{JsonFileWriter, WriteError};

/// `max-size` with no bound.
pub const UNLIMITED: u64 = u64::MAX;
/// `max-size` when no log option is given: 20 MB (decimal, as docker's `20m`).
pub const DEFAULT_MAX_SIZE: u64 = 20_000_000;
/// `max-file` when no log option is given.
pub const DEFAULT_MAX_FILE: u32 = 5;

/// How a container's output is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogConfig {
    /// Output is discarded; `logs` has nothing to show.
    None,
    /// docker's json-file: `max_size` bytes per file ([`UNLIMITED`] for no bound) and at
    /// most `max_file` files (the live one and `max_file - 1` rotated ones).
    JsonFile {
        /// Rotate before a line would take the live file past this many bytes.
        max_size: u64,
        /// How many files to keep, at least 1.
        max_file: u32,
    },
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig::JsonFile {
            max_size: DEFAULT_MAX_SIZE,
            max_file: DEFAULT_MAX_FILE,
        }
    }
}

/// A log driver or option berth does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptError {
    /// A driver other than `json-file` and `none`.
    #[error("log driver {driver} is not supported, use json-file or none")]
    UnsupportedDriver {
        /// The driver asked for.
        driver: String,
    },
    /// An option json-file does not know.
    #[error("unknown log opt '{opt}' for json-file log driver")]
    UnknownOpt {
        /// The option's name.
        opt: String,
    },
    /// An option docker's json-file knows and berth does not implement.
    #[error("log opt '{opt}' is not supported by berth's json-file log driver")]
    UnsupportedOpt {
        /// The option's name.
        opt: String,
    },
    /// A size that is not a number with an optional k/m/g/t/p unit.
    #[error("invalid size: '{value}' for log opt '{opt}'")]
    BadSize {
        /// The option's name.
        opt: &'static str,
        /// The value given.
        value: String,
    },
    /// `max-size` of zero.
    #[error("max-size must be a positive number")]
    ZeroSize,
    /// `max-file` that is not a whole number of at least 1.
    #[error("max-file cannot be less than 1: '{value}'")]
    BadMaxFile {
        /// The value given.
        value: String,
    },
    /// `max-file` above 1 without a bound on the size, which could never rotate.
    #[error("max-file can only be used together with max-size")]
    MaxFileWithoutSize,
    /// `mode` other than `blocking` or `non-blocking`.
    #[error("logger: logging mode not supported: {value}")]
    BadMode {
        /// The value given.
        value: String,
    },
    /// `max-buffer-size` without `mode=non-blocking`.
    #[error("logger: max-buffer-size option is only supported with 'mode=non-blocking'")]
    BufferWithoutNonBlocking,
}

impl LogConfig {
    /// The config for `--log-driver driver` with `--log-opt` `opts`. An empty driver
    /// name means the default, json-file. `none` ignores options, as docker does.
    pub fn parse(driver: &str, opts: &BTreeMap<String, String>) -> Result<LogConfig, OptError> {
        match driver {
            "none" => Ok(LogConfig::None),
            "json-file" | "" => parse_json_file(opts),
            other => Err(OptError::UnsupportedDriver {
                driver: other.to_owned(),
            }),
        }
    }

    /// Opens the json-file writer for the live log `path`; `None` for the `none`
    /// driver, which keeps nothing.
    pub fn open_writer(&self, path: &Path) -> Result<Option<JsonFileWriter>, WriteError> {
        match *self {
            LogConfig::None => Ok(None),
            LogConfig::JsonFile { max_size, max_file } => {
                JsonFileWriter::open(path, max_size, max_file).map(Some)
            }
        }
    }

    /// The driver's name as docker reports it (`HostConfig.LogConfig.Type`).
    pub fn driver(&self) -> &'static str {
        match self {
            LogConfig::None => "none",
            LogConfig::JsonFile { .. } => "json-file",
        }
    }
}

/// The json-file config from its options.
fn parse_json_file(opts: &BTreeMap<String, String>) -> Result<LogConfig, OptError> {
    check_mode(opts)?;
    for opt in opts.keys() {
        match opt.as_str() {
            "max-size" | "max-file" | "mode" | "max-buffer-size" => {}
            "compress" | "labels" | "labels-regex" | "env" | "env-regex" | "tag" => {
                return Err(OptError::UnsupportedOpt { opt: opt.clone() })
            }
            _ => return Err(OptError::UnknownOpt { opt: opt.clone() }),
        }
    }
    let size = opts.get("max-size");
    let file = opts.get("max-file");
    if size.is_none() && file.is_none() {
        return Ok(LogConfig::default());
    }
    let max_size = match size {
        Some(value) => parse_max_size(value)?,
        None => UNLIMITED,
    };
    let max_file = match file {
        Some(value) => parse_max_file(value)?,
        None => 1,
    };
    if max_file > 1 && max_size == UNLIMITED {
        return Err(OptError::MaxFileWithoutSize);
    }
    Ok(LogConfig::JsonFile { max_size, max_file })
}

/// Checks docker's driver-independent options: `mode` and `max-buffer-size`. berth's
/// shim never blocks the container on its log, so both modes behave as non-blocking
/// and the buffer size is only validated.
fn check_mode(opts: &BTreeMap<String, String>) -> Result<(), OptError> {
    let mode = opts.get("mode").map(String::as_str);
    match mode {
        None | Some("") | Some("blocking") | Some("non-blocking") => {}
        Some(other) => {
            return Err(OptError::BadMode {
                value: other.to_owned(),
            })
        }
    }
    if let Some(value) = opts.get("max-buffer-size") {
        if mode != Some("non-blocking") {
            return Err(OptError::BufferWithoutNonBlocking);
        }
        parse_size("max-buffer-size", value, 1024)?;
    }
    Ok(())
}

/// `max-size`: a decimal size (`10k` is 10,000 bytes, as docker's json-file reads it)
/// or `-1` for no bound.
fn parse_max_size(value: &str) -> Result<u64, OptError> {
    if value.trim() == "-1" {
        return Ok(UNLIMITED);
    }
    match parse_size("max-size", value, 1000)? {
        0 => Err(OptError::ZeroSize),
        size => Ok(size),
    }
}

/// `max-file`: a whole number of at least 1.
fn parse_max_file(value: &str) -> Result<u32, OptError> {
    match value.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(OptError::BadMaxFile {
            value: value.to_owned(),
        }),
    }
}

/// Parses docker's human sizes: a number (fraction allowed), an optional space, an
/// optional unit `k`, `m`, `g`, `t` or `p` (powers of `base`), an optional `i` and an
/// optional `b`, case-insensitive: `100`, `10k`, `20m`, `1.5g`, `64KiB`.
fn parse_size(opt: &'static str, value: &str, base: u64) -> Result<u64, OptError> {
    let bad = || OptError::BadSize {
        opt,
        value: value.to_owned(),
    };
    let lower = value.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let unit = unit.strip_prefix(' ').unwrap_or(unit);
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return Err(bad()),
    };
    let valid_number = number.split('.').all(|part| !part.is_empty()) && !number.is_empty();
    let amount: f64 = match number.parse() {
        Ok(amount) if valid_number => amount,
        _ => return Err(bad()),
    };
    // Go converts the product with int64(...): the fraction of a byte is dropped.
    Ok((amount * base.pow(power) as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn json(pairs: &[(&str, &str)]) -> Result<LogConfig, OptError> {
        LogConfig::parse("json-file", &opts(pairs))
    }

    #[test]
    fn drivers() {
        assert_eq!(json(&[]), Ok(LogConfig::default()));
        assert_eq!(LogConfig::parse("", &opts(&[])), Ok(LogConfig::default()));
        assert_eq!(
            LogConfig::parse("none", &opts(&[("max-size", "x")])),
            Ok(LogConfig::None)
        );
        let err = LogConfig::parse("local", &opts(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "log driver local is not supported, use json-file or none"
        );
    }

    #[test]
    fn sizes_and_files() {
        let cfg = |max_size, max_file| Ok(LogConfig::JsonFile { max_size, max_file });
        assert_eq!(json(&[("max-size", "10k")]), cfg(10_000, 1));
        assert_eq!(
            json(&[("max-size", "20m"), ("max-file", "3")]),
            cfg(20_000_000, 3)
        );
        assert_eq!(json(&[("max-size", "1g")]), cfg(1_000_000_000, 1));
        assert_eq!(json(&[("max-size", "1.5KB")]), cfg(1500, 1));
        assert_eq!(json(&[("max-size", "4096")]), cfg(4096, 1));
        assert_eq!(json(&[("max-size", "-1")]), cfg(UNLIMITED, 1));
        assert_eq!(json(&[("max-file", "1")]), cfg(UNLIMITED, 1));
        assert_eq!(
            json(&[("mode", "non-blocking"), ("max-buffer-size", "4m")]),
            Ok(LogConfig::default())
        );
    }

    #[test]
    fn errors() {
        let msg = |pairs: &[(&str, &str)]| json(pairs).unwrap_err().to_string();
        assert_eq!(
            msg(&[("x", "1")]),
            "unknown log opt 'x' for json-file log driver"
        );
        assert_eq!(
            msg(&[("compress", "true")]),
            "log opt 'compress' is not supported by berth's json-file log driver"
        );
        assert_eq!(
            msg(&[("max-size", "ten")]),
            "invalid size: 'ten' for log opt 'max-size'"
        );
        for bad in ["", "1.", ".5", "1..2", "5x", "-2", "1 kk"] {
            assert!(
                matches!(json(&[("max-size", bad)]), Err(OptError::BadSize { .. })),
                "{bad}"
            );
        }
        assert_eq!(json(&[("max-size", "0")]), Err(OptError::ZeroSize));
        for bad in ["0", "-1", "two", ""] {
            assert!(matches!(
                json(&[("max-size", "1m"), ("max-file", bad)]),
                Err(OptError::BadMaxFile { .. })
            ));
        }
        assert_eq!(
            json(&[("max-file", "3")]),
            Err(OptError::MaxFileWithoutSize)
        );
        assert!(matches!(
            json(&[("mode", "fast")]),
            Err(OptError::BadMode { .. })
        ));
        assert_eq!(
            json(&[("max-buffer-size", "1m")]),
            Err(OptError::BufferWithoutNonBlocking)
        );
    }
}
