//! Stand-ins for Slack's Web API and Telegram's Bot API on loopback, speaking their wire
//! format, for the tests of Steward's bots (`features = ["testing"]`). Unlike a script, they
//! keep state the way the services do: each posted message gets its own `ts` or
//! `message_id`, and every call is recorded for the test to read. A test can make the next
//! call of a method fail (a rate limit, an error) to see the bot retry.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Notify;

/// One call as the fake received it.
#[derive(Debug, Clone)]
pub struct Call {
    /// The API method (`chat.postMessage`, `sendMessage`, `response_url` …).
    pub method: String,
    /// The JSON body.
    pub body: Value,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

/// A failure to answer the next call of a method with.
#[derive(Debug, Clone)]
struct Failure {
    method: String,
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

#[derive(Default)]
struct Shared {
    calls: Mutex<Vec<Call>>,
    /// Telegram updates waiting for `getUpdates`.
    updates: Mutex<Vec<Value>>,
    /// Slack Socket Mode envelopes waiting for a connection.
    envelopes: Mutex<VecDeque<Value>>,
    failures: Mutex<VecDeque<Failure>>,
    changed: Notify,
    next_id: AtomicI64,
}

impl Shared {
    /// Records `call`; the failure queued for its method, if any.
    fn record(&self, call: Call) -> Option<Failure> {
        let mut failures = self.failures.lock().unwrap();
        let failure = failures
            .iter()
            .position(|f| f.method == call.method)
            .and_then(|i| failures.remove(i));
        self.calls.lock().unwrap().push(call);
        self.changed.notify_waiters();
        failure
    }

    fn next_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// What the fakes have in common: the calls, the queued failures, waiting.
pub struct Fake {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    shared: Arc<Shared>,
}

impl Fake {
    async fn start(router: Router<Arc<Shared>>) -> Fake {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let app = router.with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Fake { base, shared }
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// The calls of `method` so far.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method == method).collect()
    }

    /// Answers the next call of `method` with HTTP `status` and `body` (and `Retry-After`).
    pub fn fail_next(&self, method: &str, status: u16, retry_after: Option<u64>, body: Value) {
        self.shared.failures.lock().unwrap().push_back(Failure {
            method: method.to_owned(),
            status,
            retry_after,
            body,
        });
    }

    /// The first call (in order) that `pred` accepts, waiting up to `secs` for it.
    pub async fn wait_for(&self, secs: u64, what: &str, pred: impl Fn(&Call) -> bool) -> Call {
        self.wait_for_count(secs, what, 1, pred).await.remove(0)
    }

    /// The calls `pred` accepts, once there are at least `n` of them, waiting up to `secs`.
    pub async fn wait_for_count(&self, secs: u64, what: &str, n: usize, pred: impl Fn(&Call) -> bool) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let changed = self.shared.changed.notified();
            let matching: Vec<Call> = self.calls().into_iter().filter(|c| pred(c)).collect();
            if matching.len() >= n {
                return matching;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "not {n} of {what} within {secs} s; calls: {:#?}",
                self.calls()
            );
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), changed).await;
        }
    }
}

fn failure_response(f: Failure) -> Response {
    let mut r = (StatusCode::from_u16(f.status).expect("status"), Json(f.body)).into_response();
    if let Some(secs) = f.retry_after {
        r.headers_mut().insert("retry-after", secs.into());
    }
    r
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Slack's Web API (`{base}/api/{method}`) and response URLs (`{base}/respond/{id}`).
pub struct FakeSlack(pub Fake);

impl FakeSlack {
    /// Starts it.
    pub async fn start() -> FakeSlack {
        let router = Router::new()
            .route("/api/{method}", post(slack_method))
            .route("/respond/{id}", post(slack_respond))
            .route("/socket", any(slack_socket));
        FakeSlack(Fake::start(router).await)
    }

    /// The Web API's base URL, for `STEWARD_SLACK_API_URL`.
    pub fn api_url(&self) -> String {
        format!("{}/api/", self.0.base)
    }

    /// A response URL, as Slack puts in slash commands and interactions.
    pub fn response_url(&self, id: &str) -> String {
        format!("{}/respond/{id}", self.0.base)
    }

    /// Sends `envelope` to the app over Socket Mode (now, or when it connects); its
    /// acknowledgement is recorded as a call of method `socket_ack`.
    pub fn push_envelope(&self, envelope: Value) {
        self.0.shared.envelopes.lock().unwrap().push_back(envelope);
        self.0.shared.changed.notify_waiters();
    }
}

/// A Socket Mode connection: `hello`, then the queued envelopes; every frame the app sends
/// back is recorded.
async fn slack_socket(ws: WebSocketUpgrade, State(shared): State<Arc<Shared>>) -> Response {
    ws.on_upgrade(move |socket| serve_socket(socket, shared))
}

async fn serve_socket(mut socket: WebSocket, shared: Arc<Shared>) {
    let hello = json!({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}});
    if socket.send(Message::text(hello.to_string())).await.is_err() {
        return;
    }
    loop {
        let changed = shared.changed.notified();
        let next = shared.envelopes.lock().unwrap().pop_front();
        if let Some(envelope) = next {
            if socket.send(Message::text(envelope.to_string())).await.is_err() {
                return;
            }
            continue;
        }
        tokio::select! {
            _ = changed => {}
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let body = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    shared.record(Call { method: "socket_ack".into(), body, authorization: None });
                }
                Some(Ok(Message::Ping(payload))) => {
                    let _ = socket.send(Message::Pong(payload)).await;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
        }
    }
}

impl std::ops::Deref for FakeSlack {
    type Target = Fake;
    fn deref(&self) -> &Fake {
        &self.0
    }
}

async fn slack_method(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let call = Call {
        method: method.clone(),
        body: body.clone(),
        authorization: authorization(&headers),
    };
    if let Some(f) = shared.record(call) {
        return failure_response(f);
    }
    if !headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("Bearer xox") || (method == "apps.connections.open" && v.starts_with("Bearer xapp-"))
        })
    {
        return Json(json!({"ok": false, "error": "not_authed"})).into_response();
    }
    let channel = body["channel"].clone();
    let ts = format!("1700000000.{:06}", shared.next_id());
    match method.as_str() {
        "apps.connections.open" => {
            let port = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
            Json(json!({"ok": true, "url": format!("ws://{port}/socket")}))
        }
        "chat.postMessage" => {
            Json(json!({"ok": true, "channel": channel, "ts": ts, "message": {"text": body["text"], "ts": ts}}))
        }
        "chat.update" => Json(json!({"ok": true, "channel": channel, "ts": body["ts"], "text": body["text"]})),
        "chat.postEphemeral" => Json(json!({"ok": true, "message_ts": ts})),
        _ => Json(json!({"ok": false, "error": "unknown_method"})),
    }
    .into_response()
}

async fn slack_respond(
    State(shared): State<Arc<Shared>>,
    Path(_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let call = Call {
        method: "response_url".into(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        authorization: None,
    };
    if let Some(f) = shared.record(call) {
        return failure_response(f);
    }
    // Slack answers a response URL with a bare `ok`.
    "ok".into_response()
}

/// Telegram's Bot API (`{base}/bot{token}/{method}`).
pub struct FakeTelegram(pub Fake);

impl FakeTelegram {
    /// Starts it.
    pub async fn start() -> FakeTelegram {
        let router = Router::new().route("/{bot}/{method}", post(telegram_method));
        FakeTelegram(Fake::start(router).await)
    }

    /// The Bot API's base URL, for `STEWARD_TELEGRAM_API_URL`.
    pub fn api_url(&self) -> String {
        self.0.base.clone()
    }

    /// Queues `update` for `getUpdates` (long polling).
    pub fn push_update(&self, update: Value) {
        self.0.shared.updates.lock().unwrap().push(update);
        self.0.shared.changed.notify_waiters();
    }
}

/// The queued updates from `offset` on, waiting up to `timeout` seconds (at most 1) for one.
async fn updates_from(shared: &Shared, offset: i64, timeout: u64) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(timeout.min(1));
    loop {
        let changed = shared.changed.notified();
        let due: Vec<Value> = {
            let mut updates = shared.updates.lock().unwrap();
            // Confirmed by the offset: Telegram forgets them.
            updates.retain(|u| u["update_id"].as_i64().unwrap_or_default() >= offset);
            updates.clone()
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if !due.is_empty() || left.is_zero() {
            return due;
        }
        let _ = tokio::time::timeout(left, changed).await;
    }
}

impl std::ops::Deref for FakeTelegram {
    type Target = Fake;
    fn deref(&self) -> &Fake {
        &self.0
    }
}

async fn telegram_method(
    State(shared): State<Arc<Shared>>,
    Path((bot, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !bot.starts_with("bot") || !bot.contains(':') {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"ok": false, "error_code": 404, "description": "Not Found"})),
        )
            .into_response();
    }
    let call = Call {
        method: method.clone(),
        body: body.clone(),
        authorization: None,
    };
    if let Some(f) = shared.record(call) {
        return failure_response(f);
    }
    let message = |id: i64| json!({"message_id": id, "date": 1700000000, "chat": {"id": body["chat_id"], "type": "group"}, "text": body["text"]});
    let result = match method.as_str() {
        "sendMessage" => message(shared.next_id()),
        "editMessageText" => message(body["message_id"].as_i64().unwrap_or_default()),
        "answerCallbackQuery" | "deleteWebhook" => json!(true),
        "getUpdates" => {
            let offset = body["offset"].as_i64().unwrap_or_default();
            Value::from(updates_from(&shared, offset, body["timeout"].as_u64().unwrap_or_default()).await)
        }
        _ => {
            return Json(json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"}))
                .into_response()
        }
    };
    Json(json!({"ok": true, "result": result})).into_response()
}
