//! `steward up` brings up server and local agent; the CLI proposes, approves and follows.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::*;

/// Where the CLI keeps its session in this test (nextest runs each test in its own process).
static CONFIG_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

fn cli_env(url: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(steward_bin())
        .arg("--server")
        .arg(url)
        .args(args)
        .env("STEWARD_CONFIG_DIR", CONFIG_DIR.get().expect("set by the test"))
        .env_remove("STEWARD_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cli(url: &str, args: &[&str]) -> (i32, String, String) {
    cli_env(url, args, &[])
}

#[tokio::test]
async fn up_runs_a_local_agent_and_the_cli_drives_a_job_to_success() {
    let dir = tempfile::tempdir().unwrap();
    CONFIG_DIR.set(dir.path().join("config")).unwrap();
    let mut child = Command::new(steward_bin())
        .args(["up", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("STEWARD_STACKS_DIR")
        .env_remove("STEWARD_ADMIN_PASSWORD")
        .env_remove("STEWARD_AGENT_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(dir.path().join("up.log")).unwrap()))
        .spawn()
        .unwrap();
    let _guard = Proc {
        child: Command::new("true").spawn().unwrap(),
    };
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The first start creates the admin with a generated password, printed once.
    let mut password = None;
    let line = loop {
        let l = lines.next().expect("up prints its address").unwrap();
        if let Some(p) = l.strip_prefix("Created user \"admin\" with the generated password: ") {
            password = Some(p.trim().to_owned());
        }
        if l.starts_with("Steward is up") {
            break l;
        }
    };
    let password = password.expect("the generated admin password is printed");
    std::thread::spawn(move || for _ in lines {});
    let url = format!(
        "http://{}",
        line.split("http://").nth(1).unwrap().split_whitespace().next().unwrap()
    );

    // Without a session the CLI is refused and says how to log in.
    let (code, _, err) = cli(&url, &["hosts"]);
    assert_ne!(code, 0);
    assert!(err.contains("steward login"), "{err}");
    let (code, _, err) = cli_env(&url, &["login"], &[("STEWARD_PASSWORD", "wrong password!")]);
    assert_ne!(code, 0);
    assert!(err.contains("wrong username or password"), "{err}");
    let (code, out, err) = cli_env(&url, &["login"], &[("STEWARD_PASSWORD", &password)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("as admin (admin)"), "{out}");
    let sessions = dir.path().join("config/sessions.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&sessions).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The local host (its agent enrolled itself) comes online in cluster `local`.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (code, out, _) = cli(&url, &["hosts"]);
        if code == 0 && out.contains("ONLINE") && out.contains("local") {
            assert!(out.contains("host/host"), "{out}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the local agent never came online: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let (code, out, err) = cli(
        &url,
        &[
            "--json",
            "jobs",
            "propose",
            "--cluster",
            "local",
            "host",
            "host",
            "check",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let job: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(job["state"], "PROPOSED");
    let id = job["id"].to_string();

    let (code, out, _) = cli(&url, &["jobs", "list", "--state", "proposed"]);
    assert_eq!(code, 0);
    assert!(out.contains("check host/host"), "{out}");

    let (code, out, err) = cli(&url, &["jobs", "approve", &id]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("approved"), "{out}");

    let (code, out, err) = cli(&url, &["jobs", "logs", &id, "-f"]);
    assert_eq!(code, 0, "following a successful job exits 0: {out}{err}");
    assert!(err.contains("SUCCESSFUL"), "{err}");
    assert!(out.lines().count() >= 3, "{out}");

    let (code, out, _) = cli(&url, &["jobs", "show", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("SUCCESSFUL") && out.contains("plan hash"), "{out}");

    let (code, _, err) = cli(&url, &["jobs", "approve", "999999"]);
    assert_ne!(code, 0);
    assert!(err.contains("not found"), "{err}");

    // The audit log recorded it all, and its chain holds.
    let (code, out, err) = cli(&url, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("holds"), "{out}");
    let (code, out, _) = cli(&url, &["audit", "list", "--action", "job."]);
    assert_eq!(code, 0);
    assert!(out.contains("job.approved") && out.contains("job.proposed"), "{out}");
    let (code, out, _) = cli(&url, &["enrollments", "credentials"]);
    assert_eq!(code, 0);
    assert!(
        out.lines().filter(|l| l.contains('│')).count() >= 2,
        "the local agent holds a credential: {out}"
    );

    let (code, out, _) = cli(&url, &["logout"]);
    assert_eq!(code, 0, "{out}");
    let (code, _, _) = cli(&url, &["hosts"]);
    assert_ne!(code, 0, "logged out");

    let _ = child.kill();
    let _ = child.wait();
}
