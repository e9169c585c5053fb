//! The knowledge index: search, and what the indexing is doing.
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::ApiQuery;
use super::AppState;
use crate::knowledge::{Chunk, Filter, Kind, Knowledge, KnowledgeError, SearchMode, SearchRequest, Status, TimeRange};

/// A search of the knowledge index.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The question, in plain words (at most 1,000 bytes).
    q: String,
    /// At most this many chunks (1 to 50, default 5).
    limit: Option<usize>,
    /// `hybrid` (default), `dense` (meaning) or `sparse` (words, BM25).
    mode: Option<String>,
    /// Only `doc`, `job_log` or `incident` chunks.
    kind: Option<String>,
    /// Only this cluster's job logs and incidents, together with the docs.
    cluster: Option<String>,
    /// Only this service.
    service: Option<String>,
    /// Only this component.
    component: Option<String>,
    /// Only this host.
    host: Option<String>,
    /// Only this job's logs.
    job_id: Option<i64>,
    /// Only chunks at or after this time (RFC 3339).
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only chunks at or before this time (RFC 3339).
    until: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a search found.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    /// The chunks, best first.
    pub hits: Vec<Chunk>,
    /// The mode used.
    pub mode: String,
    /// Milliseconds the search took, embedding the question included.
    pub took_ms: f64,
}

impl From<KnowledgeError> for ApiError {
    fn from(e: KnowledgeError) -> Self {
        match e {
            KnowledgeError::Invalid(m) => ApiError::bad_request(m),
            KnowledgeError::Off(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "knowledge_off", e.to_string()),
            KnowledgeError::Embed(_) => ApiError::new(StatusCode::BAD_GATEWAY, "embedder_failed", e.to_string()),
            KnowledgeError::Store(_) | KnowledgeError::Source(_) => ApiError::internal(e),
        }
    }
}

fn knowledge(s: &AppState) -> Result<&Knowledge, ApiError> {
    s.knowledge.as_ref().ok_or_else(|| {
        KnowledgeError::Off("no embedder is configured (STEWARD_EMBEDDER) or its model is missing".into()).into()
    })
}

/// Searches stack docs, past job logs and incidents by meaning and by words.
#[utoipa::path(get, path = "/api/v1/knowledge/search", tag = "knowledge", params(SearchParams),
    responses((status = 200, body = SearchResult), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn search(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Result<Json<SearchResult>, ApiError> {
    let k = knowledge(&s)?;
    let mode = match p.mode.as_deref() {
        None | Some("hybrid") => SearchMode::Hybrid,
        Some("dense") => SearchMode::Dense,
        Some("sparse") => SearchMode::Sparse,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "mode {other:?} is not hybrid, dense or sparse"
            )))
        }
    };
    let kinds = match p.kind.as_deref() {
        None => vec![],
        Some("doc") => vec![Kind::Doc],
        Some("job_log") => vec![Kind::JobLog],
        Some("incident") => vec![Kind::Incident],
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "kind {other:?} is not doc, job_log or incident"
            )))
        }
    };
    let time = (p.since.is_some() || p.until.is_some()).then(|| TimeRange {
        from: p.since.map(|t| t.timestamp()),
        to: p.until.map(|t| t.timestamp()),
    });
    let req = SearchRequest {
        query: p.q,
        limit: p.limit.unwrap_or(5),
        mode,
        filter: Filter {
            kinds,
            service: p.service,
            component: p.component,
            host: p.host,
            job_id: p.job_id.map(|j| j.to_string()),
            time,
            ..Filter::all()
        },
    };
    let started = std::time::Instant::now();
    let hits = match &p.cluster {
        Some(c) => k.search_in_cluster(&req, c).await?,
        None => k.search(&req).await?,
    };
    Ok(Json(SearchResult {
        hits,
        mode: mode.as_str().to_owned(),
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
    }))
}

/// What the index holds and whether it is still indexing.
#[utoipa::path(get, path = "/api/v1/knowledge/status", tag = "knowledge",
    responses((status = 200, body = Status), (status = 503, body = ErrorBody)))]
pub async fn status(State(s): State<AppState>) -> Result<Json<Status>, ApiError> {
    Ok(Json(knowledge(&s)?.status().await?))
}
