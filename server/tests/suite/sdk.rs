//! The Rust SDK (`steward-client`) against a real server and agent: log in, read the
//! inventory, propose, approve and follow a job, typed errors, and a streamed chat turn.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::*;
use futures::StreamExt;
use steward_client::operations::{EventsQuery, TaskLogsQuery};
use steward_client::types::{
    ApproveRequest, Channel, ChatEvent, Event, Login, NewConversation, NewMessage, ProposeRequest, Risk, Role,
};
use steward_client::{ChatUpdate, Client, Error, FeedEvent, RetryPolicy, TaskLogEvent};
use steward_llm::testing::{chunk, FakeOpenAi, Reply};

/// An echo of `lines` lines on h1 of cluster `test`.
fn echo(lines: i64) -> ProposeRequest {
    ProposeRequest {
        cluster: "test".into(),
        service: Some("app".into()),
        component: Some("worker".into()),
        command: Some("echo".into()),
        params: Some(BTreeMap::from([("lines".to_owned(), serde_json::json!(lines))])),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_sdk_logs_in_reads_the_inventory_and_follows_an_approved_job_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _agents) = testbed(dir.path(), 1).await;
    let anonymous = Client::new(server.url(""), None);
    let session = anonymous
        .login(&Login {
            username: "admin".into(),
            password: ADMIN_PASSWORD.into(),
        })
        .await
        .unwrap();
    assert_eq!(session.role, Role::Admin);
    let client = anonymous.with_token(session.token);
    assert_eq!(client.me().await.unwrap().name, "admin");

    let stacks = client.list_stacks().await.unwrap();
    let testing = stacks.iter().find(|s| s.name == "testing").expect("the testing stack");
    let worker = &testing.services[0].components[0];
    assert_eq!(
        (testing.services[0].name.as_str(), worker.name.as_str()),
        ("app", "worker")
    );
    let orphan = worker.commands.iter().find(|c| c.name == "orphan").unwrap();
    assert_eq!(orphan.risk, Risk::High);

    let clusters = client.list_clusters().await.unwrap();
    assert_eq!(clusters.len(), 1);
    assert_eq!(clusters[0].name, "test");
    assert_eq!(clusters[0].hosts[0].hostname, "h1");
    let hosts = client.list_hosts().await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].host_view.state, "ONLINE");
    assert_eq!(hosts[0].host_view.cluster.as_deref(), Some("test"));
    let h1 = client.get_host("h1").await.unwrap();
    assert_eq!(h1.host_view.components[0].component, "worker");

    let job = client.propose_job(&echo(3)).await.unwrap();
    assert_eq!(job.job_summary.state, "PROPOSED");
    let task = job.stages[0].tasks[0].id;
    let approval = ApproveRequest {
        plan_hash: job.plan_hash.clone(),
        comment: Some("the SDK test".into()),
    };
    let approved = client.approve_job(job.job_summary.id, &approval).await.unwrap();
    assert_eq!(approved.decided_by.as_deref(), Some("admin"));

    // The job's feed replays what is stored and goes on live until the job ends.
    let events = client
        .event_stream(&EventsQuery {
            job: Some(job.job_summary.id),
        })
        .await
        .unwrap();
    let events: Vec<FeedEvent> = tokio::time::timeout(Duration::from_secs(60), events.collect::<Vec<_>>())
        .await
        .expect("the feed ends when the job does")
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let lines: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            FeedEvent::Event(Event::Log { line, .. }) if line.starts_with("line ") => Some(line.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(lines, ["line 1", "line 2", "line 3"]);
    assert!(
        events.iter().any(|e| matches!(e,
            FeedEvent::Event(Event::Task { task_id, state, exit_code: Some(0), .. }) if *task_id == task && state == "SUCCESSFUL")),
        "{events:?}"
    );
    let Some(FeedEvent::Event(Event::Job { state, finished, .. })) = events.last() else {
        panic!("the feed ends with the job's end: {events:?}")
    };
    assert_eq!((state.as_str(), *finished), ("SUCCESSFUL", Some(true)));

    let text = client
        .task_logs(job.job_summary.id, task, &TaskLogsQuery::default())
        .await
        .unwrap();
    assert!(text.contains("line 3\n"), "{text}");
    let follow = client.follow_task_logs(job.job_summary.id, task).await.unwrap();
    let followed: Vec<TaskLogEvent> = tokio::time::timeout(Duration::from_secs(10), follow.collect::<Vec<_>>())
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(followed.contains(&TaskLogEvent::End {
        state: "SUCCESSFUL".into(),
        exit_code: Some(0),
        error: None
    }));
    assert_eq!(
        followed.iter().filter(|e| matches!(e, TaskLogEvent::Log(_))).count(),
        text.lines().count()
    );
}

#[tokio::test]
async fn api_errors_arrive_as_typed_errors_with_the_servers_code() {
    let dir = tempfile::tempdir().unwrap();
    let stacks = test_stacks(dir.path());
    let server = start_server(&dir.path().join("server"), &stacks, "127.0.0.1:0", "127.0.0.1:0", &[]);
    server.cluster("test", &["h1"]).await;
    let client = Client::new(server.url(""), Some(server.token.clone()));

    let e = client.get_job(999_999).await.unwrap_err();
    assert!(
        matches!(&e, Error::Api { status: 404, code: Some(c), .. } if c == "not_found"),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("not found: "), "{e}");

    let job = client.propose_job(&echo(1)).await.unwrap();
    let wrong = ApproveRequest {
        plan_hash: "0".repeat(64),
        comment: None,
    };
    let e = client.approve_job(job.job_summary.id, &wrong).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(409), Some("plan_hash_mismatch")), "{e:?}");

    let e = client.with_token(None).list_hosts().await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(401), Some("unauthenticated")), "{e:?}");
    let e = client
        .login(&Login {
            username: "admin".into(),
            password: "not the password".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(401), "{e:?}");

    let nowhere = Client::builder("http://127.0.0.1:1")
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    assert!(nowhere.list_hosts().await.unwrap_err().is_connect());
}

#[tokio::test]
async fn a_streamed_chat_turn_yields_typed_events_and_the_whole_reply() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeOpenAi::start().await;
    let stacks = test_stacks(dir.path());
    let url = fake.base_url();
    let env = fake_llm_env(&url, &[("STEWARD_LLM_TIMEOUT_SECS", "2")]);
    let server = start_server(&dir.path().join("server"), &stacks, "127.0.0.1:0", "127.0.0.1:0", &env);
    server.cluster("test", &["h1"]).await;
    let _agent = start_agent(&server, "h1", &dir.path().join("agent-h1"));
    server.wait_online("h1").await;
    let args =
        serde_json::json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "rationale": "asked"})
            .to_string();
    fake.push(Reply::stream(vec![
        chunk::role(),
        chunk::tool_call(0, Some("call_1"), Some("propose_job"), &args),
        chunk::finish("tool_calls"),
    ]));
    fake.push(Reply::stream_text(&["Echo ", "is ", "proposed."]));

    let client = Client::new(server.url(""), Some(server.token.clone()));
    let conversation = client
        .create_conversation(Some(&NewConversation {
            channel: Some(Channel::Api),
        }))
        .await
        .unwrap();
    let message = NewMessage {
        text: "echo on h1".into(),
    };
    let turn = client.send_message_stream(conversation.id, &message).await.unwrap();
    let events: Vec<ChatUpdate> = tokio::time::timeout(Duration::from_secs(30), turn.collect::<Vec<_>>())
        .await
        .expect("the turn ends")
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let at = |f: fn(&ChatUpdate) -> bool| {
        events
            .iter()
            .position(f)
            .unwrap_or_else(|| panic!("missing in {events:?}"))
    };
    let call = at(|e| matches!(e, ChatUpdate::Event(ChatEvent::ToolCall { name, .. }) if name == "propose_job"));
    let proposal = at(|e| matches!(e, ChatUpdate::Event(ChatEvent::Proposal { .. })));
    assert!(call < proposal && proposal < events.len() - 1, "{events:?}");
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            ChatUpdate::Event(ChatEvent::Token { text }) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(text.starts_with("Echo is proposed."), "{text}");
    let ChatUpdate::Event(ChatEvent::Proposal { job }) = &events[proposal] else {
        unreachable!()
    };
    assert_eq!(
        (job.job_summary.state.as_str(), job.job_summary.source.as_str()),
        ("PROPOSED", "chat")
    );
    let Some(ChatUpdate::Done(reply)) = events.last() else {
        panic!("the turn ends with the whole reply: {events:?}")
    };
    assert_eq!(reply.conversation_id, conversation.id);
    assert_eq!(reply.proposals.len(), 1);
    assert_eq!(reply.proposals[0].job_summary.id, job.job_summary.id);

    // What the turn stored reads back typed too.
    let stored = client.list_messages(conversation.id).await.unwrap();
    assert!(stored.iter().any(|m| m.proposals == [job.job_summary.id]), "{stored:?}");
}
