//! The audit log: filtered listing and chain verification (admin only, see `access.rs`).
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::ApiQuery;
use super::AppState;
use crate::audit::{self, Filter, Verification};

/// One audit event.
#[derive(Serialize, ToSchema)]
pub struct AuditEvent {
    /// Id, in chain order.
    id: i64,
    /// RFC 3339.
    at: String,
    /// Who.
    actor: String,
    /// What (`job.approved`, `auth.login` …).
    action: String,
    /// On what (`job:12`, `user:alice`, `host:an-3` …).
    target: String,
    /// Details (never secrets).
    details: serde_json::Value,
    /// The previous event's hash.
    prev_hash: String,
    /// This event's hash.
    hash: String,
}

/// Audit events, newest first, filtered.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(Filter),
    responses((status = 200, body = Vec<AuditEvent>), (status = 400, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, ApiQuery(f): ApiQuery<Filter>) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    let rows = audit::list(s.store.read(), &f).await.map_err(ApiError::internal)?;
    Ok(Json(
        rows.into_iter()
            .map(|e| AuditEvent {
                id: e.id,
                at: e.at.to_rfc3339(),
                actor: e.actor,
                action: e.action,
                target: e.target,
                details: e.details,
                prev_hash: e.prev_hash,
                hash: e.hash,
            })
            .collect(),
    ))
}

/// Recomputes the hash chain and holds it against the checkpoint kept outside the database;
/// names the first event that was edited, removed or reordered, or where the chain was cut
/// short or rewritten.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", responses((status = 200, body = Verification)))]
pub async fn verify(State(s): State<AppState>) -> Result<Json<Verification>, ApiError> {
    let checkpoint = s.audit.head();
    Ok(Json(
        audit::verify(s.store.read(), checkpoint.as_ref())
            .await
            .map_err(ApiError::internal)?,
    ))
}
