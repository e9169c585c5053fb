//! People and tooling: users and API tokens (admin only, see `access.rs`).
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::AppState;
use crate::auth::{NewToken, Role, TokenView, UserUpdate, UserView};

/// A new user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name.
    username: String,
    /// At least 12 characters; stored as an argon2id hash.
    password: String,
    /// `viewer`, `operator`, `approver` or `admin`.
    role: Role,
}

/// A new API token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// A name to recognise it by; the token acts as `token:<name>`.
    name: String,
    /// What it may do.
    role: Role,
    /// RFC 3339; it never expires when left out.
    #[serde(default)]
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Users, by name.
#[utoipa::path(get, path = "/api/v1/users", tag = "auth", responses((status = 200, body = Vec<UserView>)))]
pub async fn list_users(State(s): State<AppState>) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(s.auth.list_users().await?))
}

/// Creates a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "auth", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(u): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let v = s
        .auth
        .create_user(&caller.name, &u.username, &u.password, u.role)
        .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Changes a user's role, or disables (enables) them: a disabled user's sessions and the API
/// tokens they created stop working at once. Nobody can demote, disable or delete themselves,
/// nor the last enabled admin (409).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "auth", params(("id" = i64, Path, description = "User id")),
    request_body = UserUpdate,
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_user(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(change): ApiJson<UserUpdate>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.auth.update_user(&caller.name, id, &change).await?))
}

/// Deletes a user; their sessions and the API tokens they created are revoked.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "auth", params(("id" = i64, Path, description = "User id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_user(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    s.auth.delete_user(&caller.name, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// API tokens, newest first (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth", responses((status = 200, body = Vec<TokenView>)))]
pub async fn list_tokens(State(s): State<AppState>) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(s.auth.list_tokens().await?))
}

/// Creates an API token; the secret is in this response only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", request_body = TokenRequest,
    responses((status = 201, body = NewToken), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(t): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    let v = s.auth.create_token(&caller.name, &t.name, t.role, t.expires_at).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Revokes a token; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth", params(("id" = i64, Path, description = "Token id")),
    responses((status = 200, body = TokenView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke_token(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(s.auth.revoke_token(&caller.name, id).await?))
}
