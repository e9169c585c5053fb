//! Telemetry: ingest of the agents' metric batches, storage with rollups and retention,
//! detectors over in-memory windows, incidents, and remediation proposals.
//!
//! Owns the `metric_series`, `metric_samples`, `metric_rollups` and `incidents` tables.
//! Three tasks do the work: the **writer** takes validated batches from every session,
//! stores them in one transaction per round (so a busy server writes few large
//! transactions), acknowledges them to their agents after the commit, keeps the latest value
//! of every series in memory, and hands the watched series to the **detector** task, which
//! owns the windows, the debounce state and the open incidents, and asks for remediation
//! when an incident opens. The **rollup** task downsamples and applies retention.

mod config;
pub mod detect;
pub mod exposition;
pub mod incidents;
pub mod ingest;
pub mod store;
pub mod window;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use steward_proto::v1 as pb;
use tokio::sync::mpsc;

use crate::db::Store;
use crate::events::Bus;
use crate::metrics;
pub use config::{TelemetryConfig, ThresholdRule};

pub use incidents::{IncidentFilter, IncidentView};
pub use store::SeriesPoints;

/// Samples stored per writer round at most.
const MAX_ROUND: usize = 50_000;
/// Batches waiting for the writer; sessions wait (and so do their agents) beyond this.
const WRITE_QUEUE: usize = 256;
/// Points a range query returns at most.
const MAX_POINTS: u64 = 20_000;

/// A series of one host: metric name and labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// Metric name, e.g. `disk_used_pct`.
    pub name: String,
    /// Labels, e.g. `mount=/var`.
    pub labels: BTreeMap<String, String>,
}

impl SeriesKey {
    /// The labels as canonical JSON (sorted keys): how the database knows the series.
    pub fn labels_json(&self) -> String {
        serde_json::to_string(&self.labels).unwrap_or_default()
    }

    /// Name and canonical labels in one string, unique per series: `name` + US + labels JSON.
    pub fn id(&self) -> String {
        series_id(&self.name, &self.labels_json())
    }

    /// [`SeriesKey::id`] of a name and labels not gathered into a key.
    pub fn id_of(name: &str, labels: &BTreeMap<&str, &str>) -> String {
        series_id(name, &serde_json::to_string(labels).unwrap_or_default())
    }

    /// `disk_used_pct{mount="/var"}`: the signal an incident is about.
    pub fn signal(&self) -> String {
        if self.labels.is_empty() {
            return self.name.clone();
        }
        let labels: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

/// `name` + US + `labels_json`: a series' id.
fn series_id(name: &str, labels_json: &str) -> String {
    let mut id = String::with_capacity(name.len() + 1 + labels_json.len());
    id.push_str(name);
    id.push('\u{1f}');
    id.push_str(labels_json);
    id
}

/// The latest value of a series.
#[derive(Debug, Clone)]
pub struct Latest {
    /// The series.
    pub key: SeriesKey,
    /// Its value.
    pub value: f64,
    /// When it was sampled (ms since the epoch).
    pub at_ms: i64,
}

/// A latest value as the host resource shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MetricValue {
    /// Metric name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
    /// RFC 3339.
    pub at: String,
}

/// A host's headline numbers from the latest values in memory; null until its agent
/// reports them (or when it does not: a simulated host without CPU samples).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HostUsage {
    /// `cpu_used_pct`.
    pub cpu_used_pct: Option<f64>,
    /// `mem_used_pct`.
    pub mem_used_pct: Option<f64>,
    /// The largest `disk_used_pct` over the host's mounts.
    pub disk_used_pct: Option<f64>,
}

/// A series a host has, with its latest value.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SeriesInfo {
    /// Metric name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The newest value: from memory, else the newest stored raw sample; null when neither
    /// holds one (the raw samples have aged out).
    pub latest: Option<Point>,
}

/// One value at one time.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Point {
    /// RFC 3339.
    pub t: String,
    /// The value.
    pub value: f64,
}

impl Point {
    fn at(at_ms: i64, value: f64) -> Self {
        Point {
            t: DateTime::from_timestamp_millis(at_ms).unwrap_or_default().to_rfc3339(),
            value,
        }
    }
}

/// What can go wrong with a telemetry request.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// No such host or incident.
    #[error("{0}")]
    NotFound(String),
    /// The query is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

/// A range query: `GET /api/v1/hosts/{id}/metrics`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// Metric name, e.g. `disk_used_pct`.
    pub name: String,
    /// Start: RFC 3339 or milliseconds since the epoch (default: an hour ago).
    pub from: Option<String>,
    /// End, exclusive: RFC 3339 or milliseconds (default: now).
    pub to: Option<String>,
    /// `raw`, `1m` or `1h`; by default the finest tier that still holds `from`.
    pub step: Option<String>,
}

/// The answer to a range query.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RangeView {
    /// Host id.
    pub host_id: i64,
    /// Metric name.
    pub name: String,
    /// `raw`, `1m` or `1h`.
    pub step: String,
    /// Start (ms).
    pub from: i64,
    /// End (ms, exclusive).
    pub to: i64,
    /// One entry per label set.
    pub series: Vec<SeriesPoints>,
    /// More points matched than one answer carries (20,000); ask for a coarser step or a
    /// shorter range.
    pub truncated: bool,
}

struct Write {
    host_id: i64,
    samples: Vec<ingest::Sample>,
    seq: u64,
    ack: mpsc::Sender<pb::ServerMessage>,
}

type Observation = (i64, SeriesKey, i64, f64);

struct Inner {
    config: TelemetryConfig,
    store: Store,
    writes: mpsc::Sender<Write>,
    /// Per host, per series id (`SeriesKey::id`).
    latest: RwLock<HashMap<i64, HashMap<String, Latest>>>,
    /// The series each host has reported since the server started, for the per-host cap.
    series: Mutex<HashMap<i64, HashSet<String>>>,
    /// The last drop count each host's agent reported.
    dropped: Mutex<HashMap<i64, u64>>,
    /// 1-minute rollups are complete before this time (ms).
    rolled_to: AtomicI64,
    /// The oldest sample stored since the last rollup pass that falls before `rolled_to`.
    late_from: AtomicI64,
}

/// The telemetry service; cheap to clone.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Whoever answers incidents (the server wires in `crate::remediation`): telemetry says what
/// it saw and never depends on the planner that acts on it.
#[async_trait::async_trait]
pub trait Responder: Send + Sync {
    /// Incident `id` opened; `recent` holds its signal's latest values, oldest first.
    async fn incident_opened(&self, id: i64, recent: Vec<f64>);
    /// Job `job_id` finished (an investigation an incident asked for may have ended).
    async fn job_finished(&self, job_id: i64);
}

impl Telemetry {
    /// Starts the writer, detector and rollup tasks; they stop when `stop` turns true, and
    /// their handles are returned so the server can wait for them and see one die.
    pub async fn start(
        store: Store,
        bus: Bus,
        remediation: Option<Arc<dyn Responder>>,
        config: TelemetryConfig,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(Self, Vec<(&'static str, tokio::task::JoinHandle<()>)>), sea_orm::DbErr> {
        let (writes, write_rx) = mpsc::channel(WRITE_QUEUE);
        let rolled_to = store::rolled_up_to(store.read())
            .await?
            .unwrap_or_else(|| now_ms() - (config.raw_retention_secs * 1000) as i64);
        let finished_jobs = bus.subscribe();
        let (incidents, firing) = incidents::Incidents::load(store.clone(), bus).await?;
        let inner = Arc::new(Inner {
            config: config.clone(),
            store,
            writes,
            latest: RwLock::default(),
            series: Mutex::default(),
            dropped: Mutex::default(),
            rolled_to: AtomicI64::new(rolled_to),
            late_from: AtomicI64::new(i64::MAX),
        });
        let (observe_tx, observe_rx) = mpsc::channel(256);
        let mut detection = detect::Detection::new(&config);
        for (host_id, key, detector) in firing {
            detection.assume_firing(host_id, key, detector);
        }
        let watched: HashSet<String> = config
            .thresholds
            .iter()
            .map(|t| t.metric.clone())
            .chain(config.zscore_metrics.iter().cloned())
            .chain(config.forecast_metrics.iter().cloned())
            .filter(|m| detection.watches(m))
            .collect();
        let writer = tokio::spawn(writer(inner.clone(), write_rx, observe_tx, watched, stop.clone()));
        let remediation = remediation.filter(|_| config.remediate);
        let follow_ups = tokio::spawn(follow_ups(remediation.clone(), finished_jobs, stop.clone()));
        let detector = tokio::spawn(detector(detection, incidents, observe_rx, remediation, stop.clone()));
        let rollups = tokio::spawn(rollups(inner.clone(), stop));
        let tasks = vec![
            ("writer", writer),
            ("detector", detector),
            ("rollups", rollups),
            ("follow-ups", follow_ups),
        ];
        Ok((Telemetry { inner }, tasks))
    }

    /// The sampling period agents are told in the welcome.
    pub fn metrics_interval_ms(&self) -> u32 {
        self.inner.config.metrics_interval_ms.min(u32::MAX as u64) as u32
    }

    /// Takes one batch from `host_id`'s agent: bad samples are dropped and counted, the rest
    /// are stored, and the batch is acknowledged on `ack` once durable. Waits when the writer
    /// is behind, which slows the agent down rather than growing a queue without bound.
    pub async fn ingest(&self, host_id: i64, batch: pb::MetricBatch, ack: &mpsc::Sender<pb::ServerMessage>) {
        {
            let mut d = self
                .inner
                .dropped
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let last = d.insert(host_id, batch.dropped).unwrap_or(0);
            // A restarted agent counts from zero again.
            let new = if batch.dropped >= last {
                batch.dropped - last
            } else {
                batch.dropped
            };
            if new > 0 {
                metrics::SAMPLES_DROPPED_BY_AGENTS.inc_by(new);
                tracing::warn!(
                    host_id,
                    dropped = new,
                    "the agent dropped samples while the server was away"
                );
            }
        }
        let seq = batch.seq;
        let oldest = now_ms() - (self.inner.config.raw_retention_secs * 1000) as i64;
        let mut samples = ingest::validate(batch, now_ms(), oldest);
        {
            // A host reporting ever new series (a label holding ids or timestamps) is capped:
            // samples of series beyond the cap are refused and counted, so the writer, the
            // database and every later query stay bounded. Checked here, off the writer.
            let cap = self.inner.config.max_series_per_host as usize;
            let mut all = self
                .inner
                .series
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let known = all.entry(host_id).or_default();
            let before = samples.len();
            samples.retain(|s| known.contains(&s.series) || (known.len() < cap && known.insert(s.series.clone())));
            let refused = before - samples.len();
            if refused > 0 {
                ingest::reject("series_limit", refused);
                tracing::warn!(
                    host_id,
                    refused,
                    cap,
                    "samples of new series refused: the host is at its series cap"
                );
            }
        }
        let w = Write {
            host_id,
            samples,
            seq,
            ack: ack.clone(),
        };
        if self.inner.writes.send(w).await.is_err() {
            tracing::error!("the telemetry writer stopped; samples are not stored");
        }
    }

    /// The latest value of every series of `host_id`, by name and labels.
    pub fn latest(&self, host_id: i64) -> Vec<MetricValue> {
        let latest = self
            .inner
            .latest
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<MetricValue> = latest
            .get(&host_id)
            .map(|m| {
                m.values()
                    .map(|l| MetricValue {
                        name: l.key.name.clone(),
                        labels: l.key.labels.clone(),
                        value: l.value,
                        at: DateTime::from_timestamp_millis(l.at_ms)
                            .unwrap_or_default()
                            .to_rfc3339(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        out
    }

    /// `host_id`'s CPU, memory and fullest disk, from the latest values in memory.
    pub fn usage(&self, host_id: i64) -> HostUsage {
        let latest = self
            .inner
            .latest
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut u = HostUsage::default();
        for l in latest.get(&host_id).into_iter().flat_map(|m| m.values()) {
            match l.key.name.as_str() {
                "cpu_used_pct" if l.key.labels.is_empty() => u.cpu_used_pct = Some(l.value),
                "mem_used_pct" if l.key.labels.is_empty() => u.mem_used_pct = Some(l.value),
                "disk_used_pct" => u.disk_used_pct = Some(u.disk_used_pct.map_or(l.value, |d| d.max(l.value))),
                _ => {}
            }
        }
        u
    }

    /// Every series `host_id` has stored, by name then labels, with its latest value.
    pub async fn series(&self, host_id: i64) -> Result<Vec<SeriesInfo>, TelemetryError> {
        let stored = store::series_of(self.inner.store.read(), host_id).await?;
        let mut out = Vec::with_capacity(stored.len());
        let mut missing = vec![];
        {
            let latest = self
                .inner
                .latest
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let host = latest.get(&host_id);
            for s in &stored {
                let key = format!("{}\u{1f}{}", s.name, s.labels);
                let point = host.and_then(|h| h.get(&key)).map(|l| Point::at(l.at_ms, l.value));
                if point.is_none() {
                    missing.push((out.len(), s.id));
                }
                out.push(SeriesInfo {
                    name: s.name.clone(),
                    labels: serde_json::from_str(&s.labels).unwrap_or_default(),
                    latest: point,
                });
            }
        }
        // Memory holds what arrived since the server started; the database, what came before.
        if !missing.is_empty() {
            let ids: Vec<i64> = missing.iter().map(|(_, id)| *id).collect();
            let found = store::last_samples(self.inner.store.read(), &ids).await?;
            for (i, id) in missing {
                out[i].latest = found.get(&id).map(|(at, v)| Point::at(*at, *v));
            }
        }
        out.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        Ok(out)
    }

    /// Every host's latest values in the Prometheus text format; `hosts` names host ids.
    pub fn exposition(&self, hosts: &HashMap<i64, (String, Option<String>)>) -> String {
        let latest = self
            .inner
            .latest
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rows: Vec<(String, Option<String>, Latest)> = latest
            .iter()
            .filter_map(|(id, series)| hosts.get(id).map(|h| (h, series)))
            .flat_map(|((host, cluster), series)| series.values().map(|l| (host.clone(), cluster.clone(), l.clone())))
            .collect();
        exposition::render(&rows)
    }

    /// A range of one metric of one host, from the finest tier that holds it.
    pub async fn range(&self, host_id: i64, q: &RangeQuery) -> Result<RangeView, TelemetryError> {
        if !ingest::valid_name(&q.name) {
            return Err(TelemetryError::Invalid(format!("{:?} is not a metric name", q.name)));
        }
        let now = now_ms();
        let to = q.to.as_deref().map(parse_time).transpose()?.unwrap_or(now + 1);
        let from = q.from.as_deref().map(parse_time).transpose()?.unwrap_or(to - 3_600_000);
        if from >= to {
            return Err(TelemetryError::Invalid("from must be before to".into()));
        }
        let c = &self.inner.config;
        let age = now - from;
        let (step, tier) = match q.step.as_deref() {
            Some("raw") => ("raw", store::Tier::Raw),
            Some("1m") => ("1m", store::Tier::Rollup(store::MINUTE)),
            Some("1h") => ("1h", store::Tier::Rollup(store::HOUR)),
            None if age <= (c.raw_retention_secs * 1000) as i64 => ("raw", store::Tier::Raw),
            None if age <= (c.minute_retention_secs * 1000) as i64 => ("1m", store::Tier::Rollup(store::MINUTE)),
            None => ("1h", store::Tier::Rollup(store::HOUR)),
            Some(other) => {
                return Err(TelemetryError::Invalid(format!(
                    "step {other:?} is not one of raw, 1m, 1h"
                )))
            }
        };
        let (series, truncated) =
            store::range(self.inner.store.read(), host_id, &q.name, from, to, tier, MAX_POINTS).await?;
        Ok(RangeView {
            host_id,
            name: q.name.clone(),
            step: step.into(),
            from,
            to,
            series,
            truncated,
        })
    }

    /// Incidents, newest first.
    pub async fn incidents(&self, f: &IncidentFilter) -> Result<Vec<IncidentView>, TelemetryError> {
        if let Some(s) = &f.state {
            if !matches!(s.to_uppercase().as_str(), incidents::OPEN | incidents::RESOLVED) {
                return Err(TelemetryError::Invalid(format!("state {s:?} is not OPEN or RESOLVED")));
            }
        }
        Ok(incidents::list(&self.inner.store, f).await?)
    }

    /// One incident.
    pub async fn incident(&self, id: i64) -> Result<IncidentView, TelemetryError> {
        incidents::view(&self.inner.store, id)
            .await?
            .ok_or_else(|| TelemetryError::NotFound(format!("incident {id} not found")))
    }
}

/// Hands every finished job to remediation, which follows up on the investigations it
/// proposed; idles when remediation is off.
async fn follow_ups(
    remediation: Option<Arc<dyn Responder>>,
    mut jobs: tokio::sync::broadcast::Receiver<crate::events::Event>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let event = tokio::select! {
            e = jobs.recv() => e,
            _ = stop.wait_for(|v| *v) => return,
        };
        match event {
            Ok(crate::events::Event::Job {
                job_id, finished: true, ..
            }) => {
                if let Some(r) = &remediation {
                    r.job_finished(job_id).await;
                }
            }
            Ok(_) => {}
            // A missed job stays as it is: its incident keeps the investigation as its proposal.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "remediation missed job events")
            }
            // The bus lives as long as the server: wait for the stop like the other tasks.
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                let _ = stop.wait_for(|v| *v).await;
                return;
            }
        }
    }
}

/// RFC 3339 or milliseconds since the epoch.
fn parse_time(s: &str) -> Result<i64, TelemetryError> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| TelemetryError::Invalid(format!("{s:?} is neither RFC 3339 nor milliseconds since the epoch")))
}

/// Stores rounds of batches; see the module documentation.
async fn writer(
    inner: Arc<Inner>,
    mut rx: mpsc::Receiver<Write>,
    observe: mpsc::Sender<Vec<Observation>>,
    watched: HashSet<String>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ids = store::SeriesIds::default();
    // On shutdown, batches still queued are not acknowledged: their agents send them again.
    while let Some(first) = tokio::select! {
        w = rx.recv() => w,
        _ = stop.wait_for(|v| *v) => None,
    } {
        let mut round = vec![first];
        let mut n = round[0].samples.len();
        while n < MAX_ROUND {
            match rx.try_recv() {
                Ok(w) => {
                    n += w.samples.len();
                    round.push(w);
                }
                Err(_) => break,
            }
        }
        let batches: Vec<(i64, Vec<ingest::Sample>)> = round
            .iter_mut()
            .map(|w| (w.host_id, std::mem::take(&mut w.samples)))
            .collect();
        loop {
            match store::write(&inner.store, &mut ids, &batches).await {
                Ok(stored) => {
                    metrics::SAMPLES_STORED.inc_by(stored);
                    break;
                }
                Err(e) => {
                    // Not acknowledged: the agents keep the batches. Retry rather than drop.
                    tracing::warn!(error = %e, samples = n, "cannot store metric samples; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        for w in &round {
            let ack = pb::Ack {
                tasks: vec![],
                metrics_seq: w.seq,
            };
            // A full session queue loses only this ack; a later one covers the batch.
            let _ = w.ack.try_send(pb::ServerMessage {
                msg: Some(pb::server_message::Msg::Ack(ack)),
            });
        }
        let rolled_to = inner.rolled_to.load(Ordering::Relaxed);
        let mut observations = vec![];
        {
            let mut latest = inner.latest.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (host_id, samples) in batches {
                let host = latest.entry(host_id).or_default();
                for s in samples {
                    if s.at_ms < rolled_to {
                        inner.late_from.fetch_min(s.at_ms, Ordering::Relaxed);
                    }
                    match host.get_mut(&s.series) {
                        Some(l) if l.at_ms < s.at_ms => {
                            l.value = s.value;
                            l.at_ms = s.at_ms;
                        }
                        Some(_) => {}
                        None => {
                            let l = Latest {
                                key: s.key(),
                                value: s.value,
                                at_ms: s.at_ms,
                            };
                            host.insert(s.series.clone(), l);
                        }
                    }
                    if watched.contains(s.name()) {
                        observations.push((host_id, s.key(), s.at_ms, s.value));
                    }
                }
            }
        }
        if !observations.is_empty() && observe.try_send(observations).is_err() {
            tracing::warn!("the detectors are behind; some samples were not judged");
        }
    }
}

/// Judges watched samples, keeps incidents, and asks for remediation of new ones.
async fn detector(
    mut detection: detect::Detection,
    mut incidents: incidents::Incidents,
    mut rx: mpsc::Receiver<Vec<Observation>>,
    remediation: Option<Arc<dyn Responder>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    while let Some(observations) = tokio::select! {
        o = rx.recv() => o,
        _ = stop.wait_for(|v| *v) => None,
    } {
        for (host_id, key, at_ms, value) in observations {
            for verdict in detection.observe(host_id, &key, at_ms, value) {
                let r = match verdict {
                    detect::Verdict::Firing(f) => match incidents.fire(host_id, &key, &f, at_ms).await {
                        Ok(Some(id)) => {
                            if let Some(r) = &remediation {
                                let recent = detection.window(host_id, &key).map(|w| w.tail(12)).unwrap_or_default();
                                let r = r.clone();
                                tokio::spawn(async move { r.incident_opened(id, recent).await });
                            }
                            Ok(())
                        }
                        Ok(None) => Ok(()),
                        Err(e) => Err(e),
                    },
                    detect::Verdict::Cleared { detector } => incidents.clear(host_id, &key, detector).await,
                };
                if let Err(e) = r {
                    tracing::warn!(host_id, signal = %key.signal(), error = %e, "cannot record an incident change");
                }
            }
        }
    }
}

/// Downsamples and applies retention every `rollup_interval_secs`.
async fn rollups(inner: Arc<Inner>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let c = &inner.config;
    let retention = store::Retention {
        raw_ms: (c.raw_retention_secs * 1000) as i64,
        minute_ms: (c.minute_retention_secs * 1000) as i64,
        hour_ms: (c.hour_retention_secs * 1000) as i64,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(c.rollup_interval_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let now = now_ms();
        let from = inner
            .rolled_to
            .load(Ordering::Relaxed)
            .min(inner.late_from.swap(i64::MAX, Ordering::Relaxed));
        if let Err(e) = store::rollup(&inner.store, from, now).await {
            tracing::warn!(error = %e, "cannot roll up metric samples");
            inner.late_from.fetch_min(from, Ordering::Relaxed);
            continue;
        }
        let done = now.div_euclid(60_000) * 60_000;
        inner.rolled_to.store(done, Ordering::Relaxed);
        match store::retain(&inner.store, retention, now, done).await {
            Ok(deleted) => tracing::debug!(?deleted, "metric retention applied"),
            Err(e) => tracing::warn!(error = %e, "cannot apply metric retention"),
        }
    }
}

#[cfg(test)]
mod task_tests {
    use super::*;

    #[tokio::test]
    async fn every_telemetry_task_stops_when_asked_and_can_be_awaited() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::db::connect(&crate::db::sqlite_url(dir.path())).await.unwrap();
        let (stop, rx) = tokio::sync::watch::channel(false);
        let (_telemetry, tasks) = Telemetry::start(store, Bus::default(), None, TelemetryConfig::default(), rx)
            .await
            .unwrap();
        let names: Vec<&str> = tasks.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["writer", "detector", "rollups", "follow-ups"]);
        assert!(tasks.iter().all(|(_, h)| !h.is_finished()), "a task ended by itself");
        stop.send(true).unwrap();
        for (name, handle) in tasks {
            tokio::time::timeout(Duration::from_secs(5), handle)
                .await
                .unwrap_or_else(|_| panic!("the {name} task did not stop"))
                .unwrap_or_else(|e| panic!("the {name} task failed: {e}"));
        }
    }
}
