//! `GET /containers/{id}/top?ps_args=`: the host's `ps` (default `-ef`), kept to the
//! lines of the container's processes, as dockerd returns it: `Titles` (the header's
//! words) and `Processes` (each line split into as many fields, the last one taking the
//! rest of the line).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use berth_engine::record::Status;
use serde_json::json;

use super::json;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::state::{blocking, Daemon};

/// `ps`'s output kept to the lines whose PID column is one of `pids`.
pub fn parse_ps(output: &str, pids: &[i32]) -> ApiResult<(Vec<String>, Vec<Vec<String>>)> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| ApiError::Task("Couldn't find PID field in ps output".into()))?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let cut = (titles.len() - 1).min(fields.len());
        let mut row: Vec<String> = fields[..cut].iter().map(|f| f.to_string()).collect();
        row.push(fields[cut..].join(" "));
        processes.push(row);
    }
    Ok((titles, processes))
}

/// `GET /containers/{id}/top`.
pub async fn top(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let args: Vec<String> = match q.str("ps_args").trim() {
        "" => vec!["-ef".into()],
        a => a.split_whitespace().map(String::from).collect(),
    };
    let pids = d
        .with_engine(move |e| {
            let c = e.find(&id)?;
            if c.state.status != Status::Running {
                return Err(ApiError::Conflict(format!(
                    "Container {} is not running",
                    c.id
                )));
            }
            e.runtime()
                .pids(&c.id)
                .map_err(|err| ApiError::Task(format!("list the processes of {}: {err}", c.id)))
        })
        .await?;
    let (titles, processes) = blocking(move || {
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| ApiError::Task(format!("Error running ps: {e}")))?;
        if !out.status.success() {
            return Err(ApiError::Task(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    })
    .await?;
    Ok(json(
        StatusCode::OK,
        &json!({"Titles": titles, "Processes": processes}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_lines_are_kept_to_the_containers_pids() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 1 0 0 10:00 ? 00:00:01 /sbin/init\n\
                   root 42 1 0 10:01 ? 00:00:00 sleep 100 --long arg\n";
        let (titles, procs) = parse_ps(out, &[42]).unwrap();
        assert_eq!(titles.len(), 8);
        assert_eq!(procs.len(), 1);
        assert_eq!(procs[0][1], "42");
        assert_eq!(procs[0][7], "sleep 100 --long arg");
        assert!(parse_ps("A B\n1 2\n", &[1]).is_err());
    }
}
