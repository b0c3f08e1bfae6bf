//! `berth info`: what the daemon reports about itself and the host, in docker's layout.

use serde_json::Value;

use crate::client::{Client, Query};
use crate::format;

/// `info` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
}

/// `info`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let v = c.get_json("/info", Query::new())?;
    if let Some(t) = &a.format {
        println!("{}", format::render(t, &v)?);
        return Ok(0);
    }
    println!("Client:");
    println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
    println!(" Context:    default");
    println!(" Debug Mode: false");
    println!();
    print!("{}", text(&v));
    Ok(0)
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// docker's `info` text for the server section.
fn text(v: &Value) -> String {
    let mut out = String::from("Server:\n");
    let mut line = |indent: usize, k: &str, val: String| {
        out.push_str(&format!("{:indent$}{k}: {val}\n", ""));
    };
    line(1, "Containers", s(&v["Containers"]));
    line(2, "Running", s(&v["ContainersRunning"]));
    line(2, "Paused", s(&v["ContainersPaused"]));
    line(2, "Stopped", s(&v["ContainersStopped"]));
    line(1, "Images", s(&v["Images"]));
    line(1, "Server Version", s(&v["ServerVersion"]));
    line(1, "Storage Driver", s(&v["Driver"]));
    line(1, "Logging Driver", s(&v["LoggingDriver"]));
    line(1, "Cgroup Driver", s(&v["CgroupDriver"]));
    line(1, "Cgroup Version", s(&v["CgroupVersion"]));
    let runtimes: Vec<&String> = v["Runtimes"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    line(
        1,
        "Runtimes",
        runtimes
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    );
    line(1, "Default Runtime", s(&v["DefaultRuntime"]));
    line(1, "Kernel Version", s(&v["KernelVersion"]));
    line(1, "Operating System", s(&v["OperatingSystem"]));
    line(1, "OSType", s(&v["OSType"]));
    line(1, "Architecture", s(&v["Architecture"]));
    line(1, "CPUs", s(&v["NCPU"]));
    let mem = v["MemTotal"].as_u64().unwrap_or(0);
    line(
        1,
        "Total Memory",
        format!("{:.2}GiB", mem as f64 / (1u64 << 30) as f64),
    );
    line(1, "Name", s(&v["Name"]));
    line(1, "ID", s(&v["ID"]));
    line(1, "Docker Root Dir", s(&v["DockerRootDir"]));
    line(1, "Debug Mode", s(&v["Debug"]));
    line(1, "Experimental", s(&v["ExperimentalBuild"]));
    line(1, "Live Restore Enabled", s(&v["LiveRestoreEnabled"]));
    out
}
