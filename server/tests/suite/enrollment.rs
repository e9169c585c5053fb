//! Agent enrollment over real gRPC: a one-time token becomes a per-host credential kept with
//! mode 0600; a spent, expired or foreign token is refused; a revoked credential's session is
//! closed and cannot come back; one agent per host.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

async fn enrollment(server: &Server, body: Value) -> String {
    let (s, v) = server.post("/api/v1/enrollments", body).await;
    assert_eq!(s, 201, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

async fn host_state(server: &Server, host: &str) -> String {
    server.get(&format!("/api/v1/hosts/{host}")).await.1["state"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

async fn wait_offline(server: &Server, host: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while host_state(server, host).await == "ONLINE" {
        assert!(Instant::now() < deadline, "{host} is still online");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn log_of(agent: &Agent) -> String {
    std::fs::read_to_string(agent.data.join("agent.log")).unwrap_or_default()
}

#[tokio::test]
async fn an_agent_enrolls_once_runs_jobs_and_is_shut_out_when_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    server.cluster("test", &["h1", "h2"]).await;
    let token = enrollment(&server, json!({"hostname": "h1", "expires_in": 600})).await;
    assert!(token.starts_with("stw_enr_"));

    let mut agent = start_enrolled_agent(&server, "h1", &dir.path().join("agent-h1"), &token);
    server.wait_online("h1").await;
    let cred_file = steward_agent::credential_path(&agent.data);
    let mode = std::fs::metadata(&cred_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the credential is owner-only");
    let credential = std::fs::read_to_string(&cred_file).unwrap();
    assert!(credential.starts_with("stw_agt_"));

    // It works like any agent.
    let job = server
        .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "params": {"lines": 2}}))
        .await;
    server.approve(&job).await;
    assert_eq!(
        server.wait_done(job["id"].as_i64().unwrap(), 30).await["state"],
        "SUCCESSFUL"
    );

    // The token is spent: a second use is refused, whoever tries.
    let e = enroll_over_grpc(&server, &token, "h1").await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    assert!(e.message().contains("already used"), "{}", e.message());
    let (_, list) = server.get("/api/v1/enrollments").await;
    assert_eq!(list[0]["used_by"], "h1");

    // A restart reuses the stored credential (the token is not needed again).
    agent.restart();
    server.wait_online("h1").await;

    // Revocation closes the live session, and the agent cannot come back.
    let (_, creds) = server.get("/api/v1/agent-credentials").await;
    let id = creds[0]["id"].as_i64().unwrap();
    let (s, v) = server
        .call_as(
            &server.token,
            reqwest::Method::DELETE,
            &format!("/api/v1/agent-credentials/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    wait_offline(&server, "h1", 10).await;
    // Not a fixed wait: the agent tries again, and that attempt is refused (its log says so).
    let refusals = |log: &str| log.matches("the server will not serve this agent").count();
    let before = refusals(&log_of(&agent));
    let deadline = Instant::now() + Duration::from_secs(15);
    while refusals(&log_of(&agent)) <= before {
        assert!(
            Instant::now() < deadline,
            "the agent never tried again: {}",
            log_of(&agent)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(host_state(&server, "h1").await, "ONLINE", "a revoked agent reconnected");
    let log = log_of(&agent);
    assert!(log.contains("revoked"), "the agent was told why: {log}");
    let (_, audit) = server.get("/api/v1/audit?action=credential.revoked").await;
    assert_eq!(audit.as_array().unwrap().len(), 1);

    // An unknown credential is refused at connect time too.
    let mut c = steward_proto::v1::agent_service_client::AgentServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    let mut req = tonic::Request::new(futures::stream::empty::<steward_proto::v1::AgentMessage>());
    req.metadata_mut()
        .insert("authorization", "Bearer stw_agt_0000".parse().unwrap());
    let e = c.session(req).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn enrollment_tokens_are_bound_to_their_host_cluster_and_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    server.cluster("test", &["h1"]).await;

    let bound = enrollment(&server, json!({"hostname": "h9"})).await;
    let e = enroll_over_grpc(&server, &bound, "h8").await.unwrap_err();
    assert!(e.message().contains("not for host h8"), "{}", e.message());
    let e = enroll_over_grpc(&server, "stw_enr_nonsense", "h9").await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    let e = enroll_over_grpc(&server, &bound, "bad host name!").await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    // A cluster-bound token puts the host into that cluster.
    let joined = enrollment(&server, json!({"cluster": "test"})).await;
    enroll_over_grpc(&server, &joined, "h5").await.unwrap();
    let (_, host) = server.get("/api/v1/hosts/h5").await;
    assert_eq!(host["cluster"], "test", "{host}");

    // Bad requests change nothing.
    for (body, why) in [
        (json!({"cluster": "nope"}), "unknown cluster"),
        (json!({"hostname": "no spaces allowed"}), "bad hostname"),
        (json!({"expires_in": 5}), "too short"),
        (json!({"expires_in": 99999999}), "too long"),
        (json!({"token": "mine"}), "unknown field"),
    ] {
        let (s, v) = server.post("/api/v1/enrollments", body).await;
        assert!(s == 422 || s == 400, "{why}: {s} {v}");
    }
    let (_, list) = server.get("/api/v1/enrollments").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn one_agent_per_host_a_second_claim_is_refused_while_the_first_is_live() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    server.cluster("test", &["h1"]).await;
    let first = start_agent(&server, "h1", &dir.path().join("first"));
    server.wait_online("h1").await;
    let second = start_agent(&server, "h1", &dir.path().join("second"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log_of(&second).contains("one agent per host") {
        assert!(
            Instant::now() < deadline,
            "the second agent was not refused: {}",
            log_of(&second)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The first keeps working.
    let job = server
        .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "params": {"lines": 1}}))
        .await;
    server.approve(&job).await;
    assert_eq!(
        server.wait_done(job["id"].as_i64().unwrap(), 30).await["state"],
        "SUCCESSFUL"
    );
    assert_eq!(first.tasks_received(), 1);

    // A credential for h1 cannot claim another host either.
    let token = enrollment(&server, json!({"hostname": "h2"})).await;
    let credential = enroll_over_grpc(&server, &token, "h2").await.unwrap();
    let impostor = dir.path().join("impostor");
    std::fs::create_dir_all(&impostor).unwrap();
    let mut child = std::process::Command::new(agent_bin())
        .args([
            "--server",
            &format!("http://{}", server.grpc),
            "--hostname",
            "h1",
            "--data-dir",
        ])
        .arg(&impostor)
        .args(["--token", &credential])
        .env_remove("STEWARD_AGENT_TOKEN")
        .stderr(std::fs::File::create(impostor.join("agent.log")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(impostor.join("agent.log")).unwrap_or_default();
        if log.contains("belongs to host") {
            break;
        }
        assert!(Instant::now() < deadline, "the impostor was not refused: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn an_unbound_token_cannot_take_over_an_existing_host_a_bound_one_replaces_it_audited() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    server.cluster("test", &["h1", "h2"]).await;
    let first = enrollment(&server, json!({"hostname": "h1"})).await;
    let _agent = start_enrolled_agent(&server, "h1", &dir.path().join("agent-h1"), &first);
    server.wait_online("h1").await;

    // An unbound token (cluster-bound or not) names an enrolled host, and one only declared
    // in a cluster: both refused, the token left unused, the live credential untouched.
    for body in [json!({}), json!({"cluster": "test"})] {
        let unbound = enrollment(&server, body).await;
        for host in ["h1", "h2"] {
            let e = enroll_over_grpc(&server, &unbound, host).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::PermissionDenied, "{host}: {e:?}");
            assert!(e.message().contains("already registered"), "{}", e.message());
        }
    }
    let (_, list) = server.get("/api/v1/enrollments").await;
    let unused = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["used_by"].is_null())
        .count();
    assert_eq!(unused, 2, "refused attempts spend nothing: {list}");
    let (_, creds) = server.get("/api/v1/agent-credentials").await;
    let creds = creds.as_array().unwrap().clone();
    assert_eq!(creds.len(), 1, "{creds:?}");
    assert!(
        creds[0]["revoked_at"].is_null(),
        "h1's credential was revoked: {creds:?}"
    );
    assert_eq!(host_state(&server, "h1").await, "ONLINE");

    // A new host enrolls with an unbound token, and that is an enrollment, not a replacement.
    let unbound = enrollment(&server, json!({})).await;
    enroll_over_grpc(&server, &unbound, "h7").await.unwrap();

    // A token bound to h1 re-enrolls it: the old credential is revoked, and it is audited as a
    // replacement naming the replaced credential.
    let bound = enrollment(&server, json!({"hostname": "h1"})).await;
    enroll_over_grpc(&server, &bound, "h1").await.unwrap();
    wait_offline(&server, "h1", 10).await;
    let (_, audit) = server.get("/api/v1/audit?action=agent.replaced").await;
    let audit = audit.as_array().unwrap().clone();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["target"], "host:h1");
    assert_eq!(audit[0]["details"]["replaced"], json!([creds[0]["id"]]));
    let (_, enrolled) = server.get("/api/v1/audit?action=agent.enrolled").await;
    assert_eq!(enrolled.as_array().unwrap().len(), 2, "h1 once and h7: {enrolled}");
}

#[tokio::test]
async fn enroll_is_rate_limited_per_address_and_logs_client_strings_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[("STEWARD_LOGIN_ATTEMPTS_PER_MINUTE", "5")]);
    // A hostname that would forge a log line if written raw.
    let e = enroll_over_grpc(&server, "stw_enr_x", "h1\nFORGED-LINE level=INFO admin logged in")
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    let mut codes = vec![];
    for i in 0..6 {
        let e = enroll_over_grpc(&server, &format!("stw_enr_guess{i}"), "h1")
            .await
            .unwrap_err();
        codes.push(e.code());
    }
    assert_eq!(codes[..4], [tonic::Code::Unauthenticated; 4], "{codes:?}");
    assert_eq!(codes[4..], [tonic::Code::ResourceExhausted; 2], "{codes:?}");
    // A valid token from the same address waits too: the limit is on the address.
    let (_, v) = server.post("/api/v1/enrollments", json!({"hostname": "h1"})).await;
    let e = enroll_over_grpc(&server, v["token"].as_str().unwrap(), "h1")
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted);
    let log = std::fs::read_to_string(server.data.join("server.log")).unwrap();
    assert!(log.contains("enrollment refused"), "{log}");
    assert!(
        !log.lines().any(|l| l.starts_with("FORGED-LINE")),
        "a client string forged a log line:\n{log}"
    );
    assert!(
        log.contains(r"h1\nFORGED-LINE"),
        "the hostname is logged escaped:\n{log}"
    );
}
