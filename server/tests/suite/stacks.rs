//! The shipped stacks: scripts pass shellcheck, and `essentials host check` runs here.

use crate::common::*;
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
    let server = server_on(dir.path(), &repo_stacks(), &[]);
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

/// Sets `path`'s modification time `days` days back.
fn age(path: &std::path::Path, days: u32) {
    let st = std::process::Command::new("touch")
        .args(["-d", &format!("{days} days ago")])
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

#[tokio::test]
async fn clean_tmp_never_follows_a_symlink_out_of_tmp_anywhere_in_its_path() {
    // Outside /tmp: the target dir's scratch space.
    let outside = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    assert!(!outside.path().starts_with("/tmp"), "{}", outside.path().display());
    std::fs::create_dir_all(outside.path().join("sub")).unwrap();
    let precious = outside.path().join("sub/precious.log");
    std::fs::write(&precious, "keep me").unwrap();
    age(&precious, 30);

    let dir = tempfile::tempdir().unwrap();
    assert!(dir.path().starts_with("/tmp"));
    let inside = dir.path().join("x");
    std::fs::create_dir_all(inside.join("real")).unwrap();
    std::os::unix::fs::symlink(outside.path(), inside.join("link")).unwrap();
    let junk = inside.join("real/junk.log");
    std::fs::write(&junk, "old").unwrap();
    age(&junk, 30);

    let server = server_on(dir.path(), &repo_stacks(), &[]);
    let (s, v) = server.post("/api/v1/clusters", json!({"name": "here", "stack": "essentials", "hosts": [{"hostname": "this-host", "components": ["host/host"]}]})).await;
    assert_eq!(s, 201, "{v}");
    let _agent = start_agent(&server, "this-host", &dir.path().join("agent"));
    server.wait_online("this-host").await;
    let clean = |path: std::path::PathBuf| {
        let server = &server;
        async move {
            let job = server
                .propose(
                    json!({"cluster": "here", "service": "host", "component": "host", "command": "clean-tmp",
                    "params": {"path": path.display().to_string(), "days": 1}}),
                )
                .await;
            server.approve(&job).await;
            let id = job["id"].as_i64().unwrap();
            let done = server.wait_done(id, 120).await;
            let tid = tasks(&done)[0]["id"].as_i64().unwrap();
            let log = server.text(&format!("/api/v1/jobs/{id}/tasks/{tid}/logs")).await;
            (done["state"].as_str().unwrap().to_owned(), log)
        }
    };
    // A symlink in the middle of the path, and as its last component: both refused.
    for path in [inside.join("link/sub"), inside.join("link")] {
        let (state, log) = clean(path.clone()).await;
        assert_eq!(state, "FAILED", "{}: {log}", path.display());
        assert!(log.contains("outside /tmp"), "{}: {log}", path.display());
        assert!(
            precious.exists(),
            "{} deleted a file outside /tmp:\n{log}",
            path.display()
        );
    }
    // A real directory under /tmp is cleaned, so the refusals above are not a broken script.
    let (state, log) = clean(inside.join("real")).await;
    assert_eq!(state, "SUCCESSFUL", "{log}");
    assert!(!junk.exists(), "{log}");
    assert!(precious.exists());
}

#[tokio::test]
async fn cluster_config_values_are_typed_and_ranged_by_the_stack_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_on(dir.path(), &repo_stacks(), &[]);
    let cluster = |name: &str, config: serde_json::Value| {
        let server = &server;
        let body = json!({"name": name, "stack": "essentials", "config": config,
            "hosts": [{"hostname": format!("{name}-1"), "components": ["host/host"]}]});
        async move { server.post("/api/v1/clusters", body).await }
    };
    for (config, why) in [
        (
            json!({"service_start_wait": "$(reboot)"}),
            "a command substitution for an integer",
        ),
        (
            json!({"service_start_wait": "60; reboot"}),
            "a shell list for an integer",
        ),
        (json!({"service_start_wait": 99999}), "out of its range"),
        (json!({"nginx_port": 0}), "a port out of range"),
        (json!({"zookeeper_data_dir": "var/lib/zk"}), "a relative path"),
        (
            json!({"zookeeper_data_dir": "/var/lib/zk\nrm -rf /"}),
            "a path with a newline",
        ),
        (json!({"zookeeper_data_dir": "/var/lib/../../etc"}), "a path with .."),
        (
            json!({"host_load_warn_per_cpu": "2 $(id)"}),
            "an inferred integer given a string",
        ),
        (json!({"no_such_key": 1}), "an unknown key"),
    ] {
        let (s, v) = cluster("bad", config.clone()).await;
        assert_eq!(s, 422, "{why}: {config} was accepted: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("config key"), "{v}");
    }
    let (_, list) = server.get("/api/v1/clusters").await;
    assert_eq!(
        list.as_array().unwrap().len(),
        0,
        "refused requests created nothing: {list}"
    );
    // Good values pass, in canonical form.
    let (s, v) = cluster(
        "good",
        json!({"service_start_wait": "90", "zookeeper_data_dir": "/srv/zk/"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["config"]["service_start_wait"], 90, "{v}");
    assert_eq!(v["config"]["zookeeper_data_dir"], "/srv/zk", "{v}");
}
