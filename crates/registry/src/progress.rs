//! Progress as docker reports it: JSON messages (`status`, `id`, `progressDetail`,
//! `progress`, `aux`), one per line in the API stream, which the CLI draws per layer.

use serde::Serialize;

/// One progress message (docker's `JSONMessage`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Message {
    /// What happened (`Downloading`, `Pull complete`, ...).
    pub status: String,
    /// The layer (12 hex characters) or tag the line is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Bytes done and total, for transfers.
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub detail: Option<Detail>,
    /// The drawn bar, for transfers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// Machine-readable results (a push's tag, digest and size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

/// Bytes done of a total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Detail {
    /// Done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    /// Of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl Message {
    /// A status line about nothing in particular.
    pub fn status(status: impl Into<String>) -> Self {
        Self {
            status: status.into(),
            ..Default::default()
        }
    }

    /// A status line about `id`, with an empty `progressDetail` as docker sends.
    pub fn about(id: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            status: status.into(),
            id: Some(id.into()),
            detail: Some(Detail::default()),
            ..Default::default()
        }
    }

    /// A transfer line: `current` of `total` bytes, with docker's bar.
    pub fn transfer(id: impl Into<String>, status: &str, current: u64, total: u64) -> Self {
        Self {
            status: status.into(),
            id: Some(id.into()),
            detail: Some(Detail {
                current: Some(current),
                total: Some(total),
            }),
            progress: Some(bar(current, total)),
            aux: None,
        }
    }
}

/// Where progress goes.
pub type Sink<'a> = &'a (dyn Fn(Message) + Sync);

/// docker's bar: `[=====>      ]  1.23MB/4.56MB` (a 50-column box, then the sizes).
pub fn bar(current: u64, total: u64) -> String {
    let percent = (current.saturating_mul(100))
        .checked_div(total)
        .unwrap_or(0)
        .min(100) as usize
        / 2;
    format!(
        "[{}>{}] {:>8}/{}",
        "=".repeat(percent),
        " ".repeat(50 - percent),
        human(current),
        human(total)
    )
}

/// Decimal units with four significant digits, as docker's `HumanSize`.
pub fn human(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let digits = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let text = format!("{v:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{}", UNITS[i])
}
