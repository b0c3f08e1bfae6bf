//! `berth create`: make a container from an image, print its id.

use berth_engine::record::Config;
use berth_engine::{CreateRequest, Engine};

/// Flags shared by `create` and `run`.
#[derive(clap::Args, Debug)]
pub struct Flags {
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=value, or KEY to take it from here).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Keep STDIN open (in the foreground stdin is always passed on).
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// The image.
    pub image: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub cmd: Vec<String>,
}

impl Flags {
    /// The engine's request for these flags.
    pub fn request(&self, auto_remove: bool) -> CreateRequest {
        CreateRequest {
            image: self.image.clone(),
            name: self.name.clone(),
            config: Config {
                cmd: self.cmd.clone(),
                // docker: an empty --entrypoint resets it.
                entrypoint: self.entrypoint.as_ref().map(|e| {
                    if e.is_empty() {
                        vec![]
                    } else {
                        vec![e.clone()]
                    }
                }),
                env: self.env.iter().filter_map(|e| env_entry(e)).collect(),
                user: self.user.clone(),
                workdir: self.workdir.clone(),
                tty: self.tty,
                auto_remove,
                ..Default::default()
            },
        }
    }
}

/// `KEY=value` as is; a bare `KEY` takes this process's value, or is dropped if unset.
fn env_entry(e: &str) -> Option<String> {
    if e.contains('=') {
        return Some(e.to_string());
    }
    std::env::var(e).ok().map(|v| format!("{e}={v}"))
}

/// `create` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    flags: Flags,
}

/// `create`.
pub fn run(engine: &Engine, a: &Args) -> anyhow::Result<u8> {
    let c = engine.create(&a.flags.request(false))?;
    println!("{}", c.id);
    Ok(0)
}
