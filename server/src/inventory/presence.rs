//! Which hosts have a live agent session, and when each was last heard.
use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Utc};

/// Live sessions by host id; heartbeats update it in memory only.
#[derive(Debug, Default)]
pub struct Presence {
    live: RwLock<HashMap<i64, (u64, DateTime<Utc>)>>,
}

impl Presence {
    /// Records that `session` of `host_id` spoke now.
    pub fn heard(&self, host_id: i64, session: u64) {
        self.live
            .write()
            .expect("presence lock")
            .insert(host_id, (session, Utc::now()));
    }

    /// Records `session` as `host_id`'s live session unless another session holds it; returns
    /// that other session when it does. One agent per host.
    pub fn claim(&self, host_id: i64, session: u64) -> Result<(), u64> {
        let mut live = self.live.write().expect("presence lock");
        match live.get(&host_id) {
            Some((other, _)) if *other != session => Err(*other),
            _ => {
                live.insert(host_id, (session, Utc::now()));
                Ok(())
            }
        }
    }

    /// The session holding `host_id`, if it is online.
    pub fn holder(&self, host_id: i64) -> Option<u64> {
        self.live.read().expect("presence lock").get(&host_id).map(|(s, _)| *s)
    }

    /// Forgets `host_id` if `session` is still the one recorded; returns when it was last heard.
    pub fn gone(&self, host_id: i64, session: u64) -> Option<DateTime<Utc>> {
        let mut live = self.live.write().expect("presence lock");
        match live.get(&host_id) {
            Some((s, at)) if *s == session => {
                let at = *at;
                live.remove(&host_id);
                Some(at)
            }
            _ => None,
        }
    }

    /// When `host_id` was last heard, if it is online.
    pub fn get(&self, host_id: i64) -> Option<DateTime<Utc>> {
        self.live
            .read()
            .expect("presence lock")
            .get(&host_id)
            .map(|(_, at)| *at)
    }

    /// How many hosts are online.
    pub fn online(&self) -> usize {
        self.live.read().expect("presence lock").len()
    }
}
