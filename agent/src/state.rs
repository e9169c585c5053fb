//! The durable part of the agent: one small JSON record per task under `<data_dir>/state/`.
//!
//! Log lines live only in memory; what must survive an agent restart is which process group a
//! running task owns (so a restarted agent can kill it rather than orphan it) and a finished
//! task's result (so the server learns it even if the agent restarts before the ack).

use std::{
    fs::{self, File},
    io::{self, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use steward_proto::v1::{task_event::Kind, TaskEvent, TaskFinished, TaskOutcome};

use crate::tasks::TaskKey;

/// What the agent remembers of one task across restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TaskRecord {
    /// The server's task id.
    pub(crate) task_id: i64,
    /// Which attempt of the task this is.
    pub(crate) attempt: u32,
    /// The server's description of the task, for the agent's log.
    #[serde(default)]
    pub(crate) label: String,
    /// The script's process group (its pid), once spawned.
    #[serde(default)]
    pub(crate) pgid: Option<i32>,
    /// The boot the group was started in: after a reboot the pgid names someone else.
    #[serde(default)]
    pub(crate) boot_id: Option<String>,
    /// The group leader's start time, telling our leader from a process that reused its pid.
    #[serde(default)]
    pub(crate) leader_start_ticks: Option<u64>,
    /// When the script started (Unix ms), 0 if it never did.
    #[serde(default)]
    pub(crate) started_at_ms: i64,
    /// No event of this attempt has a seq above this one.
    ///
    /// While the task runs this is reserved ahead of the seqs actually used (the record is
    /// rewritten once per block of lines, not once per line), so the result a restarted agent
    /// reports at `last_seq + 1` can never reuse the seq of a line the server already holds.
    pub(crate) last_seq: u64,
    /// The result, once there is one.
    #[serde(default)]
    pub(crate) finished: Option<FinishedRecord>,
}

/// A finished event as stored on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FinishedRecord {
    /// The event's seq: the last of the attempt.
    pub(crate) seq: u64,
    /// When the task finished (Unix ms).
    pub(crate) at_ms: i64,
    /// The outcome's proto name, e.g. `TASK_OUTCOME_EXITED`, readable by whoever opens the file.
    pub(crate) outcome: String,
    /// The script's exit code, or -1 when it was killed or never ran.
    pub(crate) exit_code: i32,
    /// What went wrong, empty when the script simply exited.
    #[serde(default)]
    pub(crate) error: String,
}

impl TaskRecord {
    /// A record for a task nothing is known about yet.
    pub(crate) fn new(key: TaskKey, label: &str) -> Self {
        Self {
            task_id: key.task_id,
            attempt: key.attempt,
            label: label.to_owned(),
            pgid: None,
            boot_id: None,
            leader_start_ticks: None,
            started_at_ms: 0,
            last_seq: 0,
            finished: None,
        }
    }

    /// Which attempt this record is about.
    pub(crate) fn key(&self) -> TaskKey {
        TaskKey {
            task_id: self.task_id,
            attempt: self.attempt,
        }
    }
}

impl FinishedRecord {
    /// The result as stored, from its parts.
    pub(crate) fn new(seq: u64, at_ms: i64, outcome: TaskOutcome, exit_code: i32, error: String) -> Self {
        Self {
            seq,
            at_ms,
            outcome: outcome.as_str_name().to_owned(),
            exit_code,
            error,
        }
    }

    /// The result as the protocol event the server expects.
    pub(crate) fn to_event(&self, key: TaskKey) -> TaskEvent {
        let outcome = TaskOutcome::from_str_name(&self.outcome).unwrap_or(TaskOutcome::Error);
        TaskEvent {
            task_id: key.task_id,
            attempt: key.attempt,
            seq: self.seq,
            at_ms: self.at_ms,
            kind: Some(Kind::Finished(TaskFinished {
                outcome: outcome as i32,
                exit_code: self.exit_code,
                error: self.error.clone(),
            })),
        }
    }
}

/// The directory of task records.
#[derive(Debug, Clone)]
pub(crate) struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    /// The store in `dir`, created if missing.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self { dir: dir.to_owned() })
    }

    /// Writes a record atomically (temporary file, fsync, rename): a crash leaves the old
    /// record or the new one, never half of one.
    pub(crate) fn save(&self, record: &TaskRecord) -> io::Result<()> {
        let path = self.path(record.key());
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        let mut file = File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
        // Make the rename itself durable; failing here loses nothing but that guarantee.
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Forgets a task's record; a record already gone is fine.
    pub(crate) fn remove(&self, key: TaskKey) -> io::Result<()> {
        match fs::remove_file(self.path(key)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Every readable record. An unreadable one is logged and left in place for a human,
    /// rather than stopping the agent from serving its host.
    pub(crate) fn load_all(&self) -> io::Result<Vec<TaskRecord>> {
        let mut records = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.ends_with(".json.tmp") {
                // A write the agent did not finish; the record it replaced is still there.
                let _ = fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let parsed = fs::read(&path)
                .map_err(|error| error.to_string())
                .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()));
            match parsed {
                Ok(record) => records.push(record),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "skipping an unreadable task record");
                }
            }
        }
        records.sort_by_key(TaskRecord::key);
        Ok(records)
    }

    fn path(&self, key: TaskKey) -> PathBuf {
        self.dir.join(format!("{}-{}.json", key.task_id, key.attempt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_leftover_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let key = TaskKey {
            task_id: 42,
            attempt: 2,
        };
        let mut record = TaskRecord::new(key, "kafka/broker start");
        record.pgid = Some(1234);
        record.last_seq = 1000;
        record.finished = Some(FinishedRecord::new(17, 5, TaskOutcome::Exited, 0, String::new()));
        store.save(&record).unwrap();
        fs::write(dir.path().join("7-1.json.tmp"), b"{half").unwrap();
        fs::write(dir.path().join("8-1.json"), b"not json").unwrap();

        assert_eq!(store.load_all().unwrap(), [record.clone()]);
        assert!(!dir.path().join("7-1.json.tmp").exists());

        let event = record.finished.as_ref().unwrap().to_event(key);
        assert_eq!(event.seq, 17);
        assert!(matches!(event.kind, Some(Kind::Finished(f)) if f.outcome == TaskOutcome::Exited as i32));

        store.remove(key).unwrap();
        store.remove(key).unwrap();
        assert!(store.load_all().unwrap().is_empty());
    }
}
