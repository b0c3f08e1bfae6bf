//! Healthchecks: the check a container runs (docker's `Healthcheck` config, from
//! `--health-*` or the image's `HEALTHCHECK`), and the health its probes give it
//! (`State.Health`: a status, a failing streak and the last results). The probes
//! themselves are run by berthd; what a result does to the health is decided here.

use serde::{Deserialize, Serialize};

/// Times in a healthcheck are nanoseconds, as in docker's API.
const MS: i64 = 1_000_000;
const SECOND: i64 = 1_000 * MS;

/// How often a check runs when it does not say (30 s).
pub const DEFAULT_INTERVAL: i64 = 30 * SECOND;
/// How long a probe may take when the check does not say (30 s).
pub const DEFAULT_TIMEOUT: i64 = 30 * SECOND;
/// How often a check runs during its start period when it does not say (5 s).
pub const DEFAULT_START_INTERVAL: i64 = 5 * SECOND;
/// Failures in a row that make a container unhealthy when the check does not say.
pub const DEFAULT_RETRIES: i64 = 3;
/// The most output of a probe kept in a result.
pub const MAX_OUTPUT: usize = 4096;
/// The results kept in `State.Health.Log`.
pub const MAX_LOG: usize = 5;

/// A container's healthcheck, in docker's shape (a `null` field is an unset one, as
/// docker-py sends them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `[]` (inherit the image's), `["NONE"]`, `["CMD", args...]` or
    /// `["CMD-SHELL", command]`.
    #[serde(deserialize_with = "null_default")]
    pub test: Vec<String>,
    /// Between probes, in ns (0: the default).
    #[serde(deserialize_with = "null_default")]
    pub interval: i64,
    /// The longest a probe may run, in ns (0: the default).
    #[serde(deserialize_with = "null_default")]
    pub timeout: i64,
    /// Time to start during which failures do not count, in ns.
    #[serde(deserialize_with = "null_default")]
    pub start_period: i64,
    /// Between probes during the start period, in ns (0: the default).
    #[serde(deserialize_with = "null_default")]
    pub start_interval: i64,
    /// Failures in a row that make the container unhealthy (0: the default).
    #[serde(deserialize_with = "null_default")]
    pub retries: i64,
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Why a healthcheck is refused (dockerd's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthConfigError {
    /// A time below docker's 1 ms floor.
    #[error("{0} in Healthcheck cannot be less than 1ms")]
    TooShort(&'static str),
    /// Negative retries.
    #[error("Retries in Healthcheck cannot be negative")]
    NegativeRetries,
    /// A test that is neither NONE, CMD nor CMD-SHELL.
    #[error("unknown Healthcheck type {0:?}: the test starts with NONE, CMD or CMD-SHELL")]
    UnknownTest(String),
}

impl HealthConfig {
    /// Checks the settings as dockerd does at create.
    pub fn validate(&self) -> Result<(), HealthConfigError> {
        for (name, v) in [
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
        ] {
            if v != 0 && v < MS {
                return Err(HealthConfigError::TooShort(name));
            }
        }
        if self.retries < 0 {
            return Err(HealthConfigError::NegativeRetries);
        }
        match self.test.first().map(String::as_str) {
            None | Some("NONE" | "CMD" | "CMD-SHELL") => Ok(()),
            Some(other) => Err(HealthConfigError::UnknownTest(other.into())),
        }
    }

    /// This check with the image's filling what it leaves unset (docker's merge: an
    /// empty test and zero times or retries take the image's).
    pub fn merged(user: Option<&HealthConfig>, image: Option<&HealthConfig>) -> Option<Self> {
        let Some(user) = user else {
            return image.cloned();
        };
        let Some(image) = image else {
            return Some(user.clone());
        };
        let pick = |u: i64, i: i64| if u == 0 { i } else { u };
        Some(HealthConfig {
            test: if user.test.is_empty() {
                image.test.clone()
            } else {
                user.test.clone()
            },
            interval: pick(user.interval, image.interval),
            timeout: pick(user.timeout, image.timeout),
            start_period: pick(user.start_period, image.start_period),
            start_interval: pick(user.start_interval, image.start_interval),
            retries: pick(user.retries, image.retries),
        })
    }

    /// Whether the check runs probes ([`HealthConfig::command`] without building it).
    pub fn probes(&self) -> bool {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD" => !rest.is_empty(),
            Some((kind, rest)) if kind == "CMD-SHELL" => rest.len() == 1,
            _ => false,
        }
    }

    /// The command a probe runs; None when there is no check (`NONE` or no test).
    pub fn command(&self) -> Option<Vec<String>> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            Some((kind, [cmd])) if kind == "CMD-SHELL" => {
                Some(vec!["/bin/sh".into(), "-c".into(), cmd.clone()])
            }
            _ => None,
        }
    }

    /// Between probes, in ns, at `since_start` ns after the container started.
    pub fn interval_at(&self, status: HealthStatus, since_start: i64) -> i64 {
        let in_start = status == HealthStatus::Starting && since_start < self.start_period;
        match (in_start, self.start_interval, self.interval) {
            (true, 0, _) => DEFAULT_START_INTERVAL,
            (true, s, _) => s,
            (false, _, 0) => DEFAULT_INTERVAL,
            (false, _, i) => i,
        }
    }

    /// The longest a probe may run, in ns.
    pub fn timeout_ns(&self) -> i64 {
        if self.timeout == 0 {
            DEFAULT_TIMEOUT
        } else {
            self.timeout
        }
    }

    fn retries_or_default(&self) -> u32 {
        if self.retries <= 0 {
            DEFAULT_RETRIES as u32
        } else {
            self.retries.min(i64::from(u32::MAX)) as u32
        }
    }
}

/// A container's health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No probe has passed yet, and failures have not reached the retries.
    #[default]
    Starting,
    /// The last probe passed.
    Healthy,
    /// The last `retries` probes failed.
    Unhealthy,
}

impl HealthStatus {
    /// docker's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One probe's result, as `State.Health.Log` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProbeResult {
    /// When it began (RFC 3339).
    pub start: String,
    /// When it ended (RFC 3339).
    pub end: String,
    /// Its exit code: 0 passed, -1 timed out or could not run, others failed.
    pub exit_code: i64,
    /// What it printed (at most [`MAX_OUTPUT`] bytes).
    pub output: String,
}

/// A container's health, kept in its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// Starting, healthy or unhealthy.
    pub status: HealthStatus,
    /// Failed probes in a row.
    pub failing_streak: u32,
    /// The last [`MAX_LOG`] results, oldest first.
    pub log: Vec<ProbeResult>,
    /// The start time of the run this health belongs to.
    pub run: String,
}

impl Health {
    /// The health of a run that began at `run`: starting, with the results of earlier
    /// runs kept as docker keeps them.
    pub fn begin(previous: Option<&Health>, run: &str) -> Health {
        Health {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: previous.map(|h| h.log.clone()).unwrap_or_default(),
            run: run.into(),
        }
    }

    /// Takes probe result `r`, which ended `since_start` ns after the container
    /// started; returns the new status when it changed.
    pub fn record(
        &mut self,
        check: &HealthConfig,
        r: ProbeResult,
        since_start: i64,
    ) -> Option<HealthStatus> {
        let before = self.status;
        if r.exit_code == 0 {
            self.status = HealthStatus::Healthy;
            self.failing_streak = 0;
        } else if !(self.status == HealthStatus::Starting && since_start < check.start_period) {
            // Failures in the start period do not count while the container starts.
            self.failing_streak = self.failing_streak.saturating_add(1);
            if self.failing_streak >= check.retries_or_default() {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push(r);
        let extra = self.log.len().saturating_sub(MAX_LOG);
        self.log.drain(..extra);
        (self.status != before).then_some(self.status)
    }
}

/// Keeps at most [`MAX_OUTPUT`] bytes of probe output, on a character boundary.
pub fn clip_output(raw: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(&raw[..raw.len().min(MAX_OUTPUT)]).into_owned();
    while s.len() > MAX_OUTPUT {
        s.pop();
    }
    s
}

/// A duration in ns as Go prints it (`30s`, `1m30s`, `500ms`, `1.5s`), for docker's
/// timeout message.
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < SECOND {
        return match ns {
            n if n % MS == 0 => format!("{}ms", n / MS),
            n if n % 1000 == 0 => format!("{}µs", n / 1000),
            n => format!("{n}ns"),
        };
    }
    let (h, rest) = (ns / (3600 * SECOND), ns % (3600 * SECOND));
    let (m, rest) = (rest / (60 * SECOND), rest % (60 * SECOND));
    let secs = format!("{}", rest as f64 / SECOND as f64);
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(retries: i64, start_period: i64) -> HealthConfig {
        HealthConfig {
            test: vec!["CMD-SHELL".into(), "true".into()],
            retries,
            start_period,
            ..HealthConfig::default()
        }
    }

    fn result(code: i64) -> ProbeResult {
        ProbeResult {
            exit_code: code,
            ..ProbeResult::default()
        }
    }

    #[test]
    fn failures_reach_unhealthy_after_the_retries_and_a_pass_heals() {
        let c = check(2, 0);
        let mut h = Health::begin(None, "t");
        assert_eq!(h.record(&c, result(1), 10), None);
        assert_eq!(h.failing_streak, 1);
        assert_eq!(h.record(&c, result(1), 20), Some(HealthStatus::Unhealthy));
        assert_eq!(h.record(&c, result(0), 30), Some(HealthStatus::Healthy));
        assert_eq!(h.failing_streak, 0);
    }

    #[test]
    fn failures_in_the_start_period_do_not_count() {
        let c = check(1, 100);
        let mut h = Health::begin(None, "t");
        assert_eq!(h.record(&c, result(1), 50), None);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        assert_eq!(h.record(&c, result(1), 150), Some(HealthStatus::Unhealthy));
    }

    #[test]
    fn the_log_keeps_the_last_five_and_a_new_run_starts_again() {
        let c = check(0, 0);
        let mut h = Health::begin(None, "a");
        for i in 0..7 {
            h.record(&c, result(i % 2), 0);
        }
        assert_eq!(h.log.len(), MAX_LOG);
        assert_eq!(h.log[0].exit_code, 0);
        assert_eq!(h.status, HealthStatus::Healthy);
        let again = Health::begin(Some(&h), "b");
        assert_eq!(
            (again.status, again.failing_streak),
            (HealthStatus::Starting, 0)
        );
        assert_eq!(again.log.len(), MAX_LOG);
    }

    #[test]
    fn merge_takes_the_images_values_where_the_user_left_them() {
        let image = HealthConfig {
            test: vec!["CMD".into(), "probe".into()],
            interval: 5 * SECOND,
            retries: 7,
            ..HealthConfig::default()
        };
        let user = HealthConfig {
            interval: SECOND,
            ..HealthConfig::default()
        };
        let m = HealthConfig::merged(Some(&user), Some(&image)).unwrap();
        assert_eq!(
            (m.test.clone(), m.interval, m.retries),
            (image.test.clone(), SECOND, 7)
        );
        assert_eq!(
            HealthConfig::merged(None, Some(&image)),
            Some(image.clone())
        );
        assert_eq!(HealthConfig::merged(None, None), None);
    }

    #[test]
    fn commands_and_intervals() {
        let shell = check(0, 10 * SECOND);
        assert_eq!(shell.command().unwrap(), ["/bin/sh", "-c", "true"]);
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..HealthConfig::default()
        };
        assert_eq!(none.command(), None);
        assert!(shell.probes() && !none.probes());
        assert_eq!(
            shell.interval_at(HealthStatus::Starting, 0),
            DEFAULT_START_INTERVAL
        );
        assert_eq!(
            shell.interval_at(HealthStatus::Healthy, 0),
            DEFAULT_INTERVAL
        );
        assert_eq!(shell.timeout_ns(), DEFAULT_TIMEOUT);
    }

    #[test]
    fn validation_uses_dockerds_messages() {
        let mut c = check(0, 0);
        c.interval = 10;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        c.interval = 0;
        c.retries = -1;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "Retries in Healthcheck cannot be negative"
        );
        c.retries = 0;
        c.test = vec!["BAD".into()];
        assert!(c.validate().is_err());
    }

    #[test]
    fn nulls_are_unset_fields() {
        let h: HealthConfig =
            serde_json::from_str(r#"{"Test":["CMD","x"],"Interval":null,"Retries":2}"#).unwrap();
        assert_eq!((h.interval, h.retries), (0, 2));
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(30 * SECOND), "30s");
        assert_eq!(go_duration(500 * MS), "500ms");
        assert_eq!(go_duration(90 * SECOND), "1m30s");
        assert_eq!(go_duration(1500 * MS), "1.5s");
    }

    #[test]
    fn output_is_clipped() {
        let long = vec![b'x'; MAX_OUTPUT + 10];
        assert_eq!(clip_output(&long).len(), MAX_OUTPUT);
    }
}
