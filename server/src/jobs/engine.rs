//! The engine: the one place that sends work to agents, and it loads only approved jobs.
//!
//! A single task owns the run state of every active job. It takes messages (approvals,
//! cancels, agent sessions coming and going, task events) in batches: applies a batch to
//! memory, writes every resulting change in one transaction, and only after the commit sends
//! anything (run-task, cancel-task, acks) or publishes events. So every transition is durable
//! before its side effect, and a busy engine writes in large transactions while an idle one
//! answers within one round trip.
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;
use steward_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot};

use super::logcap::{self, LogCap};
use super::state::{JobState, StageState, TaskState};
use super::JobError;
use crate::audit;
use crate::db::entities::{job, stage, task, task_log};
use crate::db::Store;
use crate::events::{Bus, Event};
use crate::inventory;
use crate::metrics;

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Approved jobs running at once; the rest wait in approval order.
    pub max_concurrent_jobs: usize,
    /// How long a task waits for its offline host before it fails.
    pub offline_grace: Duration,
    /// How long after a task's timeout the server waits for the agent's result.
    pub result_grace: Duration,
    /// Bytes of one task's output stored at most: half from its start, half from its end.
    pub task_log_max_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_concurrent_jobs: 64,
            offline_grace: Duration::from_secs(60),
            result_grace: Duration::from_secs(30),
            task_log_max_bytes: 8 * 1024 * 1024,
        }
    }
}

/// A task an agent says it holds, from its hello.
#[derive(Debug, Clone, Copy)]
pub struct KnownTask {
    /// Task id.
    pub task_id: i64,
    /// Attempt.
    pub attempt: i32,
    /// Still running (else finished with results to re-send).
    pub running: bool,
}

/// The sending half of an agent session.
pub type SessionTx = mpsc::Sender<pb::ServerMessage>;

/// Where the answer to a cancel goes.
type Reply = oneshot::Sender<Result<(), JobError>>;

enum Msg {
    Approved(i64),
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
    /// Tells the engine a job was approved (after the approval committed).
    pub async fn approved(&self, job_id: i64) -> Result<(), EngineStopped> {
        self.tx.send(Msg::Approved(job_id)).await.map_err(|_| EngineStopped)
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

struct RunTask {
    job_id: i64,
    stage: usize,
    host_id: i64,
    hostname: String,
    state: TaskState,
    attempt: i32,
    last_seq: i64,
    timeout: Duration,
    deadline: Option<Instant>,
    queued_at: Instant,
    /// The run-task message, prepared when the job is loaded (attempt set at dispatch).
    message: Option<pb::RunTask>,
    /// What of this attempt's output is stored.
    log: LogCap,
}

struct RunStage {
    id: i64,
    deps: Vec<usize>,
    state: StageState,
    tasks: Vec<i64>,
    open: usize,
    failed: bool,
    service: String,
    component: String,
    command: String,
}

struct RunJob {
    stages: Vec<RunStage>,
    started: bool,
    failed: bool,
    canceled: bool,
    error: Option<String>,
}

#[derive(Default)]
struct Host {
    session: Option<(u64, SessionTx)>,
    running: Option<i64>,
    queue: VecDeque<i64>,
    offline_since: Option<Instant>,
}

/// Everything one batch changes: written in one transaction, then acted on.
#[derive(Default)]
struct Batch {
    logs: Vec<task_log::ActiveModel>,
    /// Stored lines cut by the output cap: (task, seqs to delete, seq to mark).
    log_cuts: Vec<(i64, Vec<i64>, Option<i64>)>,
    dispatched: Vec<i64>,
    started: Vec<i64>,
    finished: Vec<(i64, TaskState, Option<i32>, Option<String>)>,
    stages: Vec<(i64, StageState)>,
    jobs: Vec<(i64, JobState, Option<String>, bool)>,
    components: Vec<(i64, String, String, &'static str)>,
    audit: Vec<(String, &'static str, String, serde_json::Value)>,
    sends: Vec<(i64, pb::ServerMessage)>,
    acks: HashMap<i64, Vec<pb::TaskAck>>,
    events: Vec<Event>,
    replies: Vec<(Reply, Result<(), JobError>)>,
    expire: bool,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.logs.is_empty()
            && self.dispatched.is_empty()
            && self.started.is_empty()
            && self.finished.is_empty()
            && self.stages.is_empty()
            && self.jobs.is_empty()
            && self.components.is_empty()
            && self.audit.is_empty()
            && !self.expire
    }
}

/// The engine's state; see the module documentation.
pub struct Engine {
    store: Store,
    bus: Bus,
    config: EngineConfig,
    waiting: VecDeque<i64>,
    jobs: HashMap<i64, RunJob>,
    tasks: HashMap<i64, RunTask>,
    hosts: HashMap<i64, Host>,
    dirty: BTreeSet<i64>,
    ticks: u64,
}

const SYSTEM: &str = "steward";

impl Engine {
    /// Recovers active jobs from the database and starts the engine task.
    pub async fn start(
        store: Store,
        bus: Bus,
        config: EngineConfig,
    ) -> Result<(EngineHandle, tokio::task::JoinHandle<()>), sea_orm::DbErr> {
        let (tx, rx) = mpsc::channel(65_536);
        let mut engine = Engine {
            store,
            bus,
            config,
            waiting: VecDeque::new(),
            jobs: HashMap::new(),
            tasks: HashMap::new(),
            hosts: HashMap::new(),
            dirty: BTreeSet::new(),
            ticks: 0,
        };
        engine.recover().await?;
        let handle = tokio::spawn(async move { engine.run(rx).await });
        Ok((EngineHandle { tx }, handle))
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
            .all(&self.store.conn)
            .await?;
        let mut batch = Batch::default();
        for j in active {
            if j.state == JobState::Approved.as_str() {
                self.waiting.push_back(j.id);
            } else {
                self.load_job(&j).await?;
            }
        }
        if !self.jobs.is_empty() || !self.waiting.is_empty() {
            tracing::info!(
                running = self.jobs.len(),
                waiting = self.waiting.len(),
                "recovered active jobs; running tasks wait for their agents to report"
            );
        }
        let ids: Vec<i64> = self.jobs.keys().copied().collect();
        for id in ids {
            self.progress(id, &mut batch);
        }
        self.commit(batch).await
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut batch = Batch::default();
            tokio::select! {
                m = rx.recv() => {
                    let Some(m) = m else { return };
                    self.apply(m, &mut batch).await;
                    // Drain what else is waiting, so a busy engine commits in large batches.
                    let mut n = 1;
                    while n < 4096 {
                        match rx.try_recv() {
                            Ok(m) => { self.apply(m, &mut batch).await; n += 1; }
                            Err(_) => break,
                        }
                    }
                }
                _ = tick.tick() => self.tick(&mut batch),
            }
            self.admit(&mut batch).await;
            self.schedule(&mut batch);
            if let Err(e) = self.commit(batch).await {
                // Memory is now ahead of the database; the only safe state is the one on disk.
                tracing::error!(error = %e, "the job engine could not persist its changes; stopping so a restart recovers from the database");
                std::process::exit(70);
            }
        }
    }

    async fn apply(&mut self, m: Msg, b: &mut Batch) {
        match m {
            Msg::Approved(id) => {
                if !self.jobs.contains_key(&id) && !self.waiting.contains(&id) {
                    self.waiting.push_back(id);
                }
            }
            Msg::Cancel { job_id, actor, reply } => {
                // Answer after the commit, so the caller reads the canceled state back.
                let r = self.cancel(job_id, &actor, b);
                b.replies.push((reply, r));
            }
            Msg::Connected {
                host_id,
                session,
                tx,
                known,
            } => self.connected(host_id, session, tx, known, b),
            Msg::Disconnected { host_id, session } => {
                let h = self.hosts.entry(host_id).or_default();
                if h.session.as_ref().is_some_and(|(s, _)| *s == session) {
                    h.session = None;
                    h.offline_since = Some(Instant::now());
                }
            }
            Msg::Events { host_id, events } => {
                for e in events {
                    self.task_event(host_id, e, b);
                }
            }
        }
    }

    /// Moves waiting approved jobs into the running set, oldest approval first.
    async fn admit(&mut self, b: &mut Batch) {
        while self.jobs.len() < self.config.max_concurrent_jobs {
            let Some(id) = self.waiting.pop_front() else { break };
            let j = match job::Entity::find_by_id(id).one(&self.store.conn).await {
                Ok(Some(j)) => j,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(job = id, error = %e, "cannot load approved job; will retry");
                    self.waiting.push_front(id);
                    break;
                }
            };
            // The core invariant: nothing but an approved plan is ever loaded for dispatch.
            if j.state != JobState::Approved.as_str() {
                tracing::warn!(job = id, state = %j.state, "not loading a job that is not APPROVED");
                continue;
            }
            let t0 = Instant::now();
            let loaded = self.load_job(&j).await;
            tracing::debug!(job = id, took = ?t0.elapsed(), "job loaded");
            if let Err(e) = loaded {
                tracing::error!(job = id, error = %e, "cannot load approved job; will retry");
                self.waiting.push_front(id);
                break;
            }
            b.jobs.push((id, JobState::Pending, None, false));
            b.events.push(Event::Job {
                job_id: id,
                state: JobState::Pending.as_str().into(),
                finished: false,
            });
            self.progress(id, b);
        }
    }

    /// Builds a job's run state from its rows (a fresh approval or a recovery).
    async fn load_job(&mut self, j: &job::Model) -> Result<(), sea_orm::DbErr> {
        let stages = stage::Entity::find()
            .filter(stage::Column::JobId.eq(j.id))
            .order_by_asc(stage::Column::Idx)
            .all(&self.store.conn)
            .await?;
        // One read of everything, content included: dispatch then needs no database read.
        let tasks = task::Entity::find()
            .filter(task::Column::JobId.eq(j.id))
            .order_by_asc(task::Column::Id)
            .all(&self.store.conn)
            .await?;
        let running_ids: Vec<i64> = tasks
            .iter()
            .filter(|t| t.state == TaskState::Running.as_str())
            .map(|t| t.id)
            .collect();
        let mut last_seqs: HashMap<i64, i64> = HashMap::new();
        if !running_ids.is_empty() {
            let rows: Vec<(i64, Option<i64>)> = task_log::Entity::find()
                .select_only()
                .column(task_log::Column::TaskId)
                .column_as(task_log::Column::Seq.max(), "m")
                .filter(task_log::Column::TaskId.is_in(running_ids))
                .group_by(task_log::Column::TaskId)
                .into_tuple()
                .all(&self.store.conn)
                .await?;
            last_seqs.extend(rows.into_iter().map(|(t, m)| (t, m.unwrap_or(0))));
        }
        let mut run = RunJob {
            stages: stages
                .iter()
                .map(|s| RunStage {
                    id: s.id,
                    deps: serde_json::from_value(s.depends_on.clone()).unwrap_or_default(),
                    state: StageState::parse(&s.state).unwrap_or(StageState::Pending),
                    tasks: vec![],
                    open: 0,
                    failed: s.state == StageState::Failed.as_str(),
                    service: s.service.clone(),
                    component: s.component.clone(),
                    command: s.command.clone(),
                })
                .collect(),
            started: j.started_at.is_some(),
            failed: j.error.is_some(),
            canceled: j.state == JobState::Canceled.as_str(),
            error: j.error.clone(),
        };
        let now = Instant::now();
        let wall_now = Utc::now();
        // Script and lib files are per stage: decode them once, not once per task.
        let stage_content: Vec<(String, Vec<pb::TaskFile>)> = stages
            .iter()
            .map(|s| (s.script.clone(), task_files(&s.shared_files)))
            .collect();
        for row in tasks {
            let (id, host_id, dispatched_at) = (row.id, row.host_id, row.dispatched_at);
            let Some(si) = run.stages.iter().position(|s| s.id == row.stage_id) else {
                continue;
            };
            let state = TaskState::parse(&row.state).unwrap_or(TaskState::Failed);
            let stage = &mut run.stages[si];
            stage.tasks.push(id);
            if state.is_final() {
                if !matches!(state, TaskState::Successful | TaskState::Canceled) {
                    stage.failed = true;
                    run.failed = true;
                }
                continue;
            }
            stage.open += 1;
            let timeout = Duration::from_secs(row.timeout_secs.max(1) as u64);
            let mut t = RunTask {
                job_id: j.id,
                stage: si,
                host_id,
                state,
                attempt: row.attempt,
                last_seq: 0,
                log: self.log_cap(),
                timeout,
                deadline: None,
                queued_at: now,
                message: (state == TaskState::Pending).then(|| run_task(&row, &stage_content[si])),
                hostname: row.hostname,
            };
            let host = self.hosts.entry(host_id).or_default();
            if state == TaskState::Running {
                // Recovered: wait for the agent to report, until the task's own deadline.
                let elapsed = dispatched_at
                    .map(|d| (wall_now - d).to_std().unwrap_or_default())
                    .unwrap_or_default();
                let left = (timeout + self.config.result_grace).saturating_sub(elapsed);
                t.deadline = Some(now + left.max(self.config.result_grace));
                t.last_seq = last_seqs.get(&id).copied().unwrap_or(0);
                host.running = Some(id);
                if host.session.is_none() && host.offline_since.is_none() {
                    host.offline_since = Some(now);
                }
            } else if stage.state == StageState::Running {
                host.queue.push_back(id);
                self.dirty.insert(host_id);
            }
            self.tasks.insert(id, t);
        }
        self.jobs.insert(j.id, run);
        Ok(())
    }

    /// Starts stages whose dependencies succeeded, closes finished stages and the job.
    fn progress(&mut self, job_id: i64, b: &mut Batch) {
        loop {
            let Some(job) = self.jobs.get_mut(&job_id) else { return };
            let mut changed = false;
            // Close stages whose tasks are all final.
            for s in job.stages.iter_mut() {
                if s.state == StageState::Running && s.open == 0 {
                    let any_canceled = s
                        .tasks
                        .iter()
                        .any(|t| self.tasks.get(t).is_none_or(|t| t.state == TaskState::Canceled));
                    s.state = if s.failed {
                        StageState::Failed
                    } else if job.canceled && any_canceled {
                        StageState::Canceled
                    } else {
                        StageState::Successful
                    };
                    b.stages.push((s.id, s.state));
                    changed = true;
                }
            }
            if job.failed || job.canceled {
                // A failed or cancelled job starts nothing more.
                let mut to_cancel = vec![];
                for (si, s) in job.stages.iter_mut().enumerate() {
                    if s.state == StageState::Pending {
                        s.state = StageState::Canceled;
                        b.stages.push((s.id, s.state));
                        to_cancel.extend(s.tasks.iter().map(|t| (si, *t)));
                        changed = true;
                    } else if s.state == StageState::Running {
                        to_cancel.extend(s.tasks.iter().map(|t| (si, *t)));
                    }
                }
                let reason = if job.canceled {
                    "job canceled".to_owned()
                } else {
                    "an earlier task failed".to_owned()
                };
                for (si, tid) in to_cancel {
                    if let Some(t) = self.tasks.get_mut(&tid) {
                        if t.state == TaskState::Pending {
                            t.state = TaskState::Canceled;
                            b.finished.push((tid, TaskState::Canceled, None, Some(reason.clone())));
                            b.events.push(Event::Task {
                                job_id,
                                task_id: tid,
                                host: t.hostname.clone(),
                                state: TaskState::Canceled.as_str().into(),
                                exit_code: None,
                            });
                            let stage = &mut job.stages[si];
                            if stage.state == StageState::Running {
                                stage.open -= 1;
                            }
                            changed = true;
                        }
                    }
                }
            } else {
                // Start every pending stage whose dependencies all succeeded.
                let ready: Vec<usize> = (0..job.stages.len())
                    .filter(|&i| {
                        job.stages[i].state == StageState::Pending
                            && job.stages[i]
                                .deps
                                .iter()
                                .all(|&d| job.stages.get(d).is_some_and(|s| s.state == StageState::Successful))
                    })
                    .collect();
                for si in ready {
                    let s = &mut job.stages[si];
                    s.state = StageState::Running;
                    s.open = s.tasks.len();
                    b.stages.push((s.id, s.state));
                    let now = Instant::now();
                    for tid in &s.tasks {
                        if let Some(t) = self.tasks.get_mut(tid) {
                            t.queued_at = now;
                            let host = self.hosts.entry(t.host_id).or_default();
                            host.queue.push_back(*tid);
                            self.dirty.insert(t.host_id);
                        }
                    }
                    changed = true;
                }
            }
            if job
                .stages
                .iter()
                .all(|s| !matches!(s.state, StageState::Pending | StageState::Running))
            {
                let state = if job.canceled {
                    JobState::Canceled
                } else if job.failed {
                    JobState::Failed
                } else {
                    JobState::Successful
                };
                let error = job.error.clone();
                b.jobs.push((job_id, state, error.clone(), true));
                b.audit.push((
                    SYSTEM.into(),
                    "job.finished",
                    format!("job:{job_id}"),
                    json!({"state": state.as_str(), "error": error}),
                ));
                b.events.push(Event::Job {
                    job_id,
                    state: state.as_str().into(),
                    finished: true,
                });
                let job = self.jobs.remove(&job_id).expect("present");
                for s in job.stages {
                    for t in s.tasks {
                        self.tasks.remove(&t);
                    }
                }
                metrics::JOBS_FINISHED.with_label_values(&[state.as_str()]).inc();
                return;
            }
            if !changed {
                return;
            }
        }
    }

    /// Sends queued tasks to idle, connected hosts (one task at a time per host).
    fn schedule(&mut self, b: &mut Batch) {
        let dirty = std::mem::take(&mut self.dirty);
        let log_half = self.config.task_log_max_bytes / 2;
        for host_id in dirty {
            let Some(host) = self.hosts.get_mut(&host_id) else {
                continue;
            };
            if host.running.is_some() || host.session.is_none() {
                continue;
            }
            while let Some(tid) = host.queue.pop_front() {
                let Some(t) = self.tasks.get_mut(&tid) else { continue };
                if t.state != TaskState::Pending {
                    continue;
                }
                t.state = TaskState::Running;
                t.attempt += 1;
                t.last_seq = 0;
                t.log = LogCap::new(log_half, log_half);
                t.deadline = Some(Instant::now() + t.timeout + self.config.result_grace);
                host.running = Some(tid);
                b.dispatched.push(tid);
                b.events.push(Event::Task {
                    job_id: t.job_id,
                    task_id: tid,
                    host: t.hostname.clone(),
                    state: TaskState::Running.as_str().into(),
                    exit_code: None,
                });
                if let Some(job) = self.jobs.get_mut(&t.job_id) {
                    if !job.started {
                        job.started = true;
                        b.jobs.push((t.job_id, JobState::Running, None, false));
                        b.events.push(Event::Job {
                            job_id: t.job_id,
                            state: JobState::Running.as_str().into(),
                            finished: false,
                        });
                    }
                }
                break;
            }
        }
    }

    fn task_event(&mut self, host_id: i64, e: pb::TaskEvent, b: &mut Batch) {
        metrics::AGENT_EVENTS.inc();
        let ack = |b: &mut Batch, seq: u64, done: bool| {
            b.acks.entry(host_id).or_default().push(pb::TaskAck {
                task_id: e.task_id,
                attempt: e.attempt,
                seq,
                done,
            });
        };
        let Some(t) = self.tasks.get_mut(&e.task_id) else {
            // Finished long ago, or never ours: the agent may forget it.
            ack(b, e.seq, true);
            return;
        };
        if t.host_id != host_id {
            metrics::EVENTS_IGNORED.inc();
            tracing::warn!(
                task = e.task_id,
                host = host_id,
                "ignoring an event for a task of another host"
            );
            return;
        }
        if e.attempt as i32 != t.attempt || t.state != TaskState::Running {
            ack(b, e.seq, true);
            return;
        }
        if (e.seq as i64) <= t.last_seq {
            metrics::EVENTS_IGNORED.inc();
            ack(b, t.last_seq as u64, false);
            return;
        }
        t.last_seq = e.seq as i64;
        let job_id = t.job_id;
        match e.kind {
            Some(pb::task_event::Kind::Started(_)) => {
                b.started.push(e.task_id);
                ack(b, e.seq, false);
            }
            Some(pb::task_event::Kind::Log(l)) => {
                let stream = if l.stream == pb::LogStream::Stderr as i32 {
                    "stderr"
                } else {
                    "stdout"
                };
                let cut = t.log.push(e.seq as i64, l.line.len());
                if !cut.delete.is_empty() || cut.mark.is_some() {
                    b.log_cuts.push((e.task_id, cut.delete, cut.mark));
                }
                b.logs.push(task_log::ActiveModel {
                    task_id: Set(e.task_id),
                    seq: Set(e.seq as i64),
                    stream: Set(stream.into()),
                    line: Set(l.line.clone()),
                    at: Set(Utc::now()),
                    ..Default::default()
                });
                b.events.push(Event::Log {
                    job_id,
                    task_id: e.task_id,
                    seq: e.seq as i64,
                    stream: stream.into(),
                    line: l.line,
                });
                ack(b, e.seq, false);
            }
            Some(pb::task_event::Kind::Finished(f)) => {
                let (state, error) = match pb::TaskOutcome::try_from(f.outcome).unwrap_or(pb::TaskOutcome::Error) {
                    pb::TaskOutcome::Exited if f.exit_code == 0 => (TaskState::Successful, None),
                    pb::TaskOutcome::Exited => (TaskState::Failed, Some(format!("exited with code {}", f.exit_code))),
                    pb::TaskOutcome::TimedOut => (
                        TaskState::TimedOut,
                        Some(format!("killed after its timeout of {} s", t.timeout.as_secs())),
                    ),
                    pb::TaskOutcome::Refused => {
                        let why = format!("refused by the agent: {}", f.error);
                        tracing::error!(task_id = e.task_id, %why, "an agent refused a task that does not match its approved digest");
                        b.audit.push((
                            "steward".to_owned(),
                            "task.refused",
                            format!("task:{}", e.task_id),
                            serde_json::json!({"job": job_id, "host": t.hostname, "reason": f.error}),
                        ));
                        (TaskState::Failed, Some(why))
                    }
                    pb::TaskOutcome::Canceled => (
                        TaskState::Canceled,
                        Some(if f.error.is_empty() {
                            "canceled".to_owned()
                        } else {
                            f.error.clone()
                        }),
                    ),
                    _ => (
                        TaskState::Failed,
                        Some(if f.error.is_empty() {
                            "the agent reported an error".to_owned()
                        } else {
                            f.error.clone()
                        }),
                    ),
                };
                let exit = (pb::TaskOutcome::try_from(f.outcome) == Ok(pb::TaskOutcome::Exited)).then_some(f.exit_code);
                ack(b, e.seq, true);
                self.finish_task(e.task_id, state, exit, error, b);
            }
            None => ack(b, e.seq, false),
        }
    }

    /// Closes a task and moves its stage and job on.
    fn finish_task(
        &mut self,
        tid: i64,
        state: TaskState,
        exit_code: Option<i32>,
        error: Option<String>,
        b: &mut Batch,
    ) {
        let Some(t) = self.tasks.get_mut(&tid) else { return };
        if t.state.is_final() {
            return;
        }
        let was_running = t.state == TaskState::Running;
        t.state = state;
        t.deadline = None;
        let (job_id, si, host_id, hostname) = (t.job_id, t.stage, t.host_id, t.hostname.clone());
        metrics::TASKS_FINISHED.with_label_values(&[state.as_str()]).inc();
        b.finished.push((tid, state, exit_code, error.clone()));
        b.events.push(Event::Task {
            job_id,
            task_id: tid,
            host: hostname.clone(),
            state: state.as_str().into(),
            exit_code,
        });
        if was_running {
            if let Some(h) = self.hosts.get_mut(&host_id) {
                if h.running == Some(tid) {
                    h.running = None;
                    self.dirty.insert(host_id);
                }
            }
        }
        let Some(job) = self.jobs.get_mut(&job_id) else { return };
        let stage = &mut job.stages[si];
        stage.open = stage.open.saturating_sub(1);
        if let Some(c) = component_state(&stage.command, state) {
            b.components
                .push((host_id, stage.service.clone(), stage.component.clone(), c));
        }
        if !matches!(state, TaskState::Successful | TaskState::Canceled) {
            stage.failed = true;
            if !job.failed {
                job.failed = true;
                job.error = Some(format!(
                    "{}/{} {} on {hostname}: {}",
                    stage.service,
                    stage.component,
                    stage.command,
                    error.as_deref().unwrap_or(state.as_str())
                ));
            }
        }
        self.progress(job_id, b);
    }

    fn cancel(&mut self, job_id: i64, actor: &str, b: &mut Batch) -> Result<(), JobError> {
        if let Some(pos) = self.waiting.iter().position(|j| *j == job_id) {
            self.waiting.remove(pos);
            b.jobs.push((job_id, JobState::Canceled, None, true));
            b.audit.push((
                actor.into(),
                "job.canceled",
                format!("job:{job_id}"),
                json!({"running_tasks": 0}),
            ));
            b.events.push(Event::Job {
                job_id,
                state: JobState::Canceled.as_str().into(),
                finished: true,
            });
            return Ok(());
        }
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return Err(JobError::Conflict(format!(
                "job {job_id} is not running or waiting to run"
            )));
        };
        if job.canceled {
            return Err(JobError::Conflict(format!("job {job_id} is already being canceled")));
        }
        job.canceled = true;
        let running: Vec<i64> = job
            .stages
            .iter()
            .flat_map(|s| s.tasks.iter())
            .copied()
            .filter(|t| self.tasks.get(t).is_some_and(|t| t.state == TaskState::Running))
            .collect();
        b.jobs.push((job_id, JobState::Canceled, None, false));
        b.audit.push((
            actor.into(),
            "job.canceled",
            format!("job:{job_id}"),
            json!({"running_tasks": running.len()}),
        ));
        b.events.push(Event::Job {
            job_id,
            state: JobState::Canceled.as_str().into(),
            finished: false,
        });
        for tid in running {
            let t = &self.tasks[&tid];
            b.sends
                .push((t.host_id, cancel_msg(tid, t.attempt, "job canceled by an operator")));
        }
        self.progress(job_id, b);
        Ok(())
    }

    fn connected(&mut self, host_id: i64, session: u64, tx: SessionTx, known: Vec<KnownTask>, b: &mut Batch) {
        let host = self.hosts.entry(host_id).or_default();
        host.session = Some((session, tx));
        host.offline_since = None;
        self.dirty.insert(host_id);
        let known_map: HashMap<i64, KnownTask> = known.iter().map(|k| (k.task_id, *k)).collect();
        // Running tasks the agent does not know were lost (agent or server restart before
        // the agent recorded them): fail them rather than silently re-running a script.
        let ours: Vec<i64> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.host_id == host_id && t.state == TaskState::Running)
            .map(|(id, _)| *id)
            .collect();
        for tid in ours {
            let t = &self.tasks[&tid];
            match known_map.get(&tid) {
                Some(k) if k.attempt == t.attempt => {
                    if self.jobs.get(&t.job_id).is_some_and(|j| j.canceled) && k.running {
                        b.sends
                            .push((host_id, cancel_msg(tid, t.attempt, "job canceled by an operator")));
                    }
                }
                _ => {
                    let msg = format!("lost: the agent on {} does not know this task (it restarted before recording it, or lost its state)", t.hostname);
                    self.finish_task(tid, TaskState::Failed, None, Some(msg), b);
                }
            }
        }
        // Scripts the agent still runs that we no longer want: stop them.
        let seen: HashSet<i64> = self.tasks.keys().copied().collect();
        for k in known.iter().filter(|k| k.running) {
            let wanted = seen.contains(&k.task_id)
                && self.tasks[&k.task_id].attempt == k.attempt
                && self.tasks[&k.task_id].state == TaskState::Running;
            if !wanted {
                b.sends.push((
                    host_id,
                    cancel_msg(k.task_id, k.attempt, "the server no longer runs this task"),
                ));
            }
        }
    }

    fn tick(&mut self, b: &mut Batch) {
        self.ticks += 1;
        let now = Instant::now();
        let overdue: Vec<i64> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.state == TaskState::Running && t.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for tid in overdue {
            let t = &self.tasks[&tid];
            let online = self.hosts.get(&t.host_id).is_some_and(|h| h.session.is_some());
            if online {
                b.sends
                    .push((t.host_id, cancel_msg(tid, t.attempt, "no result within the timeout")));
                let msg = format!(
                    "no result from the agent within the timeout ({} s) and {} s of grace",
                    t.timeout.as_secs(),
                    self.config.result_grace.as_secs()
                );
                self.finish_task(tid, TaskState::TimedOut, None, Some(msg), b);
            } else {
                let msg = format!(
                    "host {} went offline and did not report within the task's timeout",
                    t.hostname
                );
                self.finish_task(tid, TaskState::Failed, None, Some(msg), b);
            }
        }
        let stranded: Vec<i64> = self
            .hosts
            .iter()
            .filter(|(_, h)| h.offline_since.is_some() || h.session.is_none())
            .flat_map(|(_, h)| h.queue.iter().copied())
            .filter(|tid| {
                self.tasks.get(tid).is_some_and(|t| {
                    t.state == TaskState::Pending && now.duration_since(t.queued_at) >= self.config.offline_grace
                })
            })
            .collect();
        for tid in stranded {
            let msg = format!(
                "host {} is offline: no agent connected within {} s",
                self.tasks[&tid].hostname,
                self.config.offline_grace.as_secs()
            );
            self.finish_task(tid, TaskState::Failed, None, Some(msg), b);
        }
        if self.ticks.is_multiple_of(10) {
            b.expire = true;
        }
    }

    async fn commit(&mut self, mut b: Batch) -> Result<(), sea_orm::DbErr> {
        let started = Instant::now();
        let run_msgs: Vec<(i64, i64, pb::ServerMessage)> = b
            .dispatched
            .iter()
            .filter_map(|tid| {
                let t = self.tasks.get(tid)?;
                let mut m = t.message.clone()?;
                m.attempt = t.attempt as u32;
                Some((
                    t.host_id,
                    *tid,
                    pb::ServerMessage {
                        msg: Some(pb::server_message::Msg::RunTask(m)),
                    },
                ))
            })
            .collect();
        if !b.is_empty() {
            let txn = self.store.begin_write().await?;
            let now = Utc::now();
            for chunk in b.logs.chunks(400) {
                task_log::Entity::insert_many(chunk.to_vec())
                    .on_conflict(
                        OnConflict::columns([task_log::Column::TaskId, task_log::Column::Seq])
                            .do_nothing()
                            .to_owned(),
                    )
                    .exec_without_returning(&*txn)
                    .await?;
            }
            let half = self.config.task_log_max_bytes / 2;
            for (task_id, delete, mark) in &b.log_cuts {
                if let Some(seq) = mark {
                    task_log::Entity::update_many()
                        .col_expr(task_log::Column::Line, Expr::value(logcap::marker(half, half)))
                        .filter(task_log::Column::TaskId.eq(*task_id))
                        .filter(task_log::Column::Seq.eq(*seq))
                        .exec(&*txn)
                        .await?;
                }
                for chunk in delete.chunks(500) {
                    task_log::Entity::delete_many()
                        .filter(task_log::Column::TaskId.eq(*task_id))
                        .filter(task_log::Column::Seq.is_in(chunk.to_vec()))
                        .exec(&*txn)
                        .await?;
                }
            }
            for chunk in b.dispatched.chunks(500) {
                task::Entity::update_many()
                    .col_expr(task::Column::State, Expr::value(TaskState::Running.as_str()))
                    .col_expr(task::Column::Attempt, Expr::col(task::Column::Attempt).add(1))
                    .col_expr(task::Column::DispatchedAt, Expr::value(now))
                    .filter(task::Column::Id.is_in(chunk.to_vec()))
                    .exec(&*txn)
                    .await?;
            }
            for chunk in b.started.chunks(500) {
                task::Entity::update_many()
                    .col_expr(task::Column::StartedAt, Expr::value(now))
                    .filter(task::Column::Id.is_in(chunk.to_vec()))
                    .exec(&*txn)
                    .await?;
            }
            // Most tasks of a batch end the same way: one statement per distinct outcome.
            let mut groups: HashMap<(TaskState, Option<i32>, Option<String>), Vec<i64>> = HashMap::new();
            for (id, s, code, err) in b.finished.drain(..) {
                groups.entry((s, code, err)).or_default().push(id);
            }
            for ((s, code, err), ids) in groups {
                for chunk in ids.chunks(500) {
                    task::Entity::update_many()
                        .col_expr(task::Column::State, Expr::value(s.as_str()))
                        .col_expr(task::Column::ExitCode, Expr::value(code))
                        .col_expr(task::Column::Error, Expr::value(err.clone()))
                        .col_expr(task::Column::FinishedAt, Expr::value(now))
                        .filter(task::Column::Id.is_in(chunk.to_vec()))
                        .exec(&*txn)
                        .await?;
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
            for (id, s, error, finished) in &b.jobs {
                let mut q = job::Entity::update_many().col_expr(job::Column::State, Expr::value(s.as_str()));
                if *s == JobState::Running {
                    q = q.col_expr(job::Column::StartedAt, Expr::value(now));
                }
                if error.is_some() {
                    q = q.col_expr(job::Column::Error, Expr::value(error.clone()));
                }
                if *finished {
                    q = q.col_expr(job::Column::FinishedAt, Expr::value(now));
                }
                q.filter(job::Column::Id.eq(*id)).exec(&*txn).await?;
            }
            for (host_id, service, component, state) in &b.components {
                inventory::set_component_state(&*txn, *host_id, service, component, state).await?;
            }
            // Every dispatch and every task result joins the audit chain: one event per batch
            // and kind, so a 100-host dispatch costs one hash, not a hundred.
            let mut events: Vec<(String, String, String, serde_json::Value)> = vec![];
            if !b.dispatched.is_empty() {
                events.push((
                    "steward".to_owned(),
                    "tasks.dispatched".to_owned(),
                    format!("tasks:{}", b.dispatched.len()),
                    serde_json::json!({"tasks": b.dispatched}),
                ));
            }
            if !b.finished.is_empty() {
                let results: Vec<serde_json::Value> = b
                    .finished
                    .iter()
                    .map(|(tid, state, code, _)| serde_json::json!({"task": tid, "state": state.as_str(), "exit_code": code}))
                    .collect();
                events.push((
                    "steward".to_owned(),
                    "tasks.finished".to_owned(),
                    format!("tasks:{}", results.len()),
                    serde_json::json!({"results": results}),
                ));
            }
            events.extend(
                b.audit
                    .drain(..)
                    .map(|(actor, action, target, details)| (actor, action.to_owned(), target, details)),
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
            tracing::debug!(took = ?started.elapsed(), dispatched = run_msgs.len(), "engine batch committed");
        }

        // Durable: now act.
        for (host_id, tid, msg) in run_msgs {
            metrics::TASKS_DISPATCHED.inc();
            if !self.send(host_id, msg) {
                // Not delivered for certain (the session is gone or choked): queue it again.
                if let Some(t) = self.tasks.get_mut(&tid) {
                    t.state = TaskState::Pending;
                    t.deadline = None;
                    let h = self.hosts.entry(host_id).or_default();
                    if h.running == Some(tid) {
                        h.running = None;
                    }
                    h.queue.push_front(tid);
                    self.dirty.insert(host_id);
                }
                let _ = task::Entity::update_many()
                    .col_expr(task::Column::State, Expr::value(TaskState::Pending.as_str()))
                    .filter(task::Column::Id.eq(tid))
                    .exec(&self.store.conn)
                    .await;
            }
        }
        for (host_id, msg) in b.sends {
            self.send(host_id, msg);
        }
        for (host_id, acks) in b.acks {
            let msg = pb::ServerMessage {
                msg: Some(pb::server_message::Msg::Ack(pb::Ack {
                    tasks: compact_acks(acks),
                    metrics_seq: 0,
                })),
            };
            self.send(host_id, msg);
        }
        for e in b.events {
            self.bus.publish(e);
        }
        for (reply, r) in b.replies {
            let _ = reply.send(r);
        }
        Ok(())
    }

    /// Queues a message on a host's session without waiting; false when it cannot.
    /// A fresh output cap for a task's attempt.
    fn log_cap(&self) -> LogCap {
        let half = self.config.task_log_max_bytes / 2;
        LogCap::new(half, half)
    }

    fn send(&mut self, host_id: i64, msg: pb::ServerMessage) -> bool {
        let Some(h) = self.hosts.get_mut(&host_id) else {
            return false;
        };
        let Some((_, tx)) = &h.session else { return false };
        match tx.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(host = host_id, "agent session is not keeping up; closing it");
                h.session = None;
                h.offline_since = Some(Instant::now());
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                h.session = None;
                h.offline_since = Some(Instant::now());
                false
            }
        }
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

fn cancel_msg(task_id: i64, attempt: i32, reason: &str) -> pb::ServerMessage {
    pb::ServerMessage {
        msg: Some(pb::server_message::Msg::CancelTask(pb::CancelTask {
            task_id,
            attempt: attempt as u32,
            reason: reason.into(),
        })),
    }
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
fn run_task(r: &task::Model, (script, shared): &(String, Vec<pb::TaskFile>)) -> pb::RunTask {
    let mut env: HashMap<String, String> = serde_json::from_value(r.env.clone()).unwrap_or_default();
    env.insert("STEWARD_TASK_ID".into(), r.id.to_string());
    env.insert("STEWARD_JOB_ID".into(), r.job_id.to_string());
    let mut files = task_files(&r.files);
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
        digest: r.digest.clone(),
        task_files: own,
    }
}

/// What a finished command tells about its component (None: nothing certain).
fn component_state(command: &str, state: TaskState) -> Option<&'static str> {
    match (command, state) {
        ("install", TaskState::Successful) => Some("INSTALLED"),
        ("start" | "restart", TaskState::Successful) => Some("STARTED"),
        ("stop", TaskState::Successful) => Some("STOPPED"),
        ("status", TaskState::Successful) => Some("STARTED"),
        ("status", TaskState::Failed) => Some("STOPPED"),
        _ => None,
    }
}
