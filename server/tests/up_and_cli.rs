//! `steward up` brings up server and local agent; the CLI proposes, approves and follows.
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

fn cli(url: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(steward_bin())
        .arg("--server")
        .arg(url)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn up_runs_a_local_agent_and_the_cli_drives_a_job_to_success() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(steward_bin())
        .args(["up", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("STEWARD_STACKS_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(dir.path().join("up.log")).unwrap()))
        .spawn()
        .unwrap();
    let _guard = Proc {
        child: Command::new("true").spawn().unwrap(),
    };
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .find(|l| l.as_ref().is_ok_and(|l| l.starts_with("Steward is up")))
        .expect("up prints its address")
        .unwrap();
    std::thread::spawn(move || for _ in lines {});
    let url = format!(
        "http://{}",
        line.split("http://").nth(1).unwrap().split_whitespace().next().unwrap()
    );

    // The local host comes online in cluster `local`.
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

    let _ = child.kill();
    let _ = child.wait();
}
