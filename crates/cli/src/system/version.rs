//! `berth version`: this client's version, and the daemon's when it answers.

use serde_json::{json, Value};

use crate::client::{Query, API_VERSION};
use crate::format;
use crate::Cli;

/// `version` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
}

/// The client's section.
fn client_info() -> Value {
    json!({
        "Platform": {"Name": ""},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": API_VERSION,
        "DefaultAPIVersion": API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "BuildTime": "",
        "Context": "default",
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `version`: the client section always; the server's, or the error reaching it.
pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<u8> {
    let server = cli
        .connect()
        .and_then(|c| c.get_json("/version", Query::new()));
    let doc = json!({
        "Client": client_info(),
        "Server": server.as_ref().ok(),
    });
    if let Some(t) = &a.format {
        println!("{}", format::render(t, &doc)?);
    } else {
        print_text(&doc);
    }
    match server {
        Ok(_) => Ok(0),
        Err(e) => {
            eprintln!("{e}");
            Ok(1)
        }
    }
}

fn print_text(doc: &Value) {
    let c = &doc["Client"];
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    println!("Client:");
    println!(" Version:           {}", s(c, "Version"));
    println!(" API version:       {}", s(c, "ApiVersion"));
    println!(" OS/Arch:           {}/{}", s(c, "Os"), s(c, "Arch"));
    println!(" Context:           default");
    let sv = &doc["Server"];
    if sv.is_null() {
        return;
    }
    println!();
    println!("Server: {}", s(&sv["Platform"], "Name"));
    for comp in sv["Components"].as_array().into_iter().flatten() {
        let d = &comp["Details"];
        println!(" {}:", s(comp, "Name"));
        println!("  Version:          {}", s(comp, "Version"));
        if comp["Name"] == "Engine" {
            println!(
                "  API version:      {} (minimum version {})",
                s(d, "ApiVersion"),
                s(d, "MinAPIVersion")
            );
            println!("  OS/Arch:          {}/{}", s(d, "Os"), s(d, "Arch"));
            println!("  Experimental:     {}", s(d, "Experimental"));
        }
    }
}
