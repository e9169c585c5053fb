//! Numbers a task's events and makes the ones that matter durable before anyone sees them.
//!
//! Each attempt's events carry seq 1, 2, 3…: started first, one per log line, finished last;
//! a chunk of n lines takes n seqs and carries its last.
//! The on-disk record is written before the started event is queued (so a restarted agent
//! can always find the process group) and before the finished event is queued (so the result
//! survives a restart until the server acknowledges it).

use std::sync::Arc;

use steward_proto::v1::{task_event::Kind, LogStream, TaskEvent, TaskOutcome, TaskOutput, TaskStarted};

use crate::{
    clock::now_ms,
    process_group,
    state::{FinishedRecord, StateStore, TaskRecord},
    tasks::{TaskKey, TaskTable},
};

/// How many seqs the record reserves beyond the last one used: the record is rewritten once
/// per this many log lines rather than once per chunk.
const SEQ_RESERVE: u64 = 1000;

/// The event writer of one attempt.
#[derive(Debug)]
pub(crate) struct Journal {
    key: TaskKey,
    table: Arc<TaskTable>,
    store: StateStore,
    record: TaskRecord,
    next_seq: u64,
}

impl Journal {
    /// A journal for an attempt that has emitted nothing yet.
    pub(crate) fn new(key: TaskKey, label: &str, table: Arc<TaskTable>, store: StateStore) -> Self {
        Self {
            key,
            table,
            store,
            record: TaskRecord::new(key, label),
            next_seq: 1,
        }
    }

    /// Records the spawned script's process group, then announces the start.
    pub(crate) fn started(&mut self, pid: i32) {
        self.record.pgid = Some(pid);
        self.record.boot_id = process_group::boot_id();
        self.record.leader_start_ticks = process_group::start_ticks(pid);
        self.record.started_at_ms = now_ms();
        self.reserve_seqs();
        self.emit(Kind::Started(TaskStarted { pid }));
    }

    /// Queues lines of the script's output: `text` is one or more lines, each ending in `\n`.
    pub(crate) fn output(&mut self, stream: LogStream, text: String) {
        let lines = crate::lines::count(&text).max(1);
        let last = self.next_seq + lines - 1;
        if self.record.pgid.is_some() && last > self.record.last_seq {
            self.record.last_seq = last + SEQ_RESERVE;
            self.persist();
        }
        self.next_seq = last;
        self.emit(Kind::Output(TaskOutput {
            stream: stream as i32,
            text,
        }));
    }

    /// Stores the result, then queues it as the attempt's last event.
    pub(crate) fn finished(mut self, outcome: TaskOutcome, exit_code: i32, error: String) {
        let seq = self.next_seq;
        let finished = FinishedRecord::new(seq, now_ms(), outcome, exit_code, error);
        self.record.last_seq = seq;
        self.record.finished = Some(finished.clone());
        self.persist();
        self.next_seq += 1;
        self.table.push(self.key, finished.to_event(self.key));
    }

    /// Moves the record's seq bound a block past the next seq and writes it.
    fn reserve_seqs(&mut self) {
        self.record.last_seq = self.next_seq + SEQ_RESERVE - 1;
        self.persist();
    }

    fn persist(&self) {
        if let Err(error) = self.store.save(&self.record) {
            // Nothing better to do than say so: the task itself can still run and report.
            tracing::error!(%error, "cannot write the task's state record; an agent restart would lose track of it");
        }
    }

    fn emit(&mut self, kind: Kind) {
        let event = TaskEvent {
            task_id: self.key.task_id,
            attempt: self.key.attempt,
            seq: self.next_seq,
            at_ms: now_ms(),
            kind: Some(kind),
        };
        self.next_seq += 1;
        self.table.push(self.key, event);
    }
}
