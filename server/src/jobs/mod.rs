//! Jobs: proposals, decisions, the plan model, and the engine that runs approved plans.
//!
//! Owns the `jobs`, `stages`, `tasks` and `task_output` tables. Handlers call the functions of
//! [`Jobs`]; only [`engine`] sends anything to agents, and it loads only approved jobs.
pub mod engine;
mod logcap;
mod machine;
mod plan;
pub mod state;
mod view;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;

use crate::audit;
use crate::auth;
use crate::db::entities::{job, stage, task, task_output, task_spec};
use crate::db::output;
use crate::db::Store;
use crate::events::{Bus, Event};
use crate::inventory::{self, InventoryError};
use crate::stacks::Catalog;

pub use engine::EngineHandle;
pub use plan::{plan_hash, Plan, PlanError, PlanStage, PlanTask, ProposeRequest, StageRequest};
pub use state::{JobState, StageState, TaskState};
pub use view::{plan_host_names, JobSummary, JobView, LogLine, StageView, TaskView};

/// Stored output chunks read per query (up to 80 KiB of text each).
const CHUNKS_PER_READ: u64 = 16;

/// Jobs one list returns by default.
pub const LIST_DEFAULT: u64 = 50;
/// Jobs one list returns at most.
pub const LIST_MAX: u64 = 1000;

/// What can go wrong with a job request.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// No such job or task.
    #[error("{0}")]
    NotFound(String),
    /// The job is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// The approval's plan hash is not the job's.
    #[error("{0}")]
    HashMismatch(String),
    /// The job needs an approver other than its requester.
    #[error("{0}")]
    FourEyes(String),
    /// The plan is invalid.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The cluster or host named does not exist.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// The engine is not running.
    #[error("the job engine is not running")]
    EngineDown,
}

/// Where a proposal came from.
pub const SOURCES: &[&str] = &["api", "chat", "anomaly", "slack", "telegram"];

/// The jobs service: proposals, decisions, views.
#[derive(Clone)]
pub struct Jobs {
    store: Store,
    catalog: Arc<Catalog>,
    engine: EngineHandle,
    bus: Bus,
    ttl: Duration,
    approval: ApprovalPolicy,
}

/// When a requester may approve their own job.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalPolicy {
    /// A plan touching more hosts than this needs another approver.
    pub four_eyes_hosts: usize,
    /// Whether low-risk jobs may be self-approved at all.
    pub allow_self_approval: bool,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        ApprovalPolicy {
            four_eyes_hosts: 10,
            allow_self_approval: true,
        }
    }
}

/// Sources whose proposals are requested on behalf of the system, not of a person.
const SYSTEM_SOURCES: &[&str] = &["anomaly"];

/// One approval of a job that needs two, as kept in `jobs.approvals`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Approval {
    /// The principal that approved (a user or `token:<name>`).
    by: String,
    /// The person accountable for it.
    owner: String,
    /// RFC 3339.
    at: String,
}

fn approvals_of(job: &job::Model) -> Vec<Approval> {
    job.approvals
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

impl ApprovalPolicy {
    /// Why `job` must be approved by someone other than its requester, if it must: the one
    /// rule behind both [`Jobs::approve`]'s refusal and the views' `four_eyes` flag.
    fn four_eyes(&self, job: &job::Model) -> Option<String> {
        let hosts = view::plan_hosts(&job.plan);
        if job.risk == "high" {
            Some("is high risk".to_owned())
        } else if hosts > self.four_eyes_hosts {
            Some(format!("touches {hosts} hosts (more than {})", self.four_eyes_hosts))
        } else if !self.allow_self_approval {
            Some("was requested by you and self-approval is turned off".to_owned())
        } else {
            None
        }
    }

    /// Why `owner` (the person behind the approving principal) may not approve `job`, whose
    /// request was made for `requester`, if they may not. Persons are compared, not
    /// principals: an API token's owner cannot approve the token's proposal, nor the reverse.
    fn refuses(&self, job: &job::Model, requester: &str, owner: &str) -> Option<String> {
        if requester != owner {
            return None;
        }
        let why = self.four_eyes(job)?;
        Some(format!(
            "four-eyes: job {} {why}, so it needs an approver other than {owner}, on whose behalf it was requested ({})",
            job.id, job.requested_by
        ))
    }

    /// How many distinct persons must approve `job`: two for a high-risk job requested on
    /// behalf of the system (nobody has vouched for it yet), else one.
    fn approvals_needed(job: &job::Model, requester: &str) -> usize {
        if requester == auth::SYSTEM && job.risk == "high" {
            2
        } else {
            1
        }
    }
}

/// Which jobs a list returns.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only jobs in one of these states (any state when empty).
    pub states: Vec<JobState>,
    /// Only jobs with a task on this host.
    pub host_id: Option<i64>,
    /// Only jobs from this source (one of [`SOURCES`]).
    pub source: Option<String>,
    /// At most this many.
    pub limit: u64,
    /// After skipping this many (newest first).
    pub offset: u64,
}

impl Jobs {
    /// Wires the service to its store, catalog, engine and event bus.
    pub fn new(store: Store, catalog: Arc<Catalog>, engine: EngineHandle, bus: Bus, ttl: Duration) -> Self {
        Jobs {
            store,
            catalog,
            engine,
            bus,
            ttl,
            approval: ApprovalPolicy::default(),
        }
    }

    /// Sets who may approve their own jobs.
    pub fn with_approval_policy(mut self, policy: ApprovalPolicy) -> Self {
        self.approval = policy;
        self
    }

    /// Validates and stores a proposal (state PROPOSED). Nothing is sent anywhere.
    pub async fn propose(&self, actor: &str, source: &str, req: &ProposeRequest) -> Result<JobView, JobError> {
        debug_assert!(SOURCES.contains(&source));
        let cluster = inventory::cluster_view(self.store.read(), &req.cluster, None).await?;
        let mut built = plan::build(&self.catalog, &cluster, req)?;
        let sources = req.checked_sources()?;
        let now = Utc::now();
        let txn = self.store.begin_write().await?;
        let owner = if SYSTEM_SOURCES.contains(&source) {
            auth::SYSTEM.to_owned()
        } else {
            auth::owner_of(&*txn, actor).await?
        };
        // The job and task rows come first: their ids are part of each task's environment,
        // so the digests and the plan hash are taken once they exist, in this transaction.
        let job = job::ActiveModel {
            cluster_id: Set(cluster.id),
            state: Set(JobState::Proposed.as_str().into()),
            source: Set(source.into()),
            summary: Set(built.summary.clone()),
            plan: Set(json!({})),
            plan_hash: Set(String::new()),
            risk: Set(built.risk.as_str().into()),
            rationale: Set(req.rationale.clone().unwrap_or_default()),
            sources: Set(json!(sources)),
            requested_by: Set(actor.into()),
            requester_owner: Set(Some(owner.clone())),
            approvals: Set(None),
            decided_by: Set(None),
            decision_comment: Set(None),
            error: Set(None),
            created_at: Set(now),
            expires_at: Set(now + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::days(1))),
            approved_at: Set(None),
            started_at: Set(None),
            finished_at: Set(None),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
        let mut task_ids = Vec::with_capacity(built.rendered.len());
        for (idx, (ps, tasks)) in built.plan.stages.iter().zip(&built.rendered).enumerate() {
            let st = stage::ActiveModel {
                job_id: Set(job.id),
                idx: Set(idx as i32),
                name: Set(ps.name.clone()),
                service: Set(ps.service.clone()),
                component: Set(ps.component.clone()),
                command: Set(ps.command.clone()),
                depends_on: Set(json!(built.deps[idx])),
                state: Set(StageState::Pending.as_str().into()),
                script: Set(tasks.first().map(|(_, r)| r.script.clone()).unwrap_or_default()),
                shared_files: Set(json!(tasks.first().map(|(_, r)| r.shared.clone()).unwrap_or_default())),
                started_at: Set(None),
                finished_at: Set(None),
                ..Default::default()
            }
            .insert(&*txn)
            .await?;
            let rows: Vec<task::ActiveModel> = tasks
                .iter()
                .zip(&ps.tasks)
                .map(|((host_id, r), pt)| task::ActiveModel {
                    job_id: Set(job.id),
                    stage_id: Set(st.id),
                    host_id: Set(*host_id),
                    hostname: Set(pt.host.clone()),
                    state: Set(TaskState::Pending.as_str().into()),
                    attempt: Set(0),
                    timeout_secs: Set(r.timeout_secs as i32),
                    exit_code: Set(None),
                    error: Set(None),
                    dispatched_at: Set(None),
                    started_at: Set(None),
                    finished_at: Set(None),
                    ..Default::default()
                })
                .collect();
            for chunk in rows.chunks(500) {
                task::Entity::insert_many(chunk.to_vec())
                    .exec_without_returning(&*txn)
                    .await?;
            }
            // A stage has one task per host, so the host names the row.
            let by_host: HashMap<i64, i64> = task::Entity::find()
                .select_only()
                .column(task::Column::HostId)
                .column(task::Column::Id)
                .filter(task::Column::StageId.eq(st.id))
                .into_tuple::<(i64, i64)>()
                .all(&*txn)
                .await?
                .into_iter()
                .collect();
            task_ids.push(tasks.iter().map(|(host_id, _)| by_host[host_id]).collect::<Vec<i64>>());
        }
        // The environment names the job and task, so what each task runs is stored once
        // their ids are known.
        let hash = built.bind(job.id, &task_ids);
        let specs: Vec<task_spec::ActiveModel> = built
            .rendered
            .iter()
            .zip(&task_ids)
            .flat_map(|(tasks, ids)| tasks.iter().zip(ids))
            .map(|((_, r), id)| task_spec::ActiveModel {
                task_id: Set(*id),
                job_id: Set(job.id),
                env: Set(json!(r.env)),
                files: Set(json!(r.files)),
                digest: Set(r.digest.clone()),
            })
            .collect();
        for chunk in specs.chunks(500) {
            task_spec::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&*txn)
                .await?;
        }
        job::Entity::update_many()
            .col_expr(
                job::Column::Plan,
                Expr::value(serde_json::to_value(&built.plan).expect("plan serialises")),
            )
            .col_expr(job::Column::PlanHash, Expr::value(hash.clone()))
            .filter(job::Column::Id.eq(job.id))
            .exec(&*txn)
            .await?;
        audit::record(
            &*txn,
            actor,
            "job.proposed",
            &format!("job:{}", job.id),
            json!({"plan_hash": hash, "risk": built.risk.as_str(), "summary": built.summary, "source": source, "owner": owner}),
        )
        .await?;
        txn.commit().await?;
        self.bus.publish(Event::Job {
            job_id: job.id,
            state: JobState::Proposed.as_str().into(),
            finished: false,
        });
        let view = self.get(job.id).await?;
        self.bus.publish(Event::Proposal {
            job_id: view.job.id,
            cluster: view.job.cluster.clone(),
            summary: view.job.summary.clone(),
            risk: view.job.risk.clone(),
            source: view.job.source.clone(),
            requested_by: view.job.requested_by.clone(),
            expires_at: view.job.expires_at.clone(),
        });
        Ok(view)
    }

    /// Approves a PROPOSED job whose plan hash is `plan_hash` as `actor`, then hands it to
    /// the engine. Four-eyes compares persons (an API token stands for its owner); a
    /// high-risk job requested on behalf of the system needs two different persons, and the
    /// first approval is only recorded (`approvals`), the job staying PROPOSED.
    /// `via` names the channel the decision came through (`api`, `slack`, `telegram`), for the
    /// audit log.
    pub async fn approve(
        &self,
        id: i64,
        actor: &str,
        plan_hash: &str,
        comment: Option<&str>,
        via: &str,
    ) -> Result<JobView, JobError> {
        let txn = self.store.begin_write().await?;
        let j = self.decidable(&txn, id).await?;
        if j.plan_hash != plan_hash {
            return Err(JobError::HashMismatch(format!(
                "plan_hash does not match job {id}'s plan (expected {}…); fetch the job again and review its plan",
                &j.plan_hash[..12]
            )));
        }
        let requester = j.requester_owner.clone().unwrap_or_else(|| j.requested_by.clone());
        let owner = auth::owner_of(&*txn, actor).await?;
        if let Some(why) = self.approval.refuses(&j, &requester, &owner) {
            return Err(JobError::FourEyes(why));
        }
        let mut approvals = approvals_of(&j);
        if approvals.iter().any(|a| a.owner == owner) {
            return Err(JobError::FourEyes(format!(
                "four-eyes: {owner} already approved job {id}; it needs a second, different approver"
            )));
        }
        let now = Utc::now();
        approvals.push(Approval {
            by: actor.to_owned(),
            owner: owner.clone(),
            at: now.to_rfc3339(),
        });
        let needed = ApprovalPolicy::approvals_needed(&j, &requester);
        if approvals.len() < needed {
            // Recorded, not yet approved: the job stays PROPOSED until another person agrees.
            let mut am: job::ActiveModel = j.into();
            am.approvals = Set(Some(json!(approvals)));
            am.update(&*txn).await?;
            audit::record(
                &*txn,
                actor,
                "job.approval_recorded",
                &format!("job:{id}"),
                json!({"plan_hash": plan_hash, "comment": comment, "owner": owner, "approvals": approvals.len(), "needed": needed, "via": via}),
            )
            .await?;
            txn.commit().await?;
            return self.get(id).await;
        }
        let mut am: job::ActiveModel = j.into();
        am.approvals = Set(Some(json!(approvals)));
        am.state = Set(JobState::Approved.as_str().into());
        am.decided_by = Set(Some(actor.into()));
        am.decision_comment = Set(comment.map(str::to_owned));
        am.approved_at = Set(Some(now));
        am.update(&*txn).await?;
        audit::record(
            &*txn,
            actor,
            "job.approved",
            &format!("job:{id}"),
            json!({"plan_hash": plan_hash, "comment": comment, "owner": owner, "approvals": approvals.len(), "via": via}),
        )
        .await?;
        txn.commit().await?;
        self.bus.publish(Event::Job {
            job_id: id,
            state: JobState::Approved.as_str().into(),
            finished: false,
        });
        self.engine.approved(id).await.map_err(|_| JobError::EngineDown)?;
        self.get(id).await
    }

    /// Rejects a PROPOSED job; it will never run.
    pub async fn reject(&self, id: i64, actor: &str, comment: Option<&str>, via: &str) -> Result<JobView, JobError> {
        let txn = self.store.begin_write().await?;
        let j = self.decidable(&txn, id).await?;
        let mut am: job::ActiveModel = j.into();
        am.state = Set(JobState::Rejected.as_str().into());
        am.decided_by = Set(Some(actor.into()));
        am.decision_comment = Set(comment.map(str::to_owned));
        am.finished_at = Set(Some(Utc::now()));
        am.update(&*txn).await?;
        audit::record(
            &*txn,
            actor,
            "job.rejected",
            &format!("job:{id}"),
            json!({"comment": comment, "via": via}),
        )
        .await?;
        txn.commit().await?;
        self.bus.publish(Event::Job {
            job_id: id,
            state: JobState::Rejected.as_str().into(),
            finished: true,
        });
        self.get(id).await
    }

    /// Cancels an approved or running job: pending tasks never run, running ones are killed.
    pub async fn cancel(&self, id: i64, actor: &str) -> Result<JobView, JobError> {
        let j = self.find(id).await?;
        let state = JobState::parse(&j.state).unwrap_or(JobState::Failed);
        if state == JobState::Proposed {
            return Err(JobError::Conflict(format!(
                "job {id} is PROPOSED: reject it instead of cancelling"
            )));
        }
        if state.is_final() {
            return Err(JobError::Conflict(format!("job {id} is already {state}")));
        }
        self.engine.cancel(id, actor).await?;
        self.get(id).await
    }

    /// A PROPOSED, unexpired job, inside a write transaction.
    async fn decidable(&self, txn: &crate::db::WriteTxn, id: i64) -> Result<job::Model, JobError> {
        let j = job::Entity::find_by_id(id)
            .one(&**txn)
            .await?
            .ok_or_else(|| JobError::NotFound(format!("job {id} not found")))?;
        if j.state != JobState::Proposed.as_str() {
            return Err(JobError::Conflict(format!(
                "job {id} is {}, not PROPOSED: only proposals can be decided",
                j.state
            )));
        }
        if j.expires_at < Utc::now() {
            return Err(JobError::Conflict(format!(
                "job {id} expired at {}; propose it again",
                j.expires_at.to_rfc3339()
            )));
        }
        Ok(j)
    }

    async fn find(&self, id: i64) -> Result<job::Model, JobError> {
        job::Entity::find_by_id(id)
            .one(self.store.read())
            .await?
            .ok_or_else(|| JobError::NotFound(format!("job {id} not found")))
    }

    /// A job with its stages and tasks.
    pub async fn get(&self, id: i64) -> Result<JobView, JobError> {
        let j = self.find(id).await?;
        let stages = stage::Entity::find()
            .filter(stage::Column::JobId.eq(id))
            .order_by_asc(stage::Column::Idx)
            .all(self.store.read())
            .await?;
        let tasks = task::Entity::find()
            .filter(task::Column::JobId.eq(id))
            .order_by_asc(task::Column::Id)
            .all(self.store.read())
            .await?;
        let specs = task_spec::Entity::find()
            .filter(task_spec::Column::JobId.eq(id))
            .all(self.store.read())
            .await?;
        let cluster = inventory::cluster_name(self.store.read(), j.cluster_id).await?;
        let four_eyes = self.approval.four_eyes(&j).is_some();
        Ok(JobView::build(j, cluster, four_eyes, stages, tasks, specs))
    }

    /// Jobs, newest first, optionally in one state.
    pub async fn list(&self, state: Option<JobState>, limit: u64) -> Result<Vec<JobSummary>, JobError> {
        let filter = JobFilter {
            states: state.into_iter().collect(),
            limit,
            ..Default::default()
        };
        Ok(self.search(&filter).await?.0)
    }

    /// The jobs `f` selects, newest first, and how many match before `limit` and `offset`.
    pub async fn search(&self, f: &JobFilter) -> Result<(Vec<JobSummary>, u64), JobError> {
        let mut q = job::Entity::find();
        if !f.states.is_empty() {
            q = q.filter(job::Column::State.is_in(f.states.iter().map(|s| s.as_str())));
        }
        if let Some(src) = &f.source {
            q = q.filter(job::Column::Source.eq(src.as_str()));
        }
        if let Some(host) = f.host_id {
            let on_host = sea_orm::sea_query::Query::select()
                .column(task::Column::JobId)
                .from(task::Entity)
                .and_where(task::Column::HostId.eq(host))
                .to_owned();
            q = q.filter(job::Column::Id.in_subquery(on_host));
        }
        let total = q.clone().count(self.store.read()).await?;
        let jobs = q
            .order_by_desc(job::Column::Id)
            .limit(f.limit)
            .offset(f.offset)
            .all(self.store.read())
            .await?;
        let names = inventory::cluster_names(self.store.read()).await?;
        let list = jobs
            .into_iter()
            .map(|j| {
                let c = names.get(&j.cluster_id).cloned().unwrap_or_default();
                let four_eyes = self.approval.four_eyes(&j).is_some();
                JobSummary::from_model(&j, c, four_eyes)
            })
            .collect();
        Ok((list, total))
    }

    /// One task of a job.
    pub async fn task(&self, job_id: i64, task_id: i64) -> Result<task::Model, JobError> {
        task::Entity::find_by_id(task_id)
            .filter(task::Column::JobId.eq(job_id))
            .one(self.store.read())
            .await?
            .ok_or_else(|| JobError::NotFound(format!("task {task_id} of job {job_id} not found")))
    }

    /// A task's stored log lines with `seq > after`, in order, at most `limit`.
    pub async fn logs(&self, task_id: i64, after: i64, limit: u64) -> Result<Vec<LogLine>, JobError> {
        let mut lines = Vec::new();
        self.each_line(task_id, after, |seq, row, line| {
            lines.push(LogLine {
                seq,
                stream: row.stream.clone(),
                line: line.to_owned(),
                at: row.at.to_rfc3339(),
            });
            (lines.len() as u64) < limit
        })
        .await?;
        Ok(lines)
    }

    /// A task's whole stored output as text, a line per line.
    pub async fn log_text(&self, task_id: i64) -> Result<String, JobError> {
        let mut text = String::new();
        self.each_line(task_id, 0, |_, _, line| {
            text.push_str(line);
            text.push('\n');
            true
        })
        .await?;
        Ok(text)
    }

    /// The last `n` stored log lines of a task, in order.
    pub async fn log_tail(&self, task_id: i64, n: u64) -> Result<Vec<LogLine>, JobError> {
        // Chunks from the newest back until they hold n lines; then read forward from there.
        let mut from = 0;
        let mut held = 0;
        let mut pages = task_output::Entity::find()
            .filter(task_output::Column::TaskId.eq(task_id))
            .order_by_desc(task_output::Column::FirstSeq)
            .paginate(self.store.read(), CHUNKS_PER_READ);
        'back: while let Some(rows) = pages.fetch_and_next().await? {
            for row in rows {
                from = row.first_seq - 1;
                held += row.last_seq - row.first_seq + 1;
                if held >= n as i64 {
                    break 'back;
                }
            }
        }
        let mut lines = self.logs(task_id, from, u64::MAX).await?;
        let extra = lines.len().saturating_sub(n as usize);
        lines.drain(..extra);
        Ok(lines)
    }

    /// Calls `each` with every stored line with `seq > after` (its seq, its chunk, the line),
    /// in order, until it returns false. Where chunks overlap (a task's later attempt), a seq
    /// is read once.
    async fn each_line(
        &self,
        task_id: i64,
        after: i64,
        mut each: impl FnMut(i64, &task_output::Model, &str) -> bool,
    ) -> Result<(), JobError> {
        let mut last = after;
        loop {
            let rows = task_output::Entity::find()
                .filter(task_output::Column::TaskId.eq(task_id))
                .filter(task_output::Column::LastSeq.gt(last))
                .order_by_asc(task_output::Column::FirstSeq)
                .limit(CHUNKS_PER_READ)
                .all(self.store.read())
                .await?;
            if rows.is_empty() {
                return Ok(());
            }
            for row in &rows {
                let text = output::decompress(&row.data)?;
                for (line, seq) in text.lines().zip(row.first_seq..) {
                    if seq <= last {
                        continue;
                    }
                    last = seq;
                    if !each(seq, row, line) {
                        return Ok(());
                    }
                }
                // A truncation marker stands for more seqs than it has lines.
                last = last.max(row.last_seq);
            }
        }
    }

    /// The event bus, for followers.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The event bus jobs publish on.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }
}
