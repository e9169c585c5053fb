//! What an agent sends is checked: replayed, stale and out-of-order task events are ignored
//! and counted, events for another host's task change nothing, and oversized lines are cut.
//! The "agent" here is a raw gRPC session, so the test controls every message.

use std::time::Duration;

use crate::common::*;
use serde_json::json;
use steward_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

fn event(task_id: i64, attempt: u32, seq: u64, kind: pb::task_event::Kind) -> pb::AgentMessage {
    pb::AgentMessage {
        msg: Some(pb::agent_message::Msg::TaskEvent(pb::TaskEvent {
            task_id,
            attempt,
            seq,
            at_ms: 0,
            kind: Some(kind),
        })),
    }
}

fn log(line: &str) -> pb::task_event::Kind {
    pb::task_event::Kind::Log(pb::TaskLog {
        stream: pb::LogStream::Stdout as i32,
        line: line.into(),
    })
}

async fn ignored_count(server: &Server) -> u64 {
    let text = server.text("/metrics").await;
    text.lines()
        .find(|l| l.starts_with("steward_agent_task_events_ignored_total "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("the metric is exported")
}

/// Opens a raw session as `hostname` with the shared token; returns its sender and the
/// server's stream after the welcome.
async fn raw_session(
    server: &Server,
    hostname: &str,
) -> (mpsc::Sender<pb::AgentMessage>, tonic::Streaming<pb::ServerMessage>) {
    let (tx, rx) = mpsc::channel(64);
    tx.send(pb::AgentMessage {
        msg: Some(pb::agent_message::Msg::Hello(pb::Hello {
            hostname: hostname.into(),
            agent_version: "raw-test".into(),
            facts: None,
            tasks: vec![],
        })),
    })
    .await
    .unwrap();
    let mut client = pb::agent_service_client::AgentServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    let mut req = tonic::Request::new(ReceiverStream::new(rx));
    req.metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let mut inbound = client.session(req).await.unwrap().into_inner();
    let welcome = inbound.message().await.unwrap().unwrap();
    assert!(
        matches!(welcome.msg, Some(pb::server_message::Msg::Welcome(_))),
        "{welcome:?}"
    );
    (tx, inbound)
}

/// The next run-task the server sends on `inbound`.
async fn next_run_task(inbound: &mut tonic::Streaming<pb::ServerMessage>) -> pb::RunTask {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), inbound.message()).await;
        if let Some(pb::server_message::Msg::RunTask(r)) = m.unwrap().unwrap().unwrap().msg {
            return r;
        }
    }
}

#[tokio::test]
async fn replayed_stale_and_foreign_task_events_are_ignored_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    server.cluster("test", &["h1", "h2"]).await;

    let (tx, mut inbound) = raw_session(&server, "h1").await;
    server.wait_online("h1").await;

    let job = server
        .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "params": {"lines": 1}}))
        .await;
    server.approve(&job).await;
    let run = next_run_task(&mut inbound).await;
    let (id, attempt) = (run.task_id, run.attempt);
    let before = ignored_count(&server).await;

    let long = "x".repeat(100_000);
    for m in [
        event(
            id,
            attempt,
            1,
            pb::task_event::Kind::Started(pb::TaskStarted { pid: 1 }),
        ),
        event(id, attempt, 2, log("first")),
        event(id, attempt, 2, log("replayed with the same seq")),
        event(id, attempt, 1, log("stale: an older seq")),
        event(id, attempt + 7, 3, log("from an attempt that does not exist")),
        event(id, attempt, 3, log(&long)),
        event(
            id,
            attempt,
            4,
            pb::task_event::Kind::Finished(pb::TaskFinished {
                outcome: pb::TaskOutcome::Exited as i32,
                exit_code: 0,
                error: String::new(),
            }),
        ),
        event(id, attempt, 5, log("after the end")),
    ] {
        tx.send(m).await.unwrap();
    }
    let done = server.wait_done(job["id"].as_i64().unwrap(), 20).await;
    assert_eq!(done["state"], "SUCCESSFUL", "{done}");
    // Started and finished arrive back to back, usually in one engine batch, which writes
    // the task once: both times must still be stored.
    let task = &done["stages"][0]["tasks"][0];
    let (started, finished) = (task["started_at"].as_str(), task["finished_at"].as_str());
    assert!(started.is_some() && finished.is_some() && started <= finished, "{task}");
    // A barrier, not a sleep: one stream's messages are handled in order, so once a metric
    // sent after "after the end" is visible, that line has been handled too.
    send_disk(&tx, 1, 12.5).await;
    wait_for(&server, "/api/v1/hosts/h1/metrics/series", 20, |v| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|s| s["name"] == "disk_used_pct"))
    })
    .await;

    let text = server
        .text(&format!("/api/v1/jobs/{}/tasks/{id}/logs", job["id"]))
        .await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text:.300}");
    assert!(lines[0].ends_with("first"));
    assert!(
        lines[1].len() < 20_000 && lines[1].ends_with("[cut]"),
        "an oversized line is cut"
    );
    assert!(
        ignored_count(&server).await >= before + 2,
        "the replay and the stale event are counted"
    );

    // A second host's session cannot touch h1's task: its events are ignored and counted.
    let (tx2, _inbound2) = raw_session(&server, "h2").await;
    let job2 = server
        .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "slow", "hosts": ["h1"], "params": {"ticks": 1}}))
        .await;
    server.approve(&job2).await;
    let run2 = next_run_task(&mut inbound).await;
    let before = ignored_count(&server).await;
    tx2.send(event(
        run2.task_id,
        run2.attempt,
        1,
        pb::task_event::Kind::Finished(pb::TaskFinished {
            outcome: pb::TaskOutcome::Exited as i32,
            exit_code: 0,
            error: String::new(),
        }),
    ))
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while ignored_count(&server).await < before + 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "h2's event was never counted as ignored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ignored_count(&server).await, before + 1);
    let (_, j2) = server.get(&format!("/api/v1/jobs/{}", job2["id"])).await;
    assert_ne!(
        j2["stages"][0]["tasks"][0]["state"], "SUCCESSFUL",
        "h2 cannot finish h1's task: {j2}"
    );
    assert_eq!(j2["state"], "RUNNING", "{j2}");
}
