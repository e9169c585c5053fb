//! What the session asks of the agent's tasks: run this, cancel that, these events are
//! durable, and at shutdown, stop everything.

use std::{path::PathBuf, sync::Arc};

use steward_proto::v1::{CancelTask, RunTask, TaskAck};
use tracing::Instrument;

use crate::{
    executor,
    journal::Journal,
    state::StateStore,
    tasks::{Refusal, StopReason, TaskKey, TaskTable},
};

/// The result of asking to run a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// A new attempt; its executor is running.
    Started,
    /// This attempt is already running or finished here; it was not run again.
    AlreadyKnown,
    /// The agent is shutting down and takes no new work.
    ShuttingDown,
}

/// Starts, stops and forgets tasks.
#[derive(Debug, Clone)]
pub(crate) struct TaskRunner {
    table: Arc<TaskTable>,
    store: StateStore,
    tasks_dir: PathBuf,
}

impl TaskRunner {
    /// A runner keeping work dirs under `tasks_dir` and records in `store`.
    pub(crate) fn new(table: Arc<TaskTable>, store: StateStore, tasks_dir: PathBuf) -> Self {
        Self {
            table,
            store,
            tasks_dir,
        }
    }

    /// The task table the session reads events from.
    pub(crate) fn table(&self) -> &Arc<TaskTable> {
        &self.table
    }

    /// Runs an attempt unless it is already known here; several may run at once.
    pub(crate) fn run(&self, task: RunTask) -> Admission {
        let key = TaskKey {
            task_id: task.task_id,
            attempt: task.attempt,
        };
        let stop = match self.table.admit(key, &task.label) {
            Ok(stop) => stop,
            Err(Refusal::Known) => {
                tracing::debug!(
                    task_id = key.task_id,
                    attempt = key.attempt,
                    "task already known here; not running it again"
                );
                return Admission::AlreadyKnown;
            }
            Err(Refusal::Closed) => {
                tracing::warn!(
                    task_id = key.task_id,
                    attempt = key.attempt,
                    "shutting down; task not started"
                );
                return Admission::ShuttingDown;
            }
        };
        let span = tracing::info_span!("task", task_id = key.task_id, attempt = key.attempt, label = %task.label);
        let journal = Journal::new(key, &task.label, self.table.clone(), self.store.clone());
        let work_dir = self.work_dir(key);
        let finish = Finish {
            table: self.table.clone(),
            key,
        };
        tokio::spawn(
            async move {
                executor::execute(task, &work_dir, journal, stop).await;
                drop(finish);
            }
            .instrument(span),
        );
        Admission::Started
    }

    /// Kills a running attempt's process group; the finished event will say CANCELED.
    pub(crate) fn cancel(&self, cancel: &CancelTask) {
        let key = TaskKey {
            task_id: cancel.task_id,
            attempt: cancel.attempt,
        };
        if !self.table.stop(key, StopReason::Cancel(cancel.reason.clone())) {
            tracing::info!(
                task_id = key.task_id,
                attempt = key.attempt,
                "cancel for a task not running here; nothing to do"
            );
        }
    }

    /// Applies a server ack; a finished attempt the server is done with is forgotten,
    /// record and work dir included.
    pub(crate) fn ack(&self, ack: &TaskAck) {
        let Some(label) = self.table.ack(ack) else {
            return;
        };
        let key = TaskKey {
            task_id: ack.task_id,
            attempt: ack.attempt,
        };
        tracing::debug!(
            task_id = key.task_id,
            attempt = key.attempt,
            label,
            "the server is done with the task; forgetting it"
        );
        if let Err(error) = self.store.remove(key) {
            tracing::warn!(task_id = key.task_id, attempt = key.attempt, %error, "cannot remove the task's record");
        }
        let work_dir = self.work_dir(key);
        // A work dir may be large; remove it off the session's path.
        tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&work_dir) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %work_dir.display(), %error, "cannot remove a finished task's work dir");
            }
            _ => {}
        });
    }

    /// Takes no new tasks, kills the running ones, and waits until each has recorded its
    /// result ("agent shut down") for the next session to report.
    pub(crate) async fn shut_down(&self) {
        self.table.close();
        self.table.idle().await;
    }

    fn work_dir(&self, key: TaskKey) -> PathBuf {
        self.tasks_dir.join(format!("{}-{}", key.task_id, key.attempt))
    }
}

/// Marks the attempt as no longer running when its executor ends, even by panic, so
/// shutdown never waits for a task that is gone.
struct Finish {
    table: Arc<TaskTable>,
    key: TaskKey,
}

impl Drop for Finish {
    fn drop(&mut self) {
        self.table.finish(self.key);
    }
}
