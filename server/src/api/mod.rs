//! The HTTP interface: REST under `/api/v1`, SSE, the OpenAPI document and its viewer.
//!
//! Only this module knows about HTTP and JSON shapes; handlers are thin and call one
//! function of a domain module.
pub mod access;
mod audit;
mod auth;
mod chat;
mod enrollments;
mod error;
mod events;
mod extract;
mod integrations;
mod inventory;
mod jobs;
mod knowledge;
mod stacks;
mod telemetry;
mod users;
mod web;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::db::Store;
use crate::inventory::Presence;
use crate::jobs::Jobs;
use crate::stacks::Catalog;

pub use auth::{Caller, Role};
pub use error::{ApiError, ErrorBody};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The stack catalog.
    pub catalog: Arc<Catalog>,
    /// The jobs service.
    pub jobs: Jobs,
    /// Which hosts are online.
    pub presence: Arc<Presence>,
    /// The chat planner; None when no language model is configured.
    pub chat: Option<crate::chat::Chat>,
    /// Users, tokens, enrollment, abuse limits.
    pub auth: crate::auth::Auth,
    /// The knowledge index; None when no embedder is configured.
    pub knowledge: Option<crate::knowledge::Knowledge>,
    /// Metrics, incidents, remediation.
    pub telemetry: crate::telemetry::Telemetry,
    /// The audit chain's head, kept outside the database.
    pub audit: crate::audit::Checkpoint,
    /// The Slack and Telegram bots.
    pub integrations: crate::integrations::Integrations,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Steward API",
        description = "LLM-assisted operations: proposals that run only after approval."
    ),
    // ChatEvent is sent only on the chat stream, which the document cannot name as a body.
    components(schemas(ErrorBody, crate::chat::ChatEvent))
)]
struct ApiDoc;

/// The documented routes (everything under `/api/v1` and `/healthz`).
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::update_user, users::delete_user))
        .routes(routes!(users::list_tokens, users::create_token))
        .routes(routes!(users::revoke_token))
        .routes(routes!(enrollments::list_enrollments, enrollments::create_enrollment))
        .routes(routes!(enrollments::revoke_enrollment))
        .routes(routes!(enrollments::list_credentials))
        .routes(routes!(enrollments::revoke_credential))
        .routes(routes!(integrations::list_identities, integrations::link_identity))
        .routes(routes!(integrations::unlink_identity))
        .routes(routes!(integrations::create_link_code))
        .routes(routes!(audit::list))
        .routes(routes!(audit::verify))
        .routes(routes!(jobs::list_jobs, jobs::propose_job))
        .routes(routes!(jobs::get_job))
        .routes(routes!(jobs::approve_job))
        .routes(routes!(jobs::reject_job))
        .routes(routes!(jobs::cancel_job))
        .routes(routes!(events::task_logs))
        .routes(routes!(events::events))
        .routes(routes!(inventory::list_clusters, inventory::create_cluster))
        .routes(routes!(inventory::get_cluster, inventory::delete_cluster))
        .routes(routes!(knowledge::search))
        .routes(routes!(knowledge::status))
        .routes(routes!(inventory::list_hosts))
        .routes(routes!(inventory::get_host))
        .routes(routes!(telemetry::host_metrics))
        .routes(routes!(telemetry::host_series))
        .routes(routes!(telemetry::list_incidents))
        .routes(routes!(telemetry::get_incident))
        .routes(routes!(telemetry::host_exposition))
        .routes(routes!(stacks::list_stacks))
        .routes(routes!(stacks::get_doc))
        .routes(routes!(chat::list_conversations, chat::create_conversation))
        .routes(routes!(chat::list_messages, chat::send_message))
        .routes(routes!(chat::summarize_job))
        .routes(routes!(health))
}

/// The OpenAPI document, with each operation's access rule (`x-steward-min-role`).
pub fn openapi_json() -> serde_json::Value {
    let (_, doc) = api_routes().split_for_parts();
    publish(&doc)
}

/// The document as served: each operation's access rule, axum's `{*path}` wildcards written
/// as OpenAPI's `{path}`, and keys sorted, so the copy committed for the web console's types
/// (`steward openapi`) is stable and diffs line by line.
fn publish(doc: &utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut v = serde_json::to_value(doc).expect("the OpenAPI document serialises");
    access::annotate(&mut v);
    if let Some(paths) = v.get_mut("paths").and_then(|p| p.as_object_mut()) {
        let wildcards: Vec<String> = paths.keys().filter(|k| k.contains("{*")).cloned().collect();
        for k in wildcards {
            if let Some(item) = paths.remove(&k) {
                paths.insert(k.replace("{*", "{"), item);
            }
        }
    }
    serde_json::from_slice(&crate::audit::canonical_json(&v)).expect("canonical JSON parses")
}

/// The whole HTTP application.
pub fn router(state: AppState, max_body: usize) -> Router {
    let (api, doc) = api_routes().with_state(state.clone()).split_for_parts();
    let doc_json = Arc::new(publish(&doc));
    let ui_doc = doc_json.clone();
    api.route(
        "/api/v1/openapi.json",
        get(move || async move { Json(doc_json.as_ref().clone()) }),
    )
    .route(
        "/metrics",
        get(|| async {
            (
                [("content-type", "text/plain; version=0.0.4")],
                crate::metrics::render(),
            )
        }),
    )
    .merge(
        utoipa_swagger_ui::SwaggerUi::new("/docs")
            .external_url_unchecked("/api/v1/openapi-ui.json", ui_doc.as_ref().clone()),
    )
    .merge(integrations::routes(state.clone()))
    .route("/", get(web::index))
    // After every route: the layer sees the matched path of each.
    .route_layer(axum::middleware::from_fn_with_state(state, access::authorize))
    .fallback(web::fallback)
    .layer(DefaultBodyLimit::max(max_body))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "The server is up", body = Object)))]
async fn health() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}
