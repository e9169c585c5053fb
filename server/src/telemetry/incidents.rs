//! Incidents: one open incident per host and signal, opened and updated while a detector
//! fires on it, resolved when every detector on it has cleared. Owns the `incidents` table.
//!
//! Every change is committed before it is published on the event bus. A resolved incident's
//! event carries a summary written for people and for the knowledge index.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};

use super::detect::Finding;
use super::SeriesKey;
use crate::db::entities::{cluster, host, incident};
use crate::db::Store;
use crate::events::{Bus, Event};
use crate::metrics;

/// Incident states.
pub const OPEN: &str = "OPEN";
/// Resolved: the signal recovered.
pub const RESOLVED: &str = "RESOLVED";

/// Value changes written to an open incident at most this often (the peak is always written).
const UPDATE_EVERY_MS: i64 = 30_000;

/// An incident as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentView {
    /// Id.
    pub id: i64,
    /// `OPEN` or `RESOLVED`.
    pub state: String,
    /// Host id.
    pub host_id: i64,
    /// Hostname.
    pub host: String,
    /// Cluster name, when the host is in one.
    pub cluster: Option<String>,
    /// Metric and labels, e.g. `disk_used_pct{mount="/var"}`.
    pub signal: String,
    /// Metric name.
    pub metric: String,
    /// The detector that fired last: `threshold`, `zscore` or `forecast`.
    pub detector: String,
    /// What is wrong.
    pub summary: String,
    /// Latest value.
    pub value: f64,
    /// Worst value while open.
    pub peak: f64,
    /// The limit crossed, if any.
    pub threshold: Option<f64>,
    /// "full in 3 h 10 min", from the forecast detector.
    pub forecast: Option<String>,
    /// RFC 3339.
    pub opened_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339, once resolved.
    pub resolved_at: Option<String>,
    /// The remediation proposal (a job with source `anomaly`).
    pub job_id: Option<i64>,
    /// What the planner said; why nothing was proposed when `job_id` is empty.
    pub remediation: Option<String>,
}

/// Filters of the incident list.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IncidentFilter {
    /// `OPEN` or `RESOLVED`.
    pub state: Option<String>,
    /// Host id.
    pub host_id: Option<i64>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u64>,
}

/// What the detector loop remembers of an open incident.
struct Open {
    id: i64,
    peak: f64,
    written_at_ms: i64,
    /// Detectors currently firing on it.
    firing: BTreeSet<&'static str>,
}

/// Opens, updates and resolves incidents; one per detector loop.
pub struct Incidents {
    store: Store,
    bus: Bus,
    open: HashMap<(i64, String), Open>,
}

/// Whether `a` is worse than `b`: the peak of an incident is its highest value.
fn worse(a: f64, b: f64) -> bool {
    a > b
}

impl Incidents {
    /// Loads the incidents left open by an earlier run, so they are updated, not duplicated;
    /// also returns their (host, series, detector), for the detectors to treat as firing.
    pub async fn load(store: Store, bus: Bus) -> Result<(Self, Vec<(i64, SeriesKey, &'static str)>), sea_orm::DbErr> {
        let rows = incident::Entity::find()
            .filter(incident::Column::State.eq(OPEN))
            .all(store.read())
            .await?;
        let firing = rows
            .iter()
            .map(|r| {
                let key = SeriesKey {
                    name: r.metric.clone(),
                    labels: serde_json::from_value(r.labels.clone()).unwrap_or_default(),
                };
                (r.host_id, key, leak(&r.detector))
            })
            .collect();
        let open = rows
            .into_iter()
            .map(|r| {
                let o = Open {
                    id: r.id,
                    peak: r.peak,
                    written_at_ms: r.updated_at.timestamp_millis(),
                    // Unknown after a restart: the next verdicts say who fires.
                    firing: BTreeSet::from([leak(&r.detector)]),
                };
                ((r.host_id, r.signal), o)
            })
            .collect();
        Ok((Self { store, bus, open }, firing))
    }

    /// A detector fires on `key` of `host_id`: opens an incident (returning its id) or updates
    /// the open one.
    pub async fn fire(
        &mut self,
        host_id: i64,
        key: &SeriesKey,
        f: &Finding,
        at_ms: i64,
    ) -> Result<Option<i64>, sea_orm::DbErr> {
        let signal = key.signal();
        let now = Utc::now();
        if let Some(o) = self.open.get_mut(&(host_id, signal.clone())) {
            o.firing.insert(f.detector);
            let new_peak = worse(f.value, o.peak);
            if !new_peak && at_ms - o.written_at_ms < UPDATE_EVERY_MS {
                return Ok(None);
            }
            o.peak = if new_peak { f.value } else { o.peak };
            o.written_at_ms = at_ms;
            let mut am = incident::ActiveModel {
                id: Set(o.id),
                value: Set(f.value),
                peak: Set(o.peak),
                updated_at: Set(now),
                ..Default::default()
            };
            if !f.summary.is_empty() {
                am.summary = Set(f.summary.clone());
                am.detector = Set(f.detector.to_owned());
                am.forecast = Set(f.forecast.clone());
            }
            let txn = self.store.begin_write().await?;
            am.update(&*txn).await?;
            txn.commit().await?;
            return Ok(None);
        }
        if f.summary.is_empty() {
            return Ok(None);
        }
        let cluster_id = host::Entity::find_by_id(host_id)
            .one(self.store.read())
            .await?
            .and_then(|h| h.cluster_id);
        let txn = self.store.begin_write().await?;
        let row = incident::ActiveModel {
            host_id: Set(host_id),
            cluster_id: Set(cluster_id),
            signal: Set(signal.clone()),
            metric: Set(key.name.clone()),
            labels: Set(serde_json::to_value(&key.labels).unwrap_or_default()),
            detector: Set(f.detector.to_owned()),
            state: Set(OPEN.into()),
            summary: Set(f.summary.clone()),
            value: Set(f.value),
            peak: Set(f.value),
            threshold: Set(f.threshold),
            forecast: Set(f.forecast.clone()),
            opened_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
        txn.commit().await?;
        metrics::INCIDENTS_OPENED.inc();
        tracing::warn!(incident = row.id, host_id, %signal, summary = %row.summary, "incident opened");
        self.open.insert(
            (host_id, signal),
            Open {
                id: row.id,
                peak: f.value,
                written_at_ms: at_ms,
                firing: BTreeSet::from([f.detector]),
            },
        );
        self.publish(row.id).await;
        Ok(Some(row.id))
    }

    /// A detector stopped firing on `key`; resolves the incident when none fires any more.
    pub async fn clear(&mut self, host_id: i64, key: &SeriesKey, detector: &'static str) -> Result<(), sea_orm::DbErr> {
        let k = (host_id, key.signal());
        let Some(o) = self.open.get_mut(&k) else {
            return Ok(());
        };
        o.firing.remove(detector);
        if !o.firing.is_empty() {
            return Ok(());
        }
        let id = o.id;
        self.open.remove(&k);
        let txn = self.store.begin_write().await?;
        incident::ActiveModel {
            id: Set(id),
            state: Set(RESOLVED.into()),
            resolved_at: Set(Some(Utc::now())),
            updated_at: Set(Utc::now()),
            ..Default::default()
        }
        .update(&*txn)
        .await?;
        txn.commit().await?;
        tracing::info!(incident = id, host_id, signal = %k.1, "incident resolved");
        self.publish(id).await;
        Ok(())
    }

    /// Publishes the incident's current state on the bus.
    async fn publish(&self, id: i64) {
        match view(&self.store, id).await {
            Ok(Some(v)) => self.bus.publish(event(&v)),
            Ok(None) => {}
            Err(e) => tracing::warn!(incident = id, error = %e, "cannot read the incident to publish it"),
        }
    }
}

/// Detector names are `&'static str`; a name read back from the database maps onto one.
fn leak(name: &str) -> &'static str {
    match name {
        "zscore" => "zscore",
        "forecast" => "forecast",
        _ => "threshold",
    }
}

/// The bus event for an incident, with the summary the knowledge index keeps.
pub fn event(v: &IncidentView) -> Event {
    Event::Incident {
        incident_id: v.id,
        state: v.state.clone(),
        host: v.host.clone(),
        cluster: v.cluster.clone(),
        signal: v.signal.clone(),
        summary: narrative(v),
        peak: v.peak,
        opened_at: v.opened_at.clone(),
        resolved_at: v.resolved_at.clone(),
        job_id: v.job_id,
    }
}

/// "Incident 4 on host web-2 (cluster web): disk /var is 93.1 % full … Signal … opened …,
/// resolved …; peak 96.0. Remediation: job 12." — one paragraph that stands alone.
pub fn narrative(v: &IncidentView) -> String {
    let cluster = v
        .cluster
        .as_deref()
        .map(|c| format!(" (cluster {c})"))
        .unwrap_or_default();
    let mut s = format!(
        "Incident {} on host {}{cluster}: {}. Signal {} ({} detector), opened {}",
        v.id, v.host, v.summary, v.signal, v.detector, v.opened_at
    );
    match &v.resolved_at {
        Some(r) => s.push_str(&format!(", resolved {r}")),
        None => s.push_str(", still open"),
    }
    s.push_str(&format!("; peak value {:.1}.", v.peak));
    match (v.job_id, &v.remediation) {
        (Some(j), _) => s.push_str(&format!(" Remediation: job {j}.")),
        (None, Some(why)) => s.push_str(&format!(" No remediation was proposed: {}", why.trim())),
        (None, None) => {}
    }
    s
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

fn to_view(r: incident::Model, hosts: &HashMap<i64, String>, clusters: &HashMap<i64, String>) -> IncidentView {
    IncidentView {
        id: r.id,
        state: r.state,
        host_id: r.host_id,
        host: hosts.get(&r.host_id).cloned().unwrap_or_default(),
        cluster: r.cluster_id.and_then(|c| clusters.get(&c).cloned()),
        signal: r.signal,
        metric: r.metric,
        detector: r.detector,
        summary: r.summary,
        value: r.value,
        peak: r.peak,
        threshold: r.threshold,
        forecast: r.forecast,
        opened_at: rfc(r.opened_at),
        updated_at: rfc(r.updated_at),
        resolved_at: r.resolved_at.map(rfc),
        job_id: r.job_id,
        remediation: r.remediation,
    }
}

async fn names(store: &Store) -> Result<(HashMap<i64, String>, HashMap<i64, String>), sea_orm::DbErr> {
    let hosts = host::Entity::find()
        .all(store.read())
        .await?
        .into_iter()
        .map(|h| (h.id, h.hostname))
        .collect();
    let clusters = cluster::Entity::find()
        .all(store.read())
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    Ok((hosts, clusters))
}

/// One incident.
pub async fn view(store: &Store, id: i64) -> Result<Option<IncidentView>, sea_orm::DbErr> {
    let Some(r) = incident::Entity::find_by_id(id).one(store.read()).await? else {
        return Ok(None);
    };
    let (hosts, clusters) = names(store).await?;
    Ok(Some(to_view(r, &hosts, &clusters)))
}

/// Incidents, newest first.
pub async fn list(store: &Store, f: &IncidentFilter) -> Result<Vec<IncidentView>, sea_orm::DbErr> {
    let mut q = incident::Entity::find().order_by_desc(incident::Column::Id);
    if let Some(s) = &f.state {
        q = q.filter(incident::Column::State.eq(s.to_uppercase()));
    }
    if let Some(h) = f.host_id {
        q = q.filter(incident::Column::HostId.eq(h));
    }
    let rows = q.limit(f.limit.unwrap_or(100).min(1000)).all(store.read()).await?;
    let (hosts, clusters) = names(store).await?;
    Ok(rows.into_iter().map(|r| to_view(r, &hosts, &clusters)).collect())
}

/// Records the planner's answer for an incident: the linked job (if any) and what it said.
pub async fn record_remediation(
    store: &Store,
    bus: &Bus,
    id: i64,
    job_id: Option<i64>,
    conversation_id: Option<i64>,
    note: &str,
) -> Result<(), sea_orm::DbErr> {
    let txn = store.begin_write().await?;
    incident::ActiveModel {
        id: Set(id),
        job_id: Set(job_id),
        conversation_id: Set(conversation_id),
        remediation: Set(Some(note.to_owned())),
        ..Default::default()
    }
    .update(&*txn)
    .await?;
    txn.commit().await?;
    if let Some(v) = view(store, id).await? {
        bus.publish(event(&v));
    }
    Ok(())
}
