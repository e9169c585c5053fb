//! The generated SDK covers the OpenAPI document: every operation, and answers shaped as
//! the document's examples of them decode.
use std::collections::BTreeSet;

use serde_json::Value;
use steward_client::operations::OPERATIONS;

fn document() -> Value {
    // The directory at run time, not the one compiled in: a target directory shared by two
    // clones keeps whichever clone built this binary first.
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let path = format!("{dir}/../web/src/api/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn every_operation_of_the_document_is_generated() {
    let doc = document();
    let expected: BTreeSet<(String, String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object().unwrap().iter().map(move |(method, op)| {
                (
                    method.to_uppercase(),
                    path.clone(),
                    op["operationId"].as_str().unwrap().to_owned(),
                )
            })
        })
        .collect();
    let generated: BTreeSet<(String, String, String)> = OPERATIONS
        .iter()
        .map(|(m, p, id)| (m.to_string(), p.to_string(), id.to_string()))
        .collect();
    assert_eq!(generated, expected);
    assert_eq!(OPERATIONS.len(), 50);
}

#[test]
fn a_job_as_the_server_writes_it_decodes_into_the_generated_types() {
    // Written by hand in the server's own shape (key order, nulls and all).
    let job = r#"{
        "id": 3, "cluster": "local", "state": "SUCCESSFUL", "source": "api",
        "summary": "check host/host on h1", "risk": "low", "requested_by": "admin", "created_at": "2025-01-02T03:04:05Z",
        "expires_at": "2025-01-02T04:04:05Z", "finished_at": null, "host_count": 1, "four_eyes": false,
        "rationale": "", "sources": ["doc:essentials/1.0/services/redis/docs/redis.md#memory"],
        "plan": {"cluster": "local", "stack": "essentials", "stack_version": "1.0", "stages": [
            {"name": "host-host-check", "service": "host", "component": "host", "command": "check",
             "risk": "low", "params": {}, "depends_on": [], "tasks": [{"host": "h1", "digest": "ab"}]}]},
        "plan_hash": "0123", "approvals": [], "decided_by": "admin", "decision_comment": null,
        "error": null, "approved_at": "2025-01-02T03:04:06Z", "started_at": null,
        "stages": [{"idx": 0, "name": "host-host-check", "service": "host", "component": "host",
            "command": "check", "state": "SUCCESSFUL", "depends_on": [], "script": "echo ok",
            "shared_files": [], "started_at": null, "finished_at": null,
            "tasks": [{"id": 31, "host": "h1", "state": "SUCCESSFUL", "attempt": 1, "timeout_secs": 60,
                "digest": "ab", "env": {"A": "1"}, "files": [], "exit_code": 0, "error": null,
                "dispatched_at": null, "started_at": null, "finished_at": null}]}]
    }"#;
    let job: steward_client::types::JobView = serde_json::from_str(job).unwrap();
    assert_eq!(job.plan.stages[0].risk, steward_client::types::Risk::Low);
    assert_eq!(job.stages[0].tasks[0].exit_code, Some(0));
    assert_eq!(job.decision_comment, None);
    assert_eq!((job.job_summary.id, job.job_summary.host_count), (3, 1));
}

#[test]
fn a_host_list_entry_flattens_the_host_and_its_usage() {
    let host = r#"{"id": 1, "hostname": "h1", "state": "ONLINE", "cluster": "test", "labels": {},
        "facts": {"os": "linux"}, "components": [{"service": "app", "component": "worker", "state": "STARTED"}],
        "last_heartbeat": "2025-01-02T03:04:05Z", "agent_version": "0.1.0",
        "cpu_used_pct": 12.5, "mem_used_pct": null, "disk_used_pct": 40.0}"#;
    let h: steward_client::types::HostSummary = serde_json::from_str(host).unwrap();
    assert_eq!(h.host_view.hostname, "h1");
    assert_eq!(h.host_view.components[0].service, "app");
    assert_eq!(h.host_usage.cpu_used_pct, Some(12.5));
    assert_eq!(h.host_usage.mem_used_pct, None);
}

#[test]
fn roles_parse_from_and_print_as_the_apis_spelling() {
    use steward_client::types::Role;
    assert_eq!("approver".parse::<Role>().unwrap(), Role::Approver);
    assert_eq!(Role::Admin.to_string(), "admin");
    let e = "root".parse::<Role>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"root\" is not a Role: expected viewer, operator, approver, admin"
    );
}
