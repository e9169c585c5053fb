//! One session with the server: connect, say Hello, re-send what is unacknowledged, then
//! serve the stream (heartbeats out, tasks and acks in) until it breaks.
//!
//! A session never ends well: it ends with the error that broke it, and the caller
//! reconnects. Tasks are not tied to a session; they keep running while it is down.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    convert::Infallible,
    time::Duration,
};

use steward_proto::v1::{
    agent_message::Msg as Outgoing, agent_service_client::AgentServiceClient, server_message::Msg as Incoming,
    AgentMessage, Heartbeat, Hello, ServerMessage, TaskEvent,
};
use tokio::{
    sync::mpsc,
    time::{interval_at, Instant, Interval, MissedTickBehavior},
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::Endpoint,
    Code, Request, Status,
};

use crate::{
    clock::now_ms,
    collect::Metrics,
    endpoint, facts,
    runner::{Admission, TaskRunner},
    tasks::{TaskKey, TaskTable},
    AgentConfig, AgentError, VERSION,
};

/// Heartbeat period until the server's Welcome says otherwise.
const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(5000);
/// The shortest heartbeat period honoured, whatever the server asks.
const MIN_HEARTBEAT: Duration = Duration::from_millis(100);
/// Messages queued towards the stream; the rest wait in the task table.
const OUTBOUND_CAPACITY: usize = 64;
/// Events taken from the task table at a time.
const BATCH: usize = 256;
/// Metric batches queued at a time.
const METRIC_BATCHES: usize = 4;
/// Largest server message accepted: a RunTask carries its files inline.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Where and as whom to connect; built once, used by every session.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    endpoint: Endpoint,
    server: String,
    authorization: MetadataValue<Ascii>,
    hostname: String,
    labels: BTreeMap<String, String>,
}

impl Link {
    /// Checks the address and token up front: neither gets better by retrying.
    pub(crate) fn new(config: &AgentConfig) -> Result<Self, AgentError> {
        let endpoint = endpoint::endpoint(&config.server, config.ca.as_deref())?;
        if config.token.trim().is_empty() {
            return Err(AgentError::InvalidToken);
        }
        let authorization = format!("Bearer {}", config.token)
            .parse()
            .map_err(|_| AgentError::InvalidToken)?;
        Ok(Self {
            endpoint,
            server: config.server.clone(),
            authorization,
            hostname: config.hostname.clone(),
            labels: config.labels.clone(),
        })
    }

    /// The server address, for log lines.
    pub(crate) fn server(&self) -> &str {
        &self.server
    }
}

/// What broke a session.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    /// No connection could be made.
    #[error("cannot connect: {}", crate::error::chain(.0))]
    Connect(#[source] tonic::transport::Error),
    /// The server does not accept this agent's token.
    #[error("the server rejected the agent's credentials ({code:?}): {message}; check the agent token")]
    Rejected {
        /// Unauthenticated or PermissionDenied.
        code: Code,
        /// The server's explanation.
        message: String,
    },
    /// The server said why it will not serve this agent, then closed the session.
    #[error("the server refused the session: {0}")]
    Refused(String),
    /// The stream failed.
    #[error("session failed ({code:?}): {message}", code = .0.code(), message = .0.message())]
    Stream(Status),
    /// The server ended the stream.
    #[error("the server closed the session")]
    Closed,
}

impl SessionError {
    /// Whether the server turned this agent away, as opposed to being unreachable.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(self, Self::Rejected { .. } | Self::Refused(_))
    }
}

impl From<Status> for SessionError {
    fn from(status: Status) -> Self {
        match status.code() {
            Code::Unauthenticated | Code::PermissionDenied => Self::Rejected {
                code: status.code(),
                message: status.message().to_owned(),
            },
            _ => Self::Stream(status),
        }
    }
}

/// Runs one session until it breaks; sets `opened` once the server accepted the stream.
pub(crate) async fn run(
    link: &Link,
    runner: &TaskRunner,
    metrics: &Metrics,
    opened: &mut Option<Instant>,
) -> Result<Infallible, SessionError> {
    let channel = link.endpoint.connect().await.map_err(SessionError::Connect)?;
    let mut client = AgentServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let (outbound, requests) = mpsc::channel(OUTBOUND_CAPACITY);
    // Queued before the call so the server's first read is the Hello.
    outbound
        .send(message(Outgoing::Hello(hello(link, runner.table()))))
        .await
        .map_err(|_| SessionError::Closed)?;
    let mut request = Request::new(ReceiverStream::new(requests));
    request
        .metadata_mut()
        .insert("authorization", link.authorization.clone());
    let mut inbound = client.session(request).await?.into_inner();
    *opened = Some(Instant::now());
    tracing::info!(
        server = link.server,
        buffered_samples = metrics.buffer.held(),
        dropped_samples = metrics.buffer.dropped(),
        "connected"
    );

    let mut session = Session {
        runner,
        metrics,
        pending: VecDeque::new(),
        cursors: HashMap::new(),
        metrics_cursor: 0,
    };
    let mut heartbeat = heartbeat_timer(DEFAULT_HEARTBEAT);
    loop {
        session.refill();
        let mut new_period = None;
        tokio::select! {
            permit = outbound.reserve(), if !session.pending.is_empty() => {
                let permit = permit.map_err(|_| SessionError::Closed)?;
                if let Some(next) = session.pending.pop_front() {
                    permit.send(next);
                }
            }
            incoming = inbound.message() => match incoming? {
                Some(incoming) => new_period = session.handle(incoming)?,
                None => return Err(SessionError::Closed),
            },
            _ = heartbeat.tick() => session.queue_heartbeat(),
            () = runner.table().changed(), if session.pending.is_empty() => {}
            () = metrics.buffer.changed(), if session.pending.is_empty() => {}
        }
        if let Some(period) = new_period {
            heartbeat = heartbeat_timer(period);
        }
    }
}

/// The state of an open session.
struct Session<'a> {
    runner: &'a TaskRunner,
    metrics: &'a Metrics,
    /// Messages ready to go out, in order; filled from the task table when empty.
    pending: VecDeque<AgentMessage>,
    /// Per task, the highest seq this session has sent: a new session starts from nothing,
    /// which is what makes it re-send everything unacknowledged.
    cursors: HashMap<TaskKey, u64>,
    /// The highest metric batch seq this session has sent (0 for a new session, which makes
    /// it re-send every unacknowledged batch).
    metrics_cursor: u64,
}

impl Session<'_> {
    fn refill(&mut self) {
        if self.pending.is_empty() {
            let events = self.runner.table().unsent(&mut self.cursors, BATCH);
            self.pending.extend(events.into_iter().map(event_message));
            let batches = self.metrics.buffer.after(self.metrics_cursor, METRIC_BATCHES);
            if let Some(last) = batches.last() {
                self.metrics_cursor = last.seq;
            }
            self.pending
                .extend(batches.into_iter().map(|b| message(Outgoing::Metrics(b))));
        }
    }

    /// Acts on one server message; returns the new heartbeat period if the server set one.
    fn handle(&mut self, incoming: ServerMessage) -> Result<Option<Duration>, SessionError> {
        match incoming.msg {
            Some(Incoming::Welcome(welcome)) => {
                tracing::info!(
                    host_id = welcome.host_id,
                    server_version = welcome.server_version,
                    heartbeat_interval_ms = welcome.heartbeat_interval_ms,
                    metrics_interval_ms = welcome.metrics_interval_ms,
                    "welcomed by the server"
                );
                self.metrics.set_interval_ms(welcome.metrics_interval_ms);
                if welcome.heartbeat_interval_ms > 0 {
                    let period = Duration::from_millis(welcome.heartbeat_interval_ms.into());
                    return Ok(Some(period.max(MIN_HEARTBEAT)));
                }
            }
            Some(Incoming::RunTask(task)) => {
                let key = TaskKey {
                    task_id: task.task_id,
                    attempt: task.attempt,
                };
                tracing::info!(
                    task_id = key.task_id,
                    attempt = key.attempt,
                    label = task.label,
                    "task received"
                );
                if self.runner.run(task) == Admission::AlreadyKnown {
                    // The server may have missed what we sent: send it all again.
                    self.cursors.remove(&key);
                }
            }
            Some(Incoming::CancelTask(cancel)) => {
                tracing::info!(
                    task_id = cancel.task_id,
                    attempt = cancel.attempt,
                    reason = cancel.reason,
                    "cancel received"
                );
                self.runner.cancel(&cancel);
            }
            Some(Incoming::Ack(ack)) => {
                for task in &ack.tasks {
                    self.runner.ack(task);
                }
                if ack.metrics_seq > 0 {
                    self.metrics.buffer.ack(ack.metrics_seq);
                }
            }
            Some(Incoming::Refused(refused)) => return Err(SessionError::Refused(refused.reason)),
            None => tracing::debug!("ignoring an empty or unknown server message"),
        }
        Ok(None)
    }

    /// Heartbeats go ahead of queued events: they say the agent is alive, not what it did.
    fn queue_heartbeat(&mut self) {
        let queued = matches!(
            self.pending.front(),
            Some(AgentMessage {
                msg: Some(Outgoing::Heartbeat(_))
            })
        );
        if !queued {
            let heartbeat = Heartbeat {
                sent_at_ms: now_ms(),
                running: self.runner.table().refs(false),
            };
            self.pending.push_front(message(Outgoing::Heartbeat(heartbeat)));
        }
    }
}

fn hello(link: &Link, table: &TaskTable) -> Hello {
    Hello {
        hostname: link.hostname.clone(),
        agent_version: VERSION.to_owned(),
        facts: Some(facts::collect(&link.labels)),
        tasks: table.refs(true),
    }
}

fn heartbeat_timer(period: Duration) -> Interval {
    let mut timer = interval_at(Instant::now() + period, period);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}

fn message(msg: Outgoing) -> AgentMessage {
    AgentMessage { msg: Some(msg) }
}

fn event_message(event: TaskEvent) -> AgentMessage {
    message(Outgoing::TaskEvent(event))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn config(server: &str, token: &str) -> AgentConfig {
        AgentConfig {
            server: server.to_owned(),
            token: token.to_owned(),
            enroll: None,
            hostname: "host-1".to_owned(),
            data_dir: PathBuf::from("/nonexistent"),
            labels: BTreeMap::new(),
            ca: None,
        }
    }

    #[test]
    fn addresses_that_could_never_connect_are_refused_up_front() {
        for server in [
            "127.0.0.1:9090",
            "steward:9090",
            "ftp://steward:9090",
            "http://",
            "not a url",
        ] {
            let error = Link::new(&config(server, "t0ken")).unwrap_err();
            assert!(matches!(error, AgentError::InvalidServer { .. }), "{server}: {error}");
        }
        assert!(Link::new(&config("http://127.0.0.1:9090", "t0ken")).is_ok());
    }

    #[test]
    fn a_token_that_cannot_be_sent_as_metadata_is_refused_up_front() {
        for token in ["", "  ", "line\nbreak", "nul\0byte"] {
            let error = Link::new(&config("http://127.0.0.1:9090", token)).unwrap_err();
            assert!(matches!(error, AgentError::InvalidToken), "{token:?}: {error}");
        }
    }
}
