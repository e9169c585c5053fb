//! Job routes: propose, list, show, approve, reject, cancel.
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::jobs::{JobState, JobSummary, JobView, ProposeRequest};

/// Filters for the job list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only jobs in this state.
    state: Option<String>,
    /// At most this many (default 50, at most 1000).
    limit: Option<u64>,
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

/// Lists jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = Vec<JobSummary>), (status = 400, body = ErrorBody)))]
pub async fn list_jobs(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<JobSummary>>, ApiError> {
    let state = match q.state.as_deref() {
        None => None,
        Some(v) => Some(
            JobState::parse(&v.to_ascii_uppercase())
                .ok_or_else(|| ApiError::bad_request(format!("unknown state {v:?}")))?,
        ),
    };
    Ok(Json(s.jobs.list(state, q.limit.unwrap_or(50).min(1000)).await?))
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
            .approve(id, &caller.name, &req.plan_hash, req.comment.as_deref())
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
    Ok(Json(s.jobs.reject(id, &caller.name, req.comment.as_deref()).await?))
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
