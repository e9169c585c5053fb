//! Socket Mode against a fake Slack: `apps.connections.open` over HTTP, then envelopes over
//! a WebSocket, acknowledged by envelope id; a `disconnect` frame leads to a new connection.
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{any, post};
use axum::{Json, Router};
use common::{eventually, fast_retries, serve, Reply, Scripted};
use serde_json::{json, Value};
use steward_integrations::slack::socket_mode::{self, SocketEvent, SocketModeError};
use steward_integrations::slack::{Event, EventEnvelope, Interaction, WebApi};
use tokio::sync::{mpsc, oneshot};

#[derive(Default)]
struct Fake {
    base: Mutex<String>,
    opens: AtomicUsize,
    connections: AtomicUsize,
    /// Every text frame the client sent, in order (the acknowledgements).
    received: Mutex<Vec<Value>>,
    /// Pong payloads the client sent.
    pongs: Mutex<Vec<Vec<u8>>>,
}

async fn open(State(fake): State<Arc<Fake>>) -> Json<Value> {
    let n = fake.opens.fetch_add(1, Ordering::SeqCst) + 1;
    let ws_base = fake.base.lock().unwrap().replace("http://", "ws://");
    Json(json!({"ok": true, "url": format!("{ws_base}/link/?ticket=t{n}")}))
}

async fn link(ws: WebSocketUpgrade, State(fake): State<Arc<Fake>>) -> impl IntoResponse {
    ws.on_upgrade(move |socket| async move {
        let n = fake.connections.fetch_add(1, Ordering::SeqCst) + 1;
        if n == 1 {
            first_connection(socket, fake).await;
        } else {
            later_connection(socket, fake).await;
        }
    })
}

async fn send(socket: &mut WebSocket, frame: Value) {
    socket.send(Message::text(frame.to_string())).await.unwrap();
}

/// Reads until a text frame arrives; records it (and any pong) on the way.
async fn next_text(socket: &mut WebSocket, fake: &Fake) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.recv())
            .await
            .ok()??
            .ok()?
        {
            Message::Text(text) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                fake.received.lock().unwrap().push(frame.clone());
                return Some(frame);
            }
            Message::Pong(payload) => fake.pongs.lock().unwrap().push(payload.to_vec()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

fn mention(envelope_id: &str, text: &str) -> Value {
    json!({
        "envelope_id": envelope_id, "type": "events_api", "accepts_response_payload": false, "retry_attempt": 0,
        "payload": {"type": "event_callback", "team_id": "T1", "event_id": format!("Ev-{envelope_id}"),
            "event": {"type": "app_mention", "user": "U1", "text": text, "ts": "1.1", "channel": "C1"}}
    })
}

async fn first_connection(mut socket: WebSocket, fake: Arc<Fake>) {
    send(&mut socket, json!({"type": "hello", "num_connections": 1})).await;
    send(&mut socket, mention("e1", "<@U0> first")).await;
    next_text(&mut socket, &fake).await;
    // A frame the client cannot read must not end the connection.
    socket.send(Message::text("{not json")).await.unwrap();
    send(
        &mut socket,
        json!({"envelope_id": "e2", "type": "slash_commands", "accepts_response_payload": true,
            "payload": {"command": "/steward", "text": "status", "user_id": "U1", "user_name": "alice",
                "channel_id": "C1", "response_url": "https://hooks.slack.com/commands/x", "trigger_id": "t", "team_id": "T1"}}),
    )
    .await;
    next_text(&mut socket, &fake).await;
    socket
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    send(
        &mut socket,
        json!({"type": "disconnect", "reason": "refresh_requested"}),
    )
    .await;
    while next_text(&mut socket, &fake).await.is_some() {}
}

async fn later_connection(mut socket: WebSocket, fake: Arc<Fake>) {
    send(&mut socket, json!({"type": "hello", "num_connections": 1})).await;
    send(
        &mut socket,
        json!({"envelope_id": "e3", "type": "interactive", "accepts_response_payload": false,
            "payload": {"type": "block_actions", "user": {"id": "U2", "username": "bob"},
                "actions": [{"action_id": "steward_approve", "value": "42:abc", "block_id": "b"}],
                "channel": {"id": "C1"}, "message": {"ts": "1.2"}, "response_url": "https://hooks.slack.com/actions/x"}}),
    )
    .await;
    while next_text(&mut socket, &fake).await.is_some() {}
}

#[tokio::test]
async fn envelopes_are_acknowledged_before_delivery_and_a_disconnect_reconnects() {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route("/api/apps.connections.open", post(open))
        .route("/link/", any(link))
        .with_state(fake.clone());
    let base = serve(app).await;
    *fake.base.lock().unwrap() = base.clone();

    let api = WebApi::new(&format!("{base}/api/"), "xoxb-bot", fast_retries()).unwrap();
    // Room for one event: the second envelope must be acknowledged while its delivery waits.
    let (tx, mut rx) = mpsc::channel(1);
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(socket_mode::run(api, "xapp-app".into(), tx, async {
        stopped.await.ok();
    }));

    let acks = || fake.received.lock().unwrap().clone();
    eventually("both envelopes acknowledged", Duration::from_secs(10), || {
        acks().len() == 2
    })
    .await;
    assert_eq!(acks(), vec![json!({"envelope_id": "e1"}), json!({"envelope_id": "e2"})]);

    let Some(SocketEvent::Event(EventEnvelope::EventCallback { event, .. })) = rx.recv().await else {
        panic!("first delivery is not an event");
    };
    let Event::AppMention(m) = *event else {
        panic!("first delivery is not the app mention")
    };
    assert_eq!(m.text, "<@U0> first");
    let Some(SocketEvent::Command(command)) = rx.recv().await else {
        panic!("second delivery is not the slash command");
    };
    assert_eq!(
        (command.command.as_str(), command.text.as_str()),
        ("/steward", "status")
    );

    let Some(SocketEvent::Interaction(Interaction::BlockActions(actions))) = rx.recv().await else {
        panic!("third delivery is not the button press from the second connection");
    };
    assert_eq!(actions.actions[0].value.as_deref(), Some("42:abc"));
    assert_eq!(
        fake.opens.load(Ordering::SeqCst),
        2,
        "a new connection was opened after the disconnect"
    );
    eventually("the third envelope acknowledged", Duration::from_secs(10), || {
        acks().len() == 3
    })
    .await;
    assert_eq!(acks()[2], json!({"envelope_id": "e3"}));
    assert_eq!(
        fake.pongs.lock().unwrap().clone(),
        vec![b"are you there".to_vec()],
        "the ping was answered"
    );

    stop.send(()).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("run stops on shutdown");
    assert!(ended.unwrap().is_ok());
}

#[tokio::test]
async fn a_refused_app_token_ends_socket_mode() {
    let fake = Scripted::start(vec![Reply::json(200, json!({"ok": false, "error": "invalid_auth"}))]).await;
    let api = WebApi::new(&format!("{}/api/", fake.base), "xoxb-bot", fast_retries()).unwrap();
    let (tx, _rx) = mpsc::channel(1);
    let ended = tokio::time::timeout(
        Duration::from_secs(5),
        socket_mode::run(api, "xapp-wrong".into(), tx, std::future::pending()),
    )
    .await
    .expect("a refused token ends the loop");
    let Err(SocketModeError::Refused(error)) = ended else {
        panic!("expected Refused, got {ended:?}");
    };
    assert_eq!(error.code(), Some("invalid_auth"));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_connection_that_fails_is_retried_until_slack_answers() {
    // Two failed opens (a 500, then a URL where nothing listens), then a working one.
    let fake = Arc::new(Fake::default());
    let app = Router::new().route("/link/", any(link)).with_state(fake.clone());
    let ws_base = serve(app).await.replace("http://", "ws://");
    *fake.base.lock().unwrap() = ws_base.clone();
    let dead = common::closed_port().await.replace("http://", "ws://");
    let slack = Scripted::start(vec![
        Reply::json(500, json!({})),
        Reply::json(200, json!({"ok": true, "url": format!("{dead}/link/")})),
        Reply::json(200, json!({"ok": true, "url": format!("{ws_base}/link/")})),
    ])
    .await;
    let policy = steward_integrations::RetryPolicy {
        max_attempts: 1,
        ..fast_retries()
    };
    let api = WebApi::new(&format!("{}/api/", slack.base), "xoxb-bot", policy).unwrap();
    let (tx, mut rx) = mpsc::channel(8);
    let run = tokio::spawn(socket_mode::run(api, "xapp-app".into(), tx, std::future::pending()));
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event arrives");
    assert!(matches!(first, Some(SocketEvent::Event(_))), "{first:?}");
    assert_eq!(slack.requests().len(), 3);
    run.abort();
}
