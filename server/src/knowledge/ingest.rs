//! What goes into the index, and when: stack docs at startup (only what changed), every
//! finished job's logs as it finishes (and those missed while the server was down), incident
//! summaries when an incident closes.
//!
//! Every source (`doc:<path>`, `job:<id>/task:<id>`, `incident:<id>`) is replaced as a whole:
//! chunks whose content hash is stored already are kept without embedding, new ones are
//! embedded, stored ones no longer produced are deleted. Re-running any ingestion is therefore
//! harmless, and a restart embeds nothing unchanged.
use std::collections::BTreeSet;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use steward_vector::{content_hash, point_id, Payload, Point};
use tokio::sync::{broadcast, watch};

use super::{chunk, Filter, Kind, Knowledge, KnowledgeError, Progress};
use crate::db::entities::job;
use crate::events::{Bus, Event};
use crate::jobs::Jobs;
use crate::stacks::Catalog;
use crate::telemetry::incidents::{self, IncidentFilter, IncidentView};

/// Texts embedded per call: small enough that progress moves every second or so on the local
/// model, large enough to batch well.
const EMBED_BATCH: usize = 16;
/// Finished jobs older than this are not looked for at startup (their logs were indexed when
/// they finished, unless the index was rebuilt).
const CATCH_UP_DAYS: i64 = 30;
/// Most finished jobs looked at by one catch-up.
const CATCH_UP_JOBS: u64 = 2000;
/// Last lines of a task's output that are indexed.
const TASK_LINES: u64 = 4000;

/// What a docs indexing did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DocStats {
    /// Chunks embedded (new or changed).
    pub embedded: usize,
    /// Chunks already stored unchanged.
    pub unchanged: usize,
    /// Stored chunks deleted because their text is gone.
    pub removed: usize,
}

/// An incident's summary, indexed when it closes.
#[derive(Debug, Clone)]
pub struct IncidentRecord {
    /// Incident id.
    pub id: i64,
    /// Cluster of the host.
    pub cluster: Option<String>,
    /// Host.
    pub host: String,
    /// The service concerned, if known.
    pub service: Option<String>,
    /// One line, e.g. `disk / on an-3 at 96 %`.
    pub title: String,
    /// The summary: what was seen, what was done, how it ended.
    pub text: String,
    /// When it closed (Unix seconds).
    pub time: i64,
}

impl From<&IncidentView> for IncidentRecord {
    fn from(v: &IncidentView) -> Self {
        let closed = v.resolved_at.as_deref().unwrap_or(&v.updated_at);
        IncidentRecord {
            id: v.id,
            cluster: v.cluster.clone(),
            host: v.host.clone(),
            service: None,
            title: format!("incident {}: {} on {}", v.id, v.signal, v.host),
            text: incidents::narrative(v),
            time: chrono::DateTime::parse_from_rfc3339(closed).map_or(0, |t| t.timestamp()),
        }
    }
}

impl Knowledge {
    /// Stores `chunks` as the whole content of `source`: embeds those not stored yet, deletes
    /// stored ones no longer among them. Returns (embedded, unchanged, removed).
    async fn replace_source(
        &self,
        source: &str,
        chunks: Vec<Payload>,
        mut progress: Option<(&mut Progress, &mut usize)>,
    ) -> Result<DocStats, KnowledgeError> {
        let store = &self.inner.store;
        let stored = store.content_hashes(source).await?;
        let mut seen = BTreeSet::new();
        let fresh: Vec<Payload> = chunks
            .into_iter()
            .filter(|c| seen.insert(c.content_hash.clone()))
            .filter(|c| !stored.contains(&c.content_hash))
            .collect();
        let unchanged = seen.iter().filter(|h| stored.contains(*h)).count();
        let stale: Vec<_> = stored.difference(&seen).map(|h| point_id(source, h)).collect();
        let mut embedded = 0;
        for batch in fresh.chunks(EMBED_BATCH) {
            let texts: Vec<String> = batch.iter().map(|p| p.text.clone()).collect();
            let vectors = self.inner.embedder.embed(&texts).await?;
            let points = batch
                .iter()
                .cloned()
                .zip(vectors)
                .map(|(p, v)| Point::new(p, v))
                .collect();
            store.upsert(points).await?;
            embedded += batch.len();
            if let Some((progress, done)) = progress.as_mut() {
                **done += batch.len();
                progress.tick(**done);
            }
        }
        if !stale.is_empty() {
            store.delete_points(&stale).await?;
        }
        Ok(DocStats {
            embedded,
            unchanged,
            removed: stale.len(),
        })
    }

    /// Indexes every stack's docs, embedding only sections not stored unchanged; shows
    /// progress when it takes more than a second.
    pub async fn index_docs(&self, catalog: &Catalog) -> Result<DocStats, KnowledgeError> {
        let _w = self.inner.writer.lock().await;
        let docs = doc_chunks(catalog);
        let total: usize = docs.iter().map(|(_, c)| c.len()).sum();
        let mut stats = DocStats::default();
        let mut progress = Progress::new("stack docs", total);
        let mut done = 0;
        for (source, chunks) in &docs {
            let s = self
                .replace_source(source, chunks.clone(), Some((&mut progress, &mut done)))
                .await?;
            stats.embedded += s.embedded;
            stats.unchanged += s.unchanged;
            stats.removed += s.removed;
        }
        // A doc file removed from the stacks leaves a source nobody replaces: if the index
        // holds more doc chunks than the stacks produce, drop them all and index again.
        let distinct: usize = docs
            .iter()
            .map(|(_, c)| c.iter().map(|p| &p.content_hash).collect::<BTreeSet<_>>().len())
            .sum();
        let kinds = Filter {
            kinds: vec![Kind::Doc],
            ..Filter::all()
        };
        let stored = self.inner.store.count(&kinds).await?;
        if stored > distinct {
            tracing::info!(
                stored,
                expected = distinct,
                "documents were removed from the stacks; re-indexing the docs"
            );
            self.inner.store.delete(&kinds).await?;
            stats.removed += stored;
            for (source, chunks) in &docs {
                stats.embedded += self.replace_source(source, chunks.clone(), None).await?.embedded;
            }
        }
        progress.finish(stats.embedded);
        self.inner.store.optimize().await?;
        Ok(stats)
    }

    /// Indexes a finished job's task outputs (no-op for a job that never ran anything).
    /// Returns how many chunks were embedded.
    pub async fn index_job(&self, jobs: &Jobs, job_id: i64) -> Result<usize, KnowledgeError> {
        let job = jobs
            .get(job_id)
            .await
            .map_err(|e| KnowledgeError::Source(format!("job {job_id}: {e}")))?;
        if job.job.finished_at.is_none() || job.started_at.is_none() {
            return Ok(0);
        }
        let _w = self.inner.writer.lock().await;
        let mut embedded = 0;
        // Nested loops, not flat_map: a closure held across the awaits makes the future not Send.
        let tasks = job.stages.iter().map(|s| s.tasks.len()).sum::<usize>();
        let mut pairs = Vec::with_capacity(tasks);
        for stage in &job.stages {
            for task in &stage.tasks {
                pairs.push((stage, task));
            }
        }
        for (stage, task) in pairs {
            if task.attempt == 0 {
                continue; // never sent: nothing happened on the host
            }
            let lines = jobs
                .log_tail(task.id, TASK_LINES)
                .await
                .map_err(|e| KnowledgeError::Source(format!("job {job_id} task {}: {e}", task.id)))?;
            let log = TaskLog {
                source: format!("job:{}/task:{}", job.job.id, task.id),
                job: job.job.id.to_string(),
                job_state: job.job.state.clone(),
                cluster: job.job.cluster.clone(),
                service: stage.service.clone(),
                component: stage.component.clone(),
                command: stage.command.clone(),
                host: task.host.clone(),
                state: task.state.clone(),
                exit_code: task.exit_code,
                error: task.error.clone().or_else(|| job.error.clone()),
                finished_at: task.finished_at.clone().or_else(|| job.job.finished_at.clone()),
                lines: lines.into_iter().map(|l| l.line).collect(),
            };
            embedded += self.replace_source(&log.source, log.chunks(), None).await?.embedded;
        }
        self.update_status(|s| s.jobs_indexed += 1);
        Ok(embedded)
    }

    /// Indexes one task's output under `log.source` (what [`Knowledge::index_job`] does for
    /// each task; the retrieval eval feeds its fixture logs through here).
    pub async fn index_task_log(&self, log: &TaskLog) -> Result<usize, KnowledgeError> {
        let _w = self.inner.writer.lock().await;
        Ok(self.replace_source(&log.source, log.chunks(), None).await?.embedded)
    }

    /// Indexes a closed incident's summary.
    pub async fn index_incident(&self, incident: &IncidentRecord) -> Result<(), KnowledgeError> {
        let _w = self.inner.writer.lock().await;
        let source = format!("incident:{}", incident.id);
        let text = format!("{}\n{}", incident.title, incident.text);
        let payload = Payload {
            kind: Kind::Incident,
            cluster: incident.cluster.clone(),
            service: incident.service.clone(),
            component: None,
            host: Some(incident.host.clone()),
            job_id: None,
            time: Some(incident.time),
            title: incident.title.clone(),
            source: source.clone(),
            content_hash: content_hash(&text),
            text,
        };
        self.replace_source(&source, vec![payload], None).await?;
        Ok(())
    }

    /// Indexes incident `id` if it is resolved (an open one's story is not finished).
    async fn index_resolved_incident(&self, jobs: &Jobs, id: i64) -> Result<(), KnowledgeError> {
        let found = incidents::view(jobs.store(), id)
            .await
            .map_err(|e| KnowledgeError::Source(format!("cannot read incident {id}: {e}")))?;
        match found {
            Some(v) if v.state == incidents::RESOLVED => self.index_incident(&IncidentRecord::from(&v)).await,
            _ => Ok(()),
        }
    }

    /// Indexes incidents resolved in the last [`CATCH_UP_DAYS`] days that have nothing in the
    /// index.
    async fn catch_up_incidents(&self, jobs: &Jobs) -> Result<usize, KnowledgeError> {
        let since = chrono::Utc::now() - chrono::Duration::days(CATCH_UP_DAYS);
        let filter = IncidentFilter {
            state: Some(incidents::RESOLVED.into()),
            limit: Some(1000),
            ..Default::default()
        };
        let resolved = incidents::list(jobs.store(), &filter)
            .await
            .map_err(|e| KnowledgeError::Source(format!("cannot list resolved incidents: {e}")))?;
        let mut indexed = 0;
        for v in resolved {
            let recent = v
                .resolved_at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t >= since);
            let source = format!("incident:{}", v.id);
            if recent && self.inner.store.content_hashes(&source).await?.is_empty() {
                self.index_incident(&IncidentRecord::from(&v)).await?;
                indexed += 1;
            }
        }
        Ok(indexed)
    }

    /// Indexes what finished in the last [`CATCH_UP_DAYS`] days and has nothing in the index
    /// (while the server was down, before the index was rebuilt, or while the bus lagged): jobs,
    /// then resolved incidents. Returns how many of each.
    pub async fn catch_up(&self, jobs: &Jobs) -> Result<(usize, usize), KnowledgeError> {
        Ok((self.catch_up_jobs(jobs).await?, self.catch_up_incidents(jobs).await?))
    }

    /// Indexes finished jobs of the last [`CATCH_UP_DAYS`] days that have nothing in the index.
    async fn catch_up_jobs(&self, jobs: &Jobs) -> Result<usize, KnowledgeError> {
        let since = chrono::Utc::now() - chrono::Duration::days(CATCH_UP_DAYS);
        let ids: Vec<i64> = job::Entity::find()
            .select_only()
            .column(job::Column::Id)
            .filter(job::Column::FinishedAt.gte(since))
            .filter(job::Column::StartedAt.is_not_null())
            .order_by_desc(job::Column::Id)
            .limit(CATCH_UP_JOBS)
            .into_tuple()
            .all(jobs.store().read())
            .await
            .map_err(|e| KnowledgeError::Source(format!("cannot list finished jobs: {e}")))?;
        let mut indexed = 0;
        for id in ids {
            let filter = Filter {
                job_id: Some(id.to_string()),
                ..Filter::all()
            };
            if self.inner.store.count(&filter).await? == 0 {
                self.index_job(jobs, id).await?;
                indexed += 1;
            }
        }
        Ok(indexed)
    }

    /// The background work of a running server: index the docs, catch up on finished jobs and
    /// resolved incidents, then index each as it finishes, until `shutdown`. Failures are logged and shown in
    /// [`super::Status`]; the server keeps running without fresh knowledge.
    pub async fn run(
        self,
        catalog: std::sync::Arc<Catalog>,
        jobs: Jobs,
        bus: Bus,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // Subscribe first, so a job finishing during the initial indexing is not missed.
        let mut events = bus.subscribe();
        let initial = async {
            let docs = self.index_docs(&catalog).await?;
            self.update_status(|s| {
                s.docs_embedded = docs.embedded;
                s.docs_unchanged = docs.unchanged;
            });
            tracing::info!(
                embedded = docs.embedded,
                unchanged = docs.unchanged,
                removed = docs.removed,
                "stack docs indexed"
            );
            let (caught, incidents) = self.catch_up(&jobs).await?;
            if caught + incidents > 0 {
                tracing::info!(
                    jobs = caught,
                    incidents,
                    "indexed the jobs and incidents that finished while the index was away"
                );
            }
            Ok::<_, KnowledgeError>(())
        };
        let result = tokio::select! {
            r = initial => r,
            _ = shutdown.wait_for(|v| *v) => return,
        };
        match result {
            Ok(()) => self.update_status(|s| s.state = "ready".into()),
            Err(e) => {
                tracing::error!(error = %e, "indexing the knowledge sources failed; search works on what is indexed");
                self.update_status(|s| {
                    s.state = "failed".into();
                    s.error = Some(e.to_string());
                });
            }
        }
        loop {
            let event = tokio::select! {
                e = events.recv() => e,
                _ = shutdown.wait_for(|v| *v) => return,
            };
            let result = match event {
                Ok(Event::Job {
                    job_id, finished: true, ..
                }) => self.index_job(&jobs, job_id).await.map(|_| ()),
                Ok(Event::Incident { incident_id, state, .. }) if state == incidents::RESOLVED => {
                    self.index_resolved_incident(&jobs, incident_id).await
                }
                Ok(_) => continue,
                // Missed some events: look for what finished instead.
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up(&jobs).await.map(|_| ()),
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not index a finished job or incident");
            }
        }
    }
}

/// One task's output and what it ran, as indexed.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TaskLog {
    /// The source id, `job:<id>/task:<id>`.
    pub source: String,
    /// The job's id.
    pub job: String,
    /// The job's state.
    pub job_state: String,
    /// Cluster.
    pub cluster: String,
    /// Service.
    pub service: String,
    /// Component.
    pub component: String,
    /// Command.
    pub command: String,
    /// Host.
    pub host: String,
    /// The task's state.
    pub state: String,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// Its (or its job's) error.
    pub error: Option<String>,
    /// When it finished (RFC 3339).
    pub finished_at: Option<String>,
    /// Its output, oldest first.
    pub lines: Vec<String>,
}

impl TaskLog {
    /// `job 42 kafka/broker start on an-3: FAILED (exit 1)`.
    pub fn title(&self) -> String {
        format!(
            "job {} {}/{} {} on {}: {}{}",
            self.job,
            self.service,
            self.component,
            self.command,
            self.host,
            self.state,
            self.exit_code.map(|c| format!(" (exit {c})")).unwrap_or_default()
        )
    }

    /// The first lines of every chunk: what ran, where, how it ended.
    fn header(&self) -> String {
        let mut h = format!(
            "{}. Cluster {}; job {} is {}",
            self.title(),
            self.cluster,
            self.job,
            self.job_state
        );
        if let Some(at) = &self.finished_at {
            h.push_str(&format!(", finished {at}"));
        }
        if let Some(e) = &self.error {
            h.push_str(&format!("; error: {}", e.chars().take(200).collect::<String>()));
        }
        h.push_str(".\nOutput:");
        h
    }

    /// The chunks to store.
    fn chunks(&self) -> Vec<Payload> {
        let title = self.title();
        let time = self
            .finished_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp());
        chunk::task_output(&self.header(), &self.lines)
            .into_iter()
            .map(|text| Payload {
                kind: Kind::JobLog,
                cluster: Some(self.cluster.clone()),
                service: Some(self.service.clone()),
                component: Some(self.component.clone()),
                host: Some(self.host.clone()),
                job_id: Some(self.job.clone()),
                time,
                title: title.clone(),
                source: self.source.clone(),
                content_hash: content_hash(&text),
                text,
            })
            .collect()
    }
}

/// Every stack's docs as `(source, chunks)`, one source per file.
fn doc_chunks(catalog: &Catalog) -> Vec<(String, Vec<Payload>)> {
    let mut out = vec![];
    for stack in catalog.stacks() {
        for service in stack.services.values() {
            for (path, text) in &service.docs {
                let source = format!("doc:{path}");
                let chunks = chunk::markdown(text)
                    .into_iter()
                    .map(|section| {
                        let lower = section.title.to_lowercase();
                        // A section headed with a component's name is about that component.
                        let component = service
                            .components
                            .keys()
                            .find(|c| lower.contains(&c.to_lowercase()))
                            .cloned();
                        Payload {
                            kind: Kind::Doc,
                            cluster: None,
                            service: Some(service.name.clone()),
                            component,
                            host: None,
                            job_id: None,
                            time: None,
                            title: section.title,
                            source: source.clone(),
                            content_hash: content_hash(&section.text),
                            text: section.text,
                        }
                    })
                    .collect();
                out.push((source, chunks));
            }
        }
    }
    out
}
