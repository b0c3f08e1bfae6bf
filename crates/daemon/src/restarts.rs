//! Restart policies: after a run ends, a container whose policy wants it is started
//! again after a delay that starts at 100 ms and doubles with every restart, up to a
//! minute, and starts over once a run lasted 10 s (docker's back-off). While it waits
//! its state is "restarting". A stop or kill by the user cancels the wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_engine::record::{parse_time, Container, Status};
use berth_engine::EngineError;

use crate::error::ApiResult;
use crate::state::Daemon;

/// The first delay.
const FIRST: Duration = Duration::from_millis(100);
/// The longest delay.
const MOST: Duration = Duration::from_secs(60);
/// A run this long resets the delay.
const LONG_RUN: Duration = Duration::from_secs(10);

/// The current delay of each container that restarts.
#[derive(Debug, Default)]
pub struct Backoff {
    delays: Mutex<HashMap<String, Duration>>,
}

impl Backoff {
    /// The delay before the next restart of `id`, whose last run lasted `ran`.
    pub fn next(&self, id: &str, ran: Duration) -> Duration {
        let mut map = self.delays.lock().unwrap_or_else(|p| p.into_inner());
        let delay = match map.get(id) {
            Some(d) if ran < LONG_RUN => (*d * 2).min(MOST),
            _ => FIRST,
        };
        map.insert(id.to_string(), delay);
        delay
    }

    /// Forgets `id` (removed, or started by the user).
    pub fn forget(&self, id: &str) {
        self.delays
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

/// How long the last run of `c` lasted.
fn ran(c: &Container) -> Duration {
    let t = |s: &Option<String>| s.as_deref().and_then(parse_time);
    match (t(&c.state.started_at), t(&c.state.finished_at)) {
        (Some(a), Some(b)) => b.duration_since(a).unwrap_or(Duration::ZERO),
        _ => Duration::ZERO,
    }
}

impl Daemon {
    /// After container `id` exited: if its policy wants it, marks it restarting and
    /// starts it again after the back-off delay (`now`: no delay, as at daemon start).
    pub fn consider_restart(
        self: &Arc<Self>,
        id: &str,
        now: bool,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ApiResult<()>> + Send + 'static>> {
        let me = self.clone();
        let id = id.to_string();
        Box::pin(async move { me.consider_restart_now(&id, now).await })
    }

    async fn consider_restart_now(self: &Arc<Self>, id: &str, now: bool) -> ApiResult<()> {
        let (me, cid) = (self.clone(), id.to_string());
        // The record as saved (no engine lock: most exits want no restart).
        let c = match crate::state::blocking(move || Ok(me.containers.load(&cid)?)).await {
            Err(crate::error::ApiError::Engine(EngineError::NoSuchContainer(_))) => return Ok(()),
            r => r?,
        };
        let s = &c.state;
        let policy = &c.config.host.restart_policy;
        let code = s.exit_code.unwrap_or(0);
        if s.status != Status::Exited
            || !policy.wants_restart(code, s.restart_count, s.manually_stopped)
        {
            return Ok(());
        }
        let delay = if now {
            Duration::ZERO
        } else {
            self.backoff.next(id, ran(&c))
        };
        let cid = id.to_string();
        self.with_engine(move |e| Ok(e.update_state(&cid, |s| s.restarting = true)?))
            .await?;
        let me = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = me.policy_restart(&id).await {
                tracing::warn!("restart container {id}: {e}");
            }
        });
        Ok(())
    }

    /// Starts container `id` again by its policy, unless the user stopped or removed
    /// it meanwhile. A start that fails is considered for a restart again.
    async fn policy_restart(self: &Arc<Self>, id: &str) -> ApiResult<()> {
        let cid = id.to_string();
        let c = self
            .with_engine(move |e| {
                let wanted = |s: &berth_engine::record::State| {
                    s.restarting && !s.manually_stopped && s.status == Status::Exited
                };
                match e.containers().load(&cid) {
                    Ok(c) if wanted(&c.state) => {}
                    _ => return Ok(None),
                }
                Ok(e.update_state(&cid, |s| {
                    s.restart_count += 1;
                    s.restarting = false;
                })?)
            })
            .await?;
        let Some(c) = c else {
            return Ok(());
        };
        if let Err(e) = self.start_container(c).await {
            tracing::warn!("restart container {id}: {e}");
            self.consider_restart(id, false).await?;
        }
        Ok(())
    }
}
