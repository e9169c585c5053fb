//! The audit log: append-only, each event chained to the previous one by SHA-256.
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
    /// Whether every event hashes to its stored hash and links to the one before.
    pub ok: bool,
    /// Events checked.
    pub events: u64,
    /// The first event whose hash or link does not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<i64>,
    /// What is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Walks the whole chain in id order, a page at a time, and reports the first broken link.
pub async fn verify<C: ConnectionTrait>(db: &C) -> Result<Verification, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    const PAGE: u64 = 1000;
    let mut prev = GENESIS.to_owned();
    let mut after = 0i64;
    let mut events = 0u64;
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
            prev = e.hash;
        }
    }
    Ok(Verification {
        ok: true,
        events,
        first_broken: None,
        reason: None,
    })
}

/// Which events to list.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
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
