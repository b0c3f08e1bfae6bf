//! `GET /events?since=&until=&filters=`: the kept events from `since`, then new ones as
//! they happen, until `until` (or for as long as the client listens), one JSON object a
//! line.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_engine::record::Container;

use super::container_json::parse_until;
use crate::error::ApiResult;
use crate::events::Event;
use crate::query::{Filters, Query};
use crate::state::Daemon;

/// The filters `/events` takes.
const FILTERS: [&str; 6] = ["container", "event", "image", "label", "type", "volume"];

fn nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Whether `e` passes `f`.
fn keeps(f: &Filters, e: &Event) -> bool {
    let any = |key: &str, ok: &dyn Fn(&String) -> bool| {
        let vals = f.values(key);
        vals.is_empty() || vals.iter().any(ok)
    };
    let attr = |k: &str| e.attributes.get(k).map(String::as_str).unwrap_or("");
    let names_it = |v: &String| e.id.starts_with(v.as_str()) || attr("name") == v.as_str();
    any("type", &|t| t == e.kind)
        && any("event", &|a| {
            *a == e.action || e.action.starts_with(&format!("{a}:"))
        })
        && (e.kind != "container" || any("container", &names_it))
        && (f.values("container").is_empty() || e.kind == "container")
        && any("image", &|i| {
            attr("image") == i.as_str() || (e.kind == "image" && names_it(i))
        })
        && (e.kind != "volume" || any("volume", &|v| *v == e.id))
        && f.labels_match(&e.attributes)
}

/// `GET /events`.
pub async fn events(State(d): State<Arc<Daemon>>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters()?;
    filters.accept(&FILTERS)?;
    let since = q
        .get("since")
        .filter(|s| !s.is_empty())
        .map(parse_until)
        .transpose()?;
    let until = q
        .get("until")
        .filter(|s| !s.is_empty())
        .map(parse_until)
        .transpose()?;
    // Whole seconds (what docker's CLI sends) cover all of their last second.
    let whole = q.get("until").is_some_and(|u| u.parse::<u64>().is_ok());
    let until = until.map(|u| nanos(u) + if whole { 999_999_999 } else { 0 });
    let since = since.map(nanos);
    let (past, mut rx) = d.events.subscribe();
    let (tx, out) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let line = |e: &Event| {
        let mut l = serde_json::to_vec(&e.to_json()).unwrap_or_default();
        l.push(b'\n');
        Bytes::from(l)
    };
    let in_window = move |e: &Event| {
        since.is_none_or(|s| e.time_nano >= s) && until.is_none_or(|u| e.time_nano <= u)
    };
    tokio::spawn(async move {
        for e in past.iter().filter(|e| in_window(e) && keeps(&filters, e)) {
            if tx.send(Ok(line(e))).await.is_err() {
                return;
            }
        }
        loop {
            let wait = match until {
                Some(u) => {
                    let left = u - nanos(SystemTime::now());
                    if left <= 0 {
                        return;
                    }
                    std::time::Duration::from_nanos(left as u64)
                }
                None => std::time::Duration::from_secs(3600 * 24 * 365),
            };
            let next = tokio::select! {
                r = rx.recv() => r,
                _ = tokio::time::sleep(wait) => return,
                _ = tx.closed() => return,
            };
            match next {
                Ok(e) if in_window(&e) && keeps(&filters, &e) => {
                    if tx.send(Ok(line(&e))).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    });
    let body = futures_util::stream::unfold(out, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

impl Daemon {
    /// Publishes a container event: its name, image and labels as attributes.
    pub fn container_event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut e = Event::new("container", action, &c.id)
            .with("name", c.name.clone())
            .with("image", c.image_name.clone());
        for (k, v) in &c.config.labels {
            e = e.with(k, v.clone());
        }
        for (k, v) in extra {
            e = e.with(k, v.clone());
        }
        self.events.publish(e);
    }

    /// Publishes an image or volume event.
    pub fn object_event(&self, kind: &'static str, action: &str, id: &str, name: Option<&str>) {
        let mut e = Event::new(kind, action, id);
        if let Some(n) = name {
            e = e.with("name", n);
        }
        self.events.publish(e);
    }
}
