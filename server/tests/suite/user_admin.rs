//! Administering people and agents over the real HTTP API and CLI: changing a user's role,
//! disabling and deleting users (never oneself, never the last enabled admin), and revoking
//! unused enrollment tokens.

use std::process::Command;

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// The users as the admin lists them, by name.
async fn users(server: &Server) -> Vec<Value> {
    let (s, v) = server.get("/api/v1/users").await;
    assert_eq!(s, 200, "{v}");
    v.as_array().unwrap().clone()
}

async fn user_id(server: &Server, name: &str) -> i64 {
    users(server)
        .await
        .iter()
        .find(|u| u["username"] == name)
        .unwrap_or_else(|| panic!("no user {name}"))["id"]
        .as_i64()
        .unwrap()
}

async fn call(server: &Server, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    server.call_as(token, method, path, body).await
}

/// PATCH `/api/v1/users/{id}` with `body` as `token`'s holder → (status, JSON).
async fn patch_user(server: &Server, token: &str, id: i64, body: Value) -> (u16, Value) {
    call(server, token, Method::PATCH, &format!("/api/v1/users/{id}"), Some(body)).await
}

/// The newest audit event with `action`.
async fn audited(server: &Server, action: &str) -> Value {
    let (s, v) = server.get(&format!("/api/v1/audit?action={action}&limit=1")).await;
    assert_eq!(s, 200, "{v}");
    v.as_array()
        .and_then(|a| a.first().cloned())
        .unwrap_or_else(|| panic!("no {action} event: {v}"))
}

fn server(dir: &std::path::Path) -> Server {
    testing_server(dir, &[("STEWARD_LOGIN_ATTEMPTS_PER_MINUTE", "1000")])
}

#[tokio::test]
async fn an_admin_changes_roles_and_disables_users_and_their_sessions_and_tokens_stop_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let ann = server.user("ann", "admin").await;
    let bob = server.user("bob", "operator").await;
    let carl = server.user("carl", "approver").await;
    let carl_id = user_id(&server, "carl").await;
    let before = users(&server).await;
    assert!(before.iter().all(|u| u["disabled"] == false), "{before:?}");

    // Only admins: an operator and an approver are refused, and nothing changes.
    for token in [&bob, &carl] {
        let (s, v) = patch_user(&server, token, carl_id, json!({"role": "admin"})).await;
        assert_eq!((s, v["error"]["code"].as_str()), (403, Some("forbidden")), "{v}");
        let (s, _) = call(
            &server,
            token,
            Method::DELETE,
            &format!("/api/v1/users/{carl_id}"),
            None,
        )
        .await;
        assert_eq!(s, 403);
    }
    let (s, _) = patch_user(&server, "", carl_id, json!({"role": "admin"})).await;
    assert_eq!(s, 401);

    // Bad input: a clear 4xx and nothing changed.
    let bad: &[(&str, Option<Value>, u16, &str)] = &[
        ("/api/v1/users/{carl}", Some(json!({})), 422, "invalid"),
        (
            "/api/v1/users/{carl}",
            Some(json!({"role": "root"})),
            422,
            "invalid_body",
        ),
        (
            "/api/v1/users/{carl}",
            Some(json!({"disabled": "yes"})),
            422,
            "invalid_body",
        ),
        (
            "/api/v1/users/{carl}",
            Some(json!({"role": "viewer", "password": "x"})),
            422,
            "invalid_body",
        ),
        (
            "/api/v1/users/424242",
            Some(json!({"role": "viewer"})),
            404,
            "not_found",
        ),
        ("/api/v1/users/carl", Some(json!({"role": "viewer"})), 400, "bad_path"),
    ];
    for (path, body, status, code) in bad {
        let path = path.replace("{carl}", &carl_id.to_string());
        let (s, v) = server.call_as(&server.token, Method::PATCH, &path, body.clone()).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (*status, Some(*code)),
            "PATCH {path} {body:?}: {v}"
        );
    }
    let r = server
        .client
        .patch(server.url(&format!("/api/v1/users/{carl_id}")))
        .bearer_auth(&server.token)
        .body("{\"role\": ")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(users(&server).await, before, "a refused change changed a user");

    // A role change takes effect on the user's next request, and is audited old → new.
    let (s, v) = patch_user(&server, &server.token, carl_id, json!({"role": "operator"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["username"].as_str(), v["role"].as_str(), v["disabled"].as_bool()),
        (Some("carl"), Some("operator"), Some(false))
    );
    let (_, me) = call(&server, &carl, Method::GET, "/api/v1/auth/me", None).await;
    assert_eq!(me["role"], "operator");
    let (s, _) = call(&server, &carl, Method::POST, "/api/v1/jobs/1/reject", Some(json!({}))).await;
    assert_eq!(s, 403, "a demoted approver still decides");
    let e = audited(&server, "user.updated").await;
    assert_eq!(e["actor"], "admin");
    assert_eq!(e["target"], "user:carl");
    assert_eq!(e["details"]["old"], json!({"role": "approver", "disabled": false}));
    assert_eq!(e["details"]["new"], json!({"role": "operator", "disabled": false}));

    // Disabling: sessions and the API tokens the user created stop at once; the list says so;
    // logging in is refused with the reason.
    let (s, tok) = call(
        &server,
        &ann,
        Method::POST,
        "/api/v1/tokens",
        Some(json!({"name": "ann-ci", "role": "viewer"})),
    )
    .await;
    assert_eq!(s, 201, "{tok}");
    let ann_tool = tok["token"].as_str().unwrap().to_owned();
    let (s, _) = call(&server, &ann_tool, Method::GET, "/api/v1/hosts", None).await;
    assert_eq!(s, 200);
    let ann_id = user_id(&server, "ann").await;
    let bob_id = user_id(&server, "bob").await;
    for id in [ann_id, bob_id] {
        let (s, v) = patch_user(&server, &server.token, id, json!({"disabled": true})).await;
        assert_eq!((s, v["disabled"].as_bool()), (200, Some(true)), "{v}");
    }
    for token in [&ann, &bob, &ann_tool] {
        let (s, v) = call(&server, token, Method::GET, "/api/v1/hosts", None).await;
        assert_eq!((s, v["error"]["code"].as_str()), (401, Some("unauthenticated")), "{v}");
    }
    let e = audited(&server, "user.updated").await;
    assert_eq!(e["details"]["new"], json!({"role": "operator", "disabled": true}));
    let listed = users(&server).await;
    let flags: Vec<(&str, bool)> = listed
        .iter()
        .map(|u| (u["username"].as_str().unwrap(), u["disabled"].as_bool().unwrap()))
        .collect();
    assert_eq!(flags, [("admin", false), ("ann", true), ("bob", true), ("carl", false)]);
    let refused = login(server.scheme, server.http, "bob", "bob-password-123").unwrap_err();
    assert!(refused.contains("401") && refused.contains("disabled"), "{refused}");

    // Enabled again: the session and the token work again.
    let (s, _) = patch_user(&server, &server.token, ann_id, json!({"disabled": false})).await;
    assert_eq!(s, 200);
    for token in [&ann, &ann_tool] {
        let (s, _) = call(&server, token, Method::GET, "/api/v1/hosts", None).await;
        assert_eq!(s, 200);
    }
}

#[tokio::test]
async fn nobody_demotes_disables_or_deletes_themselves_or_the_last_enabled_admin() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let admin_id = user_id(&server, "admin").await;
    let before = users(&server).await;

    // Oneself: 409 with a sentence, nothing changed.
    for (method, body) in [
        (Method::PATCH, Some(json!({"role": "approver"}))),
        (Method::PATCH, Some(json!({"disabled": true}))),
        (Method::DELETE, None),
    ] {
        let (s, v) = server
            .call_as(
                &server.token,
                method.clone(),
                &format!("/api/v1/users/{admin_id}"),
                body,
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("conflict")),
            "{method} {v}"
        );
        assert!(v["error"]["message"].as_str().unwrap().contains("yourself"), "{v}");
    }

    // An admin API token is not the admin; it still cannot remove the last enabled admin.
    let (s, t) = server
        .post("/api/v1/tokens", json!({"name": "root-tool", "role": "admin"}))
        .await;
    assert_eq!(s, 201, "{t}");
    let tool = t["token"].as_str().unwrap().to_owned();
    for (method, body) in [
        (Method::PATCH, Some(json!({"role": "viewer"}))),
        (Method::PATCH, Some(json!({"disabled": true}))),
        (Method::DELETE, None),
    ] {
        let (s, v) = server
            .call_as(&tool, method.clone(), &format!("/api/v1/users/{admin_id}"), body)
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("conflict")),
            "{method} {v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains("last enabled admin"),
            "{v}"
        );
    }
    assert_eq!(users(&server).await, before);

    // A disabled admin does not count: with dora disabled, the admin is still the last one.
    server.user("dora", "admin").await;
    let dora_id = user_id(&server, "dora").await;
    let (s, _) = patch_user(&server, &tool, dora_id, json!({"disabled": true})).await;
    assert_eq!(s, 200);
    let (s, v) = patch_user(&server, &tool, admin_id, json!({"role": "operator"})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("conflict")), "{v}");
    // With dora enabled again, the token may demote the admin: dora remains.
    let (s, _) = patch_user(&server, &tool, dora_id, json!({"disabled": false})).await;
    assert_eq!(s, 200);
    let (s, v) = patch_user(&server, &tool, admin_id, json!({"role": "operator"})).await;
    assert_eq!((s, v["role"].as_str()), (200, Some("operator")), "{v}");
}

#[tokio::test]
async fn a_deleted_user_is_gone_with_their_sessions_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let eve = server.user("eve", "admin").await;
    let (s, t) = server
        .call_as(
            &eve,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "eve-ci", "role": "viewer"})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let eve_tool = t["token"].as_str().unwrap().to_owned();
    let eve_id = user_id(&server, "eve").await;

    let (s, v) = server
        .call_as(&server.token, Method::DELETE, "/api/v1/users/eve", None)
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("bad_path")));
    let (s, v) = server
        .call_as(&server.token, Method::DELETE, "/api/v1/users/424242", None)
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")));

    let r = server
        .client
        .delete(server.url(&format!("/api/v1/users/{eve_id}")))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert!(r.text().await.unwrap().is_empty());
    for token in [&eve, &eve_tool] {
        let (s, _) = server.call_as(token, Method::GET, "/api/v1/hosts", None).await;
        assert_eq!(s, 401);
    }
    assert!(!users(&server).await.iter().any(|u| u["username"] == "eve"));
    let (_, tokens) = server.get("/api/v1/tokens").await;
    let eve_ci = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "eve-ci")
        .unwrap();
    assert!(eve_ci["revoked_at"].is_string(), "{eve_ci}");
    let e = audited(&server, "user.deleted").await;
    assert_eq!(
        (e["actor"].as_str(), e["target"].as_str()),
        (Some("admin"), Some("user:eve"))
    );
    assert_eq!(e["details"]["role"], "admin");
    let (s, _) = server
        .call_as(&server.token, Method::DELETE, &format!("/api/v1/users/{eve_id}"), None)
        .await;
    assert_eq!(s, 404);
    // The name is free again.
    let (s, v) = server
        .post(
            "/api/v1/users",
            json!({"username": "eve", "password": "a-new-password-1", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (_, verify) = server.get("/api/v1/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");
}

#[tokio::test]
async fn an_unused_enrollment_token_can_be_revoked_and_never_enrolls() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let approver = server.user("ada", "approver").await;
    let (s, unused) = server.post("/api/v1/enrollments", json!({"hostname": "web-1"})).await;
    assert_eq!(s, 201, "{unused}");
    let (s, used) = server.post("/api/v1/enrollments", json!({"hostname": "web-2"})).await;
    assert_eq!(s, 201, "{used}");
    enroll_over_grpc(&server, used["token"].as_str().unwrap(), "web-2")
        .await
        .unwrap();
    let path = format!("/api/v1/enrollments/{}", unused["id"]);

    let (s, _) = server.call_as(&approver, Method::DELETE, &path, None).await;
    assert_eq!(s, 403);
    let (s, _) = server.call_as("", Method::DELETE, &path, None).await;
    assert_eq!(s, 401);
    let (s, v) = server
        .call_as(
            &server.token,
            Method::DELETE,
            &format!("/api/v1/enrollments/{}", used["id"]),
            None,
        )
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("conflict")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("web-2"), "{v}");
    let (s, v) = server
        .call_as(&server.token, Method::DELETE, "/api/v1/enrollments/424242", None)
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")), "{v}");
    let (s, v) = server
        .call_as(&server.token, Method::DELETE, "/api/v1/enrollments/first", None)
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("bad_path")), "{v}");
    let (_, listed) = server.get("/api/v1/enrollments").await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        2,
        "a refused revocation removed a token"
    );

    let (s, _) = server.call_as(&server.token, Method::DELETE, &path, None).await;
    assert_eq!(s, 204);
    let err = enroll_over_grpc(&server, unused["token"].as_str().unwrap(), "web-1")
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    let (_, listed) = server.get("/api/v1/enrollments").await;
    let ids: Vec<&Value> = listed.as_array().unwrap().iter().map(|e| &e["id"]).collect();
    assert_eq!(ids, [&used["id"]]);
    let e = audited(&server, "enrollment.revoked").await;
    assert_eq!(e["target"], format!("enrollment:{}", unused["id"]));
    assert_eq!(e["details"]["hostname"], "web-1");
    let (s, _) = server.call_as(&server.token, Method::DELETE, &path, None).await;
    assert_eq!(s, 404);
}

/// Runs the `steward` CLI against `server` as the admin.
fn steward(server: &Server, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(steward_bin())
        .arg("--server")
        .arg(server.url(""))
        .args(args)
        .env("STEWARD_TOKEN", &server.token)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_sets_roles_disables_enables_and_deletes_users_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    server.user("fred", "viewer").await;
    let role_of = |list: &[Value], name: &str| {
        list.iter()
            .find(|u| u["username"] == name)
            .map(|u| (u["role"].as_str().unwrap().to_owned(), u["disabled"].as_bool().unwrap()))
    };

    let (code, out, err) = steward(&server, &["users", "set-role", "fred", "approver"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("fred now has role approver"), "{out}");
    assert_eq!(role_of(&users(&server).await, "fred"), Some(("approver".into(), false)));

    let (code, out, err) = steward(&server, &["users", "disable", "fred"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(role_of(&users(&server).await, "fred"), Some(("approver".into(), true)));
    let (code, out, _) = steward(&server, &["users", "list"]);
    assert_eq!(code, 0);
    let fred_row = out.lines().find(|l| l.contains("fred")).unwrap();
    assert!(fred_row.contains("yes"), "{out}");
    let (code, out, err) = steward(&server, &["users", "enable", "fred"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(role_of(&users(&server).await, "fred"), Some(("approver".into(), false)));

    // Mistakes are said plainly and change nothing.
    let (code, _, err) = steward(&server, &["users", "set-role", "fred", "root"]);
    assert_eq!(code, 1);
    assert!(err.contains("root"), "{err}");
    let (code, _, err) = steward(&server, &["users", "disable", "nobody"]);
    assert_eq!(code, 1);
    assert!(err.contains("no user \"nobody\""), "{err}");
    let (code, _, err) = steward(&server, &["users", "delete", "admin"]);
    assert_eq!(code, 1);
    assert!(err.contains("yourself"), "{err}");
    assert_eq!(role_of(&users(&server).await, "fred"), Some(("approver".into(), false)));

    let (code, out, err) = steward(&server, &["users", "delete", "fred"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(role_of(&users(&server).await, "fred"), None);
}
