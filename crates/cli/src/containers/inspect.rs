//! `berth inspect` (containers, then images, or `--type`) and `container inspect`.

use super::path_part;
use crate::client::{Client, ClientError, Query};
use crate::format;

/// `inspect` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    size: bool,
    /// Only inspect objects of the given type (container or image)
    #[arg(long = "type")]
    kind: Option<String>,
    /// The objects
    #[arg(required = true)]
    names: Vec<String>,
}

/// `container inspect` arguments.
#[derive(clap::Args, Debug)]
pub struct ContainerArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
    /// The containers
    #[arg(required = true)]
    containers: Vec<String>,
}

/// What can be inspected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Any,
    Container,
    Image,
}

/// `inspect`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let kind = match a.kind.as_deref() {
        None | Some("") => Kind::Any,
        Some("container") => Kind::Container,
        Some("image") => Kind::Image,
        Some(t) => anyhow::bail!("\"{t}\" is not a valid value for --type"),
    };
    show(c, &a.names, kind, a.size, a.format.as_deref())
}

/// `container inspect`.
pub fn run_containers(c: &Client, a: &ContainerArgs) -> anyhow::Result<u8> {
    show(
        c,
        &a.containers,
        Kind::Container,
        a.size,
        a.format.as_deref(),
    )
}

fn show(
    c: &Client,
    names: &[String],
    kind: Kind,
    size: bool,
    fmt: Option<&str>,
) -> anyhow::Result<u8> {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        match one(c, name, kind, size) {
            Ok(d) => docs.push(d),
            Err(e) => errors.push(e),
        }
    }
    format::inspect(&docs, fmt)?;
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(u8::from(!errors.is_empty()))
}

fn one(c: &Client, name: &str, kind: Kind, size: bool) -> Result<Vec<u8>, String> {
    let n = path_part(name);
    let not_found = |e: &ClientError| e.status() == Some(404);
    if kind != Kind::Image {
        let q = Query::new().flag("size", size);
        match c.get_raw(&format!("/containers/{n}/json"), q) {
            Ok(v) => return Ok(v),
            Err(e) if kind == Kind::Any && not_found(&e) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    match c.get_raw(&format!("/images/{n}/json"), Query::new()) {
        Ok(v) => Ok(v),
        Err(e) if kind == Kind::Any && not_found(&e) => {
            Err(format!("Error: No such object: {name}"))
        }
        Err(e) => Err(e.to_string()),
    }
}
