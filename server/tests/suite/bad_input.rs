//! Bad input gets a clear JSON error and changes nothing.

use crate::common::*;
use serde_json::{json, Value};

async fn job_count(server: &Server) -> usize {
    server.get("/api/v1/jobs").await.1.as_array().unwrap().len()
}

async fn raw(server: &Server, path: &str, body: Vec<u8>, content_type: &str) -> (u16, Value) {
    // Its own connection: the server closes one whose oversized body it did not read.
    let r = reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(&server.token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bad_requests_are_clear_json_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    server.cluster("test", &["h1", "h2"]).await;
    let (s, _) = server
        .post(
            "/api/v1/clusters",
            json!({"name": "other", "stack": "testing", "hosts": [{"hostname": "h3", "components": []}]}),
        )
        .await;
    assert_eq!(s, 201);

    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            json!({"cluster": "nope", "service": "app", "component": "worker", "command": "echo"}),
            404,
            "not_found",
            "nope",
        ),
        (
            json!({"cluster": "test", "service": "kafka", "component": "worker", "command": "echo"}),
            422,
            "unknown_name",
            "kafka",
        ),
        (
            json!({"cluster": "test", "service": "app", "component": "broker", "command": "echo"}),
            422,
            "unknown_name",
            "broker",
        ),
        (
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "explode"}),
            422,
            "unknown_name",
            "explode",
        ),
        (
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h9"]}),
            422,
            "unknown_name",
            "h9",
        ),
        (
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h3"]}),
            422,
            "unknown_name",
            "h3",
        ),
        (
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "params": {"lines": "many"}}),
            422,
            "invalid_plan",
            "lines",
        ),
        (
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "params": {"lines": 1_000_000}}),
            422,
            "invalid_plan",
            "lines",
        ),
        (
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "params": {"bogus": 1}}),
            422,
            "unknown_name",
            "bogus",
        ),
        (
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "record", "params": {"file": "/etc/passwd"}}),
            422,
            "invalid_plan",
            "/etc/passwd",
        ),
        (
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "record", "params": {"file": "/tmp/../etc/x"}}),
            422,
            "invalid_plan",
            "file",
        ),
        (
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "record"}),
            422,
            "invalid_plan",
            "required",
        ),
        (
            json!({"cluster": "test", "service": "app", "component": "worker"}),
            422,
            "invalid_plan",
            "command",
        ),
        (
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "surprise": true}),
            422,
            "invalid_body",
            "surprise",
        ),
        (
            json!({"cluster": "test", "stages": [
            {"name": "a", "service": "app", "component": "worker", "command": "echo", "depends_on": ["b"]},
            {"name": "b", "service": "app", "component": "worker", "command": "echo", "depends_on": ["a"]}]}),
            422,
            "invalid_plan",
            "cycle",
        ),
        (
            json!({"cluster": "test", "stages": [
            {"name": "a", "service": "app", "component": "worker", "command": "echo", "depends_on": ["zzz"]}]}),
            422,
            "unknown_name",
            "zzz",
        ),
        (json!({"cluster": "test", "stages": []}), 422, "invalid_plan", "stage"),
    ];
    for (body, status, code, culprit) in cases {
        let (s, v) = server.post("/api/v1/jobs", body.clone()).await;
        assert_eq!(s, status, "{body} → {v}");
        assert_eq!(v["error"]["code"], code, "{body} → {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(culprit),
            "the message for {body} should name {culprit:?}: {msg}"
        );
    }

    let (s, v) = raw(&server, "/api/v1/jobs", b"{\"cluster\": ".to_vec(), "application/json").await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("malformed_json")), "{v}");
    let (s, v) = raw(&server, "/api/v1/jobs", b"cluster=test".to_vec(), "text/plain").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "{v}"
    );
    let big = format!(
        "{{\"cluster\": \"test\", \"rationale\": \"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let (s, v) = raw(&server, "/api/v1/jobs", big.into_bytes(), "application/json").await;
    assert_eq!(s, 413, "{v}");
    assert_eq!(v["error"]["code"], "body_too_large");
    let (s, v) = server.get("/api/v1/jobs/notanumber").await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("bad_path")));
    let (s, v) = server.get("/api/v1/jobs/424242").await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, v) = server.get("/api/v1/jobs?state=DANCING").await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = server
        .post("/api/v1/jobs/424242/approve", json!({"plan_hash": "x"}))
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")));
    // Under /api/ an unknown route is a JSON 404 (elsewhere it is a console route: the app).
    let (s, v) = server.get("/api/v1/no/such/route").await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, v) = server.post("/no/such/route", json!({})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")));

    // Clusters: bad stack, bad placement, duplicate name.
    let (s, v) = server
        .post("/api/v1/clusters", json!({"name": "x", "stack": "nope"}))
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = server
        .post(
            "/api/v1/clusters",
            json!({"name": "x", "stack": "testing", "hosts": [{"hostname": "h5", "components": ["app/nope"]}]}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = server
        .post("/api/v1/clusters", json!({"name": "test", "stack": "testing"}))
        .await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = server
        .post(
            "/api/v1/clusters",
            json!({"name": "y", "stack": "testing", "hosts": [{"hostname": "h1", "components": []}]}),
        )
        .await;
    assert_eq!(s, 409, "a host belongs to one cluster: {v}");
    let (_, clusters) = server.get("/api/v1/clusters").await;
    let names: Vec<&str> = clusters
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other", "test"], "failed requests created nothing");

    assert_eq!(job_count(&server).await, 0, "no failed request created a job");
}

#[tokio::test]
async fn openapi_document_and_docs_viewer_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    let (s, doc) = server.get("/api/v1/openapi.json").await;
    assert_eq!(s, 200);
    for p in [
        "/api/v1/jobs",
        "/api/v1/jobs/{id}/approve",
        "/api/v1/jobs/{id}/tasks/{task_id}/logs",
        "/api/v1/clusters",
        "/api/v1/hosts",
        "/api/v1/stacks",
        "/healthz",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing from the OpenAPI document");
    }
    let html = server.client.get(server.url("/docs/")).send().await.unwrap();
    assert_eq!(html.status(), 200);
    let body = html.text().await.unwrap();
    assert!(body.contains("swagger-ui"), "the docs page is the offline Swagger UI");
    assert!(
        !body.contains("cdn") && !body.contains("unpkg"),
        "docs must not load anything from the internet"
    );
    let (s, h) = server.get("/healthz").await;
    assert_eq!((s, h), (200, json!({"status": "ok"})));
    let metrics = server.text("/metrics").await;
    assert!(metrics.contains("steward_tasks_dispatched_total"));
}

#[test]
fn a_broken_stack_stops_the_server_with_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let stacks = test_stacks(dir.path());
    let svc = stacks.join("testing/1.0/services/app/service.toml");
    let text = std::fs::read_to_string(&svc)
        .unwrap()
        .replace("risk = \"high\"", "risk = \"extreme\"");
    std::fs::write(&svc, text).unwrap();
    let out = std::process::Command::new(steward_bin())
        .args(["serve", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--stacks-dir")
        .arg(&stacks)
        .env("STEWARD_AGENT_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("testing/1.0/services/app/service.toml:"), "{err}");
    assert!(err.contains("extreme"), "{err}");
    assert!(!dir.path().join("data/steward.db").exists(), "nothing was created");
}

#[tokio::test]
async fn an_agent_without_the_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    let mut child = std::process::Command::new(agent_bin())
        .args([
            "--server",
            &format!("http://{}", server.grpc),
            "--token",
            "wrong-token-wrong-token",
            "--hostname",
            "intruder",
            "--data-dir",
        ])
        .arg(dir.path().join("agent"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Not a sleep: wait until the server has refused it (an agent that never dialled would
    // also leave no host behind, and prove nothing).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let metrics = server.text("/metrics").await;
        let refused = metrics
            .lines()
            .find_map(|l| l.strip_prefix("steward_agent_sessions_refused_total "))
            .and_then(|n| n.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if refused >= 1.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the agent was never refused:\n{metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let (s, _) = server.get("/api/v1/hosts/intruder").await;
    assert_eq!(s, 404, "a refused agent registers no host");
}
