//! `ps`: the processes of a container, as a pid list (json) or `ps` output filtered to them.

use berth_runtime::container::Runtime;

/// `ps` flags.
#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Output format: table or json.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// The container id.
    pub id: String,
    /// Options passed to ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// Runs `ps`.
pub fn run(rt: &Runtime, a: &PsArgs) -> anyhow::Result<()> {
    let pids = rt.pids(&a.id)?;
    match a.format.as_str() {
        "json" => {
            println!("{}", serde_json::to_string(&pids)?);
            Ok(())
        }
        "table" => table(&pids, &a.ps_args),
        other => anyhow::bail!("--format {other:?}: must be table or json"),
    }
}

fn table(pids: &[i32], args: &[String]) -> anyhow::Result<()> {
    let args: Vec<String> = if args.is_empty() {
        vec!["-ef".into()]
    } else {
        args.to_vec()
    };
    let out = std::process::Command::new("ps").args(&args).output()?;
    if !out.status.success() {
        anyhow::bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| anyhow::anyhow!("ps output has no PID column"))?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}
