//! What the web console reads, over the real HTTP API: the caller's conversations and a
//! conversation's history complete enough to redraw it, a host's usage and its series, the
//! job list's filters and paging, four-eyes as the server decides it, stack documents, and
//! the OpenAPI document the console's types are generated from.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use steward_llm::testing::{FakeOpenAi, Reply};

/// Adds two documents to the testing stack: one with a heading, one without.
fn stacks_with_docs(dir: &std::path::Path) -> std::path::PathBuf {
    let root = test_stacks(dir);
    let docs = root.join("testing/1.0/services/app/docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("app.md"), APP_DOC).unwrap();
    std::fs::write(docs.join("notes.md"), "Plain notes without a heading.\n").unwrap();
    root
}

const APP_DOC: &str = "# app: the test service\n\nThe app service runs one worker per host.\n\n\
    ## Disk space\n\nThe worker writes its spool under /var/spool/app; when the disk fills, \
    run `clean-spool` to delete spool files older than a day.\n";

/// GET as `token` → (status, headers, JSON).
async fn get_as(server: &Server, token: &str, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = server.client.get(server.url(path));
    if !token.is_empty() {
        r = r.bearer_auth(token);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_are_listed_by_last_activity_and_history_redraws_tool_calls_and_citations() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeOpenAi::start().await;
    let url = fake.base_url();
    let stacks = stacks_with_docs(dir.path());
    let env = fake_llm_env(
        &url,
        &[
            ("STEWARD_EMBEDDER", "local"),
            ("STEWARD_CHAT_MESSAGES_PER_MINUTE", "1000"),
        ],
    );
    let server = server_on(dir.path(), &stacks, &env);
    server.cluster("test", &["h1"]).await;
    let status = wait_for(&server, "/api/v1/knowledge/status", 600, |v| {
        v["state"] == "ready" || v["state"] == "failed"
    })
    .await;
    assert_eq!(status["state"], "ready", "{status}");
    let olga = server.user("olga", "operator").await;
    let vic = server.user("vic", "viewer").await;

    // Operators and up; a viewer is refused, a stranger unauthenticated.
    assert_eq!(get_as(&server, &vic, "/api/v1/chat/conversations").await.0, 403);
    assert_eq!(get_as(&server, "", "/api/v1/chat/conversations").await.0, 401);
    let (s, _, v) = get_as(&server, &olga, "/api/v1/chat/conversations").await;
    assert_eq!((s, v), (200, json!([])));

    let create = || async {
        let (s, v) = server
            .call_as(&olga, Method::POST, "/api/v1/chat/conversations", Some(json!({})))
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_i64().unwrap()
    };
    let a = create().await;
    let b = create().await;
    let c = create().await;
    let say = |conv: i64, text: &'static str| {
        let server = &server;
        let olga = olga.clone();
        async move {
            let (s, v) = server
                .call_as(
                    &olga,
                    Method::POST,
                    &format!("/api/v1/chat/conversations/{conv}/messages"),
                    Some(json!({"text": text})),
                )
                .await;
            assert_eq!(s, 200, "{v}");
            v
        }
    };

    // A turn that searches the docs, proposes, and answers.
    let search = json!({"query": "the disk is filling up with spool files", "limit": 3});
    fake.push(Reply::tool_calls(&[(
        "call_1",
        "search_knowledge",
        &search.to_string(),
    )]));
    let propose = json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "rationale": "the docs say so"});
    fake.push(Reply::tool_calls(&[("call_2", "propose_job", &propose.to_string())]));
    fake.push(Reply::completion("The docs say to clean the spool."));
    let reply = say(a, "the disk on h1 is filling up").await;
    fake.push(Reply::completion("h1 is the fullest."));
    say(
        b,
        "Please check the disk usage on every host of the test cluster and tell me which one is the fullest right now",
    )
    .await;

    let (s, _, list) = get_as(&server, &olga, "/api/v1/chat/conversations").await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(ids(&list), [b, a, c]);
    let titles: Vec<&Value> = list.as_array().unwrap().iter().map(|c| &c["title"]).collect();
    assert_eq!(
        titles,
        [
            &json!("Please check the disk usage on every host of the test cluster and tell me which"),
            &json!("the disk on h1 is filling up"),
            &Value::Null
        ]
    );
    let counts: Vec<&Value> = list.as_array().unwrap().iter().map(|c| &c["messages"]).collect();
    // a: user, assistant (search), tool, assistant (propose), tool, reply; b: user, reply.
    assert_eq!(counts, [&json!(2), &json!(6), &json!(0)]);
    for conv in list.as_array().unwrap() {
        assert_eq!(conv["channel"], "api", "{conv}");
        assert!(
            conv["created_at"].is_string() && conv["updated_at"].is_string(),
            "{conv}"
        );
    }
    let empty = &list[2];
    assert_eq!(empty["created_at"], empty["updated_at"], "{empty}");

    // New activity moves a conversation to the top; the title stays the first request.
    fake.push(Reply::completion("Nothing else."));
    say(a, "anything else?").await;
    let (_, _, list) = get_as(&server, &olga, "/api/v1/chat/conversations").await;
    assert_eq!(ids(&list), [a, b, c]);
    assert_eq!(list[0]["title"], "the disk on h1 is filling up");
    assert_eq!(list[0]["messages"], 8);
    let (_, _, one) = get_as(&server, &olga, "/api/v1/chat/conversations?limit=1").await;
    assert_eq!(ids(&one), [a]);
    // Conversations are their user's: the admin has none.
    let (_, _, theirs) = get_as(&server, &server.token, "/api/v1/chat/conversations").await;
    assert_eq!(theirs, json!([]));
    for bad in ["limit=0", "limit=many", "limit=-1", "user=olga"] {
        let (s, _, v) = get_as(&server, &olga, &format!("/api/v1/chat/conversations?{bad}")).await;
        assert_eq!((s, v["error"]["code"].as_str()), (400, Some("bad_query")), "{bad}: {v}");
    }

    // The history carries what the reply carried: tool calls, citations, proposals.
    let (s, _, hist) = get_as(&server, &olga, &format!("/api/v1/chat/conversations/{a}/messages")).await;
    assert_eq!(s, 200, "{hist}");
    let hist = hist.as_array().unwrap();
    let roles: Vec<&str> = hist.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "assistant",
            "user",
            "assistant"
        ]
    );
    let turn_end = &hist[5];
    let calls: Vec<(&str, bool)> = turn_end["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(calls, [("search_knowledge", true), ("propose_job", true)]);
    assert_eq!(turn_end["tool_calls"], reply["tool_calls"]);
    assert_eq!(turn_end["tool_calls"][0]["arguments"], search.to_string());
    assert_eq!(turn_end["citations"], reply["citations"]);
    let cited: Vec<&str> = turn_end["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    assert!(
        cited.contains(&"doc:testing/1.0/services/app/docs/app.md#disk-space"),
        "{cited:?}"
    );
    assert_eq!(turn_end["proposals"], json!([reply["proposals"][0]["id"]]));
    assert_eq!(turn_end["content"], reply["reply"]);
    for (i, m) in hist.iter().enumerate().filter(|(i, _)| *i != 5) {
        assert_eq!(
            (m["tool_calls"].clone(), m["citations"].clone()),
            (json!([]), json!([])),
            "message {i}: {m}"
        );
    }
    assert_eq!(hist[7]["tool_calls"], json!([]), "a turn without tools lists none");
}

/// A sample to send: metric name, labels, value.
type Sample<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

/// Sends one batch of `(name, labels, value)` samples taken at `at_ms`.
async fn send_samples(
    tx: &tokio::sync::mpsc::Sender<steward_proto::v1::AgentMessage>,
    seq: u64,
    at_ms: i64,
    samples: &[Sample<'_>],
) {
    use steward_proto::v1 as pb;
    let samples = samples
        .iter()
        .map(|(name, labels, value)| pb::MetricSample {
            name: (*name).into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            value: *value,
            at_ms,
        })
        .collect();
    send_batch(tx, seq, samples).await;
}

#[tokio::test]
async fn hosts_show_their_usage_and_list_their_series_with_the_latest_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = testing_server(dir.path(), &[]);
    server.cluster("test", &["h1", "h2"]).await;
    let viewer = server.user("vera", "viewer").await;
    let tx = raw_agent(&server, "h1").await;
    let early = chrono::Utc::now().timestamp_millis() - 10_000;
    let late = early + 5_000;
    send_samples(
        &tx,
        1,
        early,
        &[("cpu_used_pct", &[], 80.0), ("disk_used_pct", &[("mount", "/")], 99.0)],
    )
    .await;
    send_samples(
        &tx,
        2,
        late,
        &[
            ("cpu_used_pct", &[], 12.5),
            ("mem_used_pct", &[], 40.0),
            ("disk_used_pct", &[("mount", "/")], 70.0),
            ("disk_used_pct", &[("mount", "/data")], 91.5),
            ("net_util_pct", &[("iface", "eth0")], 3.0),
        ],
    )
    .await;
    let h1 = wait_for(&server, "/api/v1/hosts/h1", 30, |h| h["mem_used_pct"] == 40.0).await;

    // The list and the host carry CPU, memory and the fullest disk, with the components.
    let (s, _, hosts) = get_as(&server, &viewer, "/api/v1/hosts").await;
    assert_eq!(s, 200, "{hosts}");
    let usage = |h: &Value| {
        (
            h["cpu_used_pct"].clone(),
            h["mem_used_pct"].clone(),
            h["disk_used_pct"].clone(),
        )
    };
    assert_eq!(hosts[0]["hostname"], "h1");
    assert_eq!(usage(&hosts[0]), (json!(12.5), json!(40.0), json!(91.5)));
    assert_eq!(usage(&h1), (json!(12.5), json!(40.0), json!(91.5)));
    assert_eq!(hosts[1]["hostname"], "h2");
    assert_eq!(
        usage(&hosts[1]),
        (Value::Null, Value::Null, Value::Null),
        "h2 never reported"
    );
    for h in [&hosts[0], &hosts[1], &h1] {
        assert_eq!(
            h["components"],
            json!([{"service": "app", "component": "worker", "state": "UNKNOWN"}]),
            "{h}"
        );
    }

    // The series, by name then labels, each with its latest value and time.
    let expected = |t: i64| {
        let at = chrono::DateTime::from_timestamp_millis(t).unwrap();
        let point = |v: f64| json!({"t": at.to_rfc3339(), "value": v});
        json!([
            {"name": "cpu_used_pct", "labels": {}, "latest": point(12.5)},
            {"name": "disk_used_pct", "labels": {"mount": "/"}, "latest": point(70.0)},
            {"name": "disk_used_pct", "labels": {"mount": "/data"}, "latest": point(91.5)},
            {"name": "mem_used_pct", "labels": {}, "latest": point(40.0)},
            {"name": "net_util_pct", "labels": {"iface": "eth0"}, "latest": point(3.0)},
        ])
    };
    let h1_id = h1["id"].as_i64().unwrap();
    for key in ["h1".to_string(), h1_id.to_string()] {
        let (s, _, series) = get_as(&server, &viewer, &format!("/api/v1/hosts/{key}/metrics/series")).await;
        assert_eq!((s, &series), (200, &expected(late)), "{key}");
    }
    let (s, _, none) = get_as(&server, &viewer, "/api/v1/hosts/h2/metrics/series").await;
    assert_eq!((s, none), (200, json!([])));
    let (s, _, v) = get_as(&server, &viewer, "/api/v1/hosts/nope/metrics/series").await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")), "{v}");
    assert_eq!(get_as(&server, "", "/api/v1/hosts/h1/metrics/series").await.0, 401);

    // After a restart nothing is in memory: the latest values come from the stored samples.
    drop(tx);
    server.restart();
    let (s, _, series) = get_as(&server, &server.token, "/api/v1/hosts/h1/metrics/series").await;
    assert_eq!((s, &series), (200, &expected(late)));
}

#[tokio::test]
async fn the_job_list_filters_by_states_host_and_source_pages_with_a_total_and_says_four_eyes() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeOpenAi::start().await;
    let url = fake.base_url();
    let env = fake_llm_env(
        &url,
        &[
            ("STEWARD_FOUR_EYES_HOSTS", "1"),
            ("STEWARD_PROPOSALS_PER_MINUTE", "1000"),
        ],
    );
    let server = testing_server(dir.path(), &env);
    server.cluster("test", &["h1", "h2"]).await;
    let viewer = server.user("val", "viewer").await;
    let shorthand = |command: &str, hosts: &[&str]| {
        let mut body =
            json!({"cluster": "test", "service": "app", "component": "worker", "command": command, "hosts": hosts});
        if command == "orphan" {
            body["params"] = json!({"pidfile": "/tmp/steward-console-test.pid"});
        }
        body
    };
    let j1 = server.propose(shorthand("echo", &["h1"])).await;
    let j2 = server.propose(shorthand("echo", &["h2"])).await;
    let (s, v) = server
        .post(&format!("/api/v1/jobs/{}/reject", j2["id"]), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    let j3 = server.propose(shorthand("echo", &["h1", "h2"])).await;
    let j4 = server.propose(shorthand("orphan", &["h1"])).await;
    let (_, conv) = server.post("/api/v1/chat/conversations", json!({})).await;
    let args = json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h2"], "rationale": "asked"});
    fake.push(Reply::tool_calls(&[("call_1", "propose_job", &args.to_string())]));
    fake.push(Reply::completion("Proposed."));
    let (s, reply) = server
        .post(
            &format!("/api/v1/chat/conversations/{}/messages", conv["id"]),
            json!({"text": "echo on h2"}),
        )
        .await;
    assert_eq!(s, 200, "{reply}");
    let j5 = reply["proposals"][0].clone();
    let [j1, j2, j3, j4, j5] = [&j1, &j2, &j3, &j4, &j5].map(|j| j["id"].as_i64().unwrap());
    let (_, h2) = server.get("/api/v1/hosts/h2").await;
    let (_, h1) = server.get("/api/v1/hosts/h1").await;

    // (query, ids in order, total before paging), written out by hand.
    let cases: Vec<(String, Vec<i64>, u64)> = vec![
        (String::new(), vec![j5, j4, j3, j2, j1], 5),
        ("?state=REJECTED".into(), vec![j2], 1),
        ("?state=proposed".into(), vec![j5, j4, j3, j1], 4),
        ("?state=RUNNING,PENDING".into(), vec![], 0),
        ("?state=REJECTED,PROPOSED&limit=2&offset=1".into(), vec![j4, j3], 5),
        ("?limit=2".into(), vec![j5, j4], 5),
        ("?offset=4".into(), vec![j1], 5),
        ("?offset=9".into(), vec![], 5),
        (format!("?host_id={}", h2["id"]), vec![j5, j3, j2], 3),
        (format!("?host_id={}&state=PROPOSED", h1["id"]), vec![j4, j3, j1], 3),
        ("?host_id=424242".into(), vec![], 0),
        ("?source=chat".into(), vec![j5], 1),
        ("?source=api&state=PROPOSED&limit=1".into(), vec![j4], 3),
    ];
    for (q, want, total) in cases {
        let (s, headers, list) = get_as(&server, &viewer, &format!("/api/v1/jobs{q}")).await;
        assert_eq!(s, 200, "{q}: {list}");
        assert_eq!(ids(&list), want, "{q}");
        let header = headers.get("x-total-count").map(|h| h.to_str().unwrap().to_owned());
        assert_eq!(header, Some(total.to_string()), "{q}");
    }
    for bad in [
        "state=RUNNING,BOGUS",
        "state=",
        "source=cron",
        "limit=0",
        "limit=ten",
        "offset=-1",
        "host_id=h1",
        "cluster=test",
    ] {
        let (s, _, v) = get_as(&server, &viewer, &format!("/api/v1/jobs?{bad}")).await;
        assert_eq!((s, v["error"]["code"].as_str()), (400, Some("bad_query")), "{bad}: {v}");
    }
    assert_eq!(get_as(&server, "", "/api/v1/jobs").await.0, 401);

    // What a queue shows, and four-eyes as approval will enforce it: the high-risk job and the
    // one on two hosts (more than STEWARD_FOUR_EYES_HOSTS=1) need a second person.
    let (_, _, list) = get_as(&server, &viewer, "/api/v1/jobs").await;
    let row = |id: i64| list.as_array().unwrap().iter().find(|j| j["id"] == id).unwrap().clone();
    let mut keys: Vec<String> = row(j1).as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "cluster",
            "created_at",
            "expires_at",
            "finished_at",
            "four_eyes",
            "host_count",
            "id",
            "requested_by",
            "risk",
            "source",
            "state",
            "summary"
        ]
    );
    // (id, four_eyes, host_count, high risk)
    let flags: Vec<(i64, bool, u64, bool)> = [j1, j2, j3, j4, j5]
        .iter()
        .map(|id| {
            let r = row(*id);
            (
                *id,
                r["four_eyes"].as_bool().unwrap(),
                r["host_count"].as_u64().unwrap(),
                r["risk"] == "high",
            )
        })
        .collect();
    assert_eq!(
        flags,
        [
            (j1, false, 1, false),
            (j2, false, 1, false),
            (j3, true, 2, false),
            (j4, true, 1, true),
            (j5, false, 1, false)
        ]
    );
    assert_eq!(row(j5)["source"], "chat");
    assert_eq!(row(j1)["requested_by"], "admin");
    assert_eq!(row(j1)["cluster"], "test");
    assert!(row(j1)["expires_at"].is_string());
    for (id, four_eyes) in [(j1, false), (j3, true), (j4, true)] {
        let (_, _, job) = get_as(&server, &viewer, &format!("/api/v1/jobs/{id}")).await;
        assert_eq!(job["four_eyes"], four_eyes, "job {id}");
    }
    let self_approve = |id: i64| {
        let server = &server;
        async move {
            let (_, job) = server.get(&format!("/api/v1/jobs/{id}")).await;
            server
                .post(
                    &format!("/api/v1/jobs/{id}/approve"),
                    json!({"plan_hash": job["plan_hash"]}),
                )
                .await
        }
    };
    for id in [j3, j4] {
        let (s, v) = self_approve(id).await;
        assert_eq!((s, v["error"]["code"].as_str()), (403, Some("four_eyes")), "{v}");
    }
    let (s, v) = self_approve(j1).await;
    assert_eq!(s, 200, "a job without four-eyes is refused to its requester: {v}");
}

#[tokio::test]
async fn stack_documents_are_listed_with_titles_and_served_by_path_and_nothing_else_is() {
    let dir = tempfile::tempdir().unwrap();
    let stacks = stacks_with_docs(dir.path());
    let server = server_on(dir.path(), &stacks, &[]);
    let viewer = server.user("vi", "viewer").await;
    let (s, _, list) = get_as(&server, &viewer, "/api/v1/stacks").await;
    assert_eq!(s, 200, "{list}");
    let app = list
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["name"] == "testing")
        .unwrap()["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|svc| svc["name"] == "app")
        .unwrap()
        .clone();
    assert_eq!(
        app["docs"],
        json!([
            {"path": "testing/1.0/services/app/docs/app.md", "title": "app: the test service"},
            {"path": "testing/1.0/services/app/docs/notes.md", "title": "notes"},
        ])
    );

    let (s, _, doc) = get_as(
        &server,
        &viewer,
        "/api/v1/stacks/docs/testing/1.0/services/app/docs/app.md",
    )
    .await;
    assert_eq!(s, 200, "{doc}");
    assert_eq!(
        doc,
        json!({"path": "testing/1.0/services/app/docs/app.md", "title": "app: the test service", "markdown": APP_DOC})
    );
    assert_eq!(
        get_as(&server, "", "/api/v1/stacks/docs/testing/1.0/services/app/docs/app.md")
            .await
            .0,
        401
    );
    // Only documents a stack ships: not other stack files, not paths out of the stacks.
    for path in [
        "testing/1.0/services/app/docs/missing.md",
        "testing/1.0/stack.toml",
        "testing/1.0/services/app/docs/..%2F..%2F..%2Fstack.toml",
        "testing/1.0/services/app/docs/..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "docs/app.md",
    ] {
        let (s, _, v) = get_as(&server, &viewer, &format!("/api/v1/stacks/docs/{path}")).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}: {v}"
        );
    }
}

#[tokio::test]
async fn the_committed_openapi_document_is_the_live_one() {
    const FIX: &str = "run: steward openapi > web/src/api/openapi.json";
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    let (s, live) = server.call_as("", Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(s, 200);
    let out = std::process::Command::new(steward_bin())
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&printed).unwrap(),
        live,
        "steward openapi prints another document than the server serves"
    );
    // Keys are sorted, so the committed copy diffs line by line.
    let paths: Vec<&String> = live["paths"].as_object().unwrap().keys().collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "the document's keys are not sorted");
    assert!(live["paths"]["/api/v1/stacks/docs/{path}"]["get"].is_object(), "{FIX}");

    let committed_path = repo_root().join("web/src/api/openapi.json");
    let committed =
        std::fs::read_to_string(&committed_path).unwrap_or_else(|e| panic!("{}: {e}; {FIX}", committed_path.display()));
    let parsed: Value = serde_json::from_str(&committed).unwrap_or_else(|e| panic!("{e}; {FIX}"));
    assert!(
        parsed == live && committed.trim_end() == printed.trim_end(),
        "web/src/api/openapi.json is not the live OpenAPI document; {FIX}"
    );
}

#[tokio::test]
async fn a_conversation_says_where_it_is_held_and_a_bad_channel_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeOpenAi::start().await;
    let url = fake.base_url();
    let server = testing_server(dir.path(), &fake_llm_env(&url, &[]));
    let olga = server.user("olga", "operator").await;
    let create = |body: Option<Value>| {
        let (server, olga) = (&server, olga.clone());
        async move {
            server
                .call_as(&olga, Method::POST, "/api/v1/chat/conversations", body)
                .await
        }
    };
    assert_eq!(create(Some(json!({"channel": "web"}))).await.0, 201);
    assert_eq!(create(Some(json!({"channel": "cli"}))).await.0, 201);
    assert_eq!(create(Some(json!({}))).await.0, 201);
    assert_eq!(create(None).await.0, 201);
    for bad in [
        json!({"channel": "pager"}),
        json!({"channel": "web", "user": "admin"}),
        json!({"channel": 7}),
    ] {
        let (s, v) = create(Some(bad.clone())).await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert_eq!(v["error"]["code"], "invalid_body", "{bad}: {v}");
    }
    let (s, _, list) = get_as(&server, &olga, "/api/v1/chat/conversations").await;
    assert_eq!(s, 200);
    let channels: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel"].as_str().unwrap())
        .collect();
    // Newest first; the refused ones made nothing.
    assert_eq!(channels, ["api", "api", "cli", "web"]);
}
