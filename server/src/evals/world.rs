//! The answer evaluation's world (`llm/evals/world.toml`): host metrics, incidents and
//! finished jobs with their output, written into a throw-away server's database.
//!
//! This is a fixture loader: it writes rows the agents and detectors would have written
//! (no agent connects to an evaluation server, so nothing can run). Jobs are proposed through
//! the ordinary path, so their plans are real, and then marked finished with their output.
use std::collections::BTreeMap;

use anyhow::{bail, Context};
use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::Deserialize;

use crate::api::AppState;
use crate::db::entities::{incident, job, stage, task, task_output};
use crate::db::output;
use crate::inventory;
use crate::jobs::ProposeRequest;
use crate::telemetry::ingest::Sample;
use crate::telemetry::store::{self, SeriesIds};
use crate::telemetry::SeriesKey;

/// The world file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    #[serde(default)]
    metrics: Vec<Series>,
    #[serde(default)]
    incidents: Vec<Incident>,
    #[serde(default)]
    jobs: Vec<Job>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Series {
    host: String,
    metric: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    every_s: i64,
    values: Vec<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Incident {
    host: String,
    metric: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    detector: String,
    state: String,
    summary: String,
    value: f64,
    threshold: Option<f64>,
    forecast: Option<String>,
    opened_min_ago: i64,
    resolved_min_ago: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Job {
    cluster: String,
    service: String,
    component: String,
    command: String,
    #[serde(default)]
    params: BTreeMap<String, serde_json::Value>,
    state: String,
    finished_min_ago: i64,
    tasks: Vec<JobTask>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobTask {
    host: String,
    exit_code: Option<i32>,
    #[serde(default)]
    output: String,
}

/// Reads a world file.
pub fn load(path: &std::path::Path) -> anyhow::Result<World> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a world file", path.display()))
}

async fn host_id(state: &AppState, hostname: &str) -> anyhow::Result<i64> {
    inventory::host_id(state.store.read(), hostname)
        .await?
        .with_context(|| format!("the world names host {hostname:?}, which the fixture does not have"))
}

/// Writes `world` into the server behind `state` (its clusters already created).
pub async fn seed(state: &AppState, world: &World) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut ids = SeriesIds::default();
    for s in &world.metrics {
        let host = host_id(state, &s.host).await?;
        let key = SeriesKey {
            name: s.metric.clone(),
            labels: s.labels.clone(),
        };
        let n = s.values.len() as i64;
        let samples: Vec<Sample> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| Sample {
                series: key.id(),
                at_ms: now.timestamp_millis() - (n - 1 - i as i64) * s.every_s * 1000,
                value: *v,
            })
            .collect();
        store::write(&state.store, &mut ids, &[(host, samples)]).await?;
    }
    for i in &world.incidents {
        let host = host_id(state, &i.host).await?;
        let cluster_id = match inventory::host_view(state.store.read(), &i.host, &state.presence)
            .await?
            .cluster
        {
            Some(c) => Some(inventory::cluster_view(state.store.read(), &c, None).await?.id),
            None => None,
        };
        let key = SeriesKey {
            name: i.metric.clone(),
            labels: i.labels.clone(),
        };
        let resolved = i.resolved_min_ago.map(|m| now - Duration::minutes(m));
        if (i.state == "RESOLVED") != resolved.is_some() {
            bail!(
                "incident on {}: RESOLVED needs resolved_min_ago, OPEN must not have it",
                i.host
            );
        }
        let txn = state.store.begin_write().await?;
        incident::ActiveModel {
            host_id: Set(host),
            cluster_id: Set(cluster_id),
            signal: Set(key.signal()),
            metric: Set(i.metric.clone()),
            labels: Set(serde_json::json!(i.labels)),
            detector: Set(i.detector.clone()),
            state: Set(i.state.clone()),
            summary: Set(i.summary.clone()),
            value: Set(i.value),
            peak: Set(i.value),
            threshold: Set(i.threshold),
            forecast: Set(i.forecast.clone()),
            opened_at: Set(now - Duration::minutes(i.opened_min_ago)),
            updated_at: Set(resolved.unwrap_or(now)),
            resolved_at: Set(resolved),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
        txn.commit().await?;
    }
    for j in &world.jobs {
        let req = ProposeRequest {
            cluster: j.cluster.clone(),
            stages: None,
            service: Some(j.service.clone()),
            component: Some(j.component.clone()),
            command: Some(j.command.clone()),
            hosts: Some(j.tasks.iter().map(|t| t.host.clone()).collect()),
            params: j.params.clone(),
            rationale: Some("evaluation world".into()),
            sources: vec![],
        };
        let view = state.jobs.propose("eval", "api", &req).await.with_context(|| {
            format!(
                "the world's job {} {}/{} is not valid",
                j.command, j.service, j.component
            )
        })?;
        let finished = now - Duration::minutes(j.finished_min_ago);
        let txn = state.store.begin_write().await?;
        job::Entity::update_many()
            .col_expr(job::Column::State, j.state.clone().into())
            .col_expr(job::Column::DecidedBy, Some("eval".to_owned()).into())
            .col_expr(job::Column::ApprovedAt, Some(finished - Duration::minutes(1)).into())
            .col_expr(job::Column::StartedAt, Some(finished - Duration::minutes(1)).into())
            .col_expr(job::Column::FinishedAt, Some(finished).into())
            .filter(job::Column::Id.eq(view.job.id))
            .exec(&*txn)
            .await?;
        stage::Entity::update_many()
            .col_expr(stage::Column::State, j.state.clone().into())
            .col_expr(stage::Column::FinishedAt, Some(finished).into())
            .filter(stage::Column::JobId.eq(view.job.id))
            .exec(&*txn)
            .await?;
        for t in view.stages.iter().flat_map(|s| s.tasks.iter()) {
            let Some(w) = j.tasks.iter().find(|w| w.host == t.host) else {
                continue;
            };
            let ok = w.exit_code == Some(0);
            task::Entity::update_many()
                .col_expr(task::Column::State, (if ok { "SUCCESSFUL" } else { "FAILED" }).into())
                .col_expr(task::Column::ExitCode, w.exit_code.into())
                .col_expr(task::Column::FinishedAt, Some(finished).into())
                .filter(task::Column::Id.eq(t.id))
                .exec(&*txn)
                .await?;
            let text: String = w.output.lines().map(|l| format!("{l}\n")).collect();
            if !text.is_empty() {
                task_output::ActiveModel {
                    task_id: Set(t.id),
                    first_seq: Set(1),
                    last_seq: Set(text.lines().count() as i64),
                    stream: Set("stdout".into()),
                    data: Set(output::compress(&text)),
                    at: Set(finished),
                    ..Default::default()
                }
                .insert(&*txn)
                .await?;
            }
        }
        txn.commit().await?;
    }
    Ok(())
}
