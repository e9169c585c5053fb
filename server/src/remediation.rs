//! A new incident asks the planner for a remediation proposal.
//!
//! The request is `prompts/incident.tera`, rendered with the incident, its recent values and
//! context (what the knowledge index finds for the incident — docs, past job logs, earlier
//! incidents — the stack documents of the services on the host, and the output of recent jobs
//! on it), and sent as a chat turn by the user
//! `telemetry` with source `anomaly`. A tool-calling model gets the whole prompt and the tool
//! loop; the structured planner, which resolves actions from names, gets the incident's one-
//! line summary. What comes back is a PROPOSED job like any other — nothing runs until an
//! operator approves it — and the incident records its id, or the planner's reason for
//! proposing nothing. One proposal per incident: extra proposals in the same turn are rejected.

use serde_json::json;

use crate::chat::summary::largest_directories;
use crate::chat::{tools, Chat};
use crate::db::Store;
use crate::events::Bus;
use crate::inventory;
use crate::jobs::{plan_host_names, JobView, Jobs, ProposeRequest};
use crate::knowledge::chunk::truncate;
use crate::knowledge::{Filter, SearchMode, SearchRequest};
use crate::stacks::ParamKind;
use crate::telemetry::incidents::{self, IncidentView};

/// Who remediation proposals are requested by.
pub const ACTOR: &str = "telemetry";
/// Bytes of each document or log quoted into the request.
const MAX_QUOTE: usize = 2500;
/// Longest request a chat turn takes (see `Chat::send`).
const MAX_REQUEST: usize = 7900;

/// What remediation needs.
#[derive(Clone)]
pub struct Remediation {
    /// The database.
    pub store: Store,
    /// Where incident changes are published.
    pub bus: Bus,
    /// To reject surplus proposals.
    pub jobs: Jobs,
    /// The planner; None when no model is configured.
    pub chat: Option<Chat>,
    /// Planner requests at once: a storm of incidents queues rather than floods the model.
    pub permits: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Knowledge chunks quoted into a tool-loop request.
const KNOWLEDGE_HITS: usize = 4;

/// Planner requests for incidents at once.
pub const CONCURRENT_REQUESTS: usize = 2;

impl Remediation {
    /// Asks for a proposal for incident `id` and records the answer on the incident.
    /// `recent` holds the signal's latest values, oldest first.
    pub async fn run(&self, id: i64, recent: Vec<f64>) {
        let Ok(_permit) = self.permits.acquire().await else {
            return;
        };
        let note = match self.propose(id, recent).await {
            Ok(()) => return,
            Err(why) => why,
        };
        tracing::info!(incident = id, %note, "no remediation proposed");
        if let Err(e) = incidents::record_remediation(&self.store, &self.bus, id, None, None, &note).await {
            tracing::warn!(incident = id, error = %e, "cannot record the remediation note");
        }
    }

    /// Err carries why nothing was proposed.
    async fn propose(&self, id: i64, recent: Vec<f64>) -> Result<(), String> {
        let Some(chat) = &self.chat else {
            return Err(
                "no language model is configured (STEWARD_LLM_PROVIDER=none), so no proposal was requested".into(),
            );
        };
        let incident = incidents::view(&self.store, id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the incident is gone")?;
        let Some(cluster_name) = incident.cluster.clone() else {
            return Err(format!(
                "host {} is in no cluster, so no stack command can run on it",
                incident.host
            ));
        };
        let cluster = inventory::cluster_view(self.store.read(), &cluster_name, None)
            .await
            .map_err(|e| e.to_string())?;
        let mut cited: Vec<String> = vec![format!("incident:{id}")];
        let request = if chat.is_structured() {
            // The structured planner reads no context (it finds its own evidence).
            format!("[cluster {cluster_name}] {}", structured_request(&incident))
        } else {
            let context = context(chat, &self.jobs, &cluster, &incident).await;
            let (text, quoted) = render(chat, &incident, &recent, context).map_err(|e| e.to_string())?;
            // Only what the request quotes was read.
            for c in quoted {
                let source = c["source"].as_str().unwrap_or_default().to_owned();
                if !cited.contains(&source) {
                    cited.push(source);
                }
            }
            text
        };
        let conversation = chat.create(ACTOR, "anomaly").await.map_err(|e| e.to_string())?;
        let reply = chat
            .send(conversation, ACTOR, "anomaly", &request, None, cited)
            .await
            .map_err(|e| format!("the planner failed: {e}"))?;
        // A proposal for an incident acts on the incident's host and nothing else: whatever
        // the model was led to (a doc or log line quoted into its request could ask for
        // more), a wider proposal is rejected here, by the server.
        let (scoped, wider): (Vec<&JobView>, Vec<&JobView>) = reply.proposals.iter().partition(|j| {
            j.job.cluster == cluster_name && plan_host_names(&j.plan).iter().all(|h| *h == incident.host)
        });
        for j in &wider {
            let comment = format!(
                "incident {id} is on host {} of cluster {cluster_name}; this proposal reaches beyond it",
                incident.host
            );
            if let Err(e) = self.jobs.reject(j.job.id, ACTOR, Some(&comment), ACTOR).await {
                tracing::warn!(job = j.job.id, error = %e, "cannot reject an out-of-scope proposal");
            }
        }
        let mut proposals = scoped.into_iter();
        let Some(first) = proposals.next() else {
            if !wider.is_empty() {
                let note = format!(
                    "the planner proposed job {} beyond the incident's host {}; it was rejected",
                    wider[0].job.id, incident.host
                );
                incidents::record_remediation(&self.store, &self.bus, id, None, Some(conversation), &note)
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(());
            }
            incidents::record_remediation(&self.store, &self.bus, id, None, Some(conversation), &reply.reply)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(incident = id, "the planner proposed nothing");
            return Ok(());
        };
        for extra in proposals {
            let comment = format!(
                "incident {id} already has proposal {}; one proposal per incident",
                first.job.id
            );
            if let Err(e) = self.jobs.reject(extra.job.id, ACTOR, Some(&comment), ACTOR).await {
                tracing::warn!(job = extra.job.id, error = %e, "cannot reject a surplus proposal");
            }
        }
        incidents::record_remediation(
            &self.store,
            &self.bus,
            id,
            Some(first.job.id),
            Some(conversation),
            &reply.reply,
        )
        .await
        .map_err(|e| e.to_string())?;
        tracing::info!(
            incident = id,
            job = first.job.id,
            "remediation proposed; it waits for approval"
        );
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::telemetry::Responder for Remediation {
    async fn incident_opened(&self, id: i64, recent: Vec<f64>) {
        self.run(id, recent).await
    }

    async fn job_finished(&self, job_id: i64) {
        self.follow_up(job_id).await
    }
}

impl Remediation {
    /// After the read-only investigation proposed for an incident has run: the cleanup it
    /// points to, proposed with what it found, or a note that nothing in the catalog applies.
    /// Only a `disk-usage` job that an incident's proposal is, while the incident is open.
    pub async fn follow_up(&self, job_id: i64) {
        if let Err(why) = self.after_investigation(job_id).await {
            tracing::warn!(job = job_id, %why, "no follow-up for an investigation");
        }
    }

    async fn after_investigation(&self, job_id: i64) -> Result<(), String> {
        let Some(chat) = &self.chat else { return Ok(()) };
        let job = self.jobs.get(job_id).await.map_err(|e| e.to_string())?;
        let [stage] = job.stages.as_slice() else { return Ok(()) };
        if job.job.requested_by != ACTOR || job.job.state != "SUCCESSFUL" || stage.command != "disk-usage" {
            return Ok(());
        }
        let Some(incident_id) = job
            .sources
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|s| s.as_str()?.strip_prefix("incident:")?.parse::<i64>().ok())
        else {
            return Ok(());
        };
        let Some(incident) = incidents::view(&self.store, incident_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        if incident.state != incidents::OPEN || incident.job_id != Some(job_id) {
            return Ok(());
        }
        let (tasks, _) = chat.task_outputs(&job).await.map_err(|e| e.to_string())?;
        let found = tasks
            .iter()
            .find(|t| t.host == incident.host)
            .map(|t| largest_directories(&t.output))
            .unwrap_or_default();
        let cluster = inventory::cluster_view(self.store.read(), &job.job.cluster, None)
            .await
            .map_err(|e| e.to_string())?;
        let clean = chat
            .catalog
            .stack(&cluster.stack, &cluster.stack_version)
            .and_then(|s| s.component("host", "host"))
            .and_then(|c| c.commands.get("clean-tmp"));
        let roots: Vec<String> = match clean.and_then(|c| c.params.get("path")).map(|p| &p.kind) {
            Some(ParamKind::Path { roots }) => roots.clone(),
            _ => vec![],
        };
        let under = |p: &str| {
            roots
                .iter()
                .any(|r| p == r || p.starts_with(&format!("{}/", r.trim_end_matches('/'))))
        };
        let listing: Vec<String> = found
            .iter()
            .take(3)
            .map(|(size, path)| format!("{path} {size}"))
            .collect();
        let Some((size, path)) = found.iter().find(|(_, p)| under(p)) else {
            let note = format!(
                "The disk-usage report (job {job_id}) found the space in {}; none of it is under a path the catalog can clean ({}), so nothing more is proposed.",
                if listing.is_empty() { "no directory it could list".to_owned() } else { listing.join(", ") },
                if roots.is_empty() { "this stack has no cleanup".to_owned() } else { roots.join(", ") }
            );
            return incidents::record_remediation(&self.store, &self.bus, incident_id, Some(job_id), None, &note)
                .await
                .map_err(|e| e.to_string());
        };
        let req = ProposeRequest {
            cluster: job.job.cluster.clone(),
            stages: None,
            service: Some("host".into()),
            component: Some("host".into()),
            command: Some("clean-tmp".into()),
            hosts: Some(vec![incident.host.clone()]),
            params: [("path".to_owned(), serde_json::json!(path))].into(),
            rationale: Some(format!(
                "Incident {incident_id}: {}. The disk-usage report of job {job_id} found {path} taking {size} (largest: {}); clean-tmp deletes the old files there.",
                incident.summary,
                listing.join(", ")
            )),
            sources: vec![format!("incident:{incident_id}"), format!("job:{job_id}")],
        };
        let cleanup = self
            .jobs
            .propose(ACTOR, "anomaly", &req)
            .await
            .map_err(|e| format!("the cleanup was not proposed: {e}"))?;
        let note = format!(
            "Investigated with job {job_id}: {path} takes {size}. Proposed job {} (clean-tmp on {path}); it waits for approval.",
            cleanup.job.id
        );
        incidents::record_remediation(&self.store, &self.bus, incident_id, Some(cleanup.job.id), None, &note)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The request the structured planner gets, which resolves names and aliases from plain
/// words: the incident as an operator would say it. A disk incident asks for the read-only
/// report on the incident's own mount first ("disk usage of /tmp on host web-2, which is
/// 96.0 % full (threshold 90 %)"): the cleanup comes after someone has seen what fills it.
pub fn structured_request(incident: &IncidentView) -> String {
    if incident.metric.starts_with("disk") {
        let mount = label(&incident.signal, "mount").unwrap_or_else(|| "/".to_owned());
        return format!(
            "disk usage of {mount} on host {}, where {}",
            incident.host, incident.summary
        );
    }
    format!("on host {}: {}", incident.host, incident.summary)
}

/// The value of label `key` in a signal such as `disk_used_pct{fs="ext4",mount="/tmp"}`.
fn label(signal: &str, key: &str) -> Option<String> {
    let inner = signal.split_once('{')?.1.strip_suffix('}')?;
    let pattern = format!("{key}=\"");
    let start = inner.find(&pattern)? + pattern.len();
    let rest = &inner[start..];
    // Label values are Rust-debug quoted: \" and \\ are escapes.
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// Context quoted into the request, most relevant first: what the knowledge index finds for
/// the incident in the docs and the cluster's past logs and incidents, the documents of the
/// services on the host, and the end of the output of recent jobs' tasks on it.
async fn context(
    chat: &Chat,
    jobs: &Jobs,
    cluster: &inventory::ClusterView,
    incident: &IncidentView,
) -> Vec<serde_json::Value> {
    let mut out = vec![];
    if let Some(k) = &chat.knowledge {
        let req = SearchRequest {
            query: format!("{} {}", incident.summary, incident.signal),
            limit: KNOWLEDGE_HITS,
            mode: SearchMode::Hybrid,
            filter: Filter::all(),
        };
        match k.search_in_cluster(&req, &cluster.name).await {
            Ok(hits) => {
                for h in hits {
                    // This incident is indexed only once resolved; an earlier run of it is not.
                    if h.source != format!("incident:{}", incident.id) {
                        let text = truncate(&h.text, MAX_QUOTE / 2);
                        out.push(json!({"source": h.source, "title": h.title, "text": text}));
                    }
                }
            }
            Err(e) => tracing::warn!(incident = incident.id, error = %e, "knowledge search for a remediation failed"),
        }
    }
    let mut services: Vec<String> = cluster
        .hosts
        .iter()
        .filter(|h| h.hostname == incident.host)
        .flat_map(|h| h.components.iter().map(|c| c.service.clone()))
        .collect();
    services.sort();
    services.dedup();
    // The host service's documents first: they are about the machine itself.
    services.sort_by_key(|s| s != "host");
    for service in services.iter().take(2) {
        if let Some((_, docs)) = tools::service_docs(chat, cluster, service, MAX_QUOTE) {
            for (source, text) in docs.into_iter().take(1) {
                if out.iter().any(|c| c["source"] == source.as_str()) {
                    continue;
                }
                out.push(json!({"source": source, "title": format!("{service} documentation"), "text": text}));
            }
        }
    }
    if let Ok(recent) = jobs.list(None, 10).await {
        for j in recent.iter().filter(|j| j.cluster == cluster.name).take(2) {
            let Ok(job) = jobs.get(j.id).await else { continue };
            let Ok(tails) = tools::task_tails(chat, &job, 20).await else {
                continue;
            };
            for t in tails.into_iter().filter(|t| t.host == incident.host).take(1) {
                let text: String = t.lines.chars().take(MAX_QUOTE / 2).collect();
                out.push(json!({"source": t.source, "title": format!("{} ({}, exit {:?})", t.command, t.state, t.exit_code), "text": text}));
            }
        }
    }
    out
}

/// `prompts/incident.tera` with the incident, its recent values and as much context as fits,
/// and the context it quotes.
fn render(
    chat: &Chat,
    incident: &IncidentView,
    recent: &[f64],
    mut context: Vec<serde_json::Value>,
) -> Result<(String, Vec<serde_json::Value>), steward_llm::PromptError> {
    let points: Vec<String> = recent.iter().map(|v| format!("{v:.1}")).collect();
    loop {
        let text = chat.prompts.render(
            "incident.tera",
            &json!({
                "incident": {
                    "id": incident.id, "cluster": incident.cluster, "host": incident.host,
                    "signal": incident.signal, "summary": incident.summary,
                    "value": (incident.value * 10.0).round() / 10.0,
                    "threshold": incident.threshold, "since": incident.opened_at,
                    "forecast": incident.forecast,
                },
                "metrics": [{"name": incident.signal, "points": points}],
                "context": context,
            }),
        )?;
        if text.len() <= MAX_REQUEST || context.is_empty() {
            return Ok((text, context));
        }
        context.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn a_label_is_read_from_a_signal() {
        let s = r#"disk_used_pct{fs="ext4",mount="/var/lib/redis"}"#;
        assert_eq!(label(s, "mount").as_deref(), Some("/var/lib/redis"));
        assert_eq!(label(s, "fs").as_deref(), Some("ext4"));
        assert_eq!(label(s, "iface"), None);
        assert_eq!(label("cpu_used_pct", "mount"), None);
        assert_eq!(label(r#"x{mount="/a\"b"}"#, "mount").as_deref(), Some("/a\"b"));
    }
}
