//! How jobs look from outside: the JSON shapes of the API and the CLI.
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::db::entities::{job, stage, task, task_spec};

fn ts(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339())
}

/// A job in lists.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobSummary {
    /// Id.
    pub id: i64,
    /// Cluster name.
    pub cluster: String,
    /// Lifecycle state.
    pub state: String,
    /// `api`, `chat`, `anomaly`, `slack`, `telegram`.
    pub source: String,
    /// One line: what it does where.
    pub summary: String,
    /// `low` or `high`.
    pub risk: String,
    /// Who proposed it.
    pub requested_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: a proposal not decided by then expires.
    pub expires_at: String,
    /// RFC 3339, once finished.
    pub finished_at: Option<String>,
    /// How many distinct hosts its plan touches.
    pub host_count: usize,
    /// Whether someone other than `requested_by` must approve it (high risk, more hosts than
    /// the server's limit, or self-approval turned off): the rule approval enforces.
    pub four_eyes: bool,
}

impl JobSummary {
    /// From a stored job; `four_eyes` as the server's approval policy decides it.
    pub fn from_model(j: &job::Model, cluster: String, four_eyes: bool) -> Self {
        JobSummary {
            id: j.id,
            cluster,
            host_count: plan_hosts(&j.plan),
            state: j.state.clone(),
            source: j.source.clone(),
            summary: j.summary.clone(),
            risk: j.risk.clone(),
            requested_by: j.requested_by.clone(),
            created_at: j.created_at.to_rfc3339(),
            expires_at: j.expires_at.to_rfc3339(),
            finished_at: ts(j.finished_at),
            four_eyes,
        }
    }
}

/// How many distinct hosts a stored plan's tasks run on.
pub(crate) fn plan_hosts(plan: &Value) -> usize {
    plan_host_names(plan).len()
}

/// The distinct hosts a stored plan's tasks run on.
pub fn plan_host_names(plan: &Value) -> std::collections::BTreeSet<&str> {
    plan["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["tasks"].as_array().into_iter().flatten())
        .filter_map(|t| t["host"].as_str())
        .collect()
}

/// A job with everything an approver needs to decide: its list entry and the rest.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobView {
    /// What a list shows of it.
    #[serde(flatten)]
    pub job: JobSummary,
    /// Why it was proposed.
    pub rationale: String,
    /// What the proposal cites.
    #[schema(value_type = Vec<String>)]
    pub sources: Value,
    /// The canonical plan.
    #[schema(value_type = super::Plan)]
    pub plan: Value,
    /// SHA-256 of the canonical plan; approvals must quote it.
    pub plan_hash: String,
    /// Who approved so far, on a job that needs two approvers (the last one is `decided_by`).
    pub approvals: Vec<String>,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    /// The decision's comment.
    pub decision_comment: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// RFC 3339.
    pub approved_at: Option<String>,
    /// RFC 3339.
    pub started_at: Option<String>,
    /// Stages in plan order with their tasks.
    pub stages: Vec<StageView>,
}

/// A stage and its tasks.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StageView {
    /// Position in the plan.
    pub idx: i32,
    /// Name.
    pub name: String,
    /// Service.
    pub service: String,
    /// Component.
    pub component: String,
    /// Command.
    pub command: String,
    /// State.
    pub state: String,
    /// Indexes of the stages it waits for.
    pub depends_on: Vec<i64>,
    /// The script every task of the stage runs, byte for byte (the command's script).
    pub script: String,
    /// Paths of the files every task of the stage gets (the stack's lib).
    pub shared_files: Vec<String>,
    /// RFC 3339.
    pub started_at: Option<String>,
    /// RFC 3339.
    pub finished_at: Option<String>,
    /// One task per host.
    pub tasks: Vec<TaskView>,
}

/// A task: one command on one host.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskView {
    /// Id (for logs).
    pub id: i64,
    /// Hostname.
    pub host: String,
    /// State.
    pub state: String,
    /// Dispatch attempt (0 before the first).
    pub attempt: i32,
    /// Exit code, once it exited.
    pub exit_code: Option<i32>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Seconds before the agent kills it.
    pub timeout_secs: i32,
    /// SHA-256 of what it runs (in the plan hash).
    pub digest: String,
    /// Its environment.
    #[schema(value_type = Object)]
    pub env: Value,
    /// Paths of the files shipped with it.
    pub files: Vec<String>,
    /// RFC 3339.
    pub dispatched_at: Option<String>,
    /// RFC 3339.
    pub started_at: Option<String>,
    /// RFC 3339.
    pub finished_at: Option<String>,
}

/// One line of a task's output.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogLine {
    /// Position in the task's output.
    pub seq: i64,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The line.
    pub line: String,
    /// RFC 3339.
    pub at: String,
}

/// The `path`s of a stored JSON array of files.
fn file_paths(files: &Value) -> Vec<String> {
    match files {
        Value::Array(a) => a
            .iter()
            .filter_map(|f| f.get("path").and_then(Value::as_str).map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

impl JobView {
    /// Assembles a job from its rows.
    pub fn build(
        j: job::Model,
        cluster: String,
        four_eyes: bool,
        stages: Vec<stage::Model>,
        tasks: Vec<task::Model>,
        specs: Vec<task_spec::Model>,
    ) -> Self {
        let mut specs: HashMap<i64, task_spec::Model> = specs.into_iter().map(|s| (s.task_id, s)).collect();
        let stage_ids: Vec<i64> = stages.iter().map(|s| s.id).collect();
        let mut stage_views: Vec<StageView> = stages
            .into_iter()
            .map(|s| StageView {
                idx: s.idx,
                name: s.name,
                service: s.service,
                component: s.component,
                command: s.command,
                state: s.state,
                depends_on: serde_json::from_value(s.depends_on).unwrap_or_default(),
                script: s.script,
                shared_files: file_paths(&s.shared_files),
                started_at: ts(s.started_at),
                finished_at: ts(s.finished_at),
                tasks: vec![],
            })
            .collect();
        for t in tasks {
            // Every task has its spec; a missing one shows as empty rather than failing the view.
            let spec = specs.remove(&t.id);
            let (digest, env, files) = spec
                .map(|s| (s.digest, s.env, file_paths(&s.files)))
                .unwrap_or_else(|| (String::new(), Value::Object(Default::default()), vec![]));
            let view = TaskView {
                id: t.id,
                host: t.hostname,
                state: t.state,
                attempt: t.attempt,
                exit_code: t.exit_code,
                error: t.error,
                timeout_secs: t.timeout_secs,
                digest,
                env,
                files,
                dispatched_at: ts(t.dispatched_at),
                started_at: ts(t.started_at),
                finished_at: ts(t.finished_at),
            };
            if let Some(i) = stage_ids.iter().position(|id| *id == t.stage_id) {
                stage_views[i].tasks.push(view);
            }
        }
        let approvals = j
            .approvals
            .as_ref()
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x["by"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        JobView {
            job: JobSummary::from_model(&j, cluster, four_eyes),
            rationale: j.rationale,
            sources: j.sources,
            plan: j.plan,
            plan_hash: j.plan_hash,
            approvals,
            decided_by: j.decided_by,
            decision_comment: j.decision_comment,
            error: j.error,
            approved_at: ts(j.approved_at),
            started_at: ts(j.started_at),
            stages: stage_views,
        }
    }
}
