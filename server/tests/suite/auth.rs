//! Identity over the real HTTP API: every route's role rule, four-eyes, token expiry and
//! revocation, lockout, rate limits, the audit chain and secrets kept out of logs.

use std::time::Duration;

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use steward_llm::testing::{FakeOpenAi, Reply};

const ROLES: [&str; 4] = ["viewer", "operator", "approver", "admin"];

fn rank(role: &str) -> usize {
    match role {
        "public" => 0,
        r => ROLES.iter().position(|x| *x == r).expect("a role") + 1,
    }
}

/// A request ready to send for one operation: the path with real ids, a body, and the token
/// to use instead of the role's own (logout spends the token it is given).
struct Prepared {
    path: String,
    body: Option<Value>,
    token: Option<String>,
}

struct World {
    server: Server,
    fake: FakeOpenAi,
    tokens: Vec<String>,
    finished_job: i64,
    finished_task: i64,
    credential_id: i64,
    incident_id: i64,
    n: std::sync::atomic::AtomicUsize,
}

impl World {
    fn next(&self) -> usize {
        self.n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    async fn proposed(&self) -> Value {
        self.server
            .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "params": {"lines": 1}}))
            .await
    }

    /// Fresh ids and bodies for `method path`, so each role's call can succeed on its own.
    async fn prepare(&self, method: &str, path: &str, role: Option<&str>, token: &str) -> Prepared {
        let plain = |p: &str| Prepared {
            path: p.to_owned(),
            body: None,
            token: None,
        };
        let with = |p: String, b: Value| Prepared {
            path: p,
            body: Some(b),
            token: None,
        };
        let i = self.next();
        match (method, path) {
            ("POST", "/api/v1/auth/login") => {
                with(path.into(), json!({"username": "admin", "password": ADMIN_PASSWORD}))
            }
            ("POST", "/api/v1/auth/logout") => {
                let own = match role {
                    Some(r) if r != "admin" => {
                        login(self.server.scheme, self.server.http, r, &format!("{r}-password-123")).unwrap()
                    }
                    Some(_) => login(self.server.scheme, self.server.http, "admin", ADMIN_PASSWORD).unwrap(),
                    None => String::new(),
                };
                Prepared {
                    path: path.into(),
                    body: Some(json!({})),
                    token: Some(own),
                }
            }
            ("POST", "/api/v1/users") => with(
                path.into(),
                json!({"username": format!("u{i}"), "password": "a-long-password-1", "role": "viewer"}),
            ),
            ("PATCH" | "DELETE", "/api/v1/users/{id}") => {
                let (_, u) = self
                    .server
                    .post(
                        "/api/v1/users",
                        json!({"username": format!("p{i}"), "password": "a-long-password-1", "role": "viewer"}),
                    )
                    .await;
                let p = format!("/api/v1/users/{}", u["id"]);
                if method == "PATCH" {
                    with(p, json!({"role": "operator"}))
                } else {
                    plain(&p)
                }
            }
            ("DELETE", "/api/v1/enrollments/{id}") => {
                let (_, e) = self
                    .server
                    .post("/api/v1/enrollments", json!({"hostname": format!("r{i}")}))
                    .await;
                plain(&format!("/api/v1/enrollments/{}", e["id"]))
            }
            ("GET", "/api/v1/stacks/docs/{path}") => plain("/api/v1/stacks/docs/testing/1.0/services/app/docs/app.md"),
            ("GET", "/api/v1/hosts/{id}/metrics/series") => plain("/api/v1/hosts/h1/metrics/series"),
            ("POST", "/api/v1/tokens") => with(path.into(), json!({"name": format!("t{i}"), "role": "viewer"})),
            ("DELETE", "/api/v1/tokens/{id}") => {
                let (_, t) = self
                    .server
                    .post("/api/v1/tokens", json!({"name": format!("d{i}"), "role": "viewer"}))
                    .await;
                plain(&format!("/api/v1/tokens/{}", t["id"]))
            }
            ("POST", "/api/v1/enrollments") => with(path.into(), json!({"hostname": format!("e{i}")})),
            ("POST", "/api/v1/chat-identities") => with(
                path.into(),
                json!({"provider": "telegram", "external_id": format!("{}", 1000 + i), "username": "viewer"}),
            ),
            ("DELETE", "/api/v1/chat-identities/{id}") => {
                let (_, l) = self
                    .server
                    .post(
                        "/api/v1/chat-identities",
                        json!({"provider": "telegram", "external_id": format!("{}", 5000 + i), "username": "viewer"}),
                    )
                    .await;
                plain(&format!("/api/v1/chat-identities/{}", l["id"]))
            }
            ("DELETE", "/api/v1/agent-credentials/{id}") => {
                plain(&format!("/api/v1/agent-credentials/{}", self.credential_id))
            }
            ("POST", "/api/v1/clusters") => with(
                path.into(),
                json!({"name": format!("c{i}"), "stack": "testing", "hosts": [{"hostname": format!("ch{i}"), "components": ["app/worker"]}]}),
            ),
            ("GET", "/api/v1/clusters/{id}") => plain("/api/v1/clusters/test"),
            ("DELETE", "/api/v1/clusters/{id}") => {
                let name = format!("gone{i}");
                self.server
                    .post(
                        "/api/v1/clusters",
                        json!({"name": name, "stack": "testing", "hosts": []}),
                    )
                    .await;
                plain(&format!("/api/v1/clusters/{name}"))
            }
            ("GET", "/api/v1/knowledge/search") => plain("/api/v1/knowledge/search?q=echo%20output"),
            ("GET", "/api/v1/hosts/{id}") => plain("/api/v1/hosts/h1"),
            ("GET", "/api/v1/hosts/{id}/metrics") => plain("/api/v1/hosts/h1/metrics?name=mem_used_pct"),
            ("GET", "/api/v1/incidents/{id}") => plain(&format!("/api/v1/incidents/{}", self.incident_id)),
            ("POST", "/api/v1/jobs") => with(
                path.into(),
                json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "params": {"lines": 1}}),
            ),
            ("GET", "/api/v1/jobs/{id}") => plain(&format!("/api/v1/jobs/{}", self.finished_job)),
            ("GET", "/api/v1/jobs/{id}/tasks/{task_id}/logs") => plain(&format!(
                "/api/v1/jobs/{}/tasks/{}/logs",
                self.finished_job, self.finished_task
            )),
            ("POST", "/api/v1/jobs/{id}/summary") => {
                self.fake.push(Reply::completion("It printed one line."));
                with(format!("/api/v1/jobs/{}/summary", self.finished_job), json!({}))
            }
            ("POST", "/api/v1/jobs/{id}/approve") => {
                let j = self.proposed().await;
                with(
                    format!("/api/v1/jobs/{}/approve", j["id"]),
                    json!({"plan_hash": j["plan_hash"]}),
                )
            }
            ("POST", "/api/v1/jobs/{id}/reject") => {
                let j = self.proposed().await;
                with(format!("/api/v1/jobs/{}/reject", j["id"]), json!({}))
            }
            ("POST", "/api/v1/jobs/{id}/cancel") => {
                // Still running when the cancel comes: approve answers once it is dispatched.
                let j = self
                    .server
                    .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "slow", "hosts": ["h1"], "params": {"ticks": 50}}))
                    .await;
                self.server.approve(&j).await;
                with(format!("/api/v1/jobs/{}/cancel", j["id"]), json!({}))
            }
            ("POST", "/api/v1/chat/conversations") => with(path.into(), json!({})),
            ("GET" | "POST", "/api/v1/chat/conversations/{id}/messages") => {
                // A conversation of the caller's own (conversations belong to their user).
                let (_, c) = self
                    .server
                    .call_as(
                        if token.is_empty() { &self.server.token } else { token },
                        Method::POST,
                        "/api/v1/chat/conversations",
                        Some(json!({})),
                    )
                    .await;
                let p = format!("/api/v1/chat/conversations/{}/messages", c["id"].as_i64().unwrap_or(0));
                if method == "POST" {
                    self.fake.push(Reply::completion("Nothing to do."));
                    with(p, json!({"text": "hello"}))
                } else {
                    plain(&p)
                }
            }
            _ => plain(path),
        }
    }
}

async fn send(server: &Server, method: &str, p: &Prepared, token: &str) -> u16 {
    let token = p.token.as_deref().unwrap_or(token);
    let mut r = server.client.request(method.parse().unwrap(), server.url(&p.path));
    if !token.is_empty() {
        r = r.bearer_auth(token);
    }
    if let Some(b) = &p.body {
        r = r.json(b);
    }
    // Status only: some routes stream (SSE) and never end.
    let resp = tokio::time::timeout(Duration::from_secs(10), r.send())
        .await
        .expect("answered")
        .unwrap();
    resp.status().as_u16()
}

/// Who may call what, written out here route by route rather than read from the server's
/// table, so a wrong role there fails this test. A route the OpenAPI document lists that is
/// missing here fails it too: add it, with the role it must have. (`/metrics`, the OpenAPI
/// document and `/docs` are public and not in the document.)
const EXPECTED_ROLES: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "public"),
    ("POST", "/api/v1/auth/login", "public"),
    ("POST", "/api/v1/auth/logout", "viewer"),
    ("GET", "/api/v1/auth/me", "viewer"),
    ("POST", "/api/v1/chat-identities/link-code", "viewer"),
    ("GET", "/api/v1/chat-identities", "admin"),
    ("POST", "/api/v1/chat-identities", "admin"),
    ("DELETE", "/api/v1/chat-identities/{id}", "admin"),
    ("GET", "/api/v1/clusters", "viewer"),
    ("GET", "/api/v1/clusters/{id}", "viewer"),
    ("GET", "/api/v1/hosts", "viewer"),
    ("GET", "/api/v1/hosts/{id}", "viewer"),
    ("GET", "/api/v1/hosts/{id}/metrics", "viewer"),
    ("GET", "/api/v1/hosts/{id}/metrics/series", "viewer"),
    ("GET", "/api/v1/stacks", "viewer"),
    ("GET", "/api/v1/stacks/docs/{path}", "viewer"),
    ("GET", "/api/v1/jobs", "viewer"),
    ("GET", "/api/v1/jobs/{id}", "viewer"),
    ("GET", "/api/v1/events", "viewer"),
    ("GET", "/api/v1/knowledge/status", "viewer"),
    ("GET", "/api/v1/incidents", "viewer"),
    ("GET", "/api/v1/incidents/{id}", "viewer"),
    ("GET", "/metrics/hosts", "viewer"),
    ("POST", "/api/v1/jobs", "operator"),
    ("GET", "/api/v1/jobs/{id}/tasks/{task_id}/logs", "operator"),
    ("POST", "/api/v1/jobs/{id}/summary", "operator"),
    ("GET", "/api/v1/knowledge/search", "operator"),
    ("GET", "/api/v1/chat/conversations", "operator"),
    ("POST", "/api/v1/chat/conversations", "operator"),
    ("GET", "/api/v1/chat/conversations/{id}/messages", "operator"),
    ("POST", "/api/v1/chat/conversations/{id}/messages", "operator"),
    ("POST", "/api/v1/jobs/{id}/approve", "approver"),
    ("POST", "/api/v1/jobs/{id}/reject", "approver"),
    ("POST", "/api/v1/jobs/{id}/cancel", "approver"),
    ("POST", "/api/v1/clusters", "admin"),
    ("DELETE", "/api/v1/clusters/{id}", "admin"),
    ("GET", "/api/v1/users", "admin"),
    ("POST", "/api/v1/users", "admin"),
    ("PATCH", "/api/v1/users/{id}", "admin"),
    ("DELETE", "/api/v1/users/{id}", "admin"),
    ("GET", "/api/v1/tokens", "admin"),
    ("POST", "/api/v1/tokens", "admin"),
    ("DELETE", "/api/v1/tokens/{id}", "admin"),
    ("GET", "/api/v1/enrollments", "admin"),
    ("POST", "/api/v1/enrollments", "admin"),
    ("DELETE", "/api/v1/enrollments/{id}", "admin"),
    ("GET", "/api/v1/agent-credentials", "admin"),
    ("DELETE", "/api/v1/agent-credentials/{id}", "admin"),
    ("GET", "/api/v1/audit", "admin"),
    ("GET", "/api/v1/audit/verify", "admin"),
];

#[tokio::test]
async fn every_route_declares_a_role_and_every_role_gets_401_403_or_2xx_as_declared() {
    let dir = tempfile::tempdir().unwrap();
    let stacks = test_stacks(dir.path());
    // One document for the stack-document route to serve.
    let docs = stacks.join("testing/1.0/services/app/docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("app.md"), "# app\n\nOne worker per host.\n").unwrap();
    let fake = FakeOpenAi::start().await;
    let url = fake.base_url();
    let server = server_on(
        dir.path(),
        &stacks,
        &fake_llm_env(
            &url,
            &[
                ("STEWARD_PROPOSALS_PER_MINUTE", "10000"),
                ("STEWARD_CHAT_MESSAGES_PER_MINUTE", "10000"),
                ("STEWARD_LOGIN_ATTEMPTS_PER_MINUTE", "10000"),
                // The knowledge routes answer 503 when the index is off; the testing stack has one
                // short document, so turning it on costs little more than the model's load.
                ("STEWARD_EMBEDDER", "local"),
                // Any memory use is an incident, so there is one to read; no proposal for it, so
                // the fake model's replies stay for the routes that use them.
                ("STEWARD_METRICS_INTERVAL_MS", "300"),
                ("STEWARD_DETECT_THRESHOLDS", "mem_used_pct>0:0"),
                ("STEWARD_DETECT_FOR_SECS", "0"),
                ("STEWARD_REMEDIATE", "false"),
            ],
        ),
    );
    server.cluster("test", &["h1", "h2"]).await;
    let _agent = start_agent(&server, "h1", &dir.path().join("agent-h1"));
    server.wait_online("h1").await;
    let mut tokens = vec![];
    for r in ROLES {
        tokens.push(if r == "admin" {
            server.token.clone()
        } else {
            server.user(r, r).await
        });
    }
    let job = server
        .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "params": {"lines": 2}}))
        .await;
    server.approve(&job).await;
    let finished_job = job["id"].as_i64().unwrap();
    let done = server.wait_done(finished_job, 30).await;
    let finished_task = done["stages"][0]["tasks"][0]["id"].as_i64().unwrap();
    // One real credential to revoke: enrolled over gRPC.
    let (_, e) = server
        .post("/api/v1/enrollments", json!({"hostname": "cred-host"}))
        .await;
    enroll_over_grpc(&server, e["token"].as_str().unwrap(), "cred-host")
        .await
        .unwrap();
    let (_, creds) = server.get("/api/v1/agent-credentials").await;
    let credential_id = creds[0]["id"].as_i64().unwrap();
    let mut incident_id = None;
    for _ in 0..100 {
        let (_, list) = server.get("/api/v1/incidents").await;
        incident_id = list[0]["id"].as_i64();
        if incident_id.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let incident_id = incident_id.expect("the memory threshold opened an incident");
    let world = World {
        server,
        fake,
        tokens,
        finished_job,
        finished_task,
        credential_id,
        incident_id,
        n: Default::default(),
    };

    let (s, doc) = world
        .server
        .call_as("", Method::GET, "/api/v1/openapi.json", None)
        .await;
    assert_eq!(s, 200);
    let mut checked = 0;
    let mut failures = vec![];
    let mut seen = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let declared = op["x-steward-min-role"].as_str().unwrap_or("undeclared");
            assert_ne!(declared, "undeclared", "{method} {path} has no declared minimum role");
            let Some(&(_, _, min)) = EXPECTED_ROLES.iter().find(|(m, p, _)| *m == method && p == path) else {
                failures.push(format!(
                    "{method} {path} (declared {declared}) is not in EXPECTED_ROLES"
                ));
                continue;
            };
            if declared != min {
                failures.push(format!("{method} {path}: declared {declared}, expected {min}"));
            }
            seen.insert((method.clone(), path.clone()));
            let mut row = vec![];
            for who in std::iter::once(None).chain(ROLES.iter().map(Some)) {
                let token = who.map_or(String::new(), |r| world.tokens[rank(r) - 1].clone());
                let p = world.prepare(&method, path, who.copied(), &token).await;
                let got = send(&world.server, &method, &p, &token).await;
                let allowed = min == "public" || who.is_some_and(|r| rank(r) >= rank(min));
                let ok = match (who, allowed) {
                    (_, true) => (200..300).contains(&got),
                    (None, false) => got == 401,
                    (Some(_), false) => got == 403,
                };
                row.push(format!("{}={got}", who.unwrap_or(&"none")));
                if !ok {
                    failures.push(format!("{method} {path} (min {min}): {}", row.last().unwrap()));
                }
                checked += 1;
            }
        }
    }
    for (m, p, _) in EXPECTED_ROLES {
        if !seen.contains(&(m.to_string(), p.to_string())) {
            failures.push(format!("{m} {p} is expected but the server does not document it"));
        }
    }
    assert!(failures.is_empty(), "role matrix mismatches:\n{}", failures.join("\n"));
    assert!(
        checked >= 5 * 40,
        "only {checked} calls: routes are missing from the document"
    );
}

#[tokio::test]
async fn high_risk_or_wide_jobs_need_a_second_person_and_low_risk_ones_may_be_self_approved() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[("STEWARD_FOUR_EYES_HOSTS", "1")]);
    server.cluster("test", &["h1", "h2"]).await;
    let ann = server.user("ann", "approver").await;
    let bob = server.user("bob", "approver").await;
    let propose = |body: Value| {
        let server = &server;
        let ann = ann.clone();
        async move {
            let (s, v) = server.call_as(&ann, Method::POST, "/api/v1/jobs", Some(body)).await;
            assert_eq!(s, 201, "{v}");
            v
        }
    };

    let high = propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "orphan", "hosts": ["h1"], "params": {"pidfile": "/tmp/x"}})).await;
    assert_eq!(high["risk"], "high");
    let (s, v) = server.approve_as(&ann, &high).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "four_eyes");
    assert!(v["error"]["message"].as_str().unwrap().contains("high risk"), "{v}");
    let (_, still) = server.get(&format!("/api/v1/jobs/{}", high["id"])).await;
    assert_eq!(still["state"], "PROPOSED", "a refused approval changes nothing");
    let (s, v) = server.approve_as(&bob, &high).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["decided_by"], "bob");

    let wide = propose(
        json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "params": {"lines": 1}}),
    )
    .await;
    let (s, v) = server.approve_as(&ann, &wide).await;
    assert_eq!(s, 403, "two hosts is more than STEWARD_FOUR_EYES_HOSTS=1: {v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("2 hosts"), "{v}");

    let low = propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "params": {"lines": 1}})).await;
    let (s, v) = server.approve_as(&ann, &low).await;
    assert_eq!(s, 200, "a low-risk job on one host may be self-approved: {v}");
}

#[tokio::test]
async fn four_eyes_compares_persons_so_a_tokens_proposal_is_not_approved_by_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    server.cluster("test", &["h1"]).await;
    let token = |name: &str, role: &str| {
        let server = &server;
        let body = json!({"name": name, "role": role});
        async move {
            let (s, v) = server.post("/api/v1/tokens", body).await;
            assert_eq!(s, 201, "{v}");
            assert_eq!(v["created_by"], "admin", "a token belongs to its creator: {v}");
            v["token"].as_str().unwrap().to_owned()
        }
    };
    // The admin's tokens: one proposes, one approves.
    let ci = token("ci", "operator").await;
    let deployer = token("deployer", "approver").await;
    let high = json!({"cluster": "test", "service": "app", "component": "worker", "command": "orphan", "hosts": ["h1"], "params": {"pidfile": "/tmp/x"}});

    let (s, job) = server
        .call_as(&ci, Method::POST, "/api/v1/jobs", Some(high.clone()))
        .await;
    assert_eq!(s, 201, "{job}");
    assert_eq!(job["requested_by"], "token:ci");
    // Neither the owner's session nor another of the owner's tokens is a second person.
    for who in [server.token.clone(), deployer.clone()] {
        let (s, v) = server.approve_as(&who, &job).await;
        assert_eq!(s, 403, "{v}");
        assert_eq!(v["error"]["code"], "four_eyes");
        assert!(v["error"]["message"].as_str().unwrap().contains("admin"), "{v}");
    }
    // And the reverse: the admin's own proposal, approved by the admin's token.
    let mine = server.propose(high.clone()).await;
    let (s, v) = server.approve_as(&deployer, &mine).await;
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("four_eyes")), "{v}");
    // Another person approves both.
    server.approve(&job).await;
    server.approve(&mine).await;
    let (_, audit) = server.get("/api/v1/audit?action=job.approved").await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["details"]["owner"] == "approver"),
        "{audit}"
    );
}

#[tokio::test]
async fn api_tokens_work_until_they_expire_or_are_revoked_and_are_shown_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (s, short) = server
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "role": "operator", "expires_at": expires}),
        )
        .await;
    assert_eq!(s, 201, "{short}");
    let secret = short["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("stw_api_"));
    let (s, me) = server.call_as(&secret, Method::GET, "/api/v1/auth/me", None).await;
    assert_eq!(
        (s, me["name"].as_str(), me["role"].as_str()),
        (200, Some("token:ci"), Some("operator"))
    );
    let (s, _) = server
        .call_as(
            &secret,
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "x", "password": "a-long-password-1", "role": "admin"})),
        )
        .await;
    assert_eq!(s, 403, "an operator token cannot make users");

    let (_, list) = server.get("/api/v1/tokens").await;
    assert!(
        !list.to_string().contains(&secret),
        "listing never shows a secret: {list}"
    );

    let (s, long) = server
        .post("/api/v1/tokens", json!({"name": "deploy", "role": "viewer"}))
        .await;
    assert_eq!(s, 201);
    let long_secret = long["token"].as_str().unwrap().to_owned();
    let (s, v) = server
        .post("/api/v1/tokens", json!({"name": "deploy", "role": "viewer"}))
        .await;
    assert_eq!(s, 409, "a live token's name is taken: {v}");
    let (s, _) = server
        .call_as(
            &server.token,
            Method::DELETE,
            &format!("/api/v1/tokens/{}", long["id"]),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = server.call_as(&long_secret, Method::GET, "/api/v1/jobs", None).await;
    assert_eq!(s, 401, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("revoked"), "{v}");

    // It works until its expiry passes, then is refused as expired (polled, with a deadline).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let v = loop {
        let (s, v) = server.call_as(&secret, Method::GET, "/api/v1/jobs", None).await;
        if s == 401 {
            break v;
        }
        assert_eq!(s, 200, "{v}");
        assert!(std::time::Instant::now() < deadline, "the token never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"), "{v}");
    let (s, v) = server.call_as("stw_api_0000", Method::GET, "/api/v1/jobs", None).await;
    assert_eq!(s, 401, "{v}");
    let (s, v) = server
        .post(
            "/api/v1/tokens",
            json!({"name": "old", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
}

#[tokio::test]
async fn repeated_failed_logins_lock_the_user_and_flooding_addresses_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), LOGIN_LIMITS);
    server.user("carol", "viewer").await;
    for _ in 0..3 {
        assert_eq!(
            login_status(&server, &server.client, "carol", "wrong-password-xx")
                .await
                .0,
            401
        );
    }
    // Locked: even the right password is refused now, with a Retry-After.
    let (s, retry) = login_status(&server, &server.client, "carol", "carol-password-123").await;
    assert_eq!(s, 429);
    assert!(retry.unwrap() > 30);
    // Another user is not locked.
    assert_eq!(
        login_status(&server, &server.client, "admin", ADMIN_PASSWORD).await.0,
        200
    );
    // The address has made 7 attempts (the harness logged admin and carol in); 12 per minute
    // is its limit, refilling one every 5 s.
    let mut codes = vec![];
    for i in 0..10 {
        codes.push(
            login_status(&server, &server.client, &format!("nobody{i}"), "whatever-password")
                .await
                .0,
        );
    }
    assert!(codes.ends_with(&[429, 429]), "{codes:?}");
    let (_, audit) = server.get("/api/v1/audit?action=auth.login_failed").await;
    let locked: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["locked"] == true)
        .collect();
    assert!(!locked.is_empty(), "the lockout is audited: {audit}");
}

#[tokio::test]
async fn login_limits_follow_the_real_peer_address_and_never_lock_a_user_out_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), LOGIN_LIMITS);
    check_login_limits_per_address(&server, client_from).await;
}

#[tokio::test]
async fn proposals_are_rate_limited_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[("STEWARD_PROPOSALS_PER_MINUTE", "3")]);
    server.cluster("test", &["h1"]).await;
    let body = json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "params": {"lines": 1}});
    for _ in 0..3 {
        assert_eq!(server.post("/api/v1/jobs", body.clone()).await.0, 201);
    }
    let (s, v) = server.post("/api/v1/jobs", body.clone()).await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["error"]["code"], "rate_limited");
    let (_, jobs) = server.get("/api/v1/jobs").await;
    assert_eq!(
        jobs.as_array().unwrap().len(),
        3,
        "the refused proposal changed nothing"
    );
    let dave = server.user("dave", "operator").await;
    let (s, _) = server.call_as(&dave, Method::POST, "/api/v1/jobs", Some(body)).await;
    assert_eq!(s, 201, "the limit is per user");
}

#[tokio::test]
async fn the_audit_chain_verifies_and_names_the_first_edited_or_removed_event() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    server.cluster("test", &["h1"]).await;
    for _ in 0..3 {
        let j = server
            .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "params": {"lines": 1}}))
            .await;
        server
            .post(&format!("/api/v1/jobs/{}/reject", j["id"]), json!({"comment": "no"}))
            .await;
    }
    let (_, v) = server.get("/api/v1/audit/verify").await;
    assert_eq!(v["ok"], true, "{v}");
    let total = v["events"].as_u64().unwrap();
    assert!(total >= 8, "{v}");
    let (_, rejected) = server.get("/api/v1/audit?action=job.rejected&limit=10").await;
    assert_eq!(rejected.as_array().unwrap().len(), 3);
    let (_, jobs) = server.get("/api/v1/audit?action=job.&actor=admin").await;
    assert_eq!(
        jobs.as_array().unwrap().len(),
        6,
        "proposals and rejections by admin: {jobs}"
    );
    let victim = rejected[1]["id"].as_i64().unwrap();

    let db = sea_orm::Database::connect(database_url(&server.data)).await.unwrap();
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!(
        "UPDATE audit_events SET actor = 'mallory' WHERE id = {victim}"
    ))
    .await
    .unwrap();
    let (_, v) = server.get("/api/v1/audit/verify").await;
    assert_eq!(
        (v["ok"].clone(), v["first_broken"].as_i64()),
        (json!(false), Some(victim)),
        "{v}"
    );
    assert!(v["reason"].as_str().unwrap().contains("edited"), "{v}");
    // The CLI says the same and exits 1.
    let out = std::process::Command::new(steward_bin())
        .args(["--server", &server.url(""), "--token", &server.token, "audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("BROKEN at event {victim}")), "{text}");

    // Put it back; then remove an earlier event: the one after the gap is named.
    db.execute_unprepared(&format!("UPDATE audit_events SET actor = 'admin' WHERE id = {victim}"))
        .await
        .unwrap();
    assert_eq!(server.get("/api/v1/audit/verify").await.1["ok"], true);
    db.execute_unprepared("DELETE FROM audit_events WHERE id = 2")
        .await
        .unwrap();
    let (_, v) = server.get("/api/v1/audit/verify").await;
    assert_eq!(v["first_broken"].as_i64(), Some(3), "{v}");
}

#[tokio::test]
async fn secrets_never_reach_the_log_the_audit_log_or_a_listing() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    server.cluster("test", &["h1"]).await;
    let (_, t) = server
        .post("/api/v1/tokens", json!({"name": "ci", "role": "viewer"}))
        .await;
    let api_secret = t["token"].as_str().unwrap().to_owned();
    let (_, e) = server.post("/api/v1/enrollments", json!({"hostname": "h1"})).await;
    let enroll_secret = e["token"].as_str().unwrap().to_owned();
    let agent = start_enrolled_agent(&server, "h1", &dir.path().join("agent"), &enroll_secret);
    server.wait_online("h1").await;
    let credential = std::fs::read_to_string(steward_agent::credential_path(&agent.data)).unwrap();
    server.user("erin", "viewer").await;
    // A failed login with a password-looking username must not store the password either.
    let _ = login(server.scheme, server.http, "erin", "erin-wrong-password-1");

    let (_, audit) = server.get("/api/v1/audit?limit=1000").await;
    let (_, tokens) = server.get("/api/v1/tokens").await;
    let (_, enrollments) = server.get("/api/v1/enrollments").await;
    let (_, users) = server.get("/api/v1/users").await;
    let log = std::fs::read_to_string(server.data.join("server.log")).unwrap();
    let agent_log = std::fs::read_to_string(agent.data.join("agent.log")).unwrap();
    for secret in [
        ADMIN_PASSWORD,
        "erin-password-123",
        "erin-wrong-password-1",
        api_secret.as_str(),
        enroll_secret.as_str(),
        credential.trim(),
        server.token.as_str(),
    ] {
        for (what, text) in [
            ("server log", log.clone()),
            ("agent log", agent_log.clone()),
            ("audit log", audit.to_string()),
            ("token list", tokens.to_string()),
            ("enrollment list", enrollments.to_string()),
            ("user list", users.to_string()),
        ] {
            assert!(
                !text.contains(secret),
                "the {what} contains a secret ({}…)",
                &secret[..6]
            );
        }
    }
    assert!(
        !users.to_string().contains("argon2"),
        "password hashes are never listed"
    );
}

#[tokio::test]
async fn audit_verify_catches_a_rewritten_chain_and_a_cut_tail_and_lifecycle_events_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(
        dir.path(),
        &[("STEWARD_LOGIN_MAX_FAILURES", "2"), ("STEWARD_LOCKOUT_SECS", "60")],
    );
    server.cluster("doomed", &["h1"]).await;
    let (s, v) = server
        .call_as(&server.token, Method::DELETE, "/api/v1/clusters/doomed", None)
        .await;
    assert_eq!(s, 204, "{v}");
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let (s, v) = server
        .post(
            "/api/v1/tokens",
            json!({"name": "brief", "role": "viewer", "expires_at": expires}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    for _ in 0..2 {
        assert!(login(server.scheme, server.http, "carol", "not-her-password-1").is_err());
    }
    for (action, target) in [
        ("cluster.created", "cluster:doomed"),
        ("cluster.deleted", "cluster:doomed"),
        ("auth.login_failed", "user:carol"),
        ("auth.lockout", "user:carol"),
    ] {
        let (_, events) = server.get(&format!("/api/v1/audit?action={action}")).await;
        assert!(
            events.as_array().unwrap().iter().any(|e| e["target"] == target),
            "{action} {target} is not audited: {events}"
        );
    }
    let expired = wait_for(&server, "/api/v1/audit?action=token.expired", 20, |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert_eq!(expired[0]["details"]["name"], "brief", "{expired}");

    // Once the checkpoint outside the database has caught up, the chain verifies.
    let (_, newest) = server.get("/api/v1/audit?limit=1").await;
    let head = newest[0]["id"].as_i64().unwrap();
    let v = wait_for(&server, "/api/v1/audit/verify", 20, |v| {
        v["checkpoint"]["last_id"].as_i64().is_some_and(|id| id >= head)
    })
    .await;
    assert_eq!(v["ok"], true, "{v}");

    // Rewrite the chain from its third event on, with valid hashes: the links all hold, but
    // not against the checkpoint.
    let (_, all) = server.get("/api/v1/audit?limit=1000").await;
    let mut all = all.as_array().unwrap().clone();
    all.reverse();
    let db = sea_orm::Database::connect(database_url(&server.data)).await.unwrap();
    use sea_orm::ConnectionTrait;
    let mut prev = all[1]["hash"].as_str().unwrap().to_owned();
    for (i, e) in all.iter().enumerate().skip(2) {
        let actor = if i == 2 {
            "mallory"
        } else {
            e["actor"].as_str().unwrap()
        };
        let hash = steward_server::audit::chain_hash(
            &prev,
            e["at"].as_str().unwrap(),
            actor,
            e["action"].as_str().unwrap(),
            e["target"].as_str().unwrap(),
            &e["details"],
        );
        db.execute_unprepared(&format!(
            "UPDATE audit_events SET actor = '{actor}', prev_hash = '{prev}', hash = '{hash}' WHERE id = {}",
            e["id"]
        ))
        .await
        .unwrap();
        prev = hash;
    }
    let (_, v) = server.get("/api/v1/audit/verify").await;
    assert_eq!(v["ok"], false, "a rewritten chain verified: {v}");
    assert!(v["reason"].as_str().unwrap().contains("rewritten"), "{v}");

    // Cut its tail: what is left links up, but ends before the checkpoint.
    db.execute_unprepared(&format!("DELETE FROM audit_events WHERE id >= {}", head - 1))
        .await
        .unwrap();
    let (_, v) = server.get("/api/v1/audit/verify").await;
    assert_eq!(v["ok"], false, "a cut chain verified: {v}");
    assert!(v["reason"].as_str().unwrap().contains("removed from its end"), "{v}");
}

#[tokio::test]
async fn logout_revocation_and_a_role_change_close_that_callers_streams_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    server.cluster("test", &["h1"]).await;
    let job = server
        .propose(
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"]}),
        )
        .await;
    let task = tasks(&job)[0]["id"].as_i64().unwrap();
    let logs = format!("/api/v1/jobs/{}/tasks/{task}/logs?follow=true", job["id"]);
    // The admin's own stream outlives everything below.
    let admins = open_stream(&server, &server.token, Method::GET, &logs, None, "").await;

    // Logout ends the session's event feed and its log follow.
    let olga = server.user("olga", "operator").await;
    let feed = open_stream(&server, &olga, Method::GET, "/api/v1/events", None, "").await;
    let follow = open_stream(&server, &olga, Method::GET, &logs, None, "").await;
    let (s, v) = server.call_as(&olga, Method::POST, "/api/v1/auth/logout", None).await;
    assert_eq!(s, 200, "{v}");
    let now = std::time::Instant::now();
    assert_closed_soon(feed, now, "logout, events").await;
    assert_closed_soon(follow, now, "logout, log follow").await;

    // Revoking an API token ends its streams.
    let (_, t) = server
        .post("/api/v1/tokens", json!({"name": "watcher", "role": "viewer"}))
        .await;
    let feed = open_stream(
        &server,
        t["token"].as_str().unwrap(),
        Method::GET,
        "/api/v1/events",
        None,
        "",
    )
    .await;
    let (s, v) = server
        .call_as(
            &server.token,
            Method::DELETE,
            &format!("/api/v1/tokens/{}", t["id"]),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_closed_soon(feed, std::time::Instant::now(), "token revoked").await;

    // A role change (or disabling) ends the user's streams: they reconnect with what they may
    // now see.
    let pat = server.user("pat", "operator").await;
    let feed = open_stream(&server, &pat, Method::GET, "/api/v1/events", None, "").await;
    let db = sea_orm::Database::connect(database_url(&server.data)).await.unwrap();
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("UPDATE users SET role = 'viewer' WHERE username = 'pat'")
        .await
        .unwrap();
    assert_closed_soon(feed, std::time::Instant::now(), "role change").await;

    assert!(!admins.is_finished(), "another caller's stream was closed");
}

#[tokio::test]
async fn secret_config_values_are_masked_for_viewers_in_jobs_and_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let server = testing_server(dir.path(), &[]);
    let (s, v) = server
        .post(
            "/api/v1/clusters",
            json!({"name": "test", "stack": "testing", "config": {"api_token": "hunter2-secret"},
                "hosts": [{"hostname": "h1", "components": ["app/worker"]}]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let job = server
        .propose(
            json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"]}),
        )
        .await;
    let viewer = server.user("vera", "viewer").await;
    let operator = server.user("otto", "operator").await;
    let env_of = |job: &Value| tasks(job)[0]["env"]["STEWARD_CONFIG_API_TOKEN"].clone();
    for path in [
        format!("/api/v1/jobs/{}", job["id"]),
        "/api/v1/clusters/test".into(),
        "/api/v1/clusters".into(),
    ] {
        let (s, v) = server.call_as(&viewer, Method::GET, &path, None).await;
        assert_eq!(s, 200, "{v}");
        assert!(
            !v.to_string().contains("hunter2"),
            "a viewer saw the secret at {path}: {v}"
        );
    }
    let (_, v) = server
        .call_as(&viewer, Method::GET, &format!("/api/v1/jobs/{}", job["id"]), None)
        .await;
    assert_eq!(env_of(&v), "********", "{v}");
    let (_, v) = server
        .call_as(&viewer, Method::GET, "/api/v1/clusters/test", None)
        .await;
    assert_eq!(v["config"]["api_token"], "********", "{v}");
    // Operators (who read logs anyway) and above see it; the value itself is unchanged.
    let (_, v) = server
        .call_as(&operator, Method::GET, &format!("/api/v1/jobs/{}", job["id"]), None)
        .await;
    assert_eq!(env_of(&v), "hunter2-secret", "{v}");
    let (_, v) = server
        .call_as(&operator, Method::GET, "/api/v1/clusters/test", None)
        .await;
    assert_eq!(v["config"]["api_token"], "hunter2-secret", "{v}");
}
