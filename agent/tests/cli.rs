//! The `steward-agent` binary as an operator meets it: refusing to start without a token,
//! and riding out a server that is not there yet.

use std::{
    process::{Command, Stdio},
    thread::sleep,
    time::Duration,
};

fn agent() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward-agent"));
    for var in [
        "STEWARD_AGENT_SERVER",
        "STEWARD_AGENT_TOKEN",
        "STEWARD_AGENT_HOSTNAME",
        "STEWARD_AGENT_DATA_DIR",
    ] {
        command.env_remove(var);
    }
    command
}

#[test]
fn without_a_credential_the_agent_exits_with_code_2_and_says_why() {
    let data = tempfile::tempdir().unwrap();
    let output = agent()
        .args(["--server", "http://127.0.0.1:1", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no credential"), "{stderr}");
    assert!(stderr.contains("--enroll") && stderr.contains("--token"), "{stderr}");
    // It never got as far as preparing to serve.
    assert!(!data.path().join("state").exists());
}

#[test]
fn an_empty_token_from_the_environment_counts_as_none() {
    let output = agent()
        .args(["--server", "http://127.0.0.1:1"])
        .env("STEWARD_AGENT_TOKEN", "")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn with_an_unreachable_server_the_agent_keeps_retrying() {
    let data = tempfile::tempdir().unwrap();
    let mut child = agent()
        .args([
            "--server",
            "http://127.0.0.1:1",
            "--token",
            "t0ken",
            "--hostname",
            "host-1",
        ])
        .args(["--label", "rack=r1", "--data-dir"])
        .arg(data.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    sleep(Duration::from_millis(1200));
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(still_running, "the agent exited: {stderr}");
    assert!(stderr.contains("cannot reach the server"), "{stderr}");
    assert!(data.path().join("state").is_dir());
}

#[test]
fn a_server_address_without_a_scheme_is_a_usage_error() {
    let data = tempfile::tempdir().unwrap();
    let output = agent()
        .args(["--server", "127.0.0.1:9090", "--token", "t0ken", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("https://steward.example:9090"),
        "it shows an address with a scheme: {stderr}"
    );
}
