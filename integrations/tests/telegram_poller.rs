//! Long polling against a fake Bot API: the webhook is removed first, updates arrive in
//! order, the offset confirms exactly what was delivered, and errors are retried.
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use common::{fast_retries, serve, Reply, Scripted};
use serde_json::{json, Value};
use steward_integrations::telegram::{poller, BotApi};
use steward_integrations::RetryPolicy;
use tokio::sync::{mpsc, oneshot};

#[derive(Default)]
struct Fake {
    /// Every call: the method and its body.
    calls: Mutex<Vec<(String, Value)>>,
}

fn update(id: i64) -> Value {
    json!({"update_id": id, "message": {"message_id": id, "date": 1, "chat": {"id": 9, "type": "private"},
        "from": {"id": 9, "first_name": "Al"}, "text": format!("message {id}")}})
}

async fn method(
    State(fake): State<Arc<Fake>>,
    Path((_token, method)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Reply {
    let polls = {
        let mut calls = fake.calls.lock().unwrap();
        calls.push((method.clone(), body));
        calls.iter().filter(|(m, _)| m == "getUpdates").count()
    };
    if method == "deleteWebhook" {
        return Reply::json(
            200,
            json!({"ok": true, "result": true, "description": "Webhook is already deleted"}),
        );
    }
    match polls {
        1 => Reply::json(200, json!({"ok": true, "result": [update(10), update(11)]})),
        2 => Reply::json(
            502,
            json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
        ),
        // Overlaps what was delivered: 11 must not be delivered twice.
        3 => Reply::json(200, json!({"ok": true, "result": [update(11), update(12)]})),
        _ => {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Reply::json(200, json!({"ok": true, "result": []}))
        }
    }
}

#[tokio::test]
async fn updates_arrive_in_order_and_the_offset_confirms_what_was_delivered() {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route("/{token}/{method}", post(method))
        .with_state(fake.clone());
    let base = serve(app).await;
    // One attempt per call, so the 502 reaches the poller's own backoff.
    let policy = RetryPolicy {
        max_attempts: 1,
        ..fast_retries()
    };
    let api = BotApi::new(&base, "123:abc", policy).unwrap();
    let (tx, mut rx) = mpsc::channel(8);
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(poller::run(api, tx, async {
        stopped.await.ok();
    }));

    let mut delivered = Vec::new();
    for _ in 0..3 {
        let update = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        delivered.push(update.update_id);
    }
    assert_eq!(delivered, vec![10, 11, 12]);
    common::eventually("a fifth poll", Duration::from_secs(5), || {
        fake.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == "getUpdates")
            .count()
            >= 5
    })
    .await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(rx.try_recv().is_err(), "nothing delivered twice");

    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(calls[0].0, "deleteWebhook");
    assert_eq!(calls.iter().filter(|(m, _)| m == "deleteWebhook").count(), 1);
    let offsets: Vec<Value> = calls[1..].iter().map(|(_, body)| body["offset"].clone()).collect();
    assert_eq!(
        offsets[..5],
        [Value::Null, json!(12), json!(12), json!(13), json!(13)],
        "first poll without an offset; the failed poll is repeated with the same offset"
    );
    let (last_method, last_body) = calls.last().unwrap();
    assert_eq!(last_method, "getUpdates");
    assert_eq!(
        (last_body["offset"].clone(), last_body["timeout"].clone()),
        (json!(13), json!(0)),
        "on shutdown, a last call confirms what was delivered"
    );
    assert_eq!(calls[1].1["timeout"], json!(poller::POLL_TIMEOUT_SECS));
}

#[tokio::test]
async fn a_revoked_token_ends_the_poller() {
    let fake = Scripted::start(vec![Reply::json(
        401,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
    )])
    .await;
    let api = BotApi::new(&fake.base, "123:revoked", fast_retries()).unwrap();
    let (tx, _rx) = mpsc::channel(1);
    let ended = tokio::time::timeout(Duration::from_secs(5), poller::run(api, tx, std::future::pending()))
        .await
        .expect("a revoked token ends the loop");
    assert!(ended.unwrap_err().is_unauthorized());
    assert_eq!(fake.requests().len(), 1);
}
