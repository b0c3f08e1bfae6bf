//! The container's log: output split into lines per stream and written by the log
//! driver (json-file with rotation, or none).

use std::time::SystemTime;

use anyhow::{Context, Result};
use berth_logs::{JsonFileWriter, LineSplitter, LogConfig, Stream, WriteError};
use berth_shim::args::LogArgs;

/// Where the lines go.
pub trait LogSink {
    /// Adds one line (or a piece of a long one) of `stream`, read at `time`.
    fn write(&mut self, stream: Stream, line: &[u8], time: SystemTime) -> Result<(), WriteError>;

    /// Makes the lines written so far reach their destination.
    fn flush(&mut self) -> Result<(), WriteError>;
}

impl LogSink for JsonFileWriter {
    fn write(&mut self, stream: Stream, line: &[u8], time: SystemTime) -> Result<(), WriteError> {
        JsonFileWriter::add(self, stream, line, time)
    }

    fn flush(&mut self) -> Result<(), WriteError> {
        JsonFileWriter::flush(self)
    }
}

/// The log of one container: a sink (none for the `none` driver) and a splitter per stream.
pub struct Log {
    sink: Option<Box<dyn LogSink>>,
    split: [LineSplitter; 2],
    /// Lines that could not be written (the disk is full, say); reported once.
    pub failed: u64,
}

fn index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

impl Log {
    /// The log `args` ask for.
    pub fn open(args: &LogArgs) -> Result<Log> {
        let sink: Option<Box<dyn LogSink>> = match LogConfig::parse(&args.driver, &args.opts)? {
            LogConfig::None => None,
            LogConfig::JsonFile { max_size, max_file } => {
                let path = args
                    .path
                    .as_deref()
                    .context("the json-file log driver needs --log-path")?;
                Some(Box::new(JsonFileWriter::open(path, max_size, max_file)?))
            }
        };
        Ok(Log::with(sink))
    }

    /// A log writing to `sink` (None discards).
    pub fn with(sink: Option<Box<dyn LogSink>>) -> Log {
        Log {
            sink,
            split: [LineSplitter::new(), LineSplitter::new()],
            failed: 0,
        }
    }

    /// Logs what was read from `stream` at `time`; returns the first write error.
    pub fn feed(&mut self, stream: Stream, data: &[u8], time: SystemTime) -> Option<WriteError> {
        let sink = self.sink.as_mut()?;
        let r = self.split[index(stream)].push(data, |line| sink.write(stream, line, time));
        let flushed = sink.flush();
        self.note(r.and(flushed))
    }

    /// Writes the unfinished lines, at the end of the output.
    pub fn flush(&mut self, time: SystemTime) -> Option<WriteError> {
        let sink = self.sink.as_mut()?;
        let mut first = None;
        for stream in [Stream::Stdout, Stream::Stderr] {
            let r = self.split[index(stream)].flush(|line| sink.write(stream, line, time));
            first = first.or(r.err());
        }
        first = first.or(sink.flush().err());
        self.note(first.map_or(Ok(()), Err))
    }

    fn note(&mut self, r: Result<(), WriteError>) -> Option<WriteError> {
        let e = r.err()?;
        self.failed += 1;
        // Only the first failure is worth a line in the shim's log.
        (self.failed == 1).then_some(e)
    }
}
