//! The event bus behind `GET /events`: what happened to containers, images and volumes,
//! in docker's shape. The last events are kept (for `since`), and every new one goes to
//! the clients that listen.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::broadcast;

/// How many past events are kept.
const KEPT: usize = 1024;

/// One event.
#[derive(Debug, Clone)]
pub struct Event {
    /// `container`, `image`, `volume`.
    pub kind: &'static str,
    /// `create`, `start`, `die`, ...
    pub action: String,
    /// The object's id (a volume's name).
    pub id: String,
    /// Attributes (`name`, `image`, `exitCode`, labels).
    pub attributes: BTreeMap<String, String>,
    /// When, in nanoseconds since the epoch.
    pub time_nano: i64,
}

impl Event {
    /// A new event now.
    pub fn new(kind: &'static str, action: &str, id: &str) -> Event {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        Event {
            kind,
            action: action.into(),
            id: id.into(),
            attributes: BTreeMap::new(),
            time_nano: nanos,
        }
    }

    /// With an attribute.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Event {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// docker's JSON for it.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "Type": self.kind,
            "Action": self.action,
            "Actor": {"ID": self.id, "Attributes": self.attributes},
            "scope": "local",
            "time": self.time_nano / 1_000_000_000,
            "timeNano": self.time_nano,
        });
        // The old top-level fields dockerd still sends for containers and images.
        if self.kind == "container" || self.kind == "image" {
            v["status"] = json!(self.action);
            v["id"] = json!(self.id);
            if let Some(image) = self.attributes.get("image") {
                v["from"] = json!(image);
            }
        }
        v
    }
}

/// The bus.
#[derive(Debug)]
pub struct Events {
    past: Mutex<VecDeque<Event>>,
    tx: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(KEPT);
        Events {
            past: Mutex::new(VecDeque::with_capacity(KEPT)),
            tx,
        }
    }
}

impl Events {
    /// Publishes `e`.
    pub fn publish(&self, e: Event) {
        let mut past = self.past.lock().unwrap_or_else(|p| p.into_inner());
        if past.len() == KEPT {
            past.pop_front();
        }
        past.push_back(e.clone());
        // Sent while the lock is held, so a subscriber that takes the past under the
        // lock and then listens misses nothing and sees nothing twice.
        self.tx.send(e).ok();
    }

    /// The kept events and a receiver of the ones to come.
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let past = self.past.lock().unwrap_or_else(|p| p.into_inner());
        (past.iter().cloned().collect(), self.tx.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_and_future_events_are_seen_once_each() {
        let bus = Events::default();
        bus.publish(Event::new("container", "create", "a"));
        let (past, mut rx) = bus.subscribe();
        bus.publish(Event::new("container", "start", "a").with("image", "busybox"));
        assert_eq!(past.len(), 1);
        let next = rx.try_recv().unwrap();
        assert_eq!(next.action, "start");
        let j = next.to_json();
        assert_eq!(j["from"], "busybox");
        assert_eq!(j["Actor"]["Attributes"]["image"], "busybox");
        assert!(rx.try_recv().is_err());
    }
}
