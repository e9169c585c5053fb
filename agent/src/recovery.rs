//! Start-up: turns the records an earlier run of the agent left behind into results to report.
//!
//! A task that was running when the agent died cannot be supervised again (its pipes and its
//! exit status went with the old agent), so its process group is killed, leaving no orphan,
//! and it is reported as an ERROR. Results that were never acknowledged are reported again.

use std::io;

use steward_proto::v1::TaskOutcome;

use crate::{
    clock::now_ms,
    process_group,
    state::{FinishedRecord, StateStore, TaskRecord},
    tasks::TaskTable,
};

/// The error reported for a task whose process group the restarted agent killed.
pub(crate) const KILLED_ON_RESTART: &str = "agent restarted while the task was running; its process group was killed";
/// The error reported for a task whose processes were already gone at restart.
pub(crate) const LOST_ON_RESTART: &str = "agent restarted while the task was running; its processes had already exited";

/// Loads every record into `table` as a finished attempt, settling the ones left running.
pub(crate) fn recover(store: &StateStore, table: &TaskTable) -> io::Result<()> {
    for mut record in store.load_all()? {
        let key = record.key();
        let finished = match &record.finished {
            Some(finished) => {
                tracing::info!(
                    task_id = key.task_id,
                    attempt = key.attempt,
                    label = record.label,
                    "holding a result the server has not acknowledged"
                );
                finished.clone()
            }
            None => settle(store, &mut record),
        };
        table.restore(key, &record.label, finished.to_event(key));
    }
    Ok(())
}

/// Kills what is left of a task that was running, and records its ERROR result.
fn settle(store: &StateStore, record: &mut TaskRecord) -> FinishedRecord {
    let killed = record
        .pgid
        .is_some_and(|pgid| still_ours(record, pgid) && process_group::signal(pgid, libc::SIGKILL));
    let error = if killed { KILLED_ON_RESTART } else { LOST_ON_RESTART };
    tracing::warn!(
        task_id = record.task_id,
        attempt = record.attempt,
        label = record.label,
        pgid = record.pgid,
        "{error}"
    );
    // `last_seq` bounds every seq the old agent used, so this one is new to the server.
    let finished = FinishedRecord::new(record.last_seq + 1, now_ms(), TaskOutcome::Error, -1, error.to_owned());
    record.last_seq = finished.seq;
    record.finished = Some(finished.clone());
    if let Err(error) = store.save(record) {
        tracing::error!(task_id = record.task_id, attempt = record.attempt, %error, "cannot record the task's result");
    }
    finished
}

/// Whether `pgid` still names the group the old agent started, not a recycled id.
fn still_ours(record: &TaskRecord, pgid: i32) -> bool {
    if let (Some(then), Some(now)) = (&record.boot_id, process_group::boot_id()) {
        if *then != now {
            return false;
        }
    }
    // A pid is not reused while its group has members, so a leader that is alive with another
    // start time means our group is gone and the number now names someone else.
    if let (Some(then), Some(now)) = (record.leader_start_ticks, process_group::start_ticks(pgid)) {
        if then != now {
            return false;
        }
    }
    process_group::exists(pgid)
}
