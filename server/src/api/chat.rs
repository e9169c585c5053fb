//! Chat routes: conversations and messages, answered whole or streamed as SSE.
use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::chat::{Chat, ChatError, ConversationView, JobSummary, Reply, StoredMessage};

/// A new conversation.
#[derive(Serialize, ToSchema)]
pub struct Created {
    /// Its id.
    id: i64,
}

/// Paging of the conversation list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConversationsQuery {
    /// At most this many (default 50, at most 500).
    limit: Option<u64>,
}

/// A message to the assistant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// What the operator says.
    text: String,
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::NotFound(_) => ApiError::not_found(e.to_string()),
            ChatError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            ChatError::Model(steward_llm::LlmError::Busy { retry_after_secs, .. }) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "llm_busy", e.to_string()).retry_after(retry_after_secs)
            }
            ChatError::Model(m) => ApiError::new(StatusCode::BAD_GATEWAY, "llm_error", m.to_string()),
            ChatError::Inventory(e) => e.into(),
            ChatError::Job(e) => e.into(),
            ChatError::Prompt(e) => ApiError::internal(e),
            ChatError::Db(e) => ApiError::internal(e),
        }
    }
}

fn chat(s: &AppState) -> Result<&Chat, ApiError> {
    s.chat.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "llm_unavailable",
            "no language model is configured: set STEWARD_LLM_PROVIDER=openai with STEWARD_LLM_BASE_URL and STEWARD_LLM_MODEL",
        )
    })
}

/// The caller's conversations, newest activity first.
#[utoipa::path(get, path = "/api/v1/chat/conversations", tag = "chat", params(ConversationsQuery),
    responses((status = 200, body = Vec<ConversationView>), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_conversations(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ConversationsQuery>,
) -> Result<Json<Vec<ConversationView>>, ApiError> {
    let limit = match q.limit {
        None => crate::chat::CONVERSATIONS_DEFAULT,
        Some(0) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                "limit must be at least 1",
            ))
        }
        Some(n) => n.min(crate::chat::CONVERSATIONS_MAX),
    };
    Ok(Json(chat(&s)?.conversations(&caller.name, limit).await?))
}

/// Where a conversation is held, as people see it in their list.
#[derive(Debug, Default, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// The web console.
    Web,
    /// A script or tool calling the REST API (the default).
    #[default]
    Api,
    /// The `steward chat` command.
    Cli,
}

/// A new conversation's settings; the body may also be empty.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    /// Where it is held (default `api`).
    #[serde(default)]
    channel: Channel,
}

/// Starts a conversation (the body is optional).
#[utoipa::path(post, path = "/api/v1/chat/conversations", tag = "chat",
    request_body(content = Option<NewConversation>),
    responses((status = 201, body = Created), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_conversation(
    State(s): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let new: NewConversation = if body.iter().all(u8::is_ascii_whitespace) {
        NewConversation::default()
    } else {
        let shape = "a new conversation takes {\"channel\": \"web\"|\"api\"|\"cli\"}";
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("{shape}: {e}")))?;
        serde_json::from_value(v)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", format!("{shape}: {e}")))?
    };
    let channel = match new.channel {
        Channel::Web => "web",
        Channel::Api => "api",
        Channel::Cli => "cli",
    };
    let id = chat(&s)?.create(&caller.name, channel).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// The conversation's messages, oldest first.
#[utoipa::path(get, path = "/api/v1/chat/conversations/{id}/messages", tag = "chat", params(("id" = i64, Path, description = "Conversation id")),
    responses((status = 200, body = Vec<StoredMessage>), (status = 404, body = ErrorBody)))]
pub async fn list_messages(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<StoredMessage>>, ApiError> {
    Ok(Json(chat(&s)?.history(id, &caller.name).await?))
}

/// Sends a message; the reply says whether a job was proposed (it never runs one).
/// With `Accept: text/event-stream`: `token`, `tool_call`, `tool_result`, `proposal`
/// events, then `done` with the whole reply (or `error`).
#[utoipa::path(post, path = "/api/v1/chat/conversations/{id}/messages", tag = "chat", params(("id" = i64, Path, description = "Conversation id")),
    request_body = NewMessage,
    responses((status = 200, body = Reply), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn send_message(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(m): ApiJson<NewMessage>,
) -> Result<Response, ApiError> {
    let chat = chat(&s)?.clone();
    s.auth.chat_allowed(&caller.name)?;
    let streaming = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !streaming {
        return Ok(Json(chat.send(id, &caller.name, "chat", &m.text, None, vec![]).await?).into_response());
    }
    // Check the conversation before answering 200 with a stream.
    chat.history(id, &caller.name).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let user = caller.name.clone();
    let turn = tokio::spawn(async move { chat.send(id, &user, "chat", &m.text, Some(tx), vec![]).await });
    // When the caller's session ends, the stream closes and the turn stops: nothing more is
    // asked of the model, nor proposed, on behalf of someone no longer signed in.
    let abort = turn.abort_handle();
    let (auth, who) = (s.auth.clone(), caller.clone());
    let ended = async move {
        super::auth::session_ended(auth, who).await;
        abort.abort();
    };
    let stream = async_stream::stream! {
        while let Some(ev) = rx.recv().await {
            let kind = match &ev {
                crate::chat::ChatEvent::Token { .. } => "token",
                crate::chat::ChatEvent::ToolCall { .. } => "tool_call",
                crate::chat::ChatEvent::ToolResult { .. } => "tool_result",
                crate::chat::ChatEvent::Proposal { .. } => "proposal",
            };
            yield Ok::<_, Infallible>(SseEvent::default().event(kind).data(serde_json::to_string(&ev).unwrap_or_default()));
        }
        match turn.await {
            Ok(Ok(reply)) => yield Ok(SseEvent::default().event("done").data(serde_json::to_string(&reply).unwrap_or_default())),
            Ok(Err(e)) => yield Ok(SseEvent::default().event("error").data(serde_json::json!({"message": e.to_string()}).to_string())),
            Err(e) => yield Ok(SseEvent::default().event("error").data(serde_json::json!({"message": e.to_string()}).to_string())),
        }
    };
    let stream = futures::StreamExt::take_until(stream, Box::pin(ended));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// Has the model summarise a job from its task output (text only: it cannot propose).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/summary", tag = "jobs", params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = JobSummary), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn summarize_job(State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> Result<Json<JobSummary>, ApiError> {
    Ok(Json(chat(&s)?.summarize_job(id).await?))
}
