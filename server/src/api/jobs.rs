//! Job routes: propose, list, show, approve, reject, cancel.
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::jobs::{JobFilter, JobState, JobSummary, JobView, ProposeRequest, LIST_DEFAULT, LIST_MAX, SOURCES};

/// Filters for the job list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only jobs in one of these states, comma-separated (`RUNNING,PENDING`).
    state: Option<String>,
    /// Only jobs with a task on this host (its id).
    host_id: Option<i64>,
    /// Only jobs from this source: `api`, `chat`, `anomaly`, `slack` or `telegram`.
    source: Option<String>,
    /// At most this many (default 50, at most 1000).
    limit: Option<u64>,
    /// Skip this many first (newest first; default 0).
    offset: Option<u64>,
}

impl ListQuery {
    /// The filter this query asks for, or why it is not one.
    fn filter(self) -> Result<JobFilter, ApiError> {
        let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", m);
        let mut states = vec![];
        for v in self.state.iter().flat_map(|s| s.split(',')).map(str::trim) {
            let st = JobState::parse(&v.to_ascii_uppercase()).ok_or_else(|| bad(format!("unknown state {v:?}")))?;
            if !states.contains(&st) {
                states.push(st);
            }
        }
        if let Some(src) = &self.source {
            if !SOURCES.contains(&src.as_str()) {
                return Err(bad(format!("source {src:?} is not one of {}", SOURCES.join(", "))));
            }
        }
        if self.limit == Some(0) {
            return Err(bad("limit must be at least 1".into()));
        }
        Ok(JobFilter {
            states,
            host_id: self.host_id,
            source: self.source,
            limit: self.limit.unwrap_or(LIST_DEFAULT).min(LIST_MAX),
            offset: self.offset.unwrap_or(0),
        })
    }
}

/// An approval.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The `plan_hash` of the job as reviewed; a different one is refused.
    plan_hash: String,
    /// Why.
    #[serde(default)]
    comment: Option<String>,
}

/// A rejection.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Why.
    #[serde(default)]
    comment: Option<String>,
}

/// Lists jobs, newest first; `x-total-count` says how many match before `limit` and `offset`.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = Vec<JobSummary>,
        headers(("x-total-count" = u64, description = "Jobs matching the filters, before limit and offset"))),
        (status = 400, body = ErrorBody)))]
pub async fn list_jobs(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<(HeaderMap, Json<Vec<JobSummary>>), ApiError> {
    let (jobs, total) = s.jobs.search(&q.filter()?).await?;
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(total));
    Ok((headers, Json(jobs)))
}

/// Proposes a job: a plan, or the shorthand `{cluster, service, component, command, hosts}`.
/// The job is PROPOSED; nothing runs until it is approved.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", request_body = ProposeRequest,
    responses((status = 201, body = JobView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn propose_job(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ProposeRequest>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    s.auth.proposal_allowed(&caller.name)?;
    let job = s.jobs.propose(&caller.name, "api", &req).await?;
    Ok((StatusCode::CREATED, Json(job)))
}

/// A job with its plan, stages and tasks.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)))]
pub async fn get_job(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobView>, ApiError> {
    let mut job = s.jobs.get(id).await?;
    if caller.role < crate::auth::Role::Operator {
        mask_secret_env(&s, &mut job);
    }
    Ok(Json(job))
}

/// What a viewer sees of a secret value.
pub(super) const MASKED: &str = "********";

/// Replaces, in every task's environment, the values of the config keys the job's stack
/// declares secret: viewers see that a value is set, never the value.
fn mask_secret_env(s: &AppState, job: &mut JobView) {
    let stack = s.catalog.stack(
        job.plan["stack"].as_str().unwrap_or_default(),
        job.plan["stack_version"].as_str().unwrap_or_default(),
    );
    let Some(stack) = stack else { return };
    let vars: Vec<String> = stack
        .secret_config_keys()
        .into_iter()
        .map(|k| format!("STEWARD_CONFIG_{}", k.to_ascii_uppercase()))
        .collect();
    for task in job.stages.iter_mut().flat_map(|st| st.tasks.iter_mut()) {
        if let Some(env) = task.env.as_object_mut() {
            for var in &vars {
                if let Some(v) = env.get_mut(var) {
                    *v = serde_json::Value::from(MASKED);
                }
            }
        }
    }
}

/// Approves a proposal; `plan_hash` must be the job's.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/approve", tag = "jobs", params(("id" = i64, Path, description = "Job id")), request_body = ApproveRequest,
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve_job(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ApproveRequest>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(
        s.jobs
            .approve(id, &caller.name, &req.plan_hash, req.comment.as_deref(), "api")
            .await?,
    ))
}

/// Rejects a proposal.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/reject", tag = "jobs", params(("id" = i64, Path, description = "Job id")), request_body = RejectRequest,
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject_job(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    body: axum::body::Bytes,
) -> Result<Json<JobView>, ApiError> {
    // The body is optional: an empty one rejects without a comment.
    let req: RejectRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RejectRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", e.to_string()))?
    };
    Ok(Json(
        s.jobs.reject(id, &caller.name, req.comment.as_deref(), "api").await?,
    ))
}

/// Cancels an approved or running job: pending tasks never run, running ones are killed.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_job(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(s.jobs.cancel(id, &caller.name).await?))
}
