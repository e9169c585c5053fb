//! Slack Socket Mode: events, slash commands and interactions over a WebSocket the app
//! opens, so Steward needs no public HTTP endpoint.
//!
//! Slack expects every envelope to be acknowledged within seconds or it sends it again, so
//! the acknowledgement goes out as soon as the envelope is read, before the event is handed
//! on (the receiver may be slow, or busy planning). Slack also closes connections now and
//! then (a `disconnect` frame, or a dropped socket); the loop opens a new one each time.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::Rng;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::inbound::{EventEnvelope, Interaction, SlashCommand};
use super::web_api::{WebApi, WebApiError};
use crate::error_chain;

/// What arrived over Socket Mode, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEvent {
    /// An Events API envelope (`events_api`).
    Event(EventEnvelope),
    /// A slash command (`slash_commands`).
    Command(SlashCommand),
    /// An interaction, such as a button press (`interactive`).
    Interaction(Interaction),
}

/// Why Socket Mode stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum SocketModeError {
    /// Slack refused to open a connection for a reason that does not pass (bad app token,
    /// Socket Mode off for the app).
    #[error("Slack refused to open a Socket Mode connection: {0}")]
    Refused(WebApiError),
    /// No TLS configuration could be built for `wss://`.
    #[error("cannot set up TLS for Socket Mode: {0}")]
    Tls(String),
}

/// How often we ping Slack, so a connection that died silently is noticed.
const PING_EVERY: Duration = Duration::from_secs(30);
/// How long without any frame before a connection counts as dead.
const SILENCE_LIMIT: Duration = Duration::from_secs(90);

/// Keeps a Socket Mode connection open with `app_token` and sends what arrives to `tx`,
/// until `shutdown` completes or `tx`'s receiver is dropped (both `Ok`), or Slack refuses
/// the app token (`Err`). Reconnection waits follow `api`'s retry policy's backoff.
pub async fn run(
    api: WebApi,
    app_token: String,
    tx: mpsc::Sender<SocketEvent>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SocketModeError> {
    tokio::pin!(shutdown);
    let tls = tls_config()?;
    let policy = api.retry_policy().clone();
    let mut failures = 0;
    loop {
        let ended = tokio::select! {
            () = &mut shutdown => return Ok(()),
            ended = connect_and_serve(&api, &app_token, &tls, &tx) => ended,
        };
        match ended {
            Ended::ReceiverGone => return Ok(()),
            Ended::Refused(e) => return Err(SocketModeError::Refused(e)),
            Ended::Disconnected => {
                failures = 0;
                continue;
            }
            // A connection that said hello was healthy: start the backoff afresh.
            Ended::Lost { healthy: true } => failures = 1,
            Ended::Lost { healthy: false } => failures += 1,
        }
        let wait = policy.backoff(failures, rand::thread_rng().gen());
        tracing::info!(?wait, "reconnecting to Slack Socket Mode");
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// How one connection ended.
#[derive(Debug)]
enum Ended {
    /// Slack asked us to reconnect (`disconnect`): do it now.
    Disconnected,
    /// The connection failed or closed; `healthy` if it had said hello first.
    Lost { healthy: bool },
    /// Nobody listens any more.
    ReceiverGone,
    /// `apps.connections.open` failed for good.
    Refused(WebApiError),
}

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect_and_serve(
    api: &WebApi,
    app_token: &str,
    tls: &Arc<rustls::ClientConfig>,
    tx: &mpsc::Sender<SocketEvent>,
) -> Ended {
    let url = match api.open_socket(app_token).await {
        Ok(url) => url,
        Err(e) if e.is_retryable() => {
            tracing::warn!(error = %e, "could not open a Slack Socket Mode connection");
            return Ended::Lost { healthy: false };
        }
        Err(e) => return Ended::Refused(e),
    };
    let connector = Connector::Rustls(tls.clone());
    let socket =
        match tokio_tungstenite::connect_async_tls_with_config(url.as_str(), None, false, Some(connector)).await {
            Ok((socket, _response)) => socket,
            Err(e) => {
                // Not the URL: it carries a ticket for this connection.
                tracing::warn!(error = %error_chain(&e), "could not connect to Slack Socket Mode");
                return Ended::Lost { healthy: false };
            }
        };
    serve(socket, tx).await
}

/// Reads frames until the connection ends, acknowledging envelopes as they come.
async fn serve(mut socket: Socket, tx: &mpsc::Sender<SocketEvent>) -> Ended {
    let mut healthy = false;
    let mut last_heard = Instant::now();
    let mut pings = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        let message = tokio::select! {
            message = socket.next() => message,
            _ = pings.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    tracing::warn!("Slack Socket Mode connection went silent");
                    return Ended::Lost { healthy };
                }
                if let Err(e) = socket.send(Message::Ping(Default::default())).await {
                    tracing::warn!(error = %e, "Slack Socket Mode ping failed");
                    return Ended::Lost { healthy };
                }
                continue;
            }
        };
        last_heard = Instant::now();
        // Pings are answered by tungstenite itself, on the next read.
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                tracing::info!(?frame, "Slack closed the Socket Mode connection");
                return Ended::Lost { healthy };
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "Slack Socket Mode connection failed");
                return Ended::Lost { healthy };
            }
            None => return Ended::Lost { healthy },
        };
        match read_frame(text.as_str()) {
            Ok(Frame::Hello) => {
                healthy = true;
                tracing::info!("connected to Slack Socket Mode");
            }
            // Socket Mode was turned off for the app: reconnecting at once would only spin.
            Ok(Frame::Disconnect { reason }) if reason == "link_disabled" => {
                tracing::warn!("Slack disabled Socket Mode for this app");
                return Ended::Lost { healthy: false };
            }
            Ok(Frame::Disconnect { reason }) => {
                tracing::info!(%reason, "Slack asked for a new Socket Mode connection");
                return Ended::Disconnected;
            }
            Ok(Frame::Envelope { envelope_id, event }) => {
                let ack = serde_json::json!({ "envelope_id": envelope_id }).to_string();
                if let Err(e) = socket.send(Message::text(ack)).await {
                    tracing::warn!(error = %e, "could not acknowledge a Slack envelope");
                    return Ended::Lost { healthy };
                }
                match event {
                    Ok(event) => {
                        if tx.send(*event).await.is_err() {
                            return Ended::ReceiverGone;
                        }
                    }
                    Err(reason) => tracing::warn!(%envelope_id, %reason, "skipping a Slack envelope"),
                }
            }
            Err(reason) => tracing::warn!(%reason, "skipping a malformed Slack Socket Mode frame"),
        }
    }
}

/// A Socket Mode frame, as far as the loop cares.
#[derive(Debug)]
enum Frame {
    /// The connection is ready.
    Hello,
    /// Slack will close this connection and asks for a new one.
    Disconnect { reason: String },
    /// Something to acknowledge, and the event it carries if it could be read.
    Envelope {
        envelope_id: String,
        event: Result<Box<SocketEvent>, String>,
    },
}

fn read_frame(text: &str) -> Result<Frame, String> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(rename = "type")]
        kind: String,
        envelope_id: Option<String>,
        payload: Option<Value>,
        reason: Option<String>,
    }
    let raw: Raw = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match (raw.kind.as_str(), raw.envelope_id) {
        ("hello", _) => Ok(Frame::Hello),
        ("disconnect", _) => Ok(Frame::Disconnect {
            reason: raw.reason.unwrap_or_default(),
        }),
        (kind, Some(envelope_id)) => {
            let payload = raw.payload.unwrap_or(Value::Null);
            let event = match kind {
                "events_api" => serde_json::from_value(payload).map(SocketEvent::Event),
                "slash_commands" => serde_json::from_value(payload).map(SocketEvent::Command),
                "interactive" => serde_json::from_value(payload).map(SocketEvent::Interaction),
                other => {
                    return Ok(Frame::Envelope {
                        envelope_id,
                        event: Err(format!("unknown envelope type {other:?}")),
                    })
                }
            };
            Ok(Frame::Envelope {
                envelope_id,
                event: event
                    .map(Box::new)
                    .map_err(|e| format!("malformed {kind} payload: {e}")),
            })
        }
        (kind, None) => Err(format!("frame of type {kind:?} without an envelope_id")),
    }
}

/// TLS for `wss://`: the crypto provider the process installed (the server installs one),
/// else aws-lc-rs like the rest of Steward; webpki's roots like reqwest's.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, SocketModeError> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SocketModeError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_by_type() {
        assert!(matches!(
            read_frame(r#"{"type":"hello","num_connections":1}"#),
            Ok(Frame::Hello)
        ));
        let Ok(Frame::Disconnect { reason }) = read_frame(r#"{"type":"disconnect","reason":"refresh_requested"}"#)
        else {
            panic!("not a disconnect");
        };
        assert_eq!(reason, "refresh_requested");
        let command = r#"{"envelope_id":"e1","type":"slash_commands","accepts_response_payload":true,
            "payload":{"command":"/steward","text":"hi","user_id":"U1","channel_id":"C1","response_url":"https://x"}}"#;
        let Ok(Frame::Envelope {
            envelope_id,
            event: Ok(event),
        }) = read_frame(command)
        else {
            panic!("not an envelope");
        };
        let SocketEvent::Command(cmd) = *event else {
            panic!("not a command")
        };
        assert_eq!((envelope_id.as_str(), cmd.text.as_str()), ("e1", "hi"));
    }

    #[test]
    fn a_malformed_envelope_is_still_acknowledged_and_junk_is_an_error() {
        let bad = r#"{"envelope_id":"e2","type":"slash_commands","payload":{"text":1}}"#;
        let Ok(Frame::Envelope {
            envelope_id,
            event: Err(_),
        }) = read_frame(bad)
        else {
            panic!("expected an envelope to acknowledge");
        };
        assert_eq!(envelope_id, "e2");
        let unknown = r#"{"envelope_id":"e3","type":"new_kind","payload":{}}"#;
        assert!(matches!(read_frame(unknown), Ok(Frame::Envelope { event: Err(_), .. })));
        assert!(read_frame("not json").is_err());
        assert!(read_frame(r#"{"type":"events_api"}"#).is_err());
    }

    #[test]
    fn tls_config_builds_without_an_installed_provider() {
        assert!(tls_config().is_ok());
    }
}
