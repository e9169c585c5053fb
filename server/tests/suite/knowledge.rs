//! The knowledge index end to end: a real server with the local embedder (all-MiniLM-L6-v2,
//! fetched by `make test`), real agents running real jobs.

use std::path::Path;
use std::time::{Duration, Instant};
use steward_vector::testing::scribble_over;

use crate::common::*;
use serde_json::{json, Value};

/// The server environment that turns the index on with the local model.
const KNOWLEDGE_ON: &[(&str, &str)] = &[("STEWARD_EMBEDDER", "local")];

/// Adds to the testing stack a documented service behaviour and a `start` command that fails
/// the way a broker does when its ZooKeeper session expires.
fn knowledge_stacks(dir: &Path) -> std::path::PathBuf {
    let root = test_stacks(dir);
    let svc = root.join("testing/1.0/services/app");
    std::fs::create_dir_all(svc.join("docs")).unwrap();
    std::fs::write(
        svc.join("docs/app.md"),
        "# app: the test service\n\nThe app service runs one worker per host.\n\n\
         ## Disk space\n\nThe worker writes its spool under /var/spool/app; when the disk fills, \
         run `clean-spool` to delete spool files older than a day.\n\n\
         ## Certificates\n\nThe worker's TLS certificate is renewed every 90 days by `renew-cert`; \
         an expired certificate makes clients fail their handshake.\n",
    )
    .unwrap();
    std::fs::write(
        svc.join("scripts/start.sh"),
        "#!/usr/bin/env bash\n\
         echo \"starting worker on $STEWARD_HOSTNAME\"\n\
         echo \"INFO connecting to the zookeeper ensemble zk1:2181,zk2:2181\"\n\
         echo \"WARN client session timed out, have not heard from server in 6001ms for sessionid 0x18c2\"\n\
         echo \"ERROR org.apache.zookeeper.KeeperException\\$SessionExpiredException: KeeperErrorCode = Session expired for /brokers/ids/3\" >&2\n\
         echo \"FATAL shutting down: the registration in zookeeper could not be completed\" >&2\n\
         exit 1\n",
    )
    .unwrap();
    let toml = svc.join("service.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[components.commands.start]\nscript = \"scripts/start.sh\"\ntimeout = 30\nrisk = \"low\"\n");
    std::fs::write(&toml, text).unwrap();
    root
}

/// A server on [`knowledge_stacks`] with the index on, plus `extra` environment.
fn knowledge_server(dir: &Path, extra: &[(&str, &str)]) -> Server {
    let stacks = knowledge_stacks(dir);
    let mut env = KNOWLEDGE_ON.to_vec();
    env.extend_from_slice(extra);
    server_on(dir, &stacks, &env)
}

/// Waits until the index has finished its startup indexing; returns its status.
async fn wait_ready(server: &Server) -> Value {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (s, v) = server.get("/api/v1/knowledge/status").await;
        assert_eq!(s, 200, "{v}");
        assert_ne!(v["state"], "failed", "{v}");
        if v["state"] == "ready" {
            return v;
        }
        assert!(Instant::now() < deadline, "the index never got ready: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Searches; asserts 200; returns the hits.
async fn search(server: &Server, query: &str) -> Vec<Value> {
    let (s, v) = server.get(&format!("/api/v1/knowledge/search?{}", query)).await;
    assert_eq!(s, 200, "{v}");
    v["hits"].as_array().unwrap().clone()
}

fn q(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `command` of app/worker on `hosts` of `cluster` to the end.
async fn run(server: &Server, cluster: &str, command: &str, hosts: &[&str], params: Value) -> Value {
    server
        .run_job(json!({"cluster": cluster, "service": "app", "component": "worker", "command": command, "hosts": hosts, "params": params}), 60)
        .await
}

/// Waits until the logs of `job` are in the index.
async fn wait_indexed(server: &Server, job: &Value) {
    let id = job["id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let hits = search(server, &format!("q=output&kind=job_log&job_id={id}&limit=1")).await;
        if !hits.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "job {id}'s logs never reached the index");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_docs_are_searchable_and_a_restart_embeds_nothing_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    // A copy of the real stacks, so one doc can be edited between starts.
    let stacks = dir.path().join("stacks");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(repo_stacks())
        .arg(&stacks)
        .status()
        .unwrap();
    assert!(status.success());
    let mut server = server_on(dir.path(), &stacks, KNOWLEDGE_ON);
    let first = wait_ready(&server).await;
    let embedded = first["docs_embedded"].as_u64().unwrap();
    assert!(embedded >= 40, "the real stacks have dozens of sections: {first}");
    assert_eq!(first["chunks"].as_u64().unwrap(), embedded, "{first}");
    assert_eq!(first["backend"], "embedded");
    assert!(dir.path().join("server/knowledge/local-all-minilm-l6-v2").is_dir());

    // A question in other words than the docs use finds the kafka section on rolling restarts.
    let hits = search(
        &server,
        &format!("q={}", q("how do I bounce the brokers one after another safely")),
    )
    .await;
    assert!(
        hits.iter().any(|h| h["source"]
            .as_str()
            .unwrap()
            .starts_with("doc:bigdata/1.0/services/kafka/docs/kafka.md#")),
        "{hits:#?}"
    );
    let top = &hits[0];
    assert_eq!(top["kind"], "doc");
    assert!(top["link"].as_str().unwrap().starts_with("stacks/"), "{top}");
    // Filters: only redis docs when asked for redis.
    let hits = search(&server, &format!("q={}&service=redis", q("memory limit eviction"))).await;
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h["service"] == "redis"), "{hits:#?}");
    // Bad input is refused with a reason.
    for bad in [
        "q=",
        "q=x&limit=0",
        "q=x&mode=fuzzy",
        "q=x&kind=tweet",
        "q=x&since=yesterday",
    ] {
        let (s, v) = server.get(&format!("/api/v1/knowledge/search?{bad}")).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }

    // Restart: the same index, nothing embedded again.
    server.restart();
    let second = wait_ready(&server).await;
    assert_eq!(second["docs_embedded"], 0, "{second}");
    assert_eq!(second["docs_unchanged"].as_u64().unwrap(), embedded, "{second}");
    assert_eq!(second["chunks"].as_u64().unwrap(), embedded, "{second}");

    // One changed section: only it is embedded; its old text is gone.
    let doc = stacks.join("essentials/1.0/services/host/docs/host.md");
    let mut text = std::fs::read_to_string(&doc).unwrap();
    text.push_str("\n## Lighthouse keeping\n\nA unique section about the lighthouse keeper's logbook.\n");
    std::fs::write(&doc, text).unwrap();
    server.restart();
    let third = wait_ready(&server).await;
    assert_eq!(third["docs_embedded"], 1, "{third}");
    assert_eq!(third["chunks"].as_u64().unwrap(), embedded + 1, "{third}");
    let hits = search(&server, &format!("q={}&limit=1", q("who keeps the lighthouse log"))).await;
    assert!(
        hits[0]["title"].as_str().unwrap().ends_with("Lighthouse keeping"),
        "{hits:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_jobs_log_is_found_by_a_paraphrased_question_and_clusters_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let server = knowledge_server(dir.path(), &[]);
    server.cluster("east", &["h1"]).await;
    server.cluster("west", &["h2"]).await;
    let _agents = [
        start_agent(&server, "h1", &dir.path().join("agent-h1")),
        start_agent(&server, "h2", &dir.path().join("agent-h2")),
    ];
    server.wait_online("h1").await;
    server.wait_online("h2").await;
    wait_ready(&server).await;

    let failed = run(&server, "east", "start", &["h1"], json!({})).await;
    assert_eq!(failed["state"], "FAILED");
    let mut others = vec![];
    for (cluster, host) in [("east", "h1"), ("west", "h2"), ("west", "h2")] {
        others.push(run(&server, cluster, "echo", &[host], json!({"lines": 5})).await);
    }
    others.push(run(&server, "west", "slow", &["h2"], json!({"ticks": 3})).await);
    for job in std::iter::once(&failed).chain(&others) {
        wait_indexed(&server, job).await;
    }

    // No word of the question is in the log except "worker"; meaning finds it.
    let question = "why could the worker not come up last time - did it lose its coordination service?";
    let hits = search(&server, &format!("q={}&kind=job_log&limit=3", q(question))).await;
    let task = tasks(&failed)[0]["id"].as_i64().unwrap();
    let failed_id = failed["id"].as_i64().unwrap();
    assert_eq!(hits[0]["source"], format!("job:{failed_id}/task:{task}"), "{hits:#?}");
    let top = &hits[0];
    assert_eq!(top["host"], "h1");
    assert_eq!(top["cluster"], "east");
    assert_eq!(top["component"], "worker");
    assert_eq!(top["job_id"], failed_id.to_string());
    assert!(top["title"].as_str().unwrap().contains("FAILED (exit 1)"), "{top}");
    assert!(top["text"].as_str().unwrap().contains("Session expired"), "{top}");
    assert_eq!(top["link"], format!("/api/v1/jobs/{failed_id}/tasks/{task}/logs"));

    // Filters isolate clusters: west's search never returns east's logs, but still the docs.
    let hits = search(&server, &format!("q={}&cluster=west&limit=10", q(question))).await;
    assert!(!hits.is_empty());
    for h in &hits {
        assert!(h["kind"] == "doc" || h["cluster"] == "west", "{h}");
    }
    assert!(hits.iter().any(|h| h["kind"] == "doc"), "{hits:#?}");
    let east = search(
        &server,
        &format!("q={}&cluster=east&kind=job_log&limit=10", q(question)),
    )
    .await;
    assert!(
        east.iter().all(|h| h["cluster"] == "east") && !east.is_empty(),
        "{east:#?}"
    );

    // Deleting a cluster removes its chunks, and only its chunks.
    let before = wait_ready(&server).await["chunks"].as_u64().unwrap();
    let (s, v) = server
        .call_as(&server.token, reqwest::Method::DELETE, "/api/v1/clusters/east", None)
        .await;
    assert_eq!(s, 204, "{v}");
    let after = wait_ready(&server).await["chunks"].as_u64().unwrap();
    assert!(after < before, "{before} → {after}");
    let all = search(&server, &format!("q={}&kind=job_log&limit=50", q(question))).await;
    assert!(!all.is_empty());
    assert!(all.iter().all(|h| h["cluster"] == "west"), "{all:#?}");
    let (s, _) = server.get("/api/v1/clusters/east").await;
    assert_eq!(s, 404);
    let (_, h1) = server.get("/api/v1/hosts/h1").await;
    assert!(h1["cluster"].is_null(), "{h1}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_missing_index_is_rebuilt_from_the_sources_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = knowledge_server(dir.path(), &[]);
    server.cluster("east", &["h1"]).await;
    let _agent = start_agent(&server, "h1", &dir.path().join("agent-h1"));
    server.wait_online("h1").await;
    let first = wait_ready(&server).await;
    let job = run(&server, "east", "start", &["h1"], json!({})).await;
    wait_indexed(&server, &job).await;
    let chunks = wait_ready(&server).await["chunks"].as_u64().unwrap();
    assert!(chunks > first["chunks"].as_u64().unwrap());

    // Damaged: every file overwritten with garbage.
    server.proc.kill();
    let index = dir.path().join("server/knowledge/local-all-minilm-l6-v2");
    scribble_over(&index);
    server.restart();
    let status = wait_ready(&server).await;
    let aside = status["rebuilt_from"].as_str().unwrap_or_else(|| panic!("{status}"));
    assert!(Path::new(aside).is_dir(), "the damaged index is kept for a post-mortem");
    assert_eq!(
        status["chunks"].as_u64().unwrap(),
        chunks,
        "docs and the job log are back: {status}"
    );
    let log = std::fs::read_to_string(dir.path().join("server/server.log")).unwrap();
    assert!(
        log.contains("cannot be opened") && log.contains("rebuilt"),
        "no warning in the log"
    );
    wait_indexed(&server, &job).await;

    // Missing: the directory is simply created again and filled.
    server.proc.kill();
    std::fs::remove_dir_all(&index).unwrap();
    server.restart();
    let status = wait_ready(&server).await;
    assert_eq!(status["chunks"].as_u64().unwrap(), chunks, "{status}");
    assert!(status["rebuilt_from"].is_null(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planner_searches_the_index_and_its_proposal_cites_the_chunks_it_read() {
    use steward_llm::testing::{FakeOpenAi, Reply};
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeOpenAi::start().await;
    let url = fake.base_url();
    let server = knowledge_server(dir.path(), &fake_llm_env(&url, &[]));
    server.cluster("east", &["h1"]).await;
    let _agent = start_agent(&server, "h1", &dir.path().join("agent-h1"));
    server.wait_online("h1").await;
    wait_ready(&server).await;
    let failed = run(&server, "east", "start", &["h1"], json!({})).await;
    wait_indexed(&server, &failed).await;
    let task = tasks(&failed)[0]["id"].as_i64().unwrap();
    let cited = format!("job:{}/task:{task}", failed["id"]);

    let search = json!({"query": "worker would not start, zookeeper", "cluster": "east", "limit": 3});
    fake.push(Reply::tool_calls(&[(
        "call_1",
        "search_knowledge",
        &search.to_string(),
    )]));
    let propose = json!({"cluster": "east", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "rationale": "the last start failed: ZooKeeper session expired"});
    fake.push(Reply::tool_calls(&[("call_2", "propose_job", &propose.to_string())]));
    fake.push(Reply::completion(
        "The last start failed because its ZooKeeper session expired.",
    ));
    let (s, v) = server.post("/api/v1/chat/conversations", json!({})).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = server
        .post(
            &format!("/api/v1/chat/conversations/{}/messages", v["id"]),
            json!({"text": "why did the worker on h1 fail to start last time?"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    // The tool was offered, and its result reached the model as quoted data with source ids.
    let reqs = fake.requests();
    assert!(reqs[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["function"]["name"] == "search_knowledge"));
    let result = reqs[1].body["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        result.contains("Session expired") && result.contains(&cited),
        "{result}"
    );
    // The reply and the proposal cite the chunk: source, title, link.
    let citation = v["citations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["source"] == cited.as_str())
        .unwrap_or_else(|| panic!("{v:#}"));
    assert!(citation["title"].as_str().unwrap().contains("FAILED"), "{citation}");
    assert_eq!(
        citation["link"],
        format!("/api/v1/jobs/{}/tasks/{task}/logs", failed["id"])
    );
    let proposal = &v["proposals"][0];
    assert!(
        proposal["sources"].as_array().unwrap().contains(&json!(cited)),
        "{proposal}"
    );
}

/// The testing stack's doc section on disk space, as the index cites it.
const DISK_DOC: &str = "doc:testing/1.0/services/app/docs/app.md#disk-space";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_incident_is_indexed_and_the_next_remediation_quotes_it_with_the_docs() {
    use steward_llm::testing::{FakeOpenAi, Reply};
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeOpenAi::start().await;
    let url = fake.base_url();
    let server = knowledge_server(
        dir.path(),
        &fake_llm_env(
            &url,
            &[&DATA_DISK_DETECTOR[..], &[("STEWARD_DETECT_KEEP_FIRING_SECS", "0")]].concat(),
        ),
    );
    server.cluster("east", &["h1"]).await;
    wait_ready(&server).await;

    // A first incident: the planner proposes nothing, and the disk recovers by itself.
    fake.push(Reply::completion(
        "The spool will drain by itself, so I propose nothing.",
    ));
    let tx = raw_agent(&server, "h1").await;
    send_disk(&tx, 1, 97.0).await;
    let list = wait_for(&server, "/api/v1/incidents", 60, |l| l[0]["remediation"].is_string()).await;
    let first = list[0]["id"].as_i64().unwrap();
    send_disk(&tx, 2, 40.0).await;
    wait_for(&server, &format!("/api/v1/incidents/{first}"), 30, |i| {
        i["state"] == "RESOLVED"
    })
    .await;

    // Once resolved, its story is in the index, under its own source and link.
    let source = format!("incident:{first}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let hit = loop {
        let hits = search(
            &server,
            &format!("q={}&kind=incident&cluster=east", q("data disk full on h1")),
        )
        .await;
        if let Some(h) = hits.iter().find(|h| h["source"] == source.as_str()) {
            break h.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the resolved incident was never indexed: {hits:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(hit["link"], format!("/api/v1/incidents/{first}"), "{hit}");
    let text = hit["text"].as_str().unwrap();
    assert!(
        text.contains("h1") && text.contains("resolved") && text.contains("spool will drain"),
        "{text}"
    );

    // The same signal again: the request quotes the earlier incident and the docs on disk
    // space, and the proposal cites both beside its own incident.
    let propose = json!({"cluster": "east", "service": "app", "component": "worker", "command": "echo",
        "hosts": ["h1"], "rationale": "as in the earlier incident"});
    fake.push(Reply::tool_calls(&[("call_1", "propose_job", &propose.to_string())]));
    fake.push(Reply::completion("Proposed."));
    send_disk(&tx, 3, 96.0).await;
    let list = wait_for(&server, "/api/v1/incidents?state=OPEN", 60, |l| l[0]["job_id"].is_i64()).await;
    let second = &list[0];
    assert_ne!(second["id"], first, "{second:#}");
    let asked = fake.requests()[1].body["messages"].to_string();
    assert!(
        asked.contains(&format!("source=\\\"{source}\\\"")) && asked.contains(&format!("source=\\\"{DISK_DOC}\\\"")),
        "{asked}"
    );
    let (_, job) = server.get(&format!("/api/v1/jobs/{}", second["job_id"])).await;
    let sources = job["sources"].as_array().unwrap();
    for s in [format!("incident:{}", second["id"]), source, DISK_DOC.to_owned()] {
        assert!(sources.contains(&json!(s)), "{s} not in {sources:?}");
    }
    assert_eq!(job["state"], "PROPOSED", "nothing runs before approval: {job:#}");
}
