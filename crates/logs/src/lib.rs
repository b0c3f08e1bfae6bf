//! Container logs the way docker keeps them. The shim writes a container's output with
//! [`JsonFileWriter`] (docker's `json-file` format, byte for byte, with size-based
//! rotation), fed line by line through a [`LineSplitter`]; berthd reads it back with
//! [`read`] (`--tail` and `--since` seek instead of scanning, `--follow` continues across
//! rotation) and frames the streams for clients with [`frame`]. [`LogConfig`] parses
//! docker's `--log-driver` and `--log-opt` values.

pub mod config;
mod files;
pub mod frame;
pub mod json;
pub mod reader;
mod seek;
pub mod split;
pub mod time;
mod watch;
pub mod writer;

pub use config::{LogConfig, OptError};
pub use reader::{read, Cancel, LogEntry, LogReader, ReadError, ReadOptions, Stop};
pub use split::LineSplitter;
pub use time::{format_timestamp, parse_timestamp};
pub use writer::{JsonFileWriter, WriteError};

/// Which of the container's output streams a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The container's standard output (also a terminal's output).
    Stdout,
    /// The container's standard error.
    Stderr,
}

impl Stream {
    /// The name docker writes in the json-file `stream` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// The stream from its json-file name, `None` for any other name.
    pub fn from_name(name: &str) -> Option<Stream> {
        match name {
            "stdout" => Some(Stream::Stdout),
            "stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }

    /// The stream type byte of Docker's multiplexed framing ([`frame::STDOUT`] or
    /// [`frame::STDERR`]).
    pub fn frame_type(self) -> u8 {
        match self {
            Stream::Stdout => frame::STDOUT,
            Stream::Stderr => frame::STDERR,
        }
    }
}
