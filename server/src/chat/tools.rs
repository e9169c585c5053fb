//! The planner's tools: read-only views of the clusters and jobs, and `propose_job`.
//!
//! Nothing here executes anything. `propose_job` validates against the live catalog and
//! cluster (through `jobs::Jobs::propose`, the same path as the REST API) and creates a
//! PROPOSED job, or returns the validation error for the model to correct.
use serde::Deserialize;
use serde_json::{json, Value};
use steward_llm::{PromptError, ToolCall, ToolDef};

use super::Chat;
use crate::inventory;
use crate::jobs::{JobView, ProposeRequest};
use crate::knowledge::chunk::truncate;
use crate::knowledge::{Citation, Filter, Kind, SearchMode, SearchRequest};

/// What one tool call produced.
#[derive(Debug)]
pub struct Outcome {
    /// The text given back to the model (JSON, quoted as data).
    pub result: String,
    /// Source id of the result, for citations.
    pub source: String,
    /// The job `propose_job` created.
    pub proposal: Option<JobView>,
    /// The call failed (the model may correct it).
    pub error: bool,
    /// The knowledge chunks the result quoted, cited by the reply and any proposal.
    pub citations: Vec<Citation>,
}

impl Outcome {
    fn ok(source: impl Into<String>, v: Value) -> Self {
        Outcome {
            result: v.to_string(),
            source: source.into(),
            proposal: None,
            error: false,
            citations: vec![],
        }
    }

    fn err(source: impl Into<String>, message: impl Into<String>) -> Self {
        Outcome {
            result: json!({"error": message.into()}).to_string(),
            source: source.into(),
            proposal: None,
            error: true,
            citations: vec![],
        }
    }
}

/// The JSON Schema of `propose_job`'s arguments, with enums of the live catalog's names.
pub fn propose_schema(state: &Chat, clusters: &[inventory::ClusterView]) -> Value {
    let mut services = std::collections::BTreeSet::new();
    let mut components = std::collections::BTreeSet::new();
    let mut commands = std::collections::BTreeSet::new();
    for c in clusters {
        if let Some(stack) = state.catalog.stack(&c.stack, &c.stack_version) {
            for s in stack.services.values() {
                services.insert(s.name.clone());
                for comp in s.components.values() {
                    components.insert(comp.name.clone());
                    commands.extend(comp.commands.keys().cloned());
                }
            }
        }
    }
    let cluster_names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    let hosts: std::collections::BTreeSet<&str> = clusters
        .iter()
        .flat_map(|c| c.hosts.iter().map(|h| h.hostname.as_str()))
        .collect();
    json!({
        "type": "object",
        "properties": {
            "cluster": {"type": "string", "enum": cluster_names},
            "service": {"type": "string", "enum": services},
            "component": {"type": "string", "enum": components},
            "command": {"type": "string", "enum": commands},
            "hosts": {"type": "array", "items": {"type": "string", "enum": hosts}, "description": "Leave out for every host carrying the component"},
            "params": {"type": "object", "description": "The command's parameters, if it has any"},
            "rationale": {"type": "string", "description": "Why, in one or two sentences, citing the evidence"}
        },
        "required": ["cluster", "service", "component", "command", "rationale"],
        "additionalProperties": false
    })
}

/// The tools offered to the model; their descriptions are the `tool_<name>.tera` prompts.
pub fn definitions(state: &Chat, clusters: &[inventory::ClusterView]) -> Result<Vec<ToolDef>, PromptError> {
    let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    let ctx = json!({"clusters": names});
    let cluster_arg = json!({"type": "string", "enum": names});
    let hosts: Vec<&str> = clusters
        .iter()
        .flat_map(|c| c.hosts.iter().map(|h| h.hostname.as_str()))
        .collect();
    let tools = [
        (
            "cluster_state",
            json!({"type": "object", "properties": {"cluster": cluster_arg}, "additionalProperties": false}),
        ),
        (
            "recent_jobs",
            json!({"type": "object", "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 50}}, "additionalProperties": false}),
        ),
        (
            "job_logs",
            json!({"type": "object", "properties": {"job_id": {"type": "integer"}, "lines": {"type": "integer", "minimum": 1, "maximum": 200}}, "required": ["job_id"], "additionalProperties": false}),
        ),
        (
            "stack_docs",
            json!({"type": "object", "properties": {"cluster": cluster_arg, "service": {"type": "string"}}, "required": ["cluster", "service"], "additionalProperties": false}),
        ),
        (
            "host_metrics",
            json!({"type": "object", "properties": {"host": {"type": "string", "enum": hosts}, "metric": {"type": "string", "description": "A metric name or its start, e.g. disk_used_pct or disk"}}, "required": ["host"], "additionalProperties": false}),
        ),
        (
            "incidents",
            json!({"type": "object", "properties": {"state": {"type": "string", "enum": ["OPEN", "RESOLVED"]}, "host": {"type": "string", "enum": hosts}}, "additionalProperties": false}),
        ),
        ("propose_job", propose_schema(state, clusters)),
    ];
    let search = state.knowledge.is_some().then(|| {
        (
            "search_knowledge",
            json!({"type": "object", "properties": {
                "query": {"type": "string", "maxLength": crate::knowledge::MAX_QUERY_BYTES},
                "cluster": cluster_arg,
                "service": {"type": "string"},
                "kind": {"type": "string", "enum": ["doc", "job_log", "incident"]},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH_HITS}
            }, "required": ["query"], "additionalProperties": false}),
        )
    });
    tools
        .into_iter()
        .chain(search)
        .map(|(name, parameters)| {
            Ok(ToolDef {
                name: name.into(),
                description: state
                    .prompts
                    .render(&format!("tool_{name}.tera"), &ctx)?
                    .trim()
                    .to_owned(),
                parameters,
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterArgs {
    cluster: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecentArgs {
    limit: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogArgs {
    job_id: i64,
    lines: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocsArgs {
    cluster: String,
    service: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricArgs {
    host: String,
    metric: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentArgs {
    state: Option<String>,
    host: Option<String>,
}

/// Series one `host_metrics` call returns at most.
const MAX_SERIES: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
    cluster: Option<String>,
    service: Option<String>,
    kind: Option<Kind>,
    limit: Option<usize>,
}

/// Most chunks one `search_knowledge` call quotes back.
const MAX_SEARCH_HITS: usize = 10;

/// Longest document text quoted back to the model, in bytes.
const MAX_DOC_BYTES: usize = 8000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProposeArgs {
    cluster: String,
    service: String,
    component: String,
    command: String,
    #[serde(default)]
    hosts: Option<Vec<String>>,
    #[serde(default)]
    params: std::collections::BTreeMap<String, Value>,
    #[serde(default)]
    rationale: Option<String>,
}

fn parse<T: for<'de> Deserialize<'de>>(call: &ToolCall) -> Result<T, String> {
    let text = if call.arguments.trim().is_empty() {
        "{}"
    } else {
        call.arguments.as_str()
    };
    serde_json::from_str(text).map_err(|e| format!("the arguments of {} are not valid: {e}", call.name))
}

/// Runs one tool call on behalf of `actor`; proposals carry `source` (chat, slack …) and cite
/// `cited`, the sources the turn has read so far.
pub async fn call(state: &Chat, actor: &str, source: &str, tc: &ToolCall, cited: &[String]) -> Outcome {
    match tc.name.as_str() {
        "cluster_state" => {
            let args: ClusterArgs = match parse(tc) {
                Ok(a) => a,
                Err(e) => return Outcome::err("tool:cluster_state", e),
            };
            let r = match &args.cluster {
                Some(c) => inventory::cluster_view(state.store.read(), c, Some(&state.presence))
                    .await
                    .map(|c| vec![c]),
                None => inventory::list_clusters(state.store.read(), Some(&state.presence)).await,
            };
            match r {
                Ok(clusters) => {
                    let v: Vec<Value> = clusters
                        .iter()
                        .map(|c| {
                            json!({"cluster": c.name, "stack": format!("{} {}", c.stack, c.stack_version), "hosts": c.hosts.iter().map(|h| json!({
                                "hostname": h.hostname, "state": h.state, "last_heartbeat": h.last_heartbeat,
                                "components": h.components.iter().map(|p| format!("{}/{} {}", p.service, p.component, p.state)).collect::<Vec<_>>()
                            })).collect::<Vec<_>>()})
                        })
                        .collect();
                    Outcome::ok("inventory", json!(v))
                }
                Err(e) => Outcome::err("inventory", e.to_string()),
            }
        }
        "recent_jobs" => {
            let args: RecentArgs = match parse(tc) {
                Ok(a) => a,
                Err(e) => return Outcome::err("tool:recent_jobs", e),
            };
            match state.jobs.list(None, args.limit.unwrap_or(10).min(50)).await {
                Ok(jobs) => Outcome::ok("jobs", json!(jobs)),
                Err(e) => Outcome::err("jobs", e.to_string()),
            }
        }
        "job_logs" => {
            let args: LogArgs = match parse(tc) {
                Ok(a) => a,
                Err(e) => return Outcome::err("tool:job_logs", e),
            };
            let source = format!("job:{}", args.job_id);
            let job = match state.jobs.get(args.job_id).await {
                Ok(j) => j,
                Err(e) => return Outcome::err(source, e.to_string()),
            };
            let tails = match task_tails(state, &job, args.lines.unwrap_or(40).min(200)).await {
                Ok(t) => t,
                Err(e) => return Outcome::err(source, e.to_string()),
            };
            let out: Vec<Value> = tails
                .into_iter()
                .map(|t| json!({"source": t.source, "host": t.host, "command": t.command, "state": t.state, "exit_code": t.exit_code, "untrusted_output": t.lines}))
                .collect();
            Outcome::ok(source, json!({"job": job.job.id, "state": job.job.state, "tasks": out}))
        }
        "stack_docs" => {
            let args: DocsArgs = match parse(tc) {
                Ok(a) => a,
                Err(e) => return Outcome::err("tool:stack_docs", e),
            };
            let cluster = match inventory::cluster_view(state.store.read(), &args.cluster, None).await {
                Ok(c) => c,
                Err(e) => return Outcome::err("tool:stack_docs", e.to_string()),
            };
            let Some((source, docs)) = service_docs(state, &cluster, &args.service, MAX_DOC_BYTES) else {
                return Outcome::err(
                    "tool:stack_docs",
                    format!("stack {} has no service {:?}", cluster.stack, args.service),
                );
            };
            let docs: Vec<Value> = docs
                .iter()
                .map(|(source, text)| json!({"source": source, "untrusted_text": text}))
                .collect();
            Outcome::ok(source, json!({"service": args.service, "documents": docs}))
        }
        "host_metrics" => {
            let args: MetricArgs = match parse(tc) {
                Ok(a) => a,
                Err(e) => return Outcome::err("tool:host_metrics", e),
            };
            let source = format!("host:{}", args.host);
            let Some(t) = state.telemetry.get() else {
                return Outcome::err(source, "telemetry is not running");
            };
            let host = match inventory::host_view(state.store.read(), &args.host, &state.presence).await {
                Ok(h) => h,
                Err(e) => return Outcome::err(source, e.to_string()),
            };
            let series = match t.series(host.id).await {
                Ok(s) => s,
                Err(e) => return Outcome::err(source, e.to_string()),
            };
            let wanted = args.metric.as_deref().unwrap_or("");
            let v: Vec<Value> = series
                .iter()
                .filter(|s| s.name.starts_with(wanted))
                .filter_map(|s| {
                    s.latest
                        .as_ref()
                        .map(|p| json!({"metric": s.name, "labels": s.labels, "value": p.value, "at": p.t}))
                })
                .take(MAX_SERIES)
                .collect();
            Outcome::ok(source, json!({"host": host.hostname, "state": host.state, "latest": v}))
        }
        "incidents" => {
            let args: IncidentArgs = match parse(tc) {
                Ok(a) => a,
                Err(e) => return Outcome::err("tool:incidents", e),
            };
            let Some(t) = state.telemetry.get() else {
                return Outcome::err("incidents", "telemetry is not running");
            };
            let host_id = match &args.host {
                Some(h) => match inventory::host_view(state.store.read(), h, &state.presence).await {
                    Ok(h) => Some(h.id),
                    Err(e) => return Outcome::err("incidents", e.to_string()),
                },
                None => None,
            };
            let f = crate::telemetry::IncidentFilter {
                state: args.state,
                host_id,
                limit: Some(20),
            };
            match t.incidents(&f).await {
                Ok(list) => Outcome::ok("incidents", json!(list)),
                Err(e) => Outcome::err("incidents", e.to_string()),
            }
        }
        "search_knowledge" => {
            let args: SearchArgs = match parse(tc) {
                Ok(a) => a,
                Err(e) => return Outcome::err("tool:search_knowledge", e),
            };
            let Some(knowledge) = &state.knowledge else {
                return Outcome::err("tool:search_knowledge", "the knowledge index is off");
            };
            let req = SearchRequest {
                query: args.query,
                limit: args.limit.unwrap_or(5).clamp(1, MAX_SEARCH_HITS),
                mode: SearchMode::Hybrid,
                filter: Filter {
                    kinds: args.kind.into_iter().collect(),
                    service: args.service,
                    ..Filter::all()
                },
            };
            let hits = match &args.cluster {
                Some(c) => knowledge.search_in_cluster(&req, c).await,
                None => knowledge.search(&req).await,
            };
            match hits {
                Ok(hits) => {
                    let quoted: Vec<Value> = hits
                        .iter()
                        .map(|h| json!({"source": h.source, "title": h.title, "kind": h.kind, "host": h.host, "time": h.time, "untrusted_text": h.text}))
                        .collect();
                    let mut out = Outcome::ok("knowledge", json!({"query": req.query, "hits": quoted}));
                    out.citations = hits.iter().map(|h| h.citation()).collect();
                    out
                }
                Err(e) => Outcome::err("tool:search_knowledge", e.to_string()),
            }
        }
        "propose_job" => {
            let args: ProposeArgs = match parse(tc) {
                Ok(a) => a,
                Err(e) => return Outcome::err("tool:propose_job", e),
            };
            let req = ProposeRequest {
                cluster: args.cluster,
                stages: None,
                service: Some(args.service),
                component: Some(args.component),
                command: Some(args.command),
                hosts: args.hosts.filter(|h| !h.is_empty()),
                params: args.params,
                rationale: args.rationale,
                sources: cited.to_vec(),
            };
            if let Some(Err(e)) = state.limits.as_ref().map(|a| a.proposal_allowed(actor)) {
                return Outcome::err("tool:propose_job", format!("not proposed: {e}"));
            }
            match state.jobs.propose(actor, source, &req).await {
                Ok(job) => {
                    let v = json!({"proposed_job": job.job.id, "state": job.job.state, "summary": job.job.summary, "risk": job.job.risk, "note": "waiting for an operator's approval; nothing has run"});
                    Outcome {
                        result: v.to_string(),
                        source: format!("job:{}", job.job.id),
                        proposal: Some(job),
                        error: false,
                        citations: vec![],
                    }
                }
                Err(e) => Outcome::err("tool:propose_job", format!("not proposed: {e}")),
            }
        }
        other => Outcome::err("tool", format!("there is no tool named {other:?}")),
    }
}

/// The documents of `service` in `cluster`'s stack, each cut to `max` bytes, with one source id
/// for them all: `(source, [(doc source, text)])`. None when the stack has no such service.
pub fn service_docs(
    state: &Chat,
    cluster: &inventory::ClusterView,
    service: &str,
    max: usize,
) -> Option<(String, Vec<(String, String)>)> {
    let service = state
        .catalog
        .stack(&cluster.stack, &cluster.stack_version)
        .and_then(|s| s.services.get(service))?;
    let docs = service
        .docs
        .iter()
        .map(|(path, text)| (format!("doc:{path}"), truncate(text, max).to_owned()))
        .collect();
    let source = match service.docs.as_slice() {
        [(path, _)] => format!("doc:{path}"),
        _ => format!("doc:{}/{}/{}", cluster.stack, cluster.stack_version, service.name),
    };
    Some((source, docs))
}

/// The end of one task's output, with where it came from.
#[derive(Debug, serde::Serialize)]
pub struct TaskTail {
    /// `job:J/task:T`.
    pub source: String,
    /// Host it ran on.
    pub host: String,
    /// `service/component command`.
    pub command: String,
    /// Task state.
    pub state: String,
    /// Exit code, when it finished.
    pub exit_code: Option<i32>,
    /// The last lines of output, joined (untrusted data).
    pub lines: String,
}

/// The last `n` lines of every task of `job`.
pub async fn task_tails(state: &Chat, job: &JobView, n: usize) -> Result<Vec<TaskTail>, crate::jobs::JobError> {
    let mut out = vec![];
    for st in &job.stages {
        for t in &st.tasks {
            let lines = state.jobs.log_tail(t.id, n as u64).await?;
            out.push(TaskTail {
                source: format!("job:{}/task:{}", job.job.id, t.id),
                host: t.host.clone(),
                command: format!("{}/{} {}", st.service, st.component, st.command),
                state: t.state.clone(),
                exit_code: t.exit_code,
                lines: lines.into_iter().map(|l| l.line).collect::<Vec<_>>().join("\n"),
            });
        }
    }
    Ok(out)
}
