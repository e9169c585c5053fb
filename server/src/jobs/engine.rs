//! The engine's shell: the one place that sends work to agents, and it loads only approved jobs.
//!
//! The decisions are the pure machine's (`super::machine`); this task feeds it and
//! carries out what it decides. It takes messages (approvals, cancels, agent sessions coming
//! and going, task events) in batches: steps the machine through a batch, writes every
//! resulting change in one transaction, and only after the commit sends anything (run-task,
//! cancel-task, acks) or publishes events. So every transition is durable before its side
//! effect, and a busy engine writes in large transactions while an idle one answers within
//! one round trip. When a commit fails, memory is ahead of the database: the task ends with
//! [`EngineFailed`], and the server stops so that a restart recovers from the database.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::Deserialize;
use serde_json::json;
use steward_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot};

use super::logcap;
use super::machine::{self, Effects, JobPlan, Machine, Notice, StagePlan, TaskPlan, SYSTEM};
pub use super::machine::{EngineConfig, KnownTask};
use super::state::{JobState, StageState, TaskState};
use super::JobError;
use crate::audit;
use crate::db::entities::{job, stage, task, task_output, task_spec};
use crate::db::output;
use crate::db::Store;
use crate::events::{Bus, Event};
use crate::inventory;
use crate::metrics;

/// The sending half of an agent session.
pub type SessionTx = mpsc::Sender<pb::ServerMessage>;

/// Where the answer to a cancel goes.
type Reply = oneshot::Sender<Result<(), JobError>>;

enum Msg {
    Approved {
        job_id: i64,
        reply: Reply,
    },
    Cancel {
        job_id: i64,
        actor: String,
        reply: Reply,
    },
    Connected {
        host_id: i64,
        session: u64,
        tx: SessionTx,
        known: Vec<KnownTask>,
    },
    Disconnected {
        host_id: i64,
        session: u64,
    },
    Events {
        host_id: i64,
        events: Vec<pb::TaskEvent>,
    },
}

/// A cheap handle to the engine.
#[derive(Clone, Debug)]
pub struct EngineHandle {
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("engine message")
    }
}

/// The engine has stopped.
#[derive(Debug, thiserror::Error)]
#[error("the job engine has stopped")]
pub struct EngineStopped;

impl EngineHandle {
    /// Tells the engine a job was approved (after the approval committed); returns once the
    /// engine has stored what it did with it, so the caller reads the job dispatched (or
    /// queued behind others) rather than merely approved.
    pub async fn approved(&self, job_id: i64) -> Result<(), EngineStopped> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Approved { job_id, reply })
            .await
            .map_err(|_| EngineStopped)?;
        rx.await.map_err(|_| EngineStopped)?.map_err(|_| EngineStopped)
    }

    /// Cancels an approved or running job.
    pub async fn cancel(&self, job_id: i64, actor: &str) -> Result<(), JobError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Cancel {
                job_id,
                actor: actor.to_owned(),
                reply,
            })
            .await
            .map_err(|_| JobError::EngineDown)?;
        rx.await.map_err(|_| JobError::EngineDown)?
    }

    /// An agent session said hello.
    pub async fn connected(
        &self,
        host_id: i64,
        session: u64,
        tx: SessionTx,
        known: Vec<KnownTask>,
    ) -> Result<(), EngineStopped> {
        self.tx
            .send(Msg::Connected {
                host_id,
                session,
                tx,
                known,
            })
            .await
            .map_err(|_| EngineStopped)
    }

    /// An agent session ended.
    pub async fn disconnected(&self, host_id: i64, session: u64) -> Result<(), EngineStopped> {
        self.tx
            .send(Msg::Disconnected { host_id, session })
            .await
            .map_err(|_| EngineStopped)
    }

    /// Task events from an agent session, in the order received.
    pub async fn events(&self, host_id: i64, events: Vec<pb::TaskEvent>) -> Result<(), EngineStopped> {
        self.tx
            .send(Msg::Events { host_id, events })
            .await
            .map_err(|_| EngineStopped)
    }
}

/// Why the engine stopped: a batch could not be stored, so its memory is ahead of the
/// database and only a restart (which recovers from the database) is safe.
#[derive(Debug, thiserror::Error)]
#[error("the job engine could not persist its changes and stopped; a restart recovers from the database: {0}")]
pub struct EngineFailed(#[from] pub sea_orm::DbErr);

/// Cancel answers, sent once their batch is stored.
type Replies = Vec<(Reply, Result<(), JobError>)>;

/// The engine's state: the machine, and what it needs to act (the store, the bus, sessions).
pub struct Engine {
    store: Store,
    bus: Bus,
    /// Where a stage's command says what state it leads its component to.
    catalog: std::sync::Arc<crate::stacks::Catalog>,
    config: EngineConfig,
    machine: Machine,
    /// The sending half of each connected host's session.
    sessions: HashMap<i64, (u64, SessionTx)>,
    /// The origin of the machine's time.
    epoch: Instant,
}

impl Engine {
    /// Recovers active jobs from the database and starts the engine task, which ends with an
    /// error when it cannot store its changes (the server then stops).
    pub async fn start(
        store: Store,
        bus: Bus,
        catalog: std::sync::Arc<crate::stacks::Catalog>,
        config: EngineConfig,
    ) -> Result<(EngineHandle, tokio::task::JoinHandle<Result<(), EngineFailed>>), sea_orm::DbErr> {
        let (tx, rx) = mpsc::channel(65_536);
        let mut engine = Engine {
            store,
            bus,
            catalog,
            machine: Machine::new(config.clone()),
            config,
            sessions: HashMap::new(),
            epoch: Instant::now(),
        };
        engine.recover().await?;
        let handle = tokio::spawn(async move { engine.run(rx).await });
        Ok((EngineHandle { tx }, handle))
    }

    /// The machine's time.
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn step(&mut self, event: machine::Event) -> Effects {
        let now = self.now();
        self.machine.step(now, event)
    }

    async fn recover(&mut self) -> Result<(), sea_orm::DbErr> {
        let active = job::Entity::find()
            .filter(job::Column::State.is_in([
                JobState::Approved.as_str(),
                JobState::Pending.as_str(),
                JobState::Running.as_str(),
                JobState::Canceled.as_str(),
            ]))
            .filter(job::Column::FinishedAt.is_null())
            .order_by_asc(job::Column::ApprovedAt)
            .order_by_asc(job::Column::Id)
            .all(self.store.read())
            .await?;
        let mut fx = Effects::default();
        for j in active {
            let event = if j.state == JobState::Approved.as_str() {
                machine::Event::Approved { job_id: j.id }
            } else {
                machine::Event::Loaded(self.load_job(&j).await?)
            };
            fx.append(self.step(event));
        }
        let (running, waiting) = self.machine.load();
        if running + waiting > 0 {
            tracing::info!(
                running,
                waiting,
                "recovered active jobs; running tasks wait for their agents to report"
            );
        }
        self.commit_all(fx, vec![]).await
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) -> Result<(), EngineFailed> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut fx = Effects::default();
            let mut replies = Replies::new();
            tokio::select! {
                m = rx.recv() => {
                    let Some(m) = m else { return Ok(()) };
                    self.apply(m, &mut fx, &mut replies);
                    // Drain what else is waiting, so a busy engine commits in large batches.
                    let mut n = 1;
                    while n < 4096 {
                        match rx.try_recv() {
                            Ok(m) => { self.apply(m, &mut fx, &mut replies); n += 1; }
                            Err(_) => break,
                        }
                    }
                }
                _ = tick.tick() => fx.append(self.step(machine::Event::Tick)),
            }
            self.admit(&mut fx).await;
            if let Err(e) = self.commit_all(fx, replies).await {
                // Memory is now ahead of the database; the only safe state is the one on disk.
                tracing::error!(error = %e, "the job engine could not persist its changes; stopping so a restart recovers from the database");
                return Err(EngineFailed(e));
            }
        }
    }

    fn apply(&mut self, m: Msg, fx: &mut Effects, replies: &mut Replies) {
        match m {
            Msg::Approved { job_id, reply } => {
                fx.append(self.step(machine::Event::Approved { job_id }));
                replies.push((reply, Ok(())));
            }
            Msg::Cancel { job_id, actor, reply } => {
                let mut out = self.step(machine::Event::Cancel { job_id, actor });
                // Answer after the commit, so the caller reads the canceled state back.
                let r = out.answer.take().unwrap_or(Ok(())).map_err(JobError::Conflict);
                replies.push((reply, r));
                fx.append(out);
            }
            Msg::Connected {
                host_id,
                session,
                tx,
                known,
            } => {
                self.sessions.insert(host_id, (session, tx));
                fx.append(self.step(machine::Event::Connected {
                    host_id,
                    session,
                    known,
                }));
            }
            Msg::Disconnected { host_id, session } => {
                if self.sessions.get(&host_id).is_some_and(|(s, _)| *s == session) {
                    self.sessions.remove(&host_id);
                }
                fx.append(self.step(machine::Event::Disconnected { host_id, session }));
            }
            Msg::Events { host_id, events } => {
                for event in events {
                    metrics::AGENT_EVENTS.inc();
                    fx.append(self.step(machine::Event::Task { host_id, event }));
                }
            }
        }
    }

    /// Loads waiting approved jobs while the machine has room, oldest approval first.
    async fn admit(&mut self, fx: &mut Effects) {
        while let Some(id) = self.machine.next_to_load() {
            let j = match job::Entity::find_by_id(id).one(self.store.read()).await {
                Ok(Some(j)) => j,
                Ok(None) => {
                    fx.append(self.step(machine::Event::Missing { job_id: id }));
                    continue;
                }
                Err(e) => {
                    tracing::error!(job = id, error = %e, "cannot load approved job; will retry");
                    break;
                }
            };
            let t0 = Instant::now();
            let plan = match self.load_job(&j).await {
                Ok(plan) => plan,
                Err(e) => {
                    tracing::error!(job = id, error = %e, "cannot load approved job; will retry");
                    break;
                }
            };
            tracing::debug!(job = id, took = ?t0.elapsed(), "job loaded");
            // The machine checks the stored state: it takes in nothing but an approved plan.
            fx.append(self.step(machine::Event::Loaded(plan)));
        }
    }

    /// A job's rows as the machine takes them (a fresh approval or a recovery).
    async fn load_job(&self, j: &job::Model) -> Result<JobPlan, sea_orm::DbErr> {
        let stages = stage::Entity::find()
            .filter(stage::Column::JobId.eq(j.id))
            .order_by_asc(stage::Column::Idx)
            .all(self.store.read())
            .await?;
        // One read of everything, content included: dispatch then needs no database read.
        let tasks = task::Entity::find()
            .filter(task::Column::JobId.eq(j.id))
            .order_by_asc(task::Column::Id)
            .all(self.store.read())
            .await?;
        let mut specs: HashMap<i64, task_spec::Model> = task_spec::Entity::find()
            .filter(task_spec::Column::JobId.eq(j.id))
            .all(self.store.read())
            .await?
            .into_iter()
            .map(|s| (s.task_id, s))
            .collect();
        let running_ids: Vec<i64> = tasks
            .iter()
            .filter(|t| t.state == TaskState::Running.as_str())
            .map(|t| t.id)
            .collect();
        let mut last_seqs: HashMap<i64, i64> = HashMap::new();
        if !running_ids.is_empty() {
            let rows: Vec<(i64, Option<i64>)> = task_output::Entity::find()
                .select_only()
                .column(task_output::Column::TaskId)
                .column_as(task_output::Column::LastSeq.max(), "m")
                .filter(task_output::Column::TaskId.is_in(running_ids))
                .group_by(task_output::Column::TaskId)
                .into_tuple()
                .all(self.store.read())
                .await?;
            last_seqs.extend(rows.into_iter().map(|(t, m)| (t, m.unwrap_or(0))));
        }
        let wall_now = Utc::now();
        // Script and lib files are per stage: decode them once, not once per task.
        let stage_content: Vec<(String, Vec<pb::TaskFile>)> = stages
            .iter()
            .map(|s| (s.script.clone(), task_files(&s.shared_files)))
            .collect();
        let index: HashMap<i64, usize> = stages.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
        // The stack file says what each command leads its component to; a stack no longer
        // served (removed since approval) says nothing, and the recorded state stays.
        let stack = StackRef::deserialize(&j.plan)
            .ok()
            .and_then(|p| self.catalog.stack(&p.stack, &p.stack_version));
        let mut plans: Vec<StagePlan> = stages
            .into_iter()
            .map(|s| {
                let command = stack
                    .and_then(|st| st.component(&s.service, &s.component))
                    .and_then(|c| c.commands.get(&s.command));
                StagePlan {
                    id: s.id,
                    deps: serde_json::from_value(s.depends_on).unwrap_or_default(),
                    state: StageState::parse(&s.state).unwrap_or(StageState::Pending),
                    leads_to: command.and_then(|c| c.leads_to),
                    leads_to_on_failure: command.and_then(|c| c.leads_to_on_failure),
                    service: s.service,
                    component: s.component,
                    command: s.command,
                    tasks: vec![],
                }
            })
            .collect();
        for row in tasks {
            let Some(&si) = index.get(&row.stage_id) else {
                continue;
            };
            let state = TaskState::parse(&row.state).unwrap_or(TaskState::Failed);
            // A final task is never sent again: only the others need their message. A task
            // whose spec is missing goes without a digest, which its agent refuses to run.
            let message = if state.is_final() {
                pb::RunTask::default()
            } else {
                let spec = specs.remove(&row.id).unwrap_or_else(|| task_spec::Model {
                    task_id: row.id,
                    job_id: row.job_id,
                    env: json!({}),
                    files: json!([]),
                    digest: String::new(),
                });
                run_task(&row, spec, &stage_content[si])
            };
            let running_for = row
                .dispatched_at
                .map(|d| (wall_now - d).to_std().unwrap_or_default())
                .unwrap_or_default();
            plans[si].tasks.push(TaskPlan {
                id: row.id,
                host_id: row.host_id,
                state,
                attempt: row.attempt,
                timeout: Duration::from_secs(row.timeout_secs.max(1) as u64),
                running_for,
                last_seq: last_seqs.get(&row.id).copied().unwrap_or(0),
                message,
                hostname: row.hostname,
            });
        }
        Ok(JobPlan {
            id: j.id,
            state: JobState::parse(&j.state).unwrap_or(JobState::Failed),
            started: j.started_at.is_some(),
            error: j.error.clone(),
            stages: plans,
        })
    }

    /// Commits `fx` and acts on it; a run-task that could not be handed to its session is
    /// stepped back into the machine and that change committed too. Then answers cancels.
    async fn commit_all(&mut self, mut fx: Effects, replies: Replies) -> Result<(), sea_orm::DbErr> {
        loop {
            let back = self.commit(fx).await?;
            if back.is_empty() {
                break;
            }
            // Each round closes at least one session, so this ends.
            fx = Effects::default();
            for event in back {
                fx.append(self.step(event));
            }
        }
        for (reply, r) in replies {
            let _ = reply.send(r);
        }
        Ok(())
    }

    /// Writes a batch in one transaction, then sends and publishes. Returns what the sends
    /// tell the machine: sessions that closed, run-tasks that never left.
    async fn commit(&mut self, mut b: Effects) -> Result<Vec<machine::Event>, sea_orm::DbErr> {
        let started = Instant::now();
        if b.writes() {
            let txn = self.store.begin_write().await?;
            let now = Utc::now();
            let logs: Vec<task_output::ActiveModel> = std::mem::take(&mut b.logs)
                .into_iter()
                .map(|l| task_output::ActiveModel {
                    task_id: Set(l.task_id),
                    first_seq: Set(l.first_seq),
                    last_seq: Set(l.last_seq),
                    stream: Set(l.stream.into()),
                    data: Set(output::compress(&l.text)),
                    at: Set(now),
                    ..Default::default()
                })
                .collect();
            for chunk in logs.chunks(100) {
                task_output::Entity::insert_many(chunk.to_vec())
                    .on_conflict(
                        OnConflict::columns([task_output::Column::TaskId, task_output::Column::FirstSeq])
                            .do_nothing()
                            .to_owned(),
                    )
                    .exec_without_returning(&*txn)
                    .await?;
            }
            let half = self.config.task_log_max_bytes / 2;
            for cut in &b.log_cuts {
                if let Some(seq) = cut.mark {
                    task_output::Entity::update_many()
                        .col_expr(
                            task_output::Column::Data,
                            Expr::value(output::compress(&logcap::marker(half, half))),
                        )
                        .filter(task_output::Column::TaskId.eq(cut.task_id))
                        .filter(task_output::Column::FirstSeq.eq(seq))
                        .exec(&*txn)
                        .await?;
                }
                for chunk in cut.delete.chunks(500) {
                    task_output::Entity::delete_many()
                        .filter(task_output::Column::TaskId.eq(cut.task_id))
                        .filter(task_output::Column::FirstSeq.is_in(chunk.to_vec()))
                        .exec(&*txn)
                        .await?;
                }
            }
            // Before the dispatches: a task sent again in this batch ends up RUNNING.
            for chunk in b.requeued.chunks(500) {
                task::Entity::update_many()
                    .col_expr(task::Column::State, Expr::value(TaskState::Pending.as_str()))
                    .filter(task::Column::Id.is_in(chunk.to_vec()))
                    .exec(&*txn)
                    .await?;
            }
            let mut by_attempt: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
            for d in &b.dispatched {
                by_attempt.entry(d.attempt).or_default().push(d.task_id);
            }
            for (attempt, ids) in by_attempt {
                for chunk in ids.chunks(500) {
                    task::Entity::update_many()
                        .col_expr(task::Column::State, Expr::value(TaskState::Running.as_str()))
                        .col_expr(task::Column::Attempt, Expr::value(attempt))
                        .col_expr(task::Column::DispatchedAt, Expr::value(now))
                        .filter(task::Column::Id.is_in(chunk.to_vec()))
                        .exec(&*txn)
                        .await?;
                }
            }
            // A task that started and finished within the batch is written once, by its result.
            let began: HashSet<i64> = b.started.iter().copied().collect();
            let finished: HashSet<i64> = b.finished.iter().map(|f| f.task_id).collect();
            let only_started: Vec<i64> = b.started.iter().copied().filter(|id| !finished.contains(id)).collect();
            for chunk in only_started.chunks(500) {
                task::Entity::update_many()
                    .col_expr(task::Column::StartedAt, Expr::value(now))
                    .filter(task::Column::Id.is_in(chunk.to_vec()))
                    .exec(&*txn)
                    .await?;
            }
            // Most tasks of a batch end the same way: one statement per distinct outcome.
            type Outcome = (TaskState, Option<i32>, Option<String>, bool);
            let mut groups: HashMap<Outcome, Vec<i64>> = HashMap::new();
            for f in &b.finished {
                groups
                    .entry((f.state, f.exit_code, f.error.clone(), began.contains(&f.task_id)))
                    .or_default()
                    .push(f.task_id);
            }
            for ((s, code, err, began), ids) in groups {
                for chunk in ids.chunks(500) {
                    let mut q = task::Entity::update_many()
                        .col_expr(task::Column::State, Expr::value(s.as_str()))
                        .col_expr(task::Column::ExitCode, Expr::value(code))
                        .col_expr(task::Column::Error, Expr::value(err.clone()))
                        .col_expr(task::Column::FinishedAt, Expr::value(now));
                    if began {
                        q = q.col_expr(task::Column::StartedAt, Expr::value(now));
                    }
                    q.filter(task::Column::Id.is_in(chunk.to_vec())).exec(&*txn).await?;
                }
            }
            for (id, s) in &b.stages {
                let mut q = stage::Entity::update_many().col_expr(stage::Column::State, Expr::value(s.as_str()));
                q = match s {
                    StageState::Running => q.col_expr(stage::Column::StartedAt, Expr::value(now)),
                    StageState::Pending => q,
                    _ => q.col_expr(stage::Column::FinishedAt, Expr::value(now)),
                };
                q.filter(stage::Column::Id.eq(*id)).exec(&*txn).await?;
            }
            for r in &b.jobs {
                let mut q = job::Entity::update_many().col_expr(job::Column::State, Expr::value(r.state.as_str()));
                if r.state == JobState::Running {
                    q = q.col_expr(job::Column::StartedAt, Expr::value(now));
                }
                if r.error.is_some() {
                    q = q.col_expr(job::Column::Error, Expr::value(r.error.clone()));
                }
                if r.finished {
                    q = q.col_expr(job::Column::FinishedAt, Expr::value(now));
                }
                q.filter(job::Column::Id.eq(r.job_id)).exec(&*txn).await?;
            }
            for c in &b.components {
                inventory::set_component_state(&*txn, c.host_id, &c.service, &c.component, c.state).await?;
            }
            // Every dispatch and every task result joins the audit chain: one event per batch
            // and kind, so a 100-host dispatch costs one hash, not a hundred.
            let mut events: Vec<(String, String, String, serde_json::Value)> = vec![];
            if !b.dispatched.is_empty() {
                let ids: Vec<i64> = b.dispatched.iter().map(|d| d.task_id).collect();
                events.push((
                    SYSTEM.to_owned(),
                    "tasks.dispatched".to_owned(),
                    format!("tasks:{}", ids.len()),
                    json!({"tasks": ids}),
                ));
            }
            if !b.finished.is_empty() {
                let results: Vec<serde_json::Value> = b
                    .finished
                    .iter()
                    .map(|f| json!({"task": f.task_id, "state": f.state.as_str(), "exit_code": f.exit_code}))
                    .collect();
                events.push((
                    SYSTEM.to_owned(),
                    "tasks.finished".to_owned(),
                    format!("tasks:{}", results.len()),
                    json!({"results": results}),
                ));
            }
            events.extend(
                std::mem::take(&mut b.audit)
                    .into_iter()
                    .map(|a| (a.actor, a.action.to_owned(), a.target, a.details)),
            );
            audit::record_many(&*txn, events).await?;
            if b.expire {
                let r = job::Entity::update_many()
                    .col_expr(job::Column::State, Expr::value(JobState::Expired.as_str()))
                    .col_expr(job::Column::FinishedAt, Expr::value(now))
                    .filter(job::Column::State.eq(JobState::Proposed.as_str()))
                    .filter(job::Column::ExpiresAt.lt(now))
                    .exec(&*txn)
                    .await?;
                if r.rows_affected > 0 {
                    tracing::info!(count = r.rows_affected, "proposals expired");
                }
            }
            txn.commit().await?;
            metrics::ENGINE_COMMIT.observe(started.elapsed().as_secs_f64());
            tracing::debug!(took = ?started.elapsed(), dispatched = b.dispatched.len(), "engine batch committed");
        }
        for f in &b.finished {
            metrics::TASKS_FINISHED.with_label_values(&[f.state.as_str()]).inc();
        }
        for r in b.jobs.iter().filter(|r| r.finished) {
            metrics::JOBS_FINISHED.with_label_values(&[r.state.as_str()]).inc();
        }
        metrics::EVENTS_IGNORED.inc_by(b.ignored);

        // Durable: now act.
        let mut back = vec![];
        for d in b.dispatched {
            metrics::TASKS_DISPATCHED.inc();
            let msg = pb::ServerMessage {
                msg: Some(pb::server_message::Msg::RunTask(d.message)),
            };
            if let Err(closed) = self.send(d.host_id, msg) {
                back.extend(closed);
                // Not delivered for certain (the session is gone or choked): queue it again.
                back.push(machine::Event::Undelivered {
                    task_id: d.task_id,
                    attempt: d.attempt,
                });
            }
        }
        for (host_id, c) in b.cancels {
            let msg = pb::ServerMessage {
                msg: Some(pb::server_message::Msg::CancelTask(c)),
            };
            if let Err(closed) = self.send(host_id, msg) {
                back.extend(closed);
            }
        }
        let mut acks: HashMap<i64, Vec<pb::TaskAck>> = HashMap::new();
        for (host_id, a) in b.acks {
            acks.entry(host_id).or_default().push(a);
        }
        for (host_id, acks) in acks {
            let msg = pb::ServerMessage {
                msg: Some(pb::server_message::Msg::Ack(pb::Ack {
                    tasks: compact_acks(acks),
                    metrics_seq: 0,
                })),
            };
            if let Err(closed) = self.send(host_id, msg) {
                back.extend(closed);
            }
        }
        for n in b.notices {
            self.bus.publish(bus_event(n));
        }
        Ok(back)
    }

    /// Queues a message on a host's session without waiting. When it cannot, the session is
    /// dropped, and the error carries the machine's news of it (none if there was no session).
    fn send(&mut self, host_id: i64, msg: pb::ServerMessage) -> Result<(), Option<machine::Event>> {
        let Some((session, tx)) = self.sessions.get(&host_id) else {
            return Err(None);
        };
        let session = *session;
        match tx.try_send(msg) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(host = host_id, "agent session is not keeping up; closing it");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
        self.sessions.remove(&host_id);
        Err(Some(machine::Event::Disconnected { host_id, session }))
    }
}

/// The bus event of a notice.
fn bus_event(n: Notice) -> Event {
    match n {
        Notice::Job {
            job_id,
            state,
            finished,
        } => Event::Job {
            job_id,
            state: state.as_str().into(),
            finished,
        },
        Notice::Task {
            job_id,
            task_id,
            host,
            state,
            exit_code,
        } => Event::Task {
            job_id,
            task_id,
            host,
            state: state.as_str().into(),
            exit_code,
        },
        Notice::Log {
            job_id,
            task_id,
            first_seq,
            stream,
            text,
        } => Event::Output {
            job_id,
            task_id,
            first_seq,
            stream,
            text: text.into(),
        },
    }
}

/// Keeps only the highest ack per task attempt.
fn compact_acks(acks: Vec<pb::TaskAck>) -> Vec<pb::TaskAck> {
    let mut best: HashMap<(i64, u32), pb::TaskAck> = HashMap::new();
    for a in acks {
        let e = best.entry((a.task_id, a.attempt)).or_insert(a);
        if a.seq > e.seq {
            e.seq = a.seq;
        }
        e.done |= a.done;
    }
    best.into_values().collect()
}

/// Files stored as a JSON array of `{path, content, mode}`, as the agent receives them.
fn task_files(v: &serde_json::Value) -> Vec<pb::TaskFile> {
    let files: Vec<crate::stacks::RenderedFile> = serde_json::from_value(v.clone()).unwrap_or_default();
    files
        .into_iter()
        .map(|f| pb::TaskFile {
            path: f.path,
            content: f.content.into_bytes(),
            mode: f.mode,
        })
        .collect()
}

/// The run-task message of a stored task and its stage's script and shared files
/// (attempt set at dispatch).
/// The stack a plan was built from: all the engine needs of the stored plan.
#[derive(serde::Deserialize)]
struct StackRef {
    stack: String,
    stack_version: String,
}

/// The run-task message of a task row and its spec.
fn run_task(r: &task::Model, spec: task_spec::Model, (script, shared): &(String, Vec<pb::TaskFile>)) -> pb::RunTask {
    // The stored environment already names the job and task: the digest covers it whole.
    let env: HashMap<String, String> = serde_json::from_value(spec.env).unwrap_or_default();
    let mut files = task_files(&spec.files);
    let own = files.len() as u32;
    files.extend(shared.iter().cloned());
    pb::RunTask {
        task_id: r.id,
        attempt: 0,
        script: script.clone(),
        env,
        files,
        timeout_secs: r.timeout_secs as u32,
        label: format!("job {} task {}", r.job_id, r.id),
        // The approved digest, from the task row: the agent checks what it received against
        // it, so a script or file changed after approval is refused, not run.
        digest: spec.digest,
        task_files: own,
    }
}
