//! The audit log: append-only, each event chained to the previous one by SHA-256, and its
//! head checkpointed outside the database.
//!
//! The chain shows an edited, removed or reordered event, but not a chain cut short at its
//! end, nor one rewritten from some event on with fresh hashes: both are again a valid
//! chain. So a [`Checkpoint`] (events, last id, last hash) is kept in a file of the data
//! directory, moved forward only when the database's chain still extends it, and
//! [`verify`] holds the chain against it.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{SubsecRound, Utc};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QueryOrder, QuerySelect, Set};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::db::entities::audit_event;

/// The hash of the chain's start.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Appends an event inside the caller's write transaction (which holds the writer lock, so
/// the previous hash cannot change under us).
pub async fn record<C: ConnectionTrait>(
    db: &C,
    actor: &str,
    action: &str,
    target: &str,
    details: Value,
) -> Result<(), DbErr> {
    record_many(
        db,
        vec![(actor.to_owned(), action.to_owned(), target.to_owned(), details)],
    )
    .await
}

/// Appends `(actor, action, target, details)` events in order, reading the chain's head once:
/// the engine records a whole batch of dispatches and results this way.
pub async fn record_many<C: ConnectionTrait>(
    db: &C,
    events: Vec<(String, String, String, Value)>,
) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    let mut prev = audit_event::Entity::find()
        .order_by_desc(audit_event::Column::Id)
        .limit(1)
        .one(db)
        .await?
        .map_or_else(|| GENESIS.to_owned(), |e| e.hash);
    // PostgreSQL keeps microseconds: hash what the database will give back.
    let at = Utc::now().trunc_subsecs(6);
    let mut rows = Vec::with_capacity(events.len());
    for (actor, action, target, details) in events {
        let hash = chain_hash(&prev, &at.to_rfc3339(), &actor, &action, &target, &details);
        rows.push(audit_event::ActiveModel {
            at: Set(at),
            actor: Set(actor),
            action: Set(action),
            target: Set(target),
            details: Set(details),
            prev_hash: Set(std::mem::replace(&mut prev, hash.clone())),
            hash: Set(hash),
            ..Default::default()
        });
    }
    for chunk in rows.chunks(500) {
        audit_event::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The hash of one event given the previous hash.
pub fn chain_hash(prev: &str, at: &str, actor: &str, action: &str, target: &str, details: &Value) -> String {
    let body = serde_json::json!({"prev": prev, "at": at, "actor": actor, "action": action, "target": target, "details": details});
    hex::encode(Sha256::digest(canonical_json(&body)))
}

/// `v` serialised with every object's keys sorted, for hashing: serde_json keeps insertion
/// order when any crate enables `preserve_order` (qdrant-edge does), and PostgreSQL's `jsonb`
/// gives keys back in its own order, so only sorted keys hash the same on the way in and out.
pub fn canonical_json(v: &Value) -> Vec<u8> {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: std::collections::BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sort(v))).collect();
                let mut out = serde_json::Map::new();
                for (k, v) in sorted {
                    out.insert(k.clone(), v);
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_vec(&sort(v)).expect("serialises")
}

/// The outcome of walking the chain.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// Whether every event hashes to its stored hash and links to the one before, and the
    /// chain reaches the checkpoint with the checkpoint's hash.
    pub ok: bool,
    /// Events checked.
    pub events: u64,
    /// The first event whose hash or link does not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<i64>,
    /// What is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The head recorded outside the database that the chain was held against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Head>,
}

/// The head of the chain: how many events, the last one's id and hash.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Head {
    /// Events from the first to `last_id`.
    pub events: u64,
    /// The last event's id.
    pub last_id: i64,
    /// The last event's hash.
    pub hash: String,
}

/// The chain's head as last seen committed, kept in a file outside the database.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    path: PathBuf,
    head: Arc<Mutex<Option<Head>>>,
}

impl Checkpoint {
    /// The checkpoint kept in `data_dir/audit-checkpoint.json`, read if it exists.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join("audit-checkpoint.json");
        let head = match std::fs::read(&path) {
            Ok(bytes) => Some(
                serde_json::from_slice::<Head>(&bytes)
                    .map_err(|e| anyhow::anyhow!("{} is not an audit checkpoint: {e}", path.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        Ok(Checkpoint {
            path,
            head: Arc::new(Mutex::new(head)),
        })
    }

    /// The head last checkpointed.
    pub fn head(&self) -> Option<Head> {
        self.head.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Moves the checkpoint to the database's head, if the committed chain still holds the
    /// checkpointed event and extends it link by link; otherwise it stays where it is (and
    /// [`verify`] reports why). Returns whether it moved.
    pub async fn advance<C: ConnectionTrait>(&self, db: &C) -> anyhow::Result<bool> {
        use sea_orm::{ColumnTrait, QueryFilter};
        let start = self.head();
        let mut head = start.clone().unwrap_or(Head {
            events: 0,
            last_id: 0,
            hash: GENESIS.to_owned(),
        });
        if head.last_id > 0 {
            let still = audit_event::Entity::find_by_id(head.last_id).one(db).await?;
            if still.is_none_or(|e| e.hash != head.hash) {
                tracing::error!(
                    last_id = head.last_id,
                    "the audit chain no longer holds its checkpointed event; not moving the checkpoint"
                );
                return Ok(false);
            }
        }
        loop {
            let page = audit_event::Entity::find()
                .filter(audit_event::Column::Id.gt(head.last_id))
                .order_by_asc(audit_event::Column::Id)
                .limit(1000)
                .all(db)
                .await?;
            if page.is_empty() {
                break;
            }
            for e in page {
                let at = e.at.trunc_subsecs(6).to_rfc3339();
                if e.prev_hash != head.hash
                    || chain_hash(&e.prev_hash, &at, &e.actor, &e.action, &e.target, &e.details) != e.hash
                {
                    tracing::error!(
                        event = e.id,
                        "the audit chain does not extend its checkpoint; not moving the checkpoint past it"
                    );
                    return self.store(start, head).await;
                }
                head = Head {
                    events: head.events + 1,
                    last_id: e.id,
                    hash: e.hash,
                };
            }
        }
        self.store(start, head).await
    }

    async fn store(&self, start: Option<Head>, head: Head) -> anyhow::Result<bool> {
        if start.as_ref() == Some(&head) || head.events == 0 {
            return Ok(false);
        }
        // Write then rename, so a crash leaves the old checkpoint or the new one, never half.
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(&head)?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })
        .await??;
        *self.head.lock().unwrap_or_else(|p| p.into_inner()) = Some(head);
        Ok(true)
    }

    /// Advances the checkpoint every second until `stop` turns true, and once more then.
    pub async fn run<C: ConnectionTrait>(&self, db: C, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.advance(&db).await {
                tracing::warn!(error = %e, "cannot checkpoint the audit chain");
            }
            let stopping = tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => false,
                _ = stop.wait_for(|v| *v) => true,
            };
            if stopping {
                break;
            }
        }
        // Once more, so what was committed before shutdown is covered.
        if let Err(e) = self.advance(&db).await {
            tracing::warn!(error = %e, "cannot checkpoint the audit chain");
        }
    }
}

/// Walks the whole chain in id order, a page at a time, and reports the first broken link;
/// with a `checkpoint`, also a chain that ends before it or reaches it with another hash.
pub async fn verify<C: ConnectionTrait>(db: &C, checkpoint: Option<&Head>) -> Result<Verification, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    const PAGE: u64 = 1000;
    let mut prev = GENESIS.to_owned();
    let mut after = 0i64;
    let mut events = 0u64;
    let mut reached = false;
    loop {
        let page = audit_event::Entity::find()
            .filter(audit_event::Column::Id.gt(after))
            .order_by_asc(audit_event::Column::Id)
            .limit(PAGE)
            .all(db)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for e in page {
            events += 1;
            let broken = |reason: &str| Verification {
                ok: false,
                events,
                first_broken: Some(e.id),
                reason: Some(reason.to_owned()),
                checkpoint: checkpoint.cloned(),
            };
            if e.prev_hash != prev {
                return Ok(broken(
                    "its prev_hash is not the previous event's hash (an event was removed or reordered)",
                ));
            }
            let at = e.at.trunc_subsecs(6).to_rfc3339();
            if chain_hash(&e.prev_hash, &at, &e.actor, &e.action, &e.target, &e.details) != e.hash {
                return Ok(broken("its content does not match its hash (it was edited)"));
            }
            if let Some(c) = checkpoint.filter(|c| !reached && e.id >= c.last_id) {
                reached = true;
                if e.id != c.last_id || e.hash != c.hash || events != c.events {
                    return Ok(broken(&format!(
                        "the chain was rewritten: the checkpoint kept outside the database says event {} is number {} with hash {}…, but the database's chain differs there",
                        c.last_id,
                        c.events,
                        &c.hash[..12.min(c.hash.len())]
                    )));
                }
            }
            prev = e.hash;
        }
    }
    if let Some(c) = checkpoint.filter(|_| !reached) {
        return Ok(Verification {
            ok: false,
            events,
            first_broken: Some(c.last_id),
            reason: Some(format!(
                "the chain ends after {events} events, but the checkpoint kept outside the database says it reached event {} ({} events): events were removed from its end",
                c.last_id, c.events
            )),
            checkpoint: Some(c.clone()),
        });
    }
    Ok(Verification {
        ok: true,
        events,
        first_broken: None,
        reason: None,
        checkpoint: checkpoint.cloned(),
    })
}

/// Which events to list.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action (`job.approved`), or a prefix ending in `.` (`job.`).
    pub action: Option<String>,
    /// Only this target (`job:12`).
    pub target: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<chrono::DateTime<Utc>>,
    /// Only events before this time (RFC 3339).
    pub until: Option<chrono::DateTime<Utc>>,
    /// Only events with a smaller id (paging backwards).
    pub before: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u64>,
}

/// Events matching `f`, newest first.
pub async fn list<C: ConnectionTrait>(db: &C, f: &Filter) -> Result<Vec<audit_event::Model>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let mut q = audit_event::Entity::find().order_by_desc(audit_event::Column::Id);
    if let Some(a) = &f.actor {
        q = q.filter(audit_event::Column::Actor.eq(a.as_str()));
    }
    match f.action.as_deref() {
        Some(a) if a.ends_with('.') => q = q.filter(audit_event::Column::Action.starts_with(a)),
        Some(a) => q = q.filter(audit_event::Column::Action.eq(a)),
        None => {}
    }
    if let Some(t) = &f.target {
        q = q.filter(audit_event::Column::Target.eq(t.as_str()));
    }
    if let Some(s) = f.since {
        q = q.filter(audit_event::Column::At.gte(s));
    }
    if let Some(u) = f.until {
        q = q.filter(audit_event::Column::At.lt(u));
    }
    if let Some(b) = f.before {
        q = q.filter(audit_event::Column::Id.lt(b));
    }
    q.limit(f.limit.unwrap_or(100).clamp(1, 1000)).all(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed chain of three events has these exact hashes: a change to how events are
    /// hashed would make every stored chain fail verification, and fails here first.
    #[test]
    fn a_fixed_chain_has_its_pinned_hashes() {
        let at = "2026-11-23T10:00:00.123456+00:00";
        let first = chain_hash(
            GENESIS,
            at,
            "admin",
            "user.created",
            "user:ann",
            &serde_json::json!({"role": "approver"}),
        );
        let second = chain_hash(
            &first,
            at,
            "ann",
            "job.approved",
            "job:1",
            &serde_json::json!({"plan_hash": "ab", "comment": null}),
        );
        let third = chain_hash(
            &second,
            at,
            "steward",
            "tasks.finished",
            "tasks:1",
            &serde_json::json!({"results": [{"task": 1, "state": "SUCCESSFUL", "exit_code": 0}]}),
        );
        assert_eq!(
            [first, second, third],
            [
                "c20c3e278a00360db655b16e15547848cf6371b4e66956c908a5eda4122b3d8f",
                "a792e8416e350c1e984b2e8fb1f17b4f0d5ad5435f3915ea649135c5375ecc51",
                "803d4869f1e69bd29b4d2f74b19791a59b1585e9e65d3657d7ba4f409bd25c45",
            ]
        );
    }

    #[test]
    fn the_chain_hash_does_not_depend_on_the_order_keys_come_in() {
        // The order PostgreSQL's jsonb returns keys in: shorter first.
        let stored: Value = serde_json::from_str(r#"{"risk": "low", "source": "api", "plan_hash": "ab"}"#).unwrap();
        let written: Value = serde_json::from_str(r#"{"plan_hash": "ab", "source": "api", "risk": "low"}"#).unwrap();
        let h = |d: &Value| chain_hash(GENESIS, "2026-11-23T00:00:00+00:00", "a", "job.proposed", "job:1", d);
        assert_eq!(h(&stored), h(&written));
        let edited: Value = serde_json::from_str(r#"{"plan_hash": "ab", "source": "api", "risk": "high"}"#).unwrap();
        assert_ne!(h(&stored), h(&edited));
        assert_eq!(
            canonical_json(&serde_json::json!({"b": {"d": 1, "c": [{"f": 2, "e": 3}]}, "a": null})),
            br#"{"a":null,"b":{"c":[{"e":3,"f":2}],"d":1}}"#
        );
    }
}
