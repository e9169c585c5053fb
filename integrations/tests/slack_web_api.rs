//! The Slack Web API client against a fake speaking Slack's wire format.
mod common;

use std::time::{Duration, Instant};

use common::{closed_port, fast_retries, Reply, Scripted};
use serde_json::json;
use steward_integrations::slack::{MessageRef, PostMessage, WebApi, WebApiError};

fn api(fake: &Scripted) -> WebApi {
    WebApi::new(&format!("{}/api/", fake.base), "xoxb-test-token", fast_retries()).unwrap()
}

fn message() -> PostMessage {
    PostMessage {
        channel: "C1".into(),
        text: "hello".into(),
        blocks: Some(vec![json!({"type": "divider"})]),
        thread_ts: Some("1.0".into()),
    }
}

fn posted() -> Reply {
    Reply::json(
        200,
        json!({"ok": true, "channel": "C1", "ts": "1700000000.000100", "message": {"text": "hello"}}),
    )
}

#[tokio::test]
async fn post_message_sends_json_with_the_bot_token_and_returns_the_message_ref() {
    let fake = Scripted::start(vec![posted()]).await;
    let sent = api(&fake).post_message(&message()).await.unwrap();
    assert_eq!(
        sent,
        MessageRef {
            channel: "C1".into(),
            ts: "1700000000.000100".into()
        }
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/api/chat.postMessage");
    assert_eq!(request.header("authorization"), Some("Bearer xoxb-test-token"));
    assert_eq!(request.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(
        request.json(),
        json!({"channel": "C1", "text": "hello", "blocks": [{"type": "divider"}], "thread_ts": "1.0"})
    );
}

#[tokio::test]
async fn a_rate_limited_call_waits_for_retry_after_then_succeeds() {
    let limited = Reply::json(429, json!({"ok": false, "error": "ratelimited"})).with_header("retry-after", "1");
    let fake = Scripted::start(vec![limited, posted()]).await;
    let started = Instant::now();
    api(&fake).post_message(&message()).await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "one refused request, one retry");
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_secs(1),
        "retried after {gap:?}, before Retry-After"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_retry_after_longer_than_the_policy_allows_is_returned_not_waited() {
    let limited = Reply::json(429, json!({"ok": false, "error": "ratelimited"})).with_header("retry-after", "30");
    let fake = Scripted::start(vec![limited, posted()]).await;
    let started = Instant::now();
    let error = api(&fake).post_message(&message()).await.unwrap_err();
    assert_eq!(
        error,
        WebApiError::RateLimited {
            method: "chat.postMessage",
            retry_after: Duration::from_secs(30)
        }
    );
    assert!(error.is_retryable());
    assert_eq!(fake.requests().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_permanent_slack_error_is_returned_without_retrying() {
    let fake = Scripted::start(vec![Reply::json(
        200,
        json!({"ok": false, "error": "channel_not_found"}),
    )])
    .await;
    let error = api(&fake).post_message(&message()).await.unwrap_err();
    assert_eq!(error.code(), Some("channel_not_found"));
    assert!(!error.is_retryable());
    assert_eq!(error.to_string(), "Slack chat.postMessage failed: channel_not_found");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn invalid_blocks_carries_slacks_explanation() {
    let refused = json!({"ok": false, "error": "invalid_blocks",
        "response_metadata": {"messages": ["[ERROR] must be more than 0 characters [json-pointer:/blocks/0/text/text]"]}});
    let fake = Scripted::start(vec![Reply::json(200, refused)]).await;
    let error = api(&fake).post_message(&message()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "Slack chat.postMessage failed: invalid_blocks ([ERROR] must be more than 0 characters [json-pointer:/blocks/0/text/text])"
    );
}

#[tokio::test]
async fn server_errors_and_transient_slack_errors_are_retried() {
    let fake = Scripted::start(vec![
        Reply::json(503, json!({})),
        Reply::json(200, json!({"ok": false, "error": "internal_error"})),
        posted(),
    ])
    .await;
    api(&fake).post_message(&message()).await.unwrap();
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn retries_stop_after_the_policys_attempts() {
    let fake = Scripted::start(vec![Reply {
        status: 502,
        headers: vec![],
        body: "<html>Bad Gateway</html>".into(),
    }])
    .await;
    let error = api(&fake).post_message(&message()).await.unwrap_err();
    assert_eq!(
        error,
        WebApiError::Status {
            method: "chat.postMessage",
            status: 502
        }
    );
    assert_eq!(fake.requests().len(), 3, "fast_retries allows 3 attempts");
}

#[tokio::test]
async fn an_unreachable_slack_is_a_retryable_transport_error() {
    let api = WebApi::new(&closed_port().await, "xoxb-test-token", fast_retries()).unwrap();
    let error = api.post_message(&message()).await.unwrap_err();
    assert!(
        matches!(
            error,
            WebApiError::Transport {
                method: "chat.postMessage",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn update_and_post_ephemeral_send_slacks_fields() {
    let fake = Scripted::start(vec![
        posted(),
        Reply::json(200, json!({"ok": true, "message_ts": "2.0"})),
    ])
    .await;
    let api = api(&fake);
    let blocks = [json!({"type": "divider"})];
    let updated = api.update("C1", "1.2", "new text", Some(&blocks)).await.unwrap();
    assert_eq!(updated.channel, "C1");
    api.post_ephemeral("C1", "U1", "only you", Some("1.0")).await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests[0].path, "/api/chat.update");
    assert_eq!(
        requests[0].json(),
        json!({"channel": "C1", "ts": "1.2", "text": "new text", "blocks": [{"type": "divider"}]})
    );
    assert_eq!(requests[1].path, "/api/chat.postEphemeral");
    assert_eq!(
        requests[1].json(),
        json!({"channel": "C1", "user": "U1", "text": "only you", "thread_ts": "1.0"})
    );
}

#[tokio::test]
async fn respond_posts_to_the_response_url_without_the_bot_token() {
    let fake = Scripted::start(vec![Reply::json(200, json!({"ok": true}))]).await;
    let url = format!("{}/commands/T1/123/secret", fake.base);
    api(&fake).respond(&url, "done", true, true).await.unwrap();
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/commands/T1/123/secret");
    assert_eq!(request.header("authorization"), None);
    assert_eq!(
        request.json(),
        json!({"text": "done", "replace_original": true, "response_type": "ephemeral"})
    );
}

#[tokio::test]
async fn an_expired_response_url_is_an_error() {
    let fake = Scripted::start(vec![Reply::json(404, json!({"ok": false, "error": "expired_url"}))]).await;
    let url = format!("{}/actions/T1/1/x", fake.base);
    let error = api(&fake).respond(&url, "late", false, false).await.unwrap_err();
    assert_eq!(error.code(), Some("expired_url"));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn open_socket_asks_with_the_app_token() {
    let fake = Scripted::start(vec![Reply::json(
        200,
        json!({"ok": true, "url": "wss://wss-primary.slack.com/link/?ticket=abc&app_id=A1"}),
    )])
    .await;
    let url = api(&fake).open_socket("xapp-1-app-token").await.unwrap();
    assert_eq!(url, "wss://wss-primary.slack.com/link/?ticket=abc&app_id=A1");
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/api/apps.connections.open");
    assert_eq!(request.header("authorization"), Some("Bearer xapp-1-app-token"));
}
