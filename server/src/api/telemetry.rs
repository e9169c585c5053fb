//! Telemetry routes: a host's metrics over a range, incidents, and the Prometheus scrape of
//! every host's latest values.
use std::collections::HashMap;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiPath, ApiQuery};
use super::AppState;
use crate::inventory;
use crate::telemetry::{IncidentFilter, IncidentView, RangeQuery, RangeView, SeriesInfo};

/// One metric of a host over a time range: raw samples, or 1-minute / 1-hour rollups
/// (average, with min and max) for older ranges.
#[utoipa::path(get, path = "/api/v1/hosts/{id}/metrics", tag = "telemetry",
    params(("id" = String, Path, description = "Host id or hostname"), RangeQuery),
    responses((status = 200, body = RangeView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn host_metrics(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Json<RangeView>, ApiError> {
    let host = inventory::host_view(s.store.read(), &id, &s.presence).await?;
    Ok(Json(s.telemetry.range(host.id, &q).await?))
}

/// The series a host has (metric name and labels), with the latest value of each, sorted by
/// name then labels: what `/hosts/{id}/metrics?name=` can be asked for.
#[utoipa::path(get, path = "/api/v1/hosts/{id}/metrics/series", tag = "telemetry",
    params(("id" = String, Path, description = "Host id or hostname")),
    responses((status = 200, body = Vec<SeriesInfo>), (status = 404, body = ErrorBody)))]
pub async fn host_series(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<SeriesInfo>>, ApiError> {
    let host = inventory::host_view(s.store.read(), &id, &s.presence).await?;
    Ok(Json(s.telemetry.series(host.id).await?))
}

/// Incidents, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "telemetry", params(IncidentFilter),
    responses((status = 200, body = Vec<IncidentView>), (status = 400, body = ErrorBody)))]
pub async fn list_incidents(
    State(s): State<AppState>,
    ApiQuery(f): ApiQuery<IncidentFilter>,
) -> Result<Json<Vec<IncidentView>>, ApiError> {
    Ok(Json(s.telemetry.incidents(&f).await?))
}

/// One incident, with its remediation proposal or why there is none.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "telemetry", params(("id" = i64, Path, description = "Incident id")),
    responses((status = 200, body = IncidentView), (status = 404, body = ErrorBody)))]
pub async fn get_incident(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<IncidentView>, ApiError> {
    Ok(Json(s.telemetry.incident(id).await?))
}

/// Every host's latest metric values in the Prometheus text format
/// (`steward_host_<metric>{host,cluster,…}`), for an existing Prometheus to scrape with a
/// viewer's bearer token.
#[utoipa::path(get, path = "/metrics/hosts", tag = "telemetry",
    responses((status = 200, description = "Prometheus text exposition", body = String)))]
pub async fn host_exposition(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let hosts: HashMap<i64, (String, Option<String>)> = inventory::list_hosts(s.store.read(), &s.presence)
        .await?
        .into_iter()
        .map(|h| (h.id, (h.hostname, h.cluster)))
        .collect();
    Ok((
        [("content-type", "text/plain; version=0.0.4")],
        s.telemetry.exposition(&hosts),
    ))
}
