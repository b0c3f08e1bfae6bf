//! Errors as runc reports them: a line on stderr, and the same in the `--log` file, as JSON
//! (`{"level":"error","msg":...,"time":...}`) when containerd or dockerd ask for it.

use std::io::Write;
use std::path::Path;

use clap::ValueEnum;

/// The `--log-format` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// `time="..." level=error msg="..."`
    Text,
    /// One JSON object per line.
    Json,
}

fn line(format: Format, level: &str, msg: &str) -> String {
    let time = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
    match format {
        Format::Json => {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string() + "\n"
        }
        Format::Text => format!("time={time:?} level={level} msg={msg:?}\n"),
    }
}

/// Reports an error on stderr and, when set, in the log file.
pub fn error(log: Option<&Path>, format: Format, msg: &str) {
    eprintln!("berth-runtime: {msg}");
    if let Some(path) = log {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Ok(mut f) = f {
            // Nothing better can be done with a log that cannot be written.
            let _ = f.write_all(line(format, "error", msg).as_bytes());
        }
    }
}
