//! `spec`: writes a default config.json, as `runc spec` does.

use std::path::PathBuf;

/// `spec` flags.
#[derive(clap::Args, Debug)]
pub struct SpecArgs {
    /// Directory to write config.json into.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write a spec for a rootless container (user namespace mapping the caller).
    #[arg(long)]
    pub rootless: bool,
}

/// Runs `spec`.
pub fn run(a: &SpecArgs) -> anyhow::Result<()> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        anyhow::bail!("{}: file exists; remove it first", path.display());
    }
    let spec = berth_runtime::spec::default_spec(a.rootless);
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text + "\n").map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))
}
