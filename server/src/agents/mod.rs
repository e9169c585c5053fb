//! Agent sessions: the gRPC service agents connect to.
//!
//! Each agent opens one bidirectional stream. This module authenticates it, registers the
//! host, keeps its presence fresh from heartbeats, hands task events to the engine, which
//! owns the sending half and is the only one that sends work, and metric batches to
//! telemetry, which acknowledges them once stored.
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use steward_proto::v1 as pb;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{Auth, AuthError, EnrolledAgent};
use crate::db::Store;
use crate::inventory::{self, Presence};
use crate::jobs::engine::KnownTask;
use crate::jobs::EngineHandle;
use crate::metrics;
use crate::telemetry::Telemetry;

/// Longest log line kept; longer ones are cut (an agent bug or a binary dump).
const MAX_LINE: usize = 16 * 1024;

/// Settings sent to agents in the welcome.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// A shared token any agent may present for any hostname (tests, benchmarks); agents
    /// normally present their per-host credential from enrollment.
    pub token: Option<String>,
    /// How often agents send heartbeats.
    pub heartbeat_interval: Duration,
    /// How long a first Hello may take.
    pub hello_timeout: Duration,
}

/// The `steward.v1.AgentService` implementation.
pub struct AgentService {
    config: SessionConfig,
    store: Store,
    engine: EngineHandle,
    telemetry: Telemetry,
    presence: Arc<Presence>,
    auth: Auth,
    next_session: AtomicU64,
}

/// What an agent proved when it connected.
#[derive(Debug, Clone)]
enum Proof {
    /// The shared token: any hostname.
    Shared,
    /// A per-host credential: only its hostname.
    Credential(EnrolledAgent),
}

impl AgentService {
    /// A service backed by the store, the engine, telemetry and the presence table.
    pub fn new(
        store: Store,
        engine: EngineHandle,
        telemetry: Telemetry,
        presence: Arc<Presence>,
        auth: Auth,
        config: SessionConfig,
    ) -> Self {
        AgentService {
            store,
            engine,
            telemetry,
            presence,
            auth,
            config,
            next_session: AtomicU64::new(1),
        }
    }

    /// The tonic server for this service, with message size limits.
    pub fn into_server(self) -> pb::agent_service_server::AgentServiceServer<Self> {
        pb::agent_service_server::AgentServiceServer::new(self).max_decoding_message_size(4 * 1024 * 1024)
    }

    async fn authenticate<T>(&self, req: &Request<T>) -> Result<Proof, String> {
        let token = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or("no agent credential")?;
        if let Some(shared) = &self.config.token {
            if constant_time_eq(token.as_bytes(), shared.as_bytes()) {
                return Ok(Proof::Shared);
            }
        }
        match self.auth.verify_agent(token).await {
            Ok(a) => Ok(Proof::Credential(a)),
            Err(AuthError::Db(e)) => Err(format!("cannot check the credential: {e}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A client-supplied string fit for a log line: control characters and quotes escaped,
/// at most 128 characters.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(128).flat_map(char::escape_debug).collect();
    if s.chars().count() > 128 {
        out.push('…');
    }
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<pb::ServerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl pb::agent_service_server::AgentService for AgentService {
    type SessionStream = SessionStream;

    async fn enroll(&self, req: Request<pb::EnrollRequest>) -> Result<Response<pb::EnrollResponse>, Status> {
        // Both listeners (plain and TLS) know the peer; limits are per address, so a call
        // without one is refused rather than put in a shared bucket.
        let Some(peer) = req.remote_addr() else {
            return Err(Status::internal("the server does not know the caller's address"));
        };
        let r = req.into_inner();
        // Whatever the caller sent is logged escaped and cut short: a hostname with a newline
        // must not forge a log line.
        let host = shown(&r.hostname);
        match self.auth.enroll(&r.token, &r.hostname, peer.ip()).await {
            Ok(credential) => {
                tracing::info!(%host, %peer, "agent enrolled");
                Ok(Response::new(pb::EnrollResponse { credential }))
            }
            Err(e) => {
                metrics::AGENTS_REFUSED.inc();
                tracing::warn!(%host, %peer, reason = %shown(&e.to_string()), "enrollment refused");
                Err(match e {
                    AuthError::Invalid(m) => Status::invalid_argument(m),
                    AuthError::Conflict(m) => Status::failed_precondition(m),
                    AuthError::Forbidden(m) => Status::permission_denied(m),
                    AuthError::Limited(_) => Status::resource_exhausted(e.to_string()),
                    AuthError::Db(_) => Status::unavailable("the server cannot reach its database"),
                    other => Status::unauthenticated(other.to_string()),
                })
            }
        }
    }

    async fn session(&self, req: Request<Streaming<pb::AgentMessage>>) -> Result<Response<SessionStream>, Status> {
        let proof = match self.authenticate(&req).await {
            Ok(p) => p,
            Err(reason) => {
                metrics::AGENTS_REFUSED.inc();
                tracing::warn!(peer = ?req.remote_addr(), %reason, "agent refused");
                return Err(Status::unauthenticated(reason));
            }
        };
        let peer = req.remote_addr();
        let inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(1024);
        let (close_tx, close_rx) = oneshot::channel::<()>();
        let session = Session {
            id: self.next_session.fetch_add(1, Ordering::Relaxed),
            store: self.store.clone(),
            engine: self.engine.clone(),
            telemetry: self.telemetry.clone(),
            presence: self.presence.clone(),
            config: self.config.clone(),
            revocations: self.auth.revocations(),
            auth: self.auth.clone(),
            proof,
            tx,
        };
        tokio::spawn(async move {
            session.run(inbound, peer).await;
            let _ = close_tx.send(());
        });
        let out = futures::StreamExt::take_until(ReceiverStream::new(rx).map(Ok), close_rx);
        Ok(Response::new(Box::pin(out)))
    }
}

struct Session {
    id: u64,
    store: Store,
    engine: EngineHandle,
    telemetry: Telemetry,
    presence: Arc<Presence>,
    config: SessionConfig,
    revocations: broadcast::Receiver<i64>,
    auth: Auth,
    proof: Proof,
    tx: mpsc::Sender<pb::ServerMessage>,
}

impl Session {
    async fn refuse(&self, reason: String) {
        metrics::AGENTS_REFUSED.inc();
        tracing::warn!(reason = %reason, "agent session refused");
        let _ = self
            .tx
            .send(pb::ServerMessage {
                msg: Some(pb::server_message::Msg::Refused(pb::Refused { reason })),
            })
            .await;
        // Let the refusal reach the agent before the stream closes.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// Resolves when this session's credential is revoked (never for the shared token).
    async fn revoked(&mut self) {
        let Proof::Credential(a) = &self.proof else {
            return std::future::pending().await;
        };
        let mine = a.credential_id;
        loop {
            match self.revocations.recv().await {
                Ok(id) if id == mine => return,
                Ok(_) => {}
                // Missed some: ask the database whether ours was among them.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if matches!(self.auth.credential_live(mine).await, Ok(false)) {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
            }
        }
    }

    async fn run(mut self, mut inbound: Streaming<pb::AgentMessage>, peer: Option<std::net::SocketAddr>) {
        let hello = match tokio::time::timeout(self.config.hello_timeout, inbound.message()).await {
            Ok(Ok(Some(pb::AgentMessage {
                msg: Some(pb::agent_message::Msg::Hello(h)),
            }))) => h,
            Ok(Ok(Some(_))) => {
                return self
                    .refuse("the first message of a session must be a hello".into())
                    .await
            }
            Ok(Ok(None)) | Ok(Err(_)) => return,
            Err(_) => return self.refuse("no hello within the time allowed".into()).await,
        };
        if let Proof::Credential(a) = &self.proof {
            if a.hostname != hello.hostname {
                return self
                    .refuse(format!(
                        "this credential belongs to host {:?}, not {:?}",
                        a.hostname, hello.hostname
                    ))
                    .await;
            }
        }
        // A duplicate is refused before it can overwrite the live session's facts.
        if let Ok(Some(id)) = inventory::host_id(self.store.read(), &hello.hostname).await {
            if let Some(other) = self.presence.holder(id).filter(|s| *s != self.id) {
                return self
                    .refuse(format!(
                        "host {:?} already has a live agent session ({other}); one agent per host",
                        hello.hostname
                    ))
                    .await;
            }
        }
        let facts = hello.facts.clone().unwrap_or_default();
        let facts_json = serde_json::json!({
            "os": facts.os, "kernel": facts.kernel, "arch": facts.arch, "cpus": facts.cpus,
            "memory_bytes": facts.memory_bytes, "addresses": facts.addresses,
        });
        let labels = serde_json::to_value(&facts.labels).unwrap_or_default();
        let host_id =
            match inventory::host_connected(&self.store, &hello.hostname, &hello.agent_version, facts_json, labels)
                .await
            {
                Ok(id) => id,
                Err(e) => {
                    return self
                        .refuse(format!("cannot register host {:?}: {e}", hello.hostname))
                        .await
                }
            };
        if let Err(other) = self.presence.claim(host_id, self.id) {
            return self
                .refuse(format!(
                    "host {:?} already has a live agent session ({other}); one agent per host",
                    hello.hostname
                ))
                .await;
        }
        metrics::AGENTS_CONNECTED.inc();
        tracing::info!(host = %hello.hostname, host_id, session = self.id, ?peer, version = %shown(&hello.agent_version), "agent connected");
        let welcome = pb::Welcome {
            host_id,
            heartbeat_interval_ms: self.config.heartbeat_interval.as_millis() as u32,
            metrics_interval_ms: self.telemetry.metrics_interval_ms(),
            server_version: env!("CARGO_PKG_VERSION").into(),
        };
        let _ = self
            .tx
            .send(pb::ServerMessage {
                msg: Some(pb::server_message::Msg::Welcome(welcome)),
            })
            .await;
        let known = hello
            .tasks
            .iter()
            .map(|t| KnownTask {
                task_id: t.task_id,
                attempt: t.attempt as i32,
                running: t.running,
            })
            .collect();
        if self
            .engine
            .connected(host_id, self.id, self.tx.clone(), known)
            .await
            .is_err()
        {
            return;
        }
        let silence = self.config.heartbeat_interval * 3;
        loop {
            let next = tokio::select! {
                m = tokio::time::timeout(silence, inbound.message()) => m,
                () = self.revoked() => {
                    tracing::warn!(host = %hello.hostname, "the agent's credential was revoked; closing its session");
                    self.refuse("this agent's credential was revoked".into()).await;
                    break;
                }
            };
            let msg = match next {
                Ok(Ok(Some(m))) => m,
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    tracing::info!(host = %hello.hostname, error = %e, "agent stream error");
                    break;
                }
                Err(_) => {
                    tracing::warn!(host = %hello.hostname, "no heartbeat for {:?}; marking the host offline", silence);
                    break;
                }
            };
            self.presence.heard(host_id, self.id);
            match msg.msg {
                Some(pb::agent_message::Msg::Heartbeat(_)) => {}
                Some(pb::agent_message::Msg::Metrics(batch)) => {
                    self.telemetry.ingest(host_id, batch, &self.tx).await;
                }
                Some(pb::agent_message::Msg::TaskEvent(mut e)) => {
                    if let Some(pb::task_event::Kind::Log(l)) = e.kind.as_mut() {
                        if l.line.len() > MAX_LINE {
                            let mut cut = MAX_LINE;
                            while !l.line.is_char_boundary(cut) {
                                cut -= 1;
                            }
                            l.line.truncate(cut);
                            l.line.push_str(" [cut]");
                        }
                    }
                    if self.engine.events(host_id, vec![e]).await.is_err() {
                        break;
                    }
                }
                Some(pb::agent_message::Msg::Hello(_)) => {
                    tracing::warn!(host = %hello.hostname, "a second hello in one session; closing it");
                    break;
                }
                None => {}
            }
        }
        metrics::AGENTS_CONNECTED.dec();
        let _ = self.engine.disconnected(host_id, self.id).await;
        if let Some(last) = self.presence.gone(host_id, self.id) {
            if let Err(e) = inventory::host_disconnected(&self.store, host_id, last).await {
                tracing::warn!(error = %e, "cannot record host offline");
            }
        }
        tracing::info!(host = %hello.hostname, session = self.id, "agent disconnected");
    }
}
