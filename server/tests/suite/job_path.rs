//! The approval-gated job path, end to end: real server, real agents, loopback.

use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn rejected_or_unapproved_job_never_reaches_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (server, agents) = testbed(dir.path(), 1).await;
    let marker = dir.path().join("ran");
    let unapproved = server.propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "record", "params": {"file": "/tmp/never"}})).await;
    assert_eq!(unapproved["state"], "PROPOSED");
    let rejected = server.propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "record", "params": {"file": "/tmp/never"}})).await;
    let rid = rejected["id"].as_i64().unwrap();
    let (s, v) = server
        .post(&format!("/api/v1/jobs/{rid}/reject"), json!({"comment": "no"}))
        .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("REJECTED")));
    // A rejected job can no longer be approved, even with its own hash.
    let (s, v) = server
        .post(
            &format!("/api/v1/jobs/{rid}/approve"),
            json!({"plan_hash": rejected["plan_hash"]}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    run_sentinel(&server, "test", "h1").await;
    assert_eq!(
        agents[0].tasks_received(),
        1,
        "the agent received a task that was never approved (only the sentinel was)"
    );
    assert!(!marker.exists());
    let (_, v) = server.get(&format!("/api/v1/jobs/{}", unapproved["id"])).await;
    assert_eq!(v["state"], "PROPOSED");
    assert!(tasks(&v).iter().all(|t| t["state"] == "PENDING" && t["attempt"] == 0));
}

#[tokio::test]
async fn approval_with_a_wrong_or_stale_plan_hash_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (server, agents) = testbed(dir.path(), 2).await;
    let a = server
        .propose(
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"]}),
        )
        .await;
    let b = server
        .propose(
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h2"]}),
        )
        .await;
    assert_ne!(a["plan_hash"], b["plan_hash"]);
    let id = a["id"].as_i64().unwrap();
    for wrong in [json!("0".repeat(64)), b["plan_hash"].clone(), json!("")] {
        let (s, v) = server
            .post(&format!("/api/v1/jobs/{id}/approve"), json!({"plan_hash": wrong}))
            .await;
        assert_eq!(s, 409, "{v}");
        assert_eq!(v["error"]["code"], "plan_hash_mismatch");
    }
    run_sentinel(&server, "test", "h2").await;
    let (_, v) = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(v["state"], "PROPOSED");
    assert_eq!((agents[0].tasks_received(), agents[1].tasks_received()), (0, 1));
    // The right hash runs it, on h1 only.
    server.approve(&a).await;
    let done = server.wait_done(id, 30).await;
    assert_eq!(done["state"], "SUCCESSFUL", "{done}");
    assert_eq!((agents[0].tasks_received(), agents[1].tasks_received()), (1, 1));
}

#[tokio::test]
async fn approved_job_streams_its_logs_in_order_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _agents) = testbed(dir.path(), 1).await;
    let job = server.propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "params": {"lines": 500}})).await;
    let id = job["id"].as_i64().unwrap();
    let tid = tasks(&job)[0]["id"].as_i64().unwrap();
    // Follow before approving: the SSE stream must deliver every line, in order, then end.
    let url = server.url(&format!("/api/v1/jobs/{id}/tasks/{tid}/logs?follow=true"));
    let token = server.token.clone();
    let follower = tokio::spawn(async move {
        use eventsource_stream::Eventsource;
        use futures::StreamExt;
        let resp = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
        let mut s = resp.bytes_stream().eventsource();
        let mut lines = vec![];
        let mut end = None;
        while let Some(Ok(ev)) = s.next().await {
            let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
            match ev.event.as_str() {
                "log" => lines.push((v["seq"].as_i64().unwrap(), v["line"].as_str().unwrap().to_owned())),
                "end" => {
                    end = Some(v);
                    break;
                }
                _ => {}
            }
        }
        (lines, end)
    });
    // No wait for the follower: it subscribes before reading what is stored, so whenever it
    // starts, every line is in one or the other.
    server.approve(&job).await;
    let done = server.wait_done(id, 30).await;
    assert_eq!(done["state"], "SUCCESSFUL", "{done}");
    let (lines, end) = tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(end.unwrap()["state"], "SUCCESSFUL");
    let stdout: Vec<&str> = lines
        .iter()
        .map(|(_, l)| l.as_str())
        .filter(|l| l.starts_with("line "))
        .collect();
    let expected: Vec<String> = (1..=500).map(|i| format!("line {i}")).collect();
    assert_eq!(stdout, expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(lines.windows(2).all(|w| w[0].0 < w[1].0), "seq must increase");
    assert!(lines.iter().any(|(_, l)| l == "to stderr"));
    let text = server.text(&format!("/api/v1/jobs/{id}/tasks/{tid}/logs")).await;
    // The same lines in the same order as the stream; where stderr's line falls among stdout's
    // depends on which pipe the agent read first, not on the order the script wrote them.
    let followed: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), followed);
}

/// Runs the test stack's `echo` of `lines` lines on the one host and returns its stored log.
async fn echo_log(server: &Server, lines: u32) -> String {
    let job = server
        .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "params": {"lines": lines}}))
        .await;
    let id = job["id"].as_i64().unwrap();
    let tid = tasks(&job)[0]["id"].as_i64().unwrap();
    server.approve(&job).await;
    let done = server.wait_done(id, 120).await;
    assert_eq!(done["state"], "SUCCESSFUL", "{done}");
    server.text(&format!("/api/v1/jobs/{id}/tasks/{tid}/logs")).await
}

#[tokio::test]
async fn a_bulk_output_is_stored_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _agents) = testbed(dir.path(), 1).await;
    let text = echo_log(&server, 100_000).await;
    let stdout: Vec<&str> = text.lines().filter(|l| *l != "to stderr").collect();
    let expected: Vec<String> = (1..=100_000).map(|i| format!("line {i}")).collect();
    assert!(
        stdout == expected,
        "{} lines of stdout stored, expected 100000",
        stdout.len()
    );
    assert_eq!(text.lines().filter(|l| *l == "to stderr").count(), 1);
}

#[tokio::test]
async fn a_runaway_output_is_stored_as_its_head_and_tail_with_the_cut_marked() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _agents) = testbed_with(dir.path(), 1, &[("STEWARD_TASK_LOG_MAX_BYTES", "65536")]).await;
    let text = echo_log(&server, 100_000).await;
    let lines: Vec<&str> = text.lines().collect();
    // About 1.2 MB were printed; 32 KiB are kept from the start, and from the end 32 KiB or
    // the last chunk the agent sent (at most 80 KiB), whichever is more.
    let stored: usize = lines.iter().map(|l| l.len() + 1).sum();
    assert!(stored <= 32768 + 81920 + 200, "{stored} bytes stored");
    assert_eq!(lines[0], "line 1", "the head is kept");
    assert!(
        lines.contains(&"line 100000"),
        "the tail is kept: {:?}",
        &lines[lines.len() - 3..]
    );
    let marks: Vec<&&str> = lines.iter().filter(|l| l.contains("output truncated here")).collect();
    assert_eq!(marks.len(), 1, "one marker where the cut is: {marks:?}");
    let at = lines.iter().position(|l| l.contains("output truncated here")).unwrap();
    assert!(
        lines[at - 1].starts_with("line ") && lines[at + 1].starts_with("line "),
        "{:?}",
        &lines[at - 1..=at + 1]
    );
    let n = |l: &str| l.strip_prefix("line ").and_then(|n| n.parse::<u32>().ok());
    assert!(
        n(lines[at + 1]).unwrap() > n(lines[at - 1]).unwrap() + 1000,
        "the middle is gone"
    );
}

#[tokio::test]
async fn stages_run_in_dag_order_and_a_level_runs_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _agents) = testbed(dir.path(), 3).await;
    let stamp = |n: &str| format!("/tmp/steward-dag-{}-{n}", std::process::id());
    let plan = json!({"cluster": "test", "stages": [
        {"name": "first", "service": "app", "component": "worker", "command": "record", "hosts": ["h1", "h2"], "params": {"file": stamp("first"), "sleep": "1"}},
        {"name": "left", "service": "app", "component": "worker", "command": "record", "hosts": ["h1"], "params": {"file": stamp("left"), "sleep": "1"}, "depends_on": ["first"]},
        {"name": "right", "service": "app", "component": "worker", "command": "record", "hosts": ["h3"], "params": {"file": stamp("right"), "sleep": "1"}, "depends_on": ["first"]},
        {"name": "last", "service": "app", "component": "worker", "command": "echo", "hosts": ["h2"], "depends_on": ["left", "right"]}
    ]});
    let done = server.run_job(plan, 60).await;
    assert_eq!(done["state"], "SUCCESSFUL", "{done}");
    // Each run appends "host start" and "host end" lines: one (start, end) per host.
    let read = |n: &str| -> Vec<(f64, f64)> {
        let text = std::fs::read_to_string(stamp(n)).unwrap();
        let mut by_host: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
        for l in text.lines() {
            let (h, t) = l.split_once(' ').unwrap();
            by_host.entry(h.to_owned()).or_default().push(t.parse().unwrap());
        }
        by_host.values().map(|v| (v[0], v[1])).collect()
    };
    let (first, left, right) = (read("first"), read("left"), read("right"));
    assert_eq!(first.len(), 2, "one run per host");
    // Both hosts of a stage ran at the same time.
    assert!(
        first[0].0 < first[1].1 && first[1].0 < first[0].1,
        "tasks of one stage did not overlap: {first:?}"
    );
    // The next level started only after the whole first stage ended…
    let first_end = first.iter().map(|p| p.1).fold(0.0, f64::max);
    assert!(left[0].0 >= first_end && right[0].0 >= first_end);
    // …and its two independent stages overlapped.
    assert!(
        left[0].0 < right[0].1 && right[0].0 < left[0].1,
        "independent stages did not overlap: {left:?} {right:?}"
    );
    let last = &done["stages"][3];
    assert!(last["started_at"].as_str().unwrap() >= done["stages"][1]["finished_at"].as_str().unwrap());
    for n in ["first", "left", "right"] {
        let _ = std::fs::remove_file(stamp(n));
    }
}

#[tokio::test]
async fn a_failed_stage_fails_the_job_and_cancels_later_stages() {
    let dir = tempfile::tempdir().unwrap();
    let (server, agents) = testbed(dir.path(), 2).await;
    let plan = json!({"cluster": "test", "stages": [
        {"name": "breaks", "service": "app", "component": "worker", "command": "fail", "hosts": ["h1"]},
        {"name": "after", "service": "app", "component": "worker", "command": "echo", "hosts": ["h2"], "depends_on": ["breaks"]},
        {"name": "later", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1", "h2"], "depends_on": ["after"]}
    ]});
    let done = server.run_job(plan, 30).await;
    assert_eq!(done["state"], "FAILED");
    assert!(done["error"].as_str().unwrap().contains("h1"), "{}", done["error"]);
    assert_eq!(done["stages"][0]["state"], "FAILED");
    assert_eq!(done["stages"][0]["tasks"][0]["exit_code"], 3);
    for i in [1, 2] {
        assert_eq!(done["stages"][i]["state"], "CANCELED");
        assert!(done["stages"][i]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "CANCELED"));
    }
    assert_eq!(agents[1].tasks_received(), 0, "a canceled stage reached an agent");
}

#[tokio::test]
async fn a_task_past_its_timeout_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _agents) = testbed(dir.path(), 1).await;
    let job = server
        .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "hang"}))
        .await;
    let started = std::time::Instant::now();
    server.approve(&job).await;
    let done = server.wait_done(job["id"].as_i64().unwrap(), 30).await;
    assert_eq!(done["state"], "FAILED");
    assert_eq!(tasks(&done)[0]["state"], "TIMED_OUT", "{done}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the 2 s timeout took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn cancel_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _agents) = testbed(dir.path(), 1).await;
    let pidfile = format!("/tmp/steward-orphan-{}", std::process::id());
    let _ = std::fs::remove_file(&pidfile);
    let job = server.propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "orphan", "params": {"pidfile": pidfile}})).await;
    let id = job["id"].as_i64().unwrap();
    server.approve(&job).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let pids: Vec<i32> = loop {
        if let Ok(t) = std::fs::read_to_string(&pidfile) {
            let p: Vec<i32> = t.lines().filter_map(|l| l.parse().ok()).collect();
            if p.len() == 2 {
                break p;
            }
        }
        assert!(std::time::Instant::now() < deadline, "the script never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(pids.iter().all(|p| pid_alive(*p)));
    let (s, v) = server.post(&format!("/api/v1/jobs/{id}/cancel"), json!({})).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("CANCELED")), "{v}");
    let done = server.wait_done(id, 30).await;
    assert_eq!(done["state"], "CANCELED");
    assert_eq!(tasks(&done)[0]["state"], "CANCELED");
    // The agent kills the group (TERM, then KILL after its grace): wait for that, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while let Some(p) = pids.iter().find(|p| pid_alive(**p)) {
        assert!(
            std::time::Instant::now() < deadline,
            "process {p} of the canceled task survived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_file(&pidfile);
    // A finished job cannot be canceled again.
    let (s, _) = server.post(&format!("/api/v1/jobs/{id}/cancel"), json!({})).await;
    assert_eq!(s, 409);
}

#[tokio::test]
async fn server_killed_mid_job_finishes_once_with_its_full_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _agents) = testbed(dir.path(), 1).await;
    let job = server.propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "slow", "params": {"ticks": 40}})).await;
    let id = job["id"].as_i64().unwrap();
    let tid = tasks(&job)[0]["id"].as_i64().unwrap();
    server.approve(&job).await;
    server.wait_job(id, 20, |v| v["state"] == "RUNNING").await;
    // Restart mid-task: once some ticks are stored, not after a guessed delay.
    let log = format!("/api/v1/jobs/{id}/tasks/{tid}/logs");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.text(&log).await.lines().count() < 5 {
        assert!(std::time::Instant::now() < deadline, "the task logged nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.restart();
    let done = server.wait_done(id, 60).await;
    assert_eq!(done["state"], "SUCCESSFUL", "{done}");
    let text = server.text(&format!("/api/v1/jobs/{id}/tasks/{tid}/logs")).await;
    let expected: Vec<String> = (1..=40).map(|i| format!("tick {i}")).collect();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        expected.iter().map(String::as_str).collect::<Vec<_>>(),
        "every line, once, in order"
    );
    assert_eq!(tasks(&done)[0]["attempt"], 1, "the task ran once");
}

#[tokio::test]
async fn agent_killed_mid_task_is_reported_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut agents) = testbed(dir.path(), 1).await;
    let pidfile = format!("/tmp/steward-agentkill-{}", std::process::id());
    let _ = std::fs::remove_file(&pidfile);
    let job = server.propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "orphan", "params": {"pidfile": pidfile}})).await;
    let id = job["id"].as_i64().unwrap();
    server.approve(&job).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&pidfile)
        .map(|t| t.lines().count())
        .unwrap_or(0)
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "the script never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    agents[0].restart();
    let done = server.wait_done(id, 30).await;
    assert_eq!(done["state"], "FAILED", "{done}");
    let t = &tasks(&done)[0];
    assert_eq!(t["state"], "FAILED");
    assert!(t["error"].as_str().is_some_and(|e| !e.is_empty()), "{t}");
    let pids: Vec<i32> = std::fs::read_to_string(&pidfile)
        .unwrap()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    // The restarted agent kills what its journal says was running: wait for that, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while let Some(p) = pids.iter().find(|p| pid_alive(**p)) {
        assert!(
            std::time::Instant::now() < deadline,
            "process {p} outlived the agent restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_file(&pidfile);
}

#[tokio::test]
async fn templates_and_params_reach_the_script_as_files_and_env() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _agents) = testbed(dir.path(), 2).await;
    let file = format!("/tmp/steward-tpl-{}", std::process::id());
    let job = server.propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "record", "hosts": ["h2"], "params": {"file": file}})).await;
    let t = &tasks(&job)[0];
    assert_eq!(t["env"]["STEWARD_PARAM_FILE"], file.as_str());
    let script = job["stages"][0]["script"].as_str().unwrap();
    assert!(
        script.contains("STEWARD_PARAM_FILE") && !script.contains(&file),
        "parameters never enter script text"
    );
    assert_eq!(job["stages"][0]["shared_files"], json!(["lib/common.sh"]));
    assert_eq!(t["files"], json!(["app.conf"]));
    server.approve(&job).await;
    let id = job["id"].as_i64().unwrap();
    assert_eq!(server.wait_done(id, 30).await["state"], "SUCCESSFUL");
    let text = server.text(&format!("/api/v1/jobs/{id}/tasks/{}/logs", t["id"])).await;
    assert!(text.contains("[lib] recording"), "{text}");
    assert!(text.contains("greeting=hello host=h2 ordinal=2"), "{text}");
    // The ids are in the stored environment the digest covers, not added at dispatch.
    assert_eq!(t["env"]["STEWARD_TASK_ID"], t["id"].to_string());
    assert_eq!(t["env"]["STEWARD_JOB_ID"], id.to_string());
    assert!(text.contains(&format!("task {} of job {id}", t["id"])), "{text}");
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn an_agent_refuses_a_script_changed_after_approval_and_the_refusal_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (server, agents) = testbed(dir.path(), 1).await;
    let marker = dir.path().join("tampered");
    let job = server
        .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "params": {"lines": 1}}))
        .await;
    let id = job["id"].as_i64().unwrap();
    // Someone with write access to the database swaps the stored script; the job's plan hash
    // (and the task's digest in it) still say what was reviewed.
    let db = sea_orm::Database::connect(database_url(&server.data)).await.unwrap();
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!(
        "UPDATE stages SET script = 'touch {}' WHERE job_id = {id}",
        marker.display()
    ))
    .await
    .unwrap();
    server.approve(&job).await;
    let done = server.wait_done(id, 30).await;
    assert_eq!(done["state"], "FAILED", "{done:#}");
    let task = &tasks(&done)[0];
    let error = task["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("refused by the agent") && error.contains("changed after approval"),
        "{error}"
    );
    assert!(!marker.exists(), "the swapped script ran");
    assert_eq!(agents[0].tasks_received(), 1);
    let (_, audit) = server.get("/api/v1/audit?action=task.refused").await;
    let audit = audit.as_array().unwrap().clone();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["target"], format!("task:{}", task["id"]));
    assert_eq!(audit[0]["details"]["host"], "h1");
}

#[tokio::test]
async fn an_agent_refuses_an_environment_changed_after_approval() {
    let dir = tempfile::tempdir().unwrap();
    let (server, agents) = testbed(dir.path(), 1).await;
    let job = server
        .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "params": {"lines": 1}}))
        .await;
    let id = job["id"].as_i64().unwrap();
    // The task's own ids are part of what was approved: a row that claims to be another
    // task no longer matches its digest. (Read from the row: the view masks secrets.)
    let db = sea_orm::Database::connect(database_url(&server.data)).await.unwrap();
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT env FROM task_specs WHERE job_id = {id}"),
        ))
        .await
        .unwrap()
        .unwrap();
    let mut env: serde_json::Value = row.try_get("", "env").unwrap();
    assert_eq!(env["STEWARD_TASK_ID"], tasks(&job)[0]["id"].to_string());
    env["STEWARD_TASK_ID"] = json!("999999");
    db.execute_unprepared(&format!("UPDATE task_specs SET env = '{env}' WHERE job_id = {id}"))
        .await
        .unwrap();
    server.approve(&job).await;
    let done = server.wait_done(id, 30).await;
    assert_eq!(done["state"], "FAILED", "{done:#}");
    let error = tasks(&done)[0]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("changed after approval"), "{error}");
    assert_eq!(agents[0].tasks_received(), 1);
}

#[tokio::test]
async fn the_event_feed_replays_a_bounded_tail_of_a_long_log() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _agents) = testbed(dir.path(), 1).await;
    let job = server
        .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "params": {"lines": 6000}}))
        .await;
    server.approve(&job).await;
    let id = job["id"].as_i64().unwrap();
    assert_eq!(server.wait_done(id, 60).await["state"], "SUCCESSFUL");
    // A finished job's feed is its replay, then the end of the stream.
    let body = server.text(&format!("/api/v1/events?job={id}")).await;
    let logs = body.matches("event: log\n").count();
    assert_eq!(logs, 5000, "the replay is bounded");
    assert_eq!(body.matches("event: truncated\n").count(), 1, "and says so");
    assert!(body.contains("line 6000"), "it is the tail that is replayed");
    let last = body.trim_end().rsplit("\n\n").next().unwrap_or_default();
    assert!(
        last.starts_with("event: job\n") && last.contains(r#""finished":true"#),
        "the feed ends with the job's end: {last}"
    );
    // The whole log is still there.
    let task = tasks(&server.wait_done(id, 1).await)[0]["id"].as_i64().unwrap();
    let all = server.text(&format!("/api/v1/jobs/{id}/tasks/{task}/logs")).await;
    assert!(all.lines().count() >= 6000);
}

#[tokio::test]
async fn a_component_takes_the_state_its_command_declares() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _agents) = testbed(dir.path(), 1).await;
    let state = |v: &Value| v["components"][0]["state"].clone();
    let (_, before) = server.get("/api/v1/hosts/h1").await;
    // `echo` says `leads_to = "STARTED"`: the name is nothing to the engine.
    let done = server
        .run_job(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "params": {"lines": 1}}), 30)
        .await;
    assert_eq!(done["state"], "SUCCESSFUL");
    let (_, host) = server.get("/api/v1/hosts/h1").await;
    assert_eq!(state(&host), "STARTED", "before: {before}");
    // `fail` says `leads_to_on_failure = "STOPPED"`.
    let done = server
        .run_job(
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "fail", "hosts": ["h1"]}),
            30,
        )
        .await;
    assert_eq!(done["state"], "FAILED");
    let (_, host) = server.get("/api/v1/hosts/h1").await;
    assert_eq!(state(&host), "STOPPED");
    // `slow` declares nothing: the state stays.
    server
        .run_job(json!({"cluster": "test", "service": "app", "component": "worker", "command": "slow", "hosts": ["h1"], "params": {"ticks": 1}}), 30)
        .await;
    let (_, host) = server.get("/api/v1/hosts/h1").await;
    assert_eq!(state(&host), "STOPPED");
}
