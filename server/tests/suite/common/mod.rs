//! Test harness: real `steward` and `steward-agent` processes on loopback, driven over HTTP.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The token every test agent uses.
pub const TOKEN: &str = "test-agent-token-0123456789";

/// The `steward` binary under test.
pub fn steward_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_steward"))
}

/// The `steward-agent` binary, built beside `steward` by the workspace build.
pub fn agent_bin() -> PathBuf {
    let p = steward_bin().with_file_name("steward-agent");
    assert!(
        p.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`, as `make test` does)",
        p.display()
    );
    p
}

/// The repository's `stacks/` folder.
pub fn repo_stacks() -> PathBuf {
    repo_root().join("stacks")
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A stack for tests, with commands that behave in known ways.
pub fn test_stacks(dir: &Path) -> PathBuf {
    let root = dir.join("stacks");
    let base = root.join("testing/1.0");
    let svc = base.join("services/app");
    std::fs::create_dir_all(svc.join("scripts")).unwrap();
    std::fs::create_dir_all(svc.join("templates")).unwrap();
    std::fs::create_dir_all(base.join("lib")).unwrap();
    std::fs::write(
        base.join("stack.toml"),
        "name = \"testing\"\nversion = \"1.0\"\ndescription = \"test stack\"\n[config]\ngreeting = \"hello\"\napi_token = { type = \"string\", pattern = \"[a-z0-9-]*\", default = \"\", secret = true }\n",
    )
    .unwrap();
    std::fs::write(base.join("lib/common.sh"), "say() { echo \"[lib] $*\"; }\n").unwrap();
    let scripts: &[(&str, &str)] = &[
        ("echo.sh", "#!/usr/bin/env bash\nset -eu\nfor i in $(seq 1 \"$STEWARD_PARAM_LINES\"); do echo \"line $i\"; done\necho \"to stderr\" >&2\n"),
        ("fail.sh", "#!/usr/bin/env bash\necho about to fail\nexit 3\n"),
        ("slow.sh", "#!/usr/bin/env bash\nfor i in $(seq 1 \"$STEWARD_PARAM_TICKS\"); do echo \"tick $i\"; sleep 0.1; done\n"),
        ("hang.sh", "#!/usr/bin/env bash\necho hanging\nsleep 600\n"),
        ("orphan.sh", "#!/usr/bin/env bash\nsleep 300 &\necho \"$!\" > \"$STEWARD_PARAM_PIDFILE\"\necho \"$$\" >> \"$STEWARD_PARAM_PIDFILE\"\necho started\nsleep 300\n"),
        ("record.sh", "#!/usr/bin/env bash\nset -eu\n. ./lib/common.sh\nsay recording\necho \"task $STEWARD_TASK_ID of job $STEWARD_JOB_ID\"\necho \"$STEWARD_HOSTNAME $(date +%s.%N)\" >> \"$STEWARD_PARAM_FILE\"\ncat app.conf\nsleep \"$STEWARD_PARAM_SLEEP\"\necho \"$STEWARD_HOSTNAME $(date +%s.%N)\" >> \"$STEWARD_PARAM_FILE\"\n"),
    ];
    for (name, body) in scripts {
        std::fs::write(svc.join("scripts").join(name), body).unwrap();
    }
    std::fs::write(
        svc.join("templates/app.conf"),
        "greeting={{ config.greeting }} host={{ host.hostname }} ordinal={{ host.ordinal }}\n",
    )
    .unwrap();
    std::fs::write(
        svc.join("service.toml"),
        r#"name = "app"
description = "a test service"

[[components]]
name = "worker"

[[components.templates]]
source = "templates/app.conf"
dest = "app.conf"

[components.commands.echo]
script = "scripts/echo.sh"
timeout = 30
risk = "low"
leads_to = "STARTED"
[components.commands.echo.params.lines]
type = "integer"
min = 0
max = 100000
default = 3

[components.commands.fail]
script = "scripts/fail.sh"
timeout = 30
risk = "low"
leads_to_on_failure = "STOPPED"

[components.commands.slow]
script = "scripts/slow.sh"
timeout = 60
risk = "low"
[components.commands.slow.params.ticks]
type = "integer"
min = 1
max = 1000
default = 30

[components.commands.hang]
script = "scripts/hang.sh"
timeout = 2
risk = "low"

[components.commands.orphan]
script = "scripts/orphan.sh"
timeout = 120
risk = "high"
[components.commands.orphan.params.pidfile]
type = "path"
roots = ["/tmp"]

[components.commands.record]
script = "scripts/record.sh"
timeout = 60
risk = "low"
[components.commands.record.params.file]
type = "path"
roots = ["/tmp"]
[components.commands.record.params.sleep]
type = "string"
pattern = "[0-9.]+"
default = "0"
"#,
    )
    .unwrap();
    root
}

/// A killable child process that dies with the test.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `steward serve`.
pub struct Server {
    pub proc: Proc,
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    pub data: PathBuf,
    pub stacks: PathBuf,
    /// `https` when the server serves TLS.
    pub scheme: &'static str,
    pub client: reqwest::Client,
    /// The admin's session token; `get`, `post` and `text` send it.
    pub token: String,
    /// A second person's (role approver) session, made on first use.
    pub approver: tokio::sync::OnceCell<String>,
    /// The extra environment it was started with, kept for `restart`.
    pub env: Vec<(String, String)>,
}

/// With `STEWARD_TEST_POSTGRES_URL` (a superuser's `postgres://…/postgres`), the URL of a
/// database of its own for the server on `data`, created on first use and kept across
/// restarts; the suite then runs on PostgreSQL instead of SQLite.
fn test_postgres(data: &Path) -> Option<String> {
    use std::hash::{Hash, Hasher};
    let admin = std::env::var("STEWARD_TEST_POSTGRES_URL").ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    let name = format!("steward_test_{:016x}", h.finish());
    let out = Command::new("psql")
        .arg(&admin)
        .args(["-v", "ON_ERROR_STOP=1", "-qc"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("psql (STEWARD_TEST_POSTGRES_URL is set)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() || err.contains("already exists"), "{err}");
    let (base, _) = admin.rsplit_once('/').expect("a postgres://…/database URL");
    Some(format!("{base}/{name}"))
}

/// The database of the server on `data`, for tests that tamper with it directly.
pub fn database_url(data: &Path) -> String {
    test_postgres(data).unwrap_or_else(|| format!("sqlite://{}?mode=rw", data.join("steward.db").display()))
}

/// Starts `steward serve` on `http`/`grpc` (port 0 for any) and waits until it listens.
pub fn start_server(data: &Path, stacks: &Path, http: &str, grpc: &str, extra_env: &[(&str, &str)]) -> Server {
    start_server_with(data, stacks, http, grpc, extra_env, reqwest::Client::new())
}

/// [`start_server`] on any free ports with its data in `dir/server`, serving `stacks`.
pub fn server_on(dir: &Path, stacks: &Path, extra_env: &[(&str, &str)]) -> Server {
    start_server(&dir.join("server"), stacks, "127.0.0.1:0", "127.0.0.1:0", extra_env)
}

/// [`server_on`] the testing stack ([`test_stacks`]), written under `dir`.
pub fn testing_server(dir: &Path, extra_env: &[(&str, &str)]) -> Server {
    server_on(dir, &test_stacks(dir), extra_env)
}

/// [`start_server`], talking to the server through `client` (one that trusts a test CA when
/// `extra_env` turns TLS on).
pub fn start_server_with(
    data: &Path,
    stacks: &Path,
    http: &str,
    grpc: &str,
    extra_env: &[(&str, &str)],
    client: reqwest::Client,
) -> Server {
    std::fs::create_dir_all(data).unwrap();
    let mut cmd = Command::new(steward_bin());
    cmd.args(["serve", "--data-dir"])
        .arg(data)
        .args(["--http", http, "--grpc", grpc, "--stacks-dir"])
        .arg(stacks)
        .env("STEWARD_AGENT_TOKEN", TOKEN)
        .env("STEWARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("STEWARD_HEARTBEAT_INTERVAL_MS", "500")
        .env("STEWARD_RESULT_GRACE_SECS", "3")
        .env("STEWARD_OFFLINE_GRACE_SECS", "20")
        .env("RUST_LOG", "info,sqlx=warn")
        // Tests that chat set a provider themselves; the rest need no model.
        .env("STEWARD_LLM_PROVIDER", "none")
        // Tests of the knowledge index turn it on; embedding the docs costs CPU the rest need.
        .env("STEWARD_EMBEDDER", "none")
        .env(
            "STEWARD_EMBED_MODEL_DIR",
            repo_root().join("data/models/all-minilm-l6-v2"),
        )
        // Where `make test` fetched the local model (tests that choose `local` need it).
        .env(
            "STEWARD_LLM_MODEL_PATH",
            repo_root().join("data/models/gemma-3-270m-q4_k_m.gguf"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(data.join("server.log"))
                .unwrap(),
        ));
    if let Some(url) = test_postgres(data) {
        cmd.env("STEWARD_DATABASE_URL", url);
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn steward serve");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = loop {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("Steward is up") => break l,
            Some(Ok(_)) => continue,
            _ => panic!(
                "steward serve exited before listening; log:\n{}",
                std::fs::read_to_string(data.join("server.log")).unwrap_or_default()
            ),
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let scheme = if line.contains("https://") { "https" } else { "http" };
    let http: SocketAddr = line
        .split("://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let grpc: SocketAddr = line
        .rsplit("agents connect to ")
        .next()
        .unwrap()
        .trim_end_matches(')')
        .parse()
        .unwrap();
    let token = login(scheme, http, "admin", ADMIN_PASSWORD).unwrap_or_else(|e| panic!("the admin cannot log in: {e}"));
    Server {
        proc: Proc { child },
        http,
        grpc,
        data: data.to_owned(),
        stacks: stacks.to_owned(),
        scheme,
        client,
        token,
        approver: tokio::sync::OnceCell::new(),
        env: extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// The first admin's password in every test server.
pub const ADMIN_PASSWORD: &str = "test-admin-password-0123";

/// Logs in over HTTP(S); returns the session token, or the status and error body. Runs on its
/// own thread and runtime so it can be called from sync and async code alike.
pub fn login(scheme: &str, http: SocketAddr, username: &str, password: &str) -> Result<String, String> {
    let url = format!("{scheme}://{http}/api/v1/auth/login");
    let body = json!({"username": username, "password": password});
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async move {
            // Only this request skips certificate checks; the tests' own clients check them.
            let client = reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .unwrap();
            let r = client.post(url).json(&body).send().await.map_err(|e| e.to_string())?;
            let status = r.status();
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            match v["token"].as_str() {
                Some(t) if status.is_success() => Ok(t.to_owned()),
                _ => Err(format!("{status}: {v}")),
            }
        })
    })
    .join()
    .unwrap()
}

impl Server {
    /// Kills and starts again on the same ports and data.
    pub fn restart(&mut self) {
        self.restart_with(&[]);
    }

    /// Kills and starts again on the same ports and data, with `extra_env`.
    pub fn restart_with(&mut self, extra_env: &[(&str, &str)]) {
        self.proc.kill();
        let mut env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.extend_from_slice(extra_env);
        let fresh = start_server(
            &self.data,
            &self.stacks,
            &self.http.to_string(),
            &self.grpc.to_string(),
            &env,
        );
        *self = fresh;
    }

    /// `http://host:port` (or `https://`).
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.http)
    }

    /// GET → (status, JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// POST JSON → (status, JSON).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// GET text.
    pub async fn text(&self, path: &str) -> String {
        self.text_as(&self.token, path).await
    }

    /// GET text with `token` as bearer.
    pub async fn text_as(&self, token: &str, path: &str) -> String {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// A request with `token` as bearer (or none when empty) → (status, JSON).
    pub async fn call_as(&self, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.client.request(method, self.url(path));
        if !token.is_empty() {
            r = r.bearer_auth(token);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Creates a user as the admin and logs them in; returns their session token.
    pub async fn user(&self, username: &str, role: &str) -> String {
        let password = format!("{username}-password-123");
        let (s, v) = self
            .post(
                "/api/v1/users",
                json!({"username": username, "password": password, "role": role}),
            )
            .await;
        // 409: made before a restart; the password is the same.
        assert!(s == 201 || s == 409, "{v}");
        login(self.scheme, self.http, username, &password).unwrap()
    }

    /// Creates a cluster on the testing stack with `app/worker` on every host.
    pub async fn cluster(&self, name: &str, hosts: &[&str]) {
        let hosts: Vec<Value> = hosts
            .iter()
            .map(|h| json!({"hostname": h, "components": ["app/worker"]}))
            .collect();
        let (s, v) = self
            .post(
                "/api/v1/clusters",
                json!({"name": name, "stack": "testing", "hosts": hosts}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }

    /// Proposes; asserts 201; returns the job.
    pub async fn propose(&self, body: Value) -> Value {
        let (s, v) = self.post("/api/v1/jobs", body).await;
        assert_eq!(s, 201, "{v}");
        v
    }

    /// Approves with the job's own plan hash, as a second person (`approver`), so four-eyes
    /// holds for high-risk jobs the admin proposed.
    pub async fn approve(&self, job: &Value) -> Value {
        let token = self.approver.get_or_init(|| self.user("approver", "approver")).await;
        let (s, v) = self.approve_as(token, job).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Approves with the job's own plan hash as `token`'s holder → (status, JSON).
    pub async fn approve_as(&self, token: &str, job: &Value) -> (u16, Value) {
        let id = job["id"].as_i64().unwrap();
        self.call_as(
            token,
            reqwest::Method::POST,
            &format!("/api/v1/jobs/{id}/approve"),
            Some(json!({"plan_hash": job["plan_hash"]})),
        )
        .await
    }

    /// Proposes `body`, approves it and waits up to `secs` for its end; returns the finished
    /// job.
    pub async fn run_job(&self, body: Value, secs: u64) -> Value {
        let job = self.propose(body).await;
        self.approve(&job).await;
        self.wait_done(job["id"].as_i64().unwrap(), secs).await
    }

    /// Waits until `pred` holds for the job, or panics after `secs`.
    pub async fn wait_job(&self, id: i64, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
        wait_for(self, &format!("/api/v1/jobs/{id}"), secs, pred).await
    }

    /// Waits until the job is in a final state and returns it.
    pub async fn wait_done(&self, id: i64, secs: u64) -> Value {
        self.wait_job(id, secs, |v| v["finished_at"].is_string()).await
    }

    /// Waits until `hostname` is ONLINE.
    pub async fn wait_online(&self, hostname: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (s, v) = self.get(&format!("/api/v1/hosts/{hostname}")).await;
            if s == 200 && v["state"] == "ONLINE" {
                return;
            }
            assert!(Instant::now() < deadline, "host {hostname} never came online: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A running `steward-agent`.
pub struct Agent {
    pub proc: Proc,
    pub data: PathBuf,
    pub hostname: String,
    /// The `--server` address and any further flags, kept for `restart`.
    server: String,
    args: Vec<String>,
}

/// Starts an agent for `hostname` against `server`'s gRPC address.
pub fn start_agent(server: &Server, hostname: &str, data: &Path) -> Agent {
    spawn_agent(&format!("http://{}", server.grpc), &[], hostname, data)
}

/// Starts an agent dialing `url` (e.g. `https://127.0.0.1:port`) with extra flags (`--ca`).
pub fn start_agent_at(url: &str, args: &[&str], hostname: &str, data: &Path) -> Agent {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    spawn_agent(url, &args, hostname, data)
}

fn spawn_agent(url: &str, args: &[String], hostname: &str, data: &Path) -> Agent {
    std::fs::create_dir_all(data).unwrap();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("agent.log"))
        .unwrap();
    let child = Command::new(agent_bin())
        .args(["--server", url, "--hostname", hostname, "--data-dir"])
        .arg(data)
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        // An enrolling agent (or one restarted after enrolling) presents its own credential.
        .envs((!args.iter().any(|a| a == "--enroll")).then_some(("STEWARD_AGENT_TOKEN", TOKEN)))
        .spawn()
        .expect("spawn steward-agent");
    Agent {
        proc: Proc { child },
        data: data.to_owned(),
        hostname: hostname.to_owned(),
        server: url.to_owned(),
        args: args.to_vec(),
    }
}

/// Starts an agent that enrolls with the one-time `enroll` token (no shared token).
pub fn start_enrolled_agent(server: &Server, hostname: &str, data: &Path, enroll: &str) -> Agent {
    let args = vec!["--enroll".to_owned(), enroll.to_owned()];
    spawn_agent(&format!("http://{}", server.grpc), &args, hostname, data)
}

impl Agent {
    /// Kills (SIGKILL) and starts the agent again with the same state.
    pub fn restart(&mut self) {
        self.proc.kill();
        let fresh = spawn_agent(&self.server, &self.args, &self.hostname, &self.data);
        *self = fresh;
    }

    /// How many run-task messages reached the agent, from its own log.
    pub fn tasks_received(&self) -> usize {
        let log = std::fs::read_to_string(self.data.join("agent.log")).unwrap_or_default();
        assert!(
            log.contains("welcomed by the server"),
            "the agent log does not show a session:\n{log}"
        );
        log.lines().filter(|l| l.contains("task received")).count()
    }
}

/// The tasks of a job, flattened.
pub fn tasks(job: &Value) -> Vec<Value> {
    job["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["tasks"].as_array().unwrap().clone())
        .collect()
}

/// Whether a process exists and is not a zombie waiting for a slow init to reap it.
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with(['Z', 'X']),
        Err(_) => false,
    }
}

/// A cluster of `n` agents named `h1..hn` on a fresh server with the testing stack.
pub async fn testbed(dir: &Path, n: usize) -> (Server, Vec<Agent>) {
    testbed_with(dir, n, &[]).await
}

/// [`testbed`], the server started with `env`.
pub async fn testbed_with(dir: &Path, n: usize, env: &[(&str, &str)]) -> (Server, Vec<Agent>) {
    let stacks = test_stacks(dir);
    let server = start_server(&dir.join("server"), &stacks, "127.0.0.1:0", "127.0.0.1:0", env);
    let names: Vec<String> = (1..=n).map(|i| format!("h{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    server.cluster("test", &refs).await;
    let agents: Vec<Agent> = names
        .iter()
        .map(|h| start_agent(&server, h, &dir.join(format!("agent-{h}"))))
        .collect();
    for h in &names {
        server.wait_online(h).await;
    }
    (server, agents)
}

/// Exchanges an enrollment token for a credential through the gRPC `Enroll` call.
pub async fn enroll_over_grpc(server: &Server, token: &str, hostname: &str) -> Result<String, tonic::Status> {
    let mut c = steward_proto::v1::agent_service_client::AgentServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    c.enroll(steward_proto::v1::EnrollRequest {
        token: token.into(),
        hostname: hostname.into(),
    })
    .await
    .map(|r| r.into_inner().credential)
}

/// Polls `path` until `pred` holds for its JSON, or panics after `secs`.
pub async fn wait_for(server: &Server, path: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, v) = server.get(path).await;
        if pred(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{path} never got there in {secs}s: {v:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A session speaking the agent protocol directly, to send exactly the samples a test needs;
/// the server's messages are drained, and heartbeats keep the session up however long the
/// test takes.
pub async fn raw_agent(server: &Server, hostname: &str) -> tokio::sync::mpsc::Sender<steward_proto::v1::AgentMessage> {
    use steward_proto::v1 as pb;
    let (tx, mut inbound) = raw_session(server, hostname).await;
    tokio::spawn(async move { while let Ok(Some(_)) = inbound.message().await {} });
    let beat = tx.clone();
    tokio::spawn(async move {
        loop {
            // The harness's heartbeat interval is 500 ms.
            tokio::time::sleep(Duration::from_millis(250)).await;
            let hb = pb::Heartbeat {
                sent_at_ms: chrono::Utc::now().timestamp_millis(),
                running: vec![],
            };
            let msg = pb::AgentMessage {
                msg: Some(pb::agent_message::Msg::Heartbeat(hb)),
            };
            if beat.send(msg).await.is_err() {
                return;
            }
        }
    });
    tx
}

/// A bare session (no heartbeats: keep it short) and the server's messages, for tests that
/// read them; [`raw_agent`] is the long-lived kind.
pub async fn raw_session(
    server: &Server,
    hostname: &str,
) -> (
    tokio::sync::mpsc::Sender<steward_proto::v1::AgentMessage>,
    tonic::Streaming<steward_proto::v1::ServerMessage>,
) {
    use steward_proto::v1 as pb;
    let mut client = pb::agent_service_client::AgentServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tx.send(pb::AgentMessage {
        msg: Some(pb::agent_message::Msg::Hello(pb::Hello {
            hostname: hostname.into(),
            agent_version: "test".into(),
            facts: None,
            tasks: vec![],
        })),
    })
    .await
    .unwrap();
    let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    req.metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let inbound = client.session(req).await.unwrap().into_inner();
    (tx, inbound)
}

/// Sends `value` for `disk_used_pct{mount=/data}` now.
pub async fn send_disk(tx: &tokio::sync::mpsc::Sender<steward_proto::v1::AgentMessage>, seq: u64, value: f64) {
    let sample = steward_proto::v1::MetricSample {
        name: "disk_used_pct".into(),
        labels: [("mount".to_string(), "/data".to_string())].into(),
        value,
        at_ms: chrono::Utc::now().timestamp_millis(),
    };
    send_batch(tx, seq, vec![sample]).await;
}

/// Sends `samples` as metric batch `seq`, none dropped.
pub async fn send_batch(
    tx: &tokio::sync::mpsc::Sender<steward_proto::v1::AgentMessage>,
    seq: u64,
    samples: Vec<steward_proto::v1::MetricSample>,
) {
    use steward_proto::v1 as pb;
    let batch = pb::MetricBatch {
        samples,
        seq,
        dropped: 0,
    };
    tx.send(pb::AgentMessage {
        msg: Some(pb::agent_message::Msg::Metrics(batch)),
    })
    .await
    .unwrap();
}

/// Reads the server's messages on a [`raw_session`] until it acknowledges metric batch `seq`
/// or a later one; panics after 10 s.
pub async fn wait_metrics_ack(inbound: &mut tonic::Streaming<steward_proto::v1::ServerMessage>, seq: u64) {
    use steward_proto::v1 as pb;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout_at(deadline.into(), inbound.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if matches!(m.msg, Some(pb::server_message::Msg::Ack(a)) if a.metrics_seq >= seq) {
            return;
        }
    }
}

/// The environment that points the planner at a fake OpenAI server at `url`, then `extra`.
pub fn fake_llm_env<'a>(url: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("STEWARD_LLM_PROVIDER", "openai"),
        ("STEWARD_LLM_BASE_URL", url),
        ("STEWARD_LLM_MODEL", "test-model"),
        ("STEWARD_LLM_API_KEY", "sk-test"),
    ];
    env.extend_from_slice(extra);
    env
}

/// Detectors that watch one thing: `/data` over 90 % (clear below 85), firing at once.
pub const DATA_DISK_DETECTOR: [(&str, &str); 4] = [
    ("STEWARD_DETECT_THRESHOLDS", "disk_used_pct{mount=/data}>90:85"),
    ("STEWARD_DETECT_FOR_SECS", "0"),
    ("STEWARD_DETECT_ZSCORE_METRICS", ""),
    ("STEWARD_DETECT_FORECAST_METRICS", ""),
];

/// A plain-HTTP client whose connections leave from `ip` (any 127.x.y.z on loopback), to act
/// as a distinct peer address.
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// A login attempt through `client` → (status, `Retry-After`).
pub async fn login_status(server: &Server, client: &reqwest::Client, user: &str, password: &str) -> (u16, Option<u64>) {
    let r = client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (r.status().as_u16(), retry)
}

/// The login limits [`check_login_limits_per_address`] expects: 3 failures lock a
/// (username, address) pair for a minute; an address may try 12 times a minute.
pub const LOGIN_LIMITS: &[(&str, &str)] = &[
    ("STEWARD_LOGIN_MAX_FAILURES", "3"),
    ("STEWARD_LOCKOUT_SECS", "60"),
    ("STEWARD_LOGIN_ATTEMPTS_PER_MINUTE", "12"),
];

/// Checks login limiting on `server` from three loopback addresses, one client each (made
/// by `client`): an attacker failing logins for `admin` is slowed down on its own address
/// and for its own (username, address) pair, while `admin` still signs in from elsewhere; the
/// audit records each failure's real peer address. The server runs with at most 3 failures
/// and 12 attempts a minute.
pub async fn check_login_limits_per_address(server: &Server, client: impl Fn(&str) -> reqwest::Client) {
    let attacker = client("127.0.0.2");
    let prober = client("127.0.0.3");
    let admin = client("127.0.0.4");
    for _ in 0..3 {
        assert_eq!(
            login_status(server, &attacker, "admin", "wrong-password-xx").await.0,
            401
        );
    }
    // The attacker's (admin, address) pair is now held back, even with the right password…
    let (s, retry) = login_status(server, &attacker, "admin", ADMIN_PASSWORD).await;
    assert_eq!(s, 429);
    assert!(retry.unwrap() >= 1);
    // …but the admin signs in from another address.
    assert_eq!(login_status(server, &admin, "admin", ADMIN_PASSWORD).await.0, 200);
    // An address that floods (12 a minute) is limited across usernames, and only that address.
    let mut codes = vec![];
    for i in 0..14 {
        codes.push(
            login_status(server, &prober, &format!("nobody{i}"), "whatever-password")
                .await
                .0,
        );
    }
    assert!(codes.ends_with(&[429, 429]), "{codes:?}");
    assert_eq!(login_status(server, &admin, "admin", ADMIN_PASSWORD).await.0, 200);
    let (_, audit) = server.get("/api/v1/audit?action=auth.login_failed").await;
    let addresses: std::collections::BTreeSet<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["details"]["address"].as_str())
        .collect();
    assert_eq!(
        addresses,
        ["127.0.0.2", "127.0.0.3"].into(),
        "failures carry the peer's own address: {audit}"
    );
}

/// Opens `path` as a server-sent event stream with `token`; the task ends (returning when)
/// once the server closes the stream. The response has started, and `first` (unless empty)
/// been received, before this returns.
pub async fn open_stream(
    server: &Server,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    first: &str,
) -> tokio::task::JoinHandle<Instant> {
    use futures::StreamExt;
    let mut r = server
        .client
        .request(method, server.url(path))
        .bearer_auth(token)
        .header("accept", "text/event-stream");
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let mut body = r.bytes_stream();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !first.is_empty() && !seen.contains(first) {
        assert!(Instant::now() < deadline, "{path} never sent {first:?}: {seen}");
        match tokio::time::timeout(Duration::from_secs(20), body.next()).await {
            Ok(Some(Ok(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("{path} ended before {first:?}: {other:?} {seen}"),
        }
    }
    tokio::spawn(async move {
        while let Some(Ok(_)) = body.next().await {}
        Instant::now()
    })
}

/// Waits for `stream` (from [`open_stream`]) to end, and asserts it did within 1.5 s of
/// `since`.
pub async fn assert_closed_soon(stream: tokio::task::JoinHandle<Instant>, since: Instant, what: &str) {
    let ended = tokio::time::timeout(Duration::from_secs(5), stream)
        .await
        .unwrap_or_else(|_| panic!("{what}: the stream is still open 5 s later"))
        .unwrap();
    let took = ended.saturating_duration_since(since);
    assert!(
        took < Duration::from_millis(1500),
        "{what}: the stream closed only after {took:?}"
    );
}

/// Runs a one-line echo on `host` to its end: a barrier. The engine dispatches in order and a
/// host runs one task at a time, so once this has run on `host`, anything sent there before
/// it has arrived too; "nothing was sent" is then checked by a count, not after a sleep.
pub async fn run_sentinel(server: &Server, cluster: &str, host: &str) {
    let done = server
        .run_job(json!({"cluster": cluster, "service": "app", "component": "worker", "command": "echo", "hosts": [host], "params": {"lines": 1}}), 30)
        .await;
    assert_eq!(done["state"], "SUCCESSFUL", "the sentinel failed: {done}");
}
