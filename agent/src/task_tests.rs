//! Tasks run end to end on real processes: the runner, executor, journal, table and the
//! records on disk together, as the session drives them (the session itself needs the real
//! server and is covered by the server's end-to-end tests).

use std::{
    fs,
    os::unix::process::{CommandExt, ExitStatusExt},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use steward_proto::v1::{
    task_event::Kind, CancelTask, LogStream, RunTask, TaskAck, TaskEvent, TaskFile, TaskFinished, TaskOutcome,
};
use tempfile::TempDir;
use tokio::time::{sleep, Instant};

use crate::{
    process_group,
    recovery::{self, KILLED_ON_RESTART, LOST_ON_RESTART},
    runner::{Admission, TaskRunner},
    state::{StateStore, TaskRecord},
    tasks::{TaskKey, TaskTable},
};

/// An agent's task machinery over a fresh data dir.
struct Agent {
    root: TempDir,
    table: Arc<TaskTable>,
    store: StateStore,
    runner: TaskRunner,
}

impl Agent {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        Self::over(root)
    }

    /// An agent starting over an existing data dir, as after a restart.
    fn over(root: TempDir) -> Self {
        let store = StateStore::open(&root.path().join("state")).unwrap();
        let table = Arc::new(TaskTable::default());
        recovery::recover(&store, &table).unwrap();
        let runner = TaskRunner::new(table.clone(), store.clone(), root.path().join("tasks"));
        Self {
            root,
            table,
            store,
            runner,
        }
    }

    fn tasks_dir(&self) -> PathBuf {
        self.root.path().join("tasks")
    }

    /// Waits for the attempt's finished event and returns all its events.
    async fn finished(&self, key: TaskKey) -> Vec<TaskEvent> {
        self.wait_until(key, |events| events.last().is_some_and(|e| finished(e).is_some()))
            .await
    }

    /// Waits until the script has printed `line`.
    async fn printed(&self, key: TaskKey, line: &str) {
        self.wait_until(key, |events| lines(events, LogStream::Stdout).iter().any(|l| l == line))
            .await;
    }

    async fn wait_until(&self, key: TaskKey, done: impl Fn(&[TaskEvent]) -> bool) -> Vec<TaskEvent> {
        let deadline = Instant::now() + Duration::from_secs(9);
        loop {
            let events = self.table.events(key);
            if done(&events) {
                return events;
            }
            assert!(Instant::now() < deadline, "gave up waiting; events so far: {events:#?}");
            sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Runs a task as the server sends it: carrying the digest of what it holds.
trait RunSealed {
    fn run_sealed(&self, task: RunTask) -> Admission;
}

impl RunSealed for TaskRunner {
    fn run_sealed(&self, mut task: RunTask) -> Admission {
        task.task_files = task.files.len() as u32;
        task.digest = crate::digest::of(&task).unwrap();
        self.run(task)
    }
}

fn task(task_id: i64, script: &str) -> RunTask {
    RunTask {
        task_id,
        attempt: 1,
        script: script.to_owned(),
        label: "test/component command".to_owned(),
        ..RunTask::default()
    }
}

fn key(task_id: i64) -> TaskKey {
    TaskKey { task_id, attempt: 1 }
}

fn finished(event: &TaskEvent) -> Option<&TaskFinished> {
    match &event.kind {
        Some(Kind::Finished(finished)) => Some(finished),
        _ => None,
    }
}

fn pid(events: &[TaskEvent]) -> i32 {
    match events.first().and_then(|e| e.kind.as_ref()) {
        Some(Kind::Started(started)) => started.pid,
        other => panic!("first event is not started: {other:?}"),
    }
}

fn lines(events: &[TaskEvent], stream: LogStream) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            Some(Kind::Output(output)) if output.stream == stream as i32 => {
                Some(output.text.lines().map(str::to_owned))
            }
            _ => None,
        })
        .flatten()
        .collect()
}

fn outcome(events: &[TaskEvent]) -> (TaskOutcome, i32, String) {
    let finished = events.last().and_then(finished).expect("a finished event last");
    (finished.outcome(), finished.exit_code, finished.error.clone())
}

/// Whether every process of the group is gone. Polls, because a killed process counts for
/// `kill(-pgid, 0)` until it is reaped, and an orphan's reaper (PID 1) may take its time.
async fn group_is_gone(pgid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // SAFETY: signal 0 only probes for existence.
        let gone = unsafe { libc::killpg(pgid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        sleep(Duration::from_millis(50)).await;
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn output_lines_arrive_in_order_with_increasing_seq_and_the_exit_code_is_reported() {
    let agent = Agent::new();
    let script = "for i in 1 2 3 4 5; do echo \"out $i\"; echo \"err $i\" >&2; done\nprintf 'no newline'\n";
    assert_eq!(agent.runner.run_sealed(task(1, script)), Admission::Started);
    let events = agent.finished(key(1)).await;

    assert!(pid(&events) > 1);
    // A seq per line: a chunk carries the seq of its last line.
    let mut seq = 0;
    for event in &events {
        seq += match &event.kind {
            Some(Kind::Output(output)) => output.text.lines().count() as u64,
            _ => 1,
        };
        assert_eq!(event.seq, seq);
    }
    assert!(events.iter().all(|e| e.task_id == 1 && e.attempt == 1 && e.at_ms > 0));
    assert_eq!(
        lines(&events, LogStream::Stdout),
        ["out 1", "out 2", "out 3", "out 4", "out 5", "no newline"]
    );
    assert_eq!(
        lines(&events, LogStream::Stderr),
        ["err 1", "err 2", "err 3", "err 4", "err 5"]
    );
    assert_eq!(outcome(&events), (TaskOutcome::Exited, 0, String::new()));
}

#[tokio::test]
async fn a_non_zero_exit_is_reported_with_its_code() {
    let agent = Agent::new();
    agent.runner.run_sealed(task(2, "echo 'no such service' >&2\nexit 3\n"));
    let events = agent.finished(key(2)).await;
    assert_eq!(lines(&events, LogStream::Stderr), ["no such service"]);
    assert_eq!(outcome(&events), (TaskOutcome::Exited, 3, String::new()));
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let agent = Agent::new();
    let started = Instant::now();
    agent.runner.run_sealed(RunTask {
        timeout_secs: 1,
        ..task(3, "sleep 300 &\necho started\nsleep 300\n")
    });
    let events = agent.finished(key(3)).await;
    let (outcome, exit_code, error) = outcome(&events);
    assert_eq!((outcome, exit_code), (TaskOutcome::TimedOut, -1));
    assert!(error.contains("timed out after 1 s"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "SIGTERM should have been enough"
    );
    assert!(group_is_gone(pid(&events)).await, "a process of the group survived");
}

#[tokio::test]
async fn cancel_kills_the_whole_process_group() {
    let agent = Agent::new();
    agent
        .runner
        .run_sealed(task(4, "sleep 300 &\necho started\nsleep 300\n"));
    agent.printed(key(4), "started").await;
    agent.runner.cancel(&CancelTask {
        task_id: 4,
        attempt: 1,
        reason: "operator canceled job 9".into(),
    });
    let events = agent.finished(key(4)).await;
    let (outcome, exit_code, error) = outcome(&events);
    assert_eq!((outcome, exit_code), (TaskOutcome::Canceled, -1));
    assert!(error.contains("operator canceled job 9"), "{error}");
    assert!(group_is_gone(pid(&events)).await, "a process of the group survived");
}

#[tokio::test]
async fn a_group_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let agent = Agent::new();
    agent.runner.run_sealed(RunTask {
        timeout_secs: 1,
        ..task(5, "trap '' TERM\nsleep 300 &\nsleep 300\n")
    });
    let events = agent.finished(key(5)).await;
    assert_eq!(outcome(&events).0, TaskOutcome::TimedOut);
    assert!(
        group_is_gone(pid(&events)).await,
        "a process of the group survived SIGKILL"
    );
}

#[tokio::test]
async fn file_paths_outside_the_work_dir_are_refused_and_nothing_is_written() {
    let agent = Agent::new();
    let outside = agent.root.path().join("outside.txt");
    let attempts = [
        (6, "../outside.txt".to_owned()),
        (7, "conf/../../../outside.txt".to_owned()),
        (8, outside.to_string_lossy().into_owned()),
    ];
    for (task_id, path) in &attempts {
        agent.runner.run_sealed(RunTask {
            files: vec![
                TaskFile {
                    path: "fine.conf".into(),
                    content: b"ok".to_vec(),
                    mode: 0,
                },
                TaskFile {
                    path: path.clone(),
                    content: b"escaped".to_vec(),
                    mode: 0o644,
                },
            ],
            ..task(*task_id, "echo should not run\n")
        });
    }
    for (task_id, path) in &attempts {
        let events = agent.finished(key(*task_id)).await;
        assert_eq!(events.len(), 1, "the script must not start: {events:#?}");
        assert_eq!(events[0].seq, 1);
        let (outcome, exit_code, error) = outcome(&events);
        assert_eq!((outcome, exit_code), (TaskOutcome::Error, -1));
        assert!(error.contains(path.as_str()) && error.contains("refused"), "{error}");
    }
    assert!(!outside.exists());
    assert_eq!(
        files_under(agent.root.path())
            .iter()
            .filter(|p| !p.starts_with(agent.root.path().join("state")))
            .count(),
        0
    );
}

#[tokio::test]
async fn files_land_in_a_fresh_work_dir_and_the_script_sees_only_a_minimal_environment() {
    let agent = Agent::new();
    let stale = agent.tasks_dir().join("10-1");
    fs::create_dir_all(&stale).unwrap();
    fs::write(stale.join("left-over"), b"from an earlier run").unwrap();
    let mut run = task(10, "cat conf/app.conf\nls\nenv | cut -d= -f1 | sort\n");
    run.files = vec![TaskFile {
        path: "conf/app.conf".into(),
        content: b"port=9092\n".to_vec(),
        mode: 0o600,
    }];
    run.env.insert("KAFKA_HEAP_OPTS".into(), "-Xmx1g".into());
    agent.runner.run_sealed(run);
    let events = agent.finished(key(10)).await;
    assert_eq!(outcome(&events).0, TaskOutcome::Exited);
    let out = lines(&events, LogStream::Stdout);
    assert_eq!(out[..3], ["port=9092", "conf", "script.sh"]);
    let allowed = ["HOME", "KAFKA_HEAP_OPTS", "LANG", "OLDPWD", "PATH", "PWD", "SHLVL", "_"];
    let names = &out[3..];
    assert!(names.iter().all(|name| allowed.contains(&name.as_str())), "{names:?}");
    assert!(names.iter().any(|name| name == "KAFKA_HEAP_OPTS"));
}

#[tokio::test]
async fn a_task_sent_twice_runs_once() {
    let agent = Agent::new();
    let run = task(11, "echo once\n");
    assert_eq!(agent.runner.run_sealed(run.clone()), Admission::Started);
    assert_eq!(agent.runner.run_sealed(run.clone()), Admission::AlreadyKnown);
    let events = agent.finished(key(11)).await;
    assert_eq!(agent.runner.run_sealed(run), Admission::AlreadyKnown);
    sleep(Duration::from_millis(200)).await;
    assert_eq!(agent.table.events(key(11)), events);
    assert_eq!(lines(&events, LogStream::Stdout), ["once"]);
}

#[tokio::test]
async fn a_daemon_holding_the_output_open_does_not_hold_up_the_result() {
    let agent = Agent::new();
    let started = Instant::now();
    agent.runner.run_sealed(task(12, "sleep 30 &\necho launched\n"));
    let events = agent.finished(key(12)).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(outcome(&events), (TaskOutcome::Exited, 0, String::new()));
    assert_eq!(lines(&events, LogStream::Stdout), ["launched"]);
    let pgid = pid(&events);
    // A script that exits on its own keeps what it started: start scripts start daemons.
    assert!(process_group::exists(pgid), "the background process was killed");
    process_group::signal(pgid, libc::SIGKILL);
}

#[tokio::test]
async fn a_result_survives_a_restart_until_the_server_is_done_with_it() {
    let agent = Agent::new();
    agent.runner.run_sealed(task(13, "echo hello\nexit 4\n"));
    let before = agent.finished(key(13)).await;
    let last = before.last().unwrap().clone();
    let work_dir = agent.tasks_dir().join("13-1");
    assert!(work_dir.join("script.sh").exists());

    let agent = Agent::over(agent.root);
    assert_eq!(agent.table.events(key(13)), std::slice::from_ref(&last));
    let refs = agent.table.refs(true);
    assert_eq!(refs.len(), 1);
    assert_eq!((refs[0].last_seq, refs[0].running), (last.seq, false));

    // Durable but not done: the attempt is still known, so it is not run again.
    agent.runner.ack(&TaskAck {
        task_id: 13,
        attempt: 1,
        seq: last.seq,
        done: false,
    });
    assert!(agent.table.events(key(13)).is_empty());
    assert_eq!(
        agent.runner.run_sealed(task(13, "echo again\n")),
        Admission::AlreadyKnown
    );

    agent.runner.ack(&TaskAck {
        task_id: 13,
        attempt: 1,
        seq: last.seq,
        done: true,
    });
    assert!(agent.store.load_all().unwrap().is_empty());
    let deadline = Instant::now() + Duration::from_secs(5);
    while work_dir.exists() && Instant::now() < deadline {
        sleep(Duration::from_millis(20)).await;
    }
    assert!(!work_dir.exists());
}

#[tokio::test]
async fn a_restarted_agent_kills_the_group_its_predecessor_left_running() {
    let root = tempfile::tempdir().unwrap();
    // The task an agent was running when it was killed: a group leader and a member.
    let mut leader = std::process::Command::new("bash")
        .args(["-c", "sleep 300 & exec sleep 300"])
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = i32::try_from(leader.id()).unwrap();
    let store = StateStore::open(&root.path().join("state")).unwrap();
    let mut record = TaskRecord::new(key(14), "kafka/broker start");
    record.pgid = Some(pgid);
    record.boot_id = process_group::boot_id();
    record.leader_start_ticks = process_group::start_ticks(pgid);
    record.started_at_ms = 1;
    record.last_seq = 7;
    store.save(&record).unwrap();

    let agent = Agent::over(root);

    let status = leader.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(group_is_gone(pgid).await, "a process of the group survived");
    let events = agent.table.events(key(14));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, 8);
    assert_eq!(outcome(&events), (TaskOutcome::Error, -1, KILLED_ON_RESTART.to_owned()));
    let refs = agent.table.refs(true);
    assert_eq!((refs[0].task_id, refs[0].last_seq, refs[0].running), (14, 8, false));
    // The result is on disk before anyone sees it, for the next restart.
    let saved = agent.store.load_all().unwrap();
    assert_eq!(saved[0].finished.as_ref().map(|f| f.seq), Some(8));
}

#[tokio::test]
async fn a_restarted_agent_reports_a_task_whose_processes_already_exited() {
    let root = tempfile::tempdir().unwrap();
    let mut gone = std::process::Command::new("true").process_group(0).spawn().unwrap();
    let pgid = i32::try_from(gone.id()).unwrap();
    gone.wait().unwrap();
    let store = StateStore::open(&root.path().join("state")).unwrap();
    let mut record = TaskRecord::new(key(15), "nginx/server stop");
    record.pgid = Some(pgid);
    record.last_seq = 1000;
    store.save(&record).unwrap();

    let agent = Agent::over(root);
    let events = agent.table.events(key(15));
    assert_eq!(events[0].seq, 1001);
    assert_eq!(outcome(&events), (TaskOutcome::Error, -1, LOST_ON_RESTART.to_owned()));
}

#[tokio::test]
async fn a_recycled_pid_is_not_mistaken_for_the_old_group() {
    let root = tempfile::tempdir().unwrap();
    let mut stranger = std::process::Command::new("sleep")
        .arg("300")
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = i32::try_from(stranger.id()).unwrap();
    let store = StateStore::open(&root.path().join("state")).unwrap();
    let mut record = TaskRecord::new(key(16), "redis/server start");
    record.pgid = Some(pgid);
    record.boot_id = process_group::boot_id();
    // Our leader started at another time: this pid now belongs to someone else.
    record.leader_start_ticks = process_group::start_ticks(pgid).map(|ticks| ticks + 1);
    store.save(&record).unwrap();

    let agent = Agent::over(root);
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "an unrelated process was killed"
    );
    assert_eq!(outcome(&agent.table.events(key(16))).2, LOST_ON_RESTART);
    stranger.kill().unwrap();
    stranger.wait().unwrap();
}

#[tokio::test]
async fn shutdown_kills_running_tasks_and_records_their_result_for_the_next_start() {
    let agent = Agent::new();
    agent
        .runner
        .run_sealed(task(17, "sleep 300 &\necho started\nsleep 300\n"));
    agent.printed(key(17), "started").await;
    tokio::time::timeout(Duration::from_secs(8), agent.runner.shut_down())
        .await
        .expect("shutdown waits only for the kill sequence");
    let events = agent.table.events(key(17));
    assert_eq!(outcome(&events), (TaskOutcome::Error, -1, "agent shut down".to_owned()));
    assert!(group_is_gone(pid(&events)).await);
    assert_eq!(agent.runner.run_sealed(task(18, "true\n")), Admission::ShuttingDown);

    let seq = events.last().unwrap().seq;
    let agent = Agent::over(agent.root);
    let events = agent.table.events(key(17));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, seq);
    assert_eq!(outcome(&events).2, "agent shut down");
}

#[tokio::test]
async fn a_task_that_does_not_match_its_digest_is_refused_before_anything_is_written() {
    let agent = Agent::new();
    let marker = agent.root.path().join("ran");
    let mut run = task(30, &format!("touch {}\n", marker.display()));
    run.digest = crate::digest::of(&task(30, "echo approved\n")).unwrap();
    assert_eq!(agent.runner.run(run), Admission::Started);
    let events = agent.finished(key(30)).await;
    assert_eq!(events.len(), 1, "the script must not start: {events:#?}");
    let (outcome, _, error) = outcome(&events);
    assert_eq!(outcome, TaskOutcome::Refused);
    assert!(error.contains("changed after approval"), "{error}");
    assert!(!marker.exists(), "the unapproved script ran");
    assert!(
        !agent.tasks_dir().join("30-1").join("script.sh").exists(),
        "it was written"
    );
}

#[tokio::test]
async fn a_script_runs_only_once_the_gate_opens_and_never_if_it_closes() {
    // The agent opens the gate once the process group is on disk; an agent that dies before
    // that closes it unopened, and the script must not run unseen.
    let dir = tempfile::tempdir().unwrap();
    let script = "touch ran\ncat\necho \"$0 ${BASH_SOURCE[0]} $LINENO\"\nexit 7\n";
    fs::write(dir.path().join(crate::workdir::SCRIPT_NAME), script).unwrap();
    let run = task(15, script);

    let (gate, open) = std::io::pipe().unwrap();
    let mut child = crate::executor::command(&run, dir.path(), gate).spawn().unwrap();
    sleep(Duration::from_millis(200)).await;
    assert!(
        !dir.path().join("ran").exists(),
        "the script ran before the gate opened"
    );
    drop(open);
    assert_eq!(child.wait().await.unwrap().code(), Some(125));
    assert!(
        !dir.path().join("ran").exists(),
        "the script ran though the gate closed"
    );

    let (gate, mut open) = std::io::pipe().unwrap();
    let mut command = crate::executor::command(&run, dir.path(), gate);
    let child = command.spawn().unwrap();
    std::io::Write::write_all(&mut open, b"\n").unwrap();
    // Held open: the script's stdin is not the gate, or `cat` would wait on it forever.
    let output = tokio::time::timeout(Duration::from_secs(9), child.wait_with_output())
        .await
        .expect("the script read its stdin from the gate")
        .unwrap();
    drop(open);
    assert_eq!(output.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "script.sh script.sh 3\n");
    assert!(dir.path().join("ran").exists());
}
