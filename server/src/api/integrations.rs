//! The bots' endpoints: Slack's and Telegram's requests (verified by the integrations before
//! anything else, so they are public routes), and the chat identities the bots act for.
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Json;
use serde_json::Value;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::AppState;
use crate::auth::{ChatIdentityView, LinkCode, NewChatIdentity};
use crate::integrations::{IntegrationError, SlackSignature};

impl From<IntegrationError> for ApiError {
    fn from(e: IntegrationError) -> Self {
        match e {
            IntegrationError::NotConfigured(_) => Self::new(StatusCode::NOT_FOUND, "not_configured", e.to_string()),
            IntegrationError::Unauthorized(m) => Self::unauthenticated(m),
            IntegrationError::Invalid(m) => Self::bad_request(m),
        }
    }
}

/// The bots' routes (outside the OpenAPI document: Slack and Telegram define their shape).
pub fn routes(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/integrations/slack/events", post(slack_events))
        .route("/integrations/slack/commands", post(slack_commands))
        .route("/integrations/slack/interactions", post(slack_interactions))
        .route("/integrations/telegram/webhook", post(telegram_webhook))
        .with_state(state)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

fn signed(headers: &HeaderMap) -> SlackSignature<'_> {
    SlackSignature {
        timestamp: header(headers, "x-slack-request-timestamp"),
        signature: header(headers, "x-slack-signature"),
    }
}

/// Slack's Events API (`url_verification`, `app_mention`, direct messages).
pub async fn slack_events(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    Ok(Json(s.integrations.slack_events(&signed(&headers), &body)?))
}

/// Slack's `/steward` slash command: acknowledged at once, answered later.
pub async fn slack_commands(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(s.integrations.slack_command(&signed(&headers), &body)?))
}

/// Slack's interactions: the Approve and Reject buttons on proposal cards.
pub async fn slack_interactions(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(s.integrations.slack_interaction(&signed(&headers), &body)?))
}

/// Telegram's webhook.
pub async fn telegram_webhook(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let secret = headers
        .get("x-telegram-bot-api-secret-token")
        .and_then(|v| v.to_str().ok());
    s.integrations.telegram_webhook(secret, &body)?;
    Ok(StatusCode::OK)
}

/// Linked chat accounts, newest first.
#[utoipa::path(get, path = "/api/v1/chat-identities", tag = "users", responses((status = 200, body = Vec<ChatIdentityView>)))]
pub async fn list_identities(State(s): State<AppState>) -> Result<Json<Vec<ChatIdentityView>>, ApiError> {
    Ok(Json(s.auth.list_identities().await?))
}

/// Links a Slack or Telegram account to a user: the bots then act for it with that user's
/// role.
#[utoipa::path(post, path = "/api/v1/chat-identities", tag = "users", request_body = NewChatIdentity,
    responses((status = 201, body = ChatIdentityView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn link_identity(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewChatIdentity>,
) -> Result<(StatusCode, Json<ChatIdentityView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.auth.link_identity(&caller.name, &req).await?),
    ))
}

/// Unlinks a chat account: the bots no longer act for it.
#[utoipa::path(delete, path = "/api/v1/chat-identities/{id}", tag = "users", params(("id" = i64, Path, description = "Chat identity id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn unlink_identity(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    s.auth.unlink_identity(&caller.name, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A one-time code (10 minutes) that links the chat account it is sent from to the caller:
/// send `link <code>` to the bot.
#[utoipa::path(post, path = "/api/v1/chat-identities/link-code", tag = "users",
    responses((status = 201, body = LinkCode), (status = 403, body = ErrorBody)))]
pub async fn create_link_code(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<LinkCode>), ApiError> {
    // A code links an account to a person; a token acting for a program has no chat account.
    if caller.name.starts_with("token:") {
        return Err(ApiError::forbidden("link codes are for people: sign in as yourself"));
    }
    Ok((StatusCode::CREATED, Json(s.auth.create_link_code(&caller.name).await?)))
}
