//! The shipped stacks: scripts pass shellcheck, and `essentials host check` runs here.
mod common;

use common::*;
use serde_json::json;

#[test]
fn every_stack_script_passes_shellcheck() {
    let mut scripts = vec![];
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "sh") {
                out.push(p);
            }
        }
    }
    walk(&repo_stacks(), &mut scripts);
    assert!(
        scripts.len() >= 20,
        "expected the shipped stacks' scripts, found {}",
        scripts.len()
    );
    let out = std::process::Command::new("shellcheck")
        .arg("-x")
        .args(&scripts)
        .output()
        .expect("shellcheck is installed by `make test` (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "shellcheck findings:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn essentials_host_check_really_runs_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(
        &dir.path().join("server"),
        &repo_stacks(),
        "127.0.0.1:0",
        "127.0.0.1:0",
        &[],
    );
    let (s, v) = server.post("/api/v1/clusters", json!({"name": "here", "stack": "essentials", "hosts": [{"hostname": "this-host", "components": ["host/host"]}]})).await;
    assert_eq!(s, 201, "{v}");
    let _agent = start_agent(&server, "this-host", &dir.path().join("agent"));
    server.wait_online("this-host").await;
    for (command, params) in [("check", json!({})), ("disk-usage", json!({"path": "/tmp"}))] {
        let job = server.propose(json!({"cluster": "here", "service": "host", "component": "host", "command": command, "params": params})).await;
        server.approve(&job).await;
        let id = job["id"].as_i64().unwrap();
        let done = server.wait_done(id, 120).await;
        let tid = tasks(&done)[0]["id"].as_i64().unwrap();
        let log = server.text(&format!("/api/v1/jobs/{id}/tasks/{tid}/logs")).await;
        assert_eq!(done["state"], "SUCCESSFUL", "{command}: {done}\n{log}");
        assert!(log.lines().count() >= 3, "{command} printed too little:\n{log}");
    }
}
