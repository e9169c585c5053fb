//! Runs one attempt of a task: prepares its work dir, runs `script.sh` in bash as the leader
//! of a new process group, streams its output, enforces its timeout, obeys cancel and
//! shutdown, and reports how it ended.
//!
//! The script waits at a gate until its process group is on disk: an agent killed between
//! the spawn and that write would otherwise leave a running script no restart can find.
//!
//! Killing is always done to the whole process group (SIGTERM, a grace period, SIGKILL), so
//! the children a script forked die with it. After a script *exits on its own* the group is
//! deliberately left alone: start scripts legitimately leave daemons behind, and those may
//! not all detach with `setsid`. Only a timeout, a cancel or an agent shutdown kills.

use std::{io::Write, path::Path, process::ExitStatus, time::Duration};

use steward_proto::v1::{LogStream, RunTask, TaskOutcome};
use tokio::{
    process::{Child, Command},
    sync::{mpsc, oneshot},
    time::{sleep_until, timeout_at, Instant},
};

use crate::{
    digest,
    journal::Journal,
    lines::{self, Chunk},
    process_group,
    tasks::StopReason,
    workdir::{self, SCRIPT_NAME},
};

/// How long a group has between SIGTERM and SIGKILL.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long output is still collected after the script exits; a daemon it started without
/// redirecting its output keeps the pipes open forever.
pub(crate) const OUTPUT_DRAIN: Duration = Duration::from_secs(2);
/// Waits for the agent's go on stdin, gives the script /dev/null as stdin, and sources it
/// without a PATH search (`sourcepath` off), so `script.sh` names the work dir's file.
const GATED_SCRIPT: &str = "read -r -n 1 _ || exit 125; exec </dev/null; shopt -u sourcepath; . \"$0\"";
/// The PATH every script starts with; the task's env may override it.
const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why the agent killed a script.
#[derive(Debug)]
enum Kill {
    TimedOut(Duration),
    Stopped(StopReason),
}

/// Runs the attempt to its end and reports it through `journal`.
pub(crate) async fn execute(task: RunTask, work_dir: &Path, mut journal: Journal, stop: oneshot::Receiver<StopReason>) {
    // Nothing is written or run before what arrived is shown to be what was approved.
    if let Err(error) = digest::verify(&task) {
        tracing::error!(%error, "task refused: it does not match its approved digest");
        journal.finished(TaskOutcome::Refused, -1, error.to_string());
        return;
    }
    if let Err(error) = workdir::prepare(work_dir, &task.script, &task.files) {
        tracing::warn!(%error, "task refused");
        journal.finished(TaskOutcome::Error, -1, error.to_string());
        return;
    }
    let spawned = std::io::pipe().and_then(|(gate, open)| Ok((command(&task, work_dir, gate).spawn()?, open)));
    let (mut child, mut gate) = match spawned {
        Ok(spawned) => spawned,
        Err(error) => {
            tracing::warn!(%error, "task could not start");
            journal.finished(TaskOutcome::Error, -1, format!("cannot start bash: {error}"));
            return;
        }
    };
    let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) else {
        journal.finished(
            TaskOutcome::Error,
            -1,
            "the script exited before it could be tracked".into(),
        );
        return;
    };
    journal.started(pid);
    // One byte into an empty pipe never blocks. If the script is already gone, the supervisor
    // reports its exit.
    let _ = gate.write_all(b"\n");
    drop(gate);
    tracing::info!(pid, "task started");

    // A few chunks in flight: up to 64 KiB each, and the pipe holds the rest.
    let (sender, mut lines) = mpsc::channel::<Chunk>(4);
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(lines::forward(stdout, LogStream::Stdout, sender.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(lines::forward(stderr, LogStream::Stderr, sender));
    }

    let (status, kill) = supervise(&mut child, pid, task.timeout_secs, stop, &mut lines, &mut journal).await;
    if kill.is_some() || status.is_err() {
        // The script is gone (or beyond our sight); what it forked that is still in the
        // group goes now too, so no orphan outlives a killed task.
        process_group::signal(pid, libc::SIGKILL);
    }
    drain_output(&mut lines, &mut journal).await;

    let (outcome, exit_code, error) = outcome(status, kill);
    tracing::info!(outcome = outcome.as_str_name(), exit_code, error, "task finished");
    journal.finished(outcome, exit_code, error);
}

/// Bash running `script.sh` in the work dir, with a minimal environment, leading its own group,
/// once a byte arrives on `gate` (its stdin until then).
///
/// The script is sourced from `bash -c` rather than started as `bash script.sh`, which would
/// cost a second exec per task; `$0`, `BASH_SOURCE`, line numbers and exit codes are the same.
/// If the gate closes without the byte (the agent died), the script never runs: exit 125.
pub(crate) fn command(task: &RunTask, work_dir: &Path, gate: std::io::PipeReader) -> Command {
    let home = std::env::var_os("HOME").unwrap_or_else(|| work_dir.as_os_str().to_owned());
    let mut command = Command::new(bash());
    command
        .arg("-c")
        .arg(GATED_SCRIPT)
        .arg(SCRIPT_NAME)
        .current_dir(work_dir)
        .env_clear()
        .env("PATH", BASE_PATH)
        .env("HOME", home)
        .env("LANG", "C.UTF-8")
        .envs(&task.env)
        .stdin(gate)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    command
}

/// Where bash is, looked up once per task in the base PATH: the task's env may set a PATH
/// without it, and the script should still start.
fn bash() -> std::path::PathBuf {
    BASE_PATH
        .split(':')
        .map(|dir| Path::new(dir).join("bash"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| "bash".into())
}

/// Forwards output until the script exits, killing its group on timeout or stop.
async fn supervise(
    child: &mut Child,
    pgid: i32,
    timeout_secs: u32,
    mut stop: oneshot::Receiver<StopReason>,
    lines: &mut mpsc::Receiver<Chunk>,
    journal: &mut Journal,
) -> (std::io::Result<ExitStatus>, Option<Kill>) {
    // A timeout of 0 means the command has none.
    let timeout = (timeout_secs > 0).then(|| Duration::from_secs(timeout_secs.into()));
    let far_future = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
    let deadline = sleep_until(timeout.map_or(far_future, |timeout| Instant::now() + timeout));
    let sigkill = sleep_until(far_future);
    tokio::pin!(deadline, sigkill);
    let mut kill: Option<Kill> = None;
    let mut sigkill_armed = false;
    let mut listening_for_stop = true;
    let mut lines_open = true;

    let status = loop {
        // Biased, so a script that never stops printing cannot starve its own timeout; the
        // exit comes before lines so a daemon's endless output cannot hide the exit either.
        tokio::select! {
            biased;
            reason = &mut stop, if listening_for_stop => {
                listening_for_stop = false;
                // An error means the table dropped the sender: nobody will ask anymore.
                if let (Ok(reason), None) = (reason, &kill) {
                    tracing::info!(?reason, "stopping task");
                    kill = Some(Kill::Stopped(reason));
                    terminate(pgid, sigkill.as_mut(), &mut sigkill_armed);
                }
            }
            () = &mut deadline, if timeout.is_some() && kill.is_none() => {
                tracing::warn!(timeout_secs, "task timed out");
                kill = timeout.map(Kill::TimedOut);
                terminate(pgid, sigkill.as_mut(), &mut sigkill_armed);
            }
            () = &mut sigkill, if sigkill_armed => {
                sigkill_armed = false;
                tracing::warn!("task ignored SIGTERM for {KILL_GRACE:?}; sending SIGKILL");
                process_group::signal(pgid, libc::SIGKILL);
            }
            status = child.wait() => break status,
            line = lines.recv(), if lines_open => match line {
                Some((stream, text)) => journal.output(stream, text),
                None => lines_open = false,
            },
        }
    };
    (status, kill)
}

/// SIGTERM to the group now, SIGKILL after the grace period.
fn terminate(pgid: i32, sigkill: std::pin::Pin<&mut tokio::time::Sleep>, armed: &mut bool) {
    process_group::signal(pgid, libc::SIGTERM);
    sigkill.reset(Instant::now() + KILL_GRACE);
    *armed = true;
}

/// Collects what is left of the output, for at most [`OUTPUT_DRAIN`].
async fn drain_output(lines: &mut mpsc::Receiver<Chunk>, journal: &mut Journal) {
    let until = Instant::now() + OUTPUT_DRAIN;
    loop {
        match timeout_at(until, lines.recv()).await {
            Ok(Some((stream, text))) => journal.output(stream, text),
            Ok(None) => return,
            Err(_) => break,
        }
    }
    // Lines already read are kept; the readers go on draining the pipes into the void.
    lines.close();
    while let Ok((stream, text)) = lines.try_recv() {
        journal.output(stream, text);
    }
    tracing::info!("a background process still holds the script's output open; no longer collecting it");
    journal.output(
        LogStream::Stderr,
        "[steward-agent] stopped collecting output: a background process started by the script still holds its stdout/stderr open\n".into(),
    );
}

/// The result the server sees, from how the script ended and whether we killed it.
fn outcome(status: std::io::Result<ExitStatus>, kill: Option<Kill>) -> (TaskOutcome, i32, String) {
    use std::os::unix::process::ExitStatusExt;
    match (kill, status) {
        (Some(Kill::TimedOut(timeout)), _) => (
            TaskOutcome::TimedOut,
            -1,
            format!("timed out after {} s; its process group was killed", timeout.as_secs()),
        ),
        (Some(Kill::Stopped(StopReason::Cancel(reason))), _) => {
            let error = if reason.is_empty() {
                "canceled by the server".to_owned()
            } else {
                format!("canceled: {reason}")
            };
            (TaskOutcome::Canceled, -1, error)
        }
        (Some(Kill::Stopped(StopReason::Shutdown)), _) => (TaskOutcome::Error, -1, "agent shut down".to_owned()),
        (None, Err(error)) => (TaskOutcome::Error, -1, format!("lost track of the script: {error}")),
        (None, Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => (TaskOutcome::Exited, code, String::new()),
            // Killed by someone else (OOM killer, an operator): report it the way a shell would.
            (None, Some(signal)) => (
                TaskOutcome::Exited,
                128 + signal,
                format!("the script was killed by signal {signal}"),
            ),
            (None, None) => (TaskOutcome::Exited, -1, format!("the script ended: {status}")),
        },
    }
}
