//! Cluster and host routes.
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::AppState;
use crate::inventory::{self, ClusterView, HostView, NewCluster};
use crate::telemetry::{HostUsage, MetricValue};

/// A host with its CPU, memory and fullest disk (null until its agent reports them).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HostSummary {
    /// The host.
    #[serde(flatten)]
    pub host: HostView,
    /// Its latest usage.
    #[serde(flatten)]
    pub usage: HostUsage,
}

/// A host with its usage and the latest value of each of its metrics.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HostWithMetrics {
    /// The host.
    #[serde(flatten)]
    pub host: HostView,
    /// Its latest usage.
    #[serde(flatten)]
    pub usage: HostUsage,
    /// The latest value of every series its agent reports (empty until it reports).
    pub metrics: Vec<MetricValue>,
}

/// Every cluster with its hosts.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "inventory", responses((status = 200, body = Vec<ClusterView>)))]
pub async fn list_clusters(State(s): State<AppState>, caller: Caller) -> Result<Json<Vec<ClusterView>>, ApiError> {
    let mut list = inventory::list_clusters(s.store.read(), Some(&s.presence)).await?;
    for c in &mut list {
        mask_secret_config(&s, &caller, c);
    }
    Ok(Json(list))
}

/// For callers below operator, the values of the config keys the cluster's stack declares
/// secret are masked.
fn mask_secret_config(s: &AppState, caller: &Caller, c: &mut ClusterView) {
    if caller.role >= crate::auth::Role::Operator {
        return;
    }
    let Some(stack) = s.catalog.stack(&c.stack, &c.stack_version) else {
        return;
    };
    if let Some(config) = c.config.as_object_mut() {
        for k in stack.secret_config_keys() {
            if let Some(v) = config.get_mut(k) {
                *v = serde_json::Value::from(super::jobs::MASKED);
            }
        }
    }
}

/// Creates a cluster on a stack and places components on its hosts.
#[utoipa::path(post, path = "/api/v1/clusters", tag = "inventory", request_body = NewCluster,
    responses((status = 201, body = ClusterView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_cluster(
    State(s): State<AppState>,
    caller: super::auth::Caller,
    ApiJson(req): ApiJson<NewCluster>,
) -> Result<(StatusCode, Json<ClusterView>), ApiError> {
    let c = inventory::create_cluster(&s.store, &caller.name, &s.catalog, req).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// One cluster, by id or name.
#[utoipa::path(get, path = "/api/v1/clusters/{id}", tag = "inventory", params(("id" = String, Path, description = "Cluster id or name")),
    responses((status = 200, body = ClusterView), (status = 404, body = ErrorBody)))]
pub async fn get_cluster(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClusterView>, ApiError> {
    let mut c = inventory::cluster_view(s.store.read(), &id, Some(&s.presence)).await?;
    mask_secret_config(&s, &caller, &mut c);
    Ok(Json(c))
}

/// Every host, with its components and latest usage.
#[utoipa::path(get, path = "/api/v1/hosts", tag = "inventory", responses((status = 200, body = Vec<HostSummary>)))]
pub async fn list_hosts(State(s): State<AppState>) -> Result<Json<Vec<HostSummary>>, ApiError> {
    let hosts = inventory::list_hosts(s.store.read(), &s.presence).await?;
    Ok(Json(
        hosts
            .into_iter()
            .map(|host| HostSummary {
                usage: s.telemetry.usage(host.id),
                host,
            })
            .collect(),
    ))
}

/// One host, by id or hostname, with its usage and latest metric values.
#[utoipa::path(get, path = "/api/v1/hosts/{id}", tag = "inventory", params(("id" = String, Path, description = "Host id or hostname")),
    responses((status = 200, body = HostWithMetrics), (status = 404, body = ErrorBody)))]
pub async fn get_host(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<HostWithMetrics>, ApiError> {
    let host = inventory::host_view(s.store.read(), &id, &s.presence).await?;
    let metrics = s.telemetry.latest(host.id);
    let usage = s.telemetry.usage(host.id);
    Ok(Json(HostWithMetrics { host, usage, metrics }))
}

/// Deletes a cluster: its hosts leave it, its knowledge (job logs, incidents) is removed, its
/// finished jobs stay in the history. Refused (409) while one of its jobs is not finished.
#[utoipa::path(delete, path = "/api/v1/clusters/{id}", tag = "inventory", params(("id" = String, Path, description = "Cluster id or name")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_cluster(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let name = inventory::delete_cluster(&s.store, &id, &caller.name).await?;
    if let Some(k) = &s.knowledge {
        // The cluster is gone either way; a failure here leaves orphaned chunks that no
        // cluster filter can reach, so it is logged, not returned.
        if let Err(e) = k.delete_cluster(&name).await {
            tracing::error!(cluster = %name, error = %e, "could not remove the deleted cluster's knowledge chunks");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
