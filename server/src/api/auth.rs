//! Who is calling: login, logout, `me`, and the [`Caller`] extractor.
//!
//! Authentication and the role check happen once, in `access.rs`'s middleware, before any
//! handler runs; it leaves the [`Caller`] in the request for handlers that need a name.
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use super::AppState;
pub use crate::auth::Role;
use crate::auth::Session;

/// The authenticated caller of a request: the identity the bearer token stands for.
pub type Caller = crate::auth::Identity;

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Present on every route with a role rule; a public route asking for a caller is a bug,
        // and failing closed is the safe answer to it.
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthenticated("this route needs a bearer token"))
    }
}

/// A username and password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Login name.
    username: String,
    /// Password.
    password: String,
}

/// Who the caller is.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// User name, or `token:<name>` for an API token.
    name: String,
    /// Role.
    role: Role,
}

/// Logs in; returns an expiring session token. Attempts are rate-limited per address, and a
/// username is held back for an address after repeated failures from it (429 with
/// Retry-After).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = Session), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(s): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    ApiJson(l): ApiJson<Login>,
) -> Result<Json<Session>, ApiError> {
    // Limits are per address: without the peer's own address every caller would share one
    // bucket, and one attacker would keep everybody out, so refuse rather than guess.
    let ip = peer
        .map(|p| p.0 .0.ip())
        .ok_or_else(|| ApiError::internal("the server does not know the caller's address"))?;
    Ok(Json(s.auth.login(&l.username, &l.password, ip).await?))
}

/// Ends the session (or revokes the API token) used for this request.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 200, body = Object, description = "`{\"logged_out\": true}`"), (status = 401, body = ErrorBody)))]
pub async fn logout(State(s): State<AppState>, caller: Caller) -> Result<Json<serde_json::Value>, ApiError> {
    s.auth.logout(&caller).await?;
    Ok(Json(serde_json::json!({"logged_out": true})))
}

/// The caller's name and role.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        name: caller.name,
        role: caller.role,
    })
}

/// How often an open stream checks that its caller still stands.
const SESSION_RECHECK: std::time::Duration = std::time::Duration::from_millis(400);

/// Resolves once `caller`'s session or token no longer stands (logged out, revoked,
/// expired, the user disabled, deleted or given another role): streams end on it, within a
/// second. A database error is logged and the check tried again.
pub(super) async fn session_ended(auth: crate::auth::Auth, caller: Caller) {
    loop {
        tokio::time::sleep(SESSION_RECHECK).await;
        match auth.still_valid(&caller).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(who = %caller.name, "closing a stream: its session ended");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot recheck a stream's session"),
        }
    }
}

/// `stream`, ended when `caller`'s session ends (see [`session_ended`]).
pub(super) fn while_session_lives<S: futures::Stream>(
    auth: crate::auth::Auth,
    caller: Caller,
    stream: S,
) -> impl futures::Stream<Item = S::Item> {
    futures::StreamExt::take_until(stream, Box::pin(session_ended(auth, caller)))
}
