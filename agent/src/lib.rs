//! Steward's host agent: keeps one gRPC session to the server, runs the scripts of the
//! approved tasks it is sent, and streams their logs and results back until the server
//! acknowledges them.
//!
//! The binary `steward-agent` is a thin command line over [`run`]; `steward up` calls [`run`]
//! in-process, so a single-machine install uses exactly the gRPC path of a remote agent.
//!
//! Where things live: `session` speaks the protocol and `reconnect` keeps it alive; `runner`
//! and `executor` run scripts (`workdir`, `lines`, `process_group` are their parts); `tasks`
//! and `outbox` hold what the server has not acknowledged; `journal`, `state` and `recovery`
//! make results survive an agent restart; `facts` describes the host; `collect` samples the
//! host's telemetry (one collector per file) into a bounded buffer the session drains.

#![warn(missing_docs)]

mod backoff;
mod clock;
mod collect;
mod digest;
mod endpoint;
mod enroll;
mod error;
mod executor;
mod facts;
mod journal;
mod lines;
mod outbox;
mod process_group;
mod reconnect;
mod recovery;
mod runner;
mod session;
mod state;
mod tasks;
mod workdir;

#[cfg(test)]
mod task_tests;

/// `steward up` spawns [`run`] on its runtime, so its future must stay `Send`.
#[cfg(test)]
#[allow(dead_code)]
fn run_is_send(config: AgentConfig) -> impl Future<Output = Result<(), AgentError>> + Send {
    run(config, async {})
}

use std::{collections::BTreeMap, fmt, future::Future, path::PathBuf, sync::Arc, time::Duration};

pub use enroll::credential_path;
pub use error::AgentError;

use crate::{runner::TaskRunner, session::Link, state::StateStore, tasks::TaskTable};

/// The agent's version, reported to the server in every Hello.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long shutdown waits for the server to acknowledge the last results; whatever is not
/// acknowledged by then is on disk and reported by the next start.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

/// Everything an agent needs to serve one host.
#[derive(Clone)]
pub struct AgentConfig {
    /// The server's gRPC address, e.g. `http://127.0.0.1:9090`.
    pub server: String,
    /// This host's credential (or a shared token), sent as `authorization: Bearer <token>`.
    /// Left empty, the credential stored in `data_dir` by an earlier enrollment is used.
    pub token: String,
    /// A one-time enrollment token, exchanged for this host's credential on first start.
    pub enroll: Option<String>,
    /// The name the host is known by in Steward.
    pub hostname: String,
    /// Where task work dirs (`tasks/`) and durable task records (`state/`) live.
    pub data_dir: PathBuf,
    /// Operator-chosen labels reported with the host's facts.
    pub labels: BTreeMap<String, String>,
    /// A PEM CA certificate: for an `https://` server, trust this CA only (pinning it);
    /// without it, the host's native trust store. Refused with an `http://` server.
    pub ca: Option<PathBuf>,
}

/// Shows everything but the token, so configs can be logged.
impl fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentConfig")
            .field("server", &self.server)
            .field("token", &"<redacted>")
            .field("enroll", &self.enroll.as_ref().map(|_| "<redacted>"))
            .field("hostname", &self.hostname)
            .field("data_dir", &self.data_dir)
            .field("labels", &self.labels)
            .field("ca", &self.ca)
            .finish()
    }
}

/// Serves the host until `shutdown` resolves.
///
/// Recovers what an earlier run left behind (killing orphaned task process groups, reporting
/// their results), then stays connected to the server, reconnecting with backoff for as long
/// as it takes. On shutdown, running tasks are killed and recorded as ERROR "agent shut down",
/// to be reported by the next start if the server does not acknowledge them in time.
///
/// Errors only for problems no retry can fix: a malformed server address or token, an
/// unreadable CA file, or an unusable data directory.
pub async fn run(mut config: AgentConfig, shutdown: impl Future<Output = ()> + Send) -> Result<(), AgentError> {
    if config.token.trim().is_empty() {
        config.token = match &config.enroll {
            Some(token) => enroll::enroll(&config, token).await?,
            None => enroll::stored(&config.data_dir)?.ok_or(AgentError::NoCredential)?,
        };
    }
    let link = Link::new(&config)?;
    let data_dir = |path: PathBuf| move |source| AgentError::DataDir { path, source };
    let state_dir = config.data_dir.join("state");
    let store = StateStore::open(&state_dir).map_err(data_dir(state_dir.clone()))?;
    let tasks_dir = config.data_dir.join("tasks");
    std::fs::create_dir_all(&tasks_dir).map_err(data_dir(tasks_dir.clone()))?;
    let table = Arc::new(TaskTable::default());
    recovery::recover(&store, &table).map_err(data_dir(state_dir))?;

    let runner = TaskRunner::new(table.clone(), store, tasks_dir);
    tracing::info!(
        version = VERSION,
        server = config.server,
        hostname = config.hostname,
        "agent starting"
    );
    let (metrics, collection) = collect::Metrics::start();
    let sessions = reconnect::serve(link, runner.clone(), metrics);
    tokio::pin!(sessions, shutdown);
    tokio::select! {
        () = &mut shutdown => {}
        never = &mut sessions => match never {},
    }

    tracing::info!("shutting down");
    // The session stays up meanwhile, so the results of killed tasks can still go out.
    tokio::select! {
        () = runner.shut_down() => {}
        never = &mut sessions => match never {},
    }
    if table.has_unacked() {
        let flushed = async {
            while table.has_unacked() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            _ = tokio::time::timeout(SHUTDOWN_FLUSH, flushed) => {}
            never = &mut sessions => match never {},
        }
    }
    collection.stop().await;
    tracing::info!("agent stopped");
    Ok(())
}
