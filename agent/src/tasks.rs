//! The tasks this agent knows about: running ones, and finished ones whose events the server
//! has not acknowledged yet.
//!
//! This table is the meeting point of the executors (which push events), the session (which
//! sends them and applies acks) and shutdown (which stops everything). Its lock is held only
//! for short, non-async sections.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard, PoisonError},
};

use steward_proto::v1::{task_event::Kind, TaskAck, TaskEvent, TaskRef};
use tokio::sync::{oneshot, watch, Notify};

use crate::outbox::Outbox;

/// One attempt of one task: the unit the protocol makes idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TaskKey {
    /// The server's task id.
    pub(crate) task_id: i64,
    /// The attempt number.
    pub(crate) attempt: u32,
}

/// Why a running task is asked to stop before its script ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// The server cancelled it (operator cancel, failed stage), with its reason.
    Cancel(String),
    /// The agent itself is shutting down.
    Shutdown,
}

/// Why a task was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// This attempt is running or finished here already; running it twice would break the
    /// guarantee that an event is applied once.
    Known,
    /// The agent is shutting down.
    Closed,
}

#[derive(Debug)]
struct Entry {
    label: String,
    running: bool,
    last_seq: u64,
    outbox: Outbox,
    stop: Option<oneshot::Sender<StopReason>>,
}

#[derive(Debug, Default)]
struct Tasks {
    entries: BTreeMap<TaskKey, Entry>,
    closed: bool,
}

/// The agent's tasks and their unacknowledged events.
#[derive(Debug)]
pub(crate) struct TaskTable {
    tasks: Mutex<Tasks>,
    /// Woken when there are new events to send.
    changed: Notify,
    /// How many tasks are running, so shutdown can wait for none.
    running: watch::Sender<usize>,
}

impl Default for TaskTable {
    fn default() -> Self {
        Self {
            tasks: Mutex::default(),
            changed: Notify::new(),
            running: watch::Sender::new(0),
        }
    }
}

impl TaskTable {
    /// Registers a new running attempt; its executor listens on the returned receiver.
    pub(crate) fn admit(&self, key: TaskKey, label: &str) -> Result<oneshot::Receiver<StopReason>, Refusal> {
        let mut tasks = self.lock();
        if tasks.closed {
            return Err(Refusal::Closed);
        }
        if tasks.entries.contains_key(&key) {
            return Err(Refusal::Known);
        }
        let (stop, stopped) = oneshot::channel();
        tasks.entries.insert(
            key,
            Entry {
                label: label.to_owned(),
                running: true,
                last_seq: 0,
                outbox: Outbox::default(),
                stop: Some(stop),
            },
        );
        self.running.send_modify(|running| *running += 1);
        Ok(stopped)
    }

    /// Takes in a result recovered from disk at start-up: a finished attempt to report.
    pub(crate) fn restore(&self, key: TaskKey, label: &str, finished: TaskEvent) {
        let mut outbox = Outbox::default();
        let last_seq = finished.seq;
        outbox.push(finished);
        self.lock().entries.insert(
            key,
            Entry {
                label: label.to_owned(),
                running: false,
                last_seq,
                outbox,
                stop: None,
            },
        );
        self.changed.notify_one();
    }

    /// Queues an event of a known task for the server.
    ///
    /// A finished event ends the task's running state in the same critical section: the
    /// server may acknowledge it as done the moment it arrives, and that ack must find the
    /// task finished, or the task would never be forgotten.
    pub(crate) fn push(&self, key: TaskKey, event: TaskEvent) {
        let finished = matches!(event.kind, Some(Kind::Finished(_)));
        if let Some(entry) = self.lock().entries.get_mut(&key) {
            entry.last_seq = entry.last_seq.max(event.seq);
            entry.outbox.push(event);
            if finished {
                self.stop_running(entry);
            }
        }
        self.changed.notify_one();
    }

    /// Marks a task as no longer running when its executor ends; usually its finished event
    /// already did, this covers an executor that ended without one.
    pub(crate) fn finish(&self, key: TaskKey) {
        if let Some(entry) = self.lock().entries.get_mut(&key) {
            self.stop_running(entry);
        }
    }

    fn stop_running(&self, entry: &mut Entry) {
        if entry.running {
            entry.running = false;
            entry.stop = None;
            self.running.send_modify(|running| *running -= 1);
        }
    }

    /// Asks a running task to stop; false if it is not running here.
    pub(crate) fn stop(&self, key: TaskKey, reason: StopReason) -> bool {
        let mut tasks = self.lock();
        let stop = tasks.entries.get_mut(&key).and_then(|entry| entry.stop.take());
        stop.is_some_and(|stop| stop.send(reason).is_ok())
    }

    /// Refuses new tasks from now on and asks every running one to stop.
    pub(crate) fn close(&self) {
        let mut tasks = self.lock();
        tasks.closed = true;
        for entry in tasks.entries.values_mut() {
            if let Some(stop) = entry.stop.take() {
                let _ = stop.send(StopReason::Shutdown);
            }
        }
    }

    /// Applies a server ack. If the attempt is now forgotten (done and not running), returns
    /// its label: its record and work dir can go too.
    pub(crate) fn ack(&self, ack: &TaskAck) -> Option<String> {
        let key = TaskKey {
            task_id: ack.task_id,
            attempt: ack.attempt,
        };
        let mut tasks = self.lock();
        let entry = tasks.entries.get_mut(&key)?;
        entry.outbox.ack(ack.seq);
        // A running attempt is never forgotten, even if the server is done with it: its
        // process group is still ours to account for.
        if ack.done && !entry.running {
            return tasks.entries.remove(&key).map(|entry| entry.label);
        }
        None
    }

    /// The tasks to name in a Hello (`everything`) or a heartbeat (running ones only).
    pub(crate) fn refs(&self, everything: bool) -> Vec<TaskRef> {
        self.lock()
            .entries
            .iter()
            .filter(|(_, entry)| entry.running || (everything && !entry.outbox.is_empty()))
            .map(|(key, entry)| TaskRef {
                task_id: key.task_id,
                attempt: key.attempt,
                last_seq: entry.last_seq,
                running: entry.running,
            })
            .collect()
    }

    /// Up to `limit` events beyond each task's cursor, advancing the cursors past them.
    ///
    /// Each session keeps its own cursors, starting empty, so a new session re-sends every
    /// unacknowledged event; events stay here until acked, whatever has been sent.
    pub(crate) fn unsent(&self, cursors: &mut HashMap<TaskKey, u64>, limit: usize) -> Vec<TaskEvent> {
        let tasks = self.lock();
        cursors.retain(|key, _| tasks.entries.contains_key(key));
        let mut events = Vec::new();
        for (key, entry) in &tasks.entries {
            let cursor = cursors.entry(*key).or_default();
            for event in entry.outbox.after(*cursor).take(limit - events.len()) {
                *cursor = event.seq;
                events.push(event.clone());
            }
            if events.len() == limit {
                break;
            }
        }
        events
    }

    /// Whether any event still waits for an ack.
    pub(crate) fn has_unacked(&self) -> bool {
        self.lock().entries.values().any(|entry| !entry.outbox.is_empty())
    }

    /// Resolves once there may be new events to send.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Resolves once no task is running.
    pub(crate) async fn idle(&self) {
        let mut running = self.running.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = running.wait_for(|running| *running == 0).await;
    }

    /// Every buffered event of a task, for tests to inspect.
    #[cfg(test)]
    pub(crate) fn events(&self, key: TaskKey) -> Vec<TaskEvent> {
        self.lock()
            .entries
            .get(&key)
            .map(|entry| entry.outbox.after(0).cloned().collect())
            .unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, Tasks> {
        // A panic elsewhere must not take the agent's bookkeeping down with it.
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use steward_proto::v1::TaskFinished;

    use super::*;

    const KEY: TaskKey = TaskKey { task_id: 3, attempt: 1 };

    fn finished(seq: u64) -> TaskEvent {
        TaskEvent {
            task_id: KEY.task_id,
            attempt: KEY.attempt,
            seq,
            at_ms: 0,
            kind: Some(Kind::Finished(TaskFinished::default())),
        }
    }

    fn ack(seq: u64, done: bool) -> TaskAck {
        TaskAck {
            task_id: KEY.task_id,
            attempt: KEY.attempt,
            seq,
            done,
        }
    }

    #[test]
    fn a_done_ack_arriving_right_after_the_finished_event_forgets_the_task() {
        let table = TaskTable::default();
        let _stop = table.admit(KEY, "zookeeper/server start").unwrap();
        table.push(KEY, finished(1));
        // The executor has not returned yet; the ack must not wait for it.
        assert_eq!(table.ack(&ack(1, true)).as_deref(), Some("zookeeper/server start"));
        assert!(table.refs(true).is_empty());
        table.finish(KEY);
        assert_eq!(*table.running.borrow(), 0);
    }

    #[test]
    fn a_running_task_is_not_forgotten_even_when_the_server_is_done_with_it() {
        let table = TaskTable::default();
        let _stop = table.admit(KEY, "label").unwrap();
        assert_eq!(table.ack(&ack(0, true)), None);
        assert_eq!(table.admit(KEY, "label").unwrap_err(), Refusal::Known);
        assert_eq!(table.refs(false).len(), 1);
    }

    #[test]
    fn a_new_session_gets_every_unacknowledged_event_again() {
        let table = TaskTable::default();
        let _stop = table.admit(KEY, "label").unwrap();
        table.push(KEY, finished(1));
        let mut first_session = HashMap::new();
        assert_eq!(table.unsent(&mut first_session, 10).len(), 1);
        assert!(table.unsent(&mut first_session, 10).is_empty());
        let mut second_session = HashMap::new();
        assert_eq!(table.unsent(&mut second_session, 10).len(), 1);
        table.ack(&ack(1, false));
        assert!(table.unsent(&mut HashMap::new(), 10).is_empty());
    }
}
