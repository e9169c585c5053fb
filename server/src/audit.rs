//! The audit log: append-only, each event chained to the previous one by SHA-256.
use chrono::{SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, QueryOrder, QuerySelect, Set};
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
    let prev = audit_event::Entity::find()
        .order_by_desc(audit_event::Column::Id)
        .limit(1)
        .one(db)
        .await?
        .map_or_else(|| GENESIS.to_owned(), |e| e.hash);
    // PostgreSQL keeps microseconds: hash what the database will give back.
    let at = Utc::now().trunc_subsecs(6);
    let hash = chain_hash(&prev, &at.to_rfc3339(), actor, action, target, &details);
    audit_event::ActiveModel {
        at: Set(at),
        actor: Set(actor.to_owned()),
        action: Set(action.to_owned()),
        target: Set(target.to_owned()),
        details: Set(details),
        prev_hash: Set(prev),
        hash: Set(hash),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The hash of one event given the previous hash.
pub fn chain_hash(prev: &str, at: &str, actor: &str, action: &str, target: &str, details: &Value) -> String {
    let body = serde_json::json!({"prev": prev, "at": at, "actor": actor, "action": action, "target": target, "details": details});
    hex::encode(Sha256::digest(serde_json::to_vec(&body).expect("serialises")))
}
