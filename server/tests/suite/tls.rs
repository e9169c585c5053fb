//! TLS: the server serves its certificate on both listeners, agents and HTTP clients that
//! trust its CA get through, and everyone else gets nothing usable.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::json;

/// A CA written to `dir/ca.pem`, and a server certificate for 127.0.0.1 and localhost it
/// signed, written to `dir/server.pem` and `dir/server.key`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn generate(dir: &Path, name: &str) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "steward test server");
        let cert = params.signed_by(&key, &ca).unwrap();

        let pki = Pki {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        };
        std::fs::write(&pki.ca, ca.pem()).unwrap();
        std::fs::write(&pki.cert, cert.pem()).unwrap();
        std::fs::write(&pki.key, key.serialize_pem()).unwrap();
        pki
    }

    fn tls_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("STEWARD_TLS_CERT", self.cert.display().to_string()),
            ("STEWARD_TLS_KEY", self.key.display().to_string()),
        ]
    }

    /// [`Pki::client`], its connections leaving from `ip`.
    fn client_from(&self, ip: &str) -> reqwest::Client {
        self.client_builder()
            .local_address(ip.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    }

    /// An HTTPS client that trusts this CA and nothing else.
    fn client(&self) -> reqwest::Client {
        self.client_builder().build().unwrap()
    }

    fn client_builder(&self) -> reqwest::ClientBuilder {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&self.ca).unwrap()).unwrap();
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(10))
    }
}

/// A server with TLS on both listeners and `extra` environment, its API client trusting
/// `pki`'s CA.
fn tls_server(dir: &Path, pki: &Pki, extra: &[(&str, &str)]) -> Server {
    let env = pki.tls_env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(extra);
    let server = start_server_with(
        &dir.join("server"),
        &test_stacks(dir),
        "127.0.0.1:0",
        "127.0.0.1:0",
        &env,
        pki.client(),
    );
    assert_eq!(server.scheme, "https", "serve did not announce an https:// address");
    server
}

/// [`tls_server`] with the "steward" CA, that CA, and another ("impostor") nobody trusts.
fn tls_server_and_impostor(dir: &Path) -> (Server, Pki, Pki) {
    let pki = Pki::generate(&dir.join("pki"), "steward");
    let other = Pki::generate(&dir.join("other-pki"), "impostor");
    let server = tls_server(dir, &pki, &[]);
    (server, pki, other)
}

fn agent_log(agent: &Agent) -> String {
    std::fs::read_to_string(agent.data.join("agent.log")).unwrap_or_default()
}

#[tokio::test]
async fn an_agent_pinned_to_the_servers_ca_runs_an_approved_job_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(&dir.path().join("pki"), "steward");
    let server = tls_server(dir.path(), &pki, &[]);
    server.cluster("secure", &["tls-1"]).await;

    let ca = pki.ca.display().to_string();
    let agent = start_agent_at(
        &format!("https://{}", server.grpc),
        &["--ca", &ca],
        "tls-1",
        &dir.path().join("agent"),
    );
    server.wait_online("tls-1").await;

    let done = server
        .run_job(json!({"cluster": "secure", "service": "app", "component": "worker", "command": "echo", "params": {"lines": 2}}), 30)
        .await;
    assert_eq!(done["state"], "SUCCESSFUL", "{done}");
    assert_eq!(agent.tasks_received(), 1);
}

#[tokio::test]
async fn agents_that_do_not_trust_the_servers_certificate_never_come_online() {
    let dir = tempfile::tempdir().unwrap();
    let (server, pki, other) = tls_server_and_impostor(dir.path());
    server.cluster("secure", &["wrong-ca", "plain", "trusted"]).await;

    let other_ca = other.ca.display().to_string();
    let url = format!("https://{}", server.grpc);
    let wrong_ca = start_agent_at(
        &url,
        &["--ca", &other_ca],
        "wrong-ca",
        &dir.path().join("agent-wrong-ca"),
    );
    // Plain gRPC at the TLS port: the handshake never starts.
    let plain = start_agent_at(
        &format!("http://{}", server.grpc),
        &[],
        "plain",
        &dir.path().join("agent-plain"),
    );
    // A control: the same server, the right CA, so the others' failures are not the server's.
    let ca = pki.ca.display().to_string();
    let _trusted = start_agent_at(&url, &["--ca", &ca], "trusted", &dir.path().join("agent-trusted"));
    server.wait_online("trusted").await;

    let deadline = Instant::now() + Duration::from_secs(20);
    while !agent_log(&wrong_ca).to_lowercase().contains("certificate") {
        assert!(
            Instant::now() < deadline,
            "the agent with the wrong CA logged no certificate error:\n{}",
            agent_log(&wrong_ca)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Both have tried again and failed again (a condition, not a fixed wait).
    for (agent, name) in [(&wrong_ca, "wrong-ca"), (&plain, "plain")] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while agent_log(agent).matches("retrying").count() < 2 {
            assert!(
                Instant::now() < deadline,
                "{name} did not retry twice:\n{}",
                agent_log(agent)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for (agent, name) in [(&wrong_ca, "wrong-ca"), (&plain, "plain")] {
        let (_, host) = server.get(&format!("/api/v1/hosts/{name}")).await;
        assert_ne!(host["state"], "ONLINE", "{name}: {host}");
        let log = agent_log(agent);
        assert!(!log.contains("welcomed by the server"), "{name} got a session:\n{log}");
    }
    let log = agent_log(&wrong_ca);
    assert!(
        log.contains("UnknownIssuer") || log.contains("invalid peer certificate"),
        "{log}"
    );
}

#[tokio::test]
async fn login_limits_over_tls_see_each_clients_own_address() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(&dir.path().join("pki"), "limits");
    let server = tls_server(dir.path(), &pki, LOGIN_LIMITS);
    check_login_limits_per_address(&server, |ip| pki.client_from(ip)).await;
}

#[tokio::test]
async fn https_answers_only_clients_that_trust_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (server, pki, other) = tls_server_and_impostor(dir.path());

    let url = format!("https://{}/healthz", server.http);
    let ok = pki.client().get(&url).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let by_name = pki
        .client()
        .get(format!("https://localhost:{}/healthz", server.http.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.status(), 200, "the certificate's DNS name works too");

    let refused = other.client().get(&url).send().await;
    let e = refused.expect_err("a client trusting another CA got an answer");
    assert!(format!("{e:?}").contains("UnknownIssuer"), "{e:?}");

    // Plain HTTP at the TLS port: no HTTP answer at all, and the listener survives it.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("http://{}/healthz", server.http))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP got an answer: {plain:?}");
    assert_eq!(pki.client().get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_cli_trusts_a_private_ca_with_dash_dash_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(&dir.path().join("pki"), "steward");
    let server = tls_server(dir.path(), &pki, &[]);
    let url = format!("https://{}", server.http);
    let cli = |args: &[&str]| {
        Command::new(steward_bin())
            .args(["--server", &url])
            .args(args)
            .env_remove("STEWARD_CA")
            .env_remove("STEWARD_TOKEN")
            .output()
            .unwrap()
    };

    let ca = pki.ca.display().to_string();
    let trusted = cli(&["--ca", &ca, "stacks"]);
    let stderr = String::from_utf8_lossy(&trusted.stderr);
    // The point is the TLS session: a 401 (once the API wants a token) also proves it worked.
    assert!(
        trusted.status.success() || stderr.contains("not allowed"),
        "stdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&trusted.stdout)
    );

    let untrusted = cli(&["stacks"]);
    assert!(!untrusted.status.success());
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(stderr.contains("cannot reach the Steward server"), "{stderr}");

    let missing = dir.path().join("no-such-ca.pem");
    let bad = cli(&["--ca", &missing.display().to_string(), "stacks"]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("no-such-ca.pem"), "{stderr}");
}

/// Runs `steward <args>` with `env`, expecting it to exit on its own; returns (success, stderr).
fn run_to_exit(args: &[&str], env: &[(&str, String)]) -> (bool, String) {
    let mut cmd = Command::new(steward_bin());
    cmd.args(args)
        .env("STEWARD_LLM_PROVIDER", "none")
        .env("STEWARD_AGENT_TOKEN", TOKEN)
        .env_remove("STEWARD_TLS_CERT")
        .env_remove("STEWARD_TLS_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = Proc {
        child: cmd.spawn().unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.child.try_wait().unwrap() {
            let mut stderr = String::new();
            use std::io::Read;
            child.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            return (status.success(), stderr);
        }
        assert!(Instant::now() < deadline, "steward {args:?} did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_refuses_certificates_it_cannot_use_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(&dir.path().join("pki"), "steward");
    let other = Pki::generate(&dir.path().join("other-pki"), "impostor");
    let data = dir.path().join("data");
    let data = data.display().to_string();
    let on_loopback = |command: &'static str| {
        [
            command,
            "--data-dir",
            data.as_str(),
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
        ]
    };
    let serve = on_loopback("serve");
    let cert = pki.cert.display().to_string();
    let key = pki.key.display().to_string();

    let missing = dir.path().join("missing-cert.pem").display().to_string();
    let (ok, stderr) = run_to_exit(
        &serve,
        &[("STEWARD_TLS_CERT", missing.clone()), ("STEWARD_TLS_KEY", key.clone())],
    );
    assert!(!ok && stderr.contains(&missing), "{stderr}");

    // A key is not a certificate.
    let (ok, stderr) = run_to_exit(
        &serve,
        &[("STEWARD_TLS_CERT", key.clone()), ("STEWARD_TLS_KEY", key.clone())],
    );
    assert!(
        !ok && stderr.contains(&key) && stderr.contains("certificate"),
        "{stderr}"
    );

    // Another server's key does not go with this certificate.
    let wrong_key = other.key.display().to_string();
    let (ok, stderr) = run_to_exit(
        &serve,
        &[
            ("STEWARD_TLS_CERT", cert.clone()),
            ("STEWARD_TLS_KEY", wrong_key.clone()),
        ],
    );
    assert!(!ok && stderr.contains(&wrong_key), "{stderr}");

    // Half a configuration is an error, not plain text.
    let (ok, stderr) = run_to_exit(&serve, &[("STEWARD_TLS_CERT", cert.clone())]);
    assert!(!ok && stderr.contains("STEWARD_TLS_KEY"), "{stderr}");

    // `up` stays on loopback without TLS: its own agent has no CA to pin.
    let up = on_loopback("up");
    let (ok, stderr) = run_to_exit(&up, &[("STEWARD_TLS_CERT", cert), ("STEWARD_TLS_KEY", key)]);
    assert!(!ok && stderr.contains("without TLS"), "{stderr}");
}

#[test]
fn serve_warns_when_it_listens_beyond_loopback_without_tls() {
    let dir = tempfile::tempdir().unwrap();
    let stacks = test_stacks(dir.path());
    let quiet = start_server(&dir.path().join("quiet"), &stacks, "127.0.0.1:0", "127.0.0.1:0", &[]);
    let loud = start_server(&dir.path().join("loud"), &stacks, "0.0.0.0:0", "0.0.0.0:0", &[]);
    let log = |s: &Server| std::fs::read_to_string(s.data.join("server.log")).unwrap();
    let loud_log = log(&loud);
    // Once through tracing, once as a bare line on stderr.
    for listener in ["HTTP listens on 0.0.0.0", "gRPC listens on 0.0.0.0"] {
        assert!(
            loud_log.contains(&format!("WARNING: {listener}")) && loud_log.matches(listener).count() >= 2,
            "{loud_log}"
        );
    }
    assert!(!log(&quiet).contains("WITHOUT TLS"), "{}", log(&quiet));
}
