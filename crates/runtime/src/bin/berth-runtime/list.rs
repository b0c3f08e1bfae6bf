//! `list`: every container under the root, as a table or JSON.

use berth_runtime::container::Runtime;

/// `list` flags.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Output format: table or json.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Print only the ids.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `list`.
pub fn run(rt: &Runtime, a: &ListArgs) -> anyhow::Result<()> {
    let states = rt.list()?;
    if a.quiet {
        states.iter().for_each(|s| println!("{}", s.id));
        return Ok(());
    }
    match a.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&states)?),
        "table" => {
            let rows: Vec<[String; 6]> = states
                .iter()
                .map(|s| {
                    [
                        s.id.clone(),
                        s.pid.to_string(),
                        s.status.clone(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        s.owner.clone(),
                    ]
                })
                .collect();
            print_table(["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"], &rows);
        }
        other => anyhow::bail!("--format {other:?}: must be table or json"),
    }
    Ok(())
}

fn print_table(header: [&str; 6], rows: &[[String; 6]]) {
    let mut width = header.map(str::len);
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 5 {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   ", w = width[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header);
    for r in rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]].map(|s| s.as_str()));
    }
}
