//! Agent enrollment tokens and per-host agent credentials (admin only, see `access.rs`).
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::AppState;
use crate::auth::{CredentialView, EnrollmentView, NewEnrollment};

/// Enrollment tokens, newest first (never their secrets).
#[utoipa::path(get, path = "/api/v1/enrollments", tag = "agents", responses((status = 200, body = Vec<EnrollmentView>)))]
pub async fn list_enrollments(State(s): State<AppState>) -> Result<Json<Vec<EnrollmentView>>, ApiError> {
    Ok(Json(s.auth.list_enrollments().await?))
}

/// Creates a one-time enrollment token (`token` is in this response only); give it to
/// `steward-agent --enroll`.
#[utoipa::path(post, path = "/api/v1/enrollments", tag = "agents", request_body = NewEnrollment,
    responses((status = 201, body = EnrollmentView), (status = 422, body = ErrorBody)))]
pub async fn create_enrollment(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewEnrollment>,
) -> Result<(StatusCode, Json<EnrollmentView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.auth.create_enrollment(&caller.name, &req).await?),
    ))
}

/// Revokes an unused enrollment token (it can never enroll); a used one is 409: revoke the
/// agent credential it issued instead.
#[utoipa::path(delete, path = "/api/v1/enrollments/{id}", tag = "agents", params(("id" = i64, Path, description = "Enrollment id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke_enrollment(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    s.auth.revoke_enrollment(&caller.name, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Per-host agent credentials, newest first.
#[utoipa::path(get, path = "/api/v1/agent-credentials", tag = "agents", responses((status = 200, body = Vec<CredentialView>)))]
pub async fn list_credentials(State(s): State<AppState>) -> Result<Json<Vec<CredentialView>>, ApiError> {
    Ok(Json(s.auth.list_credentials().await?))
}

/// Revokes an agent credential; the host's live session is closed and it cannot reconnect.
#[utoipa::path(delete, path = "/api/v1/agent-credentials/{id}", tag = "agents", params(("id" = i64, Path, description = "Credential id")),
    responses((status = 200, body = CredentialView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke_credential(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CredentialView>, ApiError> {
    Ok(Json(s.auth.revoke_credential(&caller.name, id).await?))
}
