//! Starting the whole server: storage, catalog, engine, gRPC for agents, HTTP for people.
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::agents::{AgentService, SessionConfig};
use crate::api::{self, AppState};
use crate::auth::Auth;
use crate::chat::Chat;
use crate::config::Config;
use crate::db;
use crate::events::Bus;
use crate::integrations::Integrations;
use crate::inventory::{self, Presence};
use crate::jobs::engine::{Engine, EngineConfig};
use crate::jobs::{ApprovalPolicy, Jobs};
use crate::knowledge::Knowledge;
use crate::remediation::Remediation;
use crate::stacks::{self, Catalog};
use crate::telemetry::Telemetry;
use crate::tls::ServerTls;

/// How long a stopping server lets HTTP requests in flight finish.
const HTTP_DRAIN: Duration = Duration::from_secs(3);

/// A running server.
pub struct Running {
    /// Where HTTP listens.
    pub http: SocketAddr,
    /// Where agents connect.
    pub grpc: SocketAddr,
    /// The shared agent token, if one is configured.
    pub agent_token: Option<String>,
    /// The shared state (for `up` and benchmarks).
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<anyhow::Result<()>>,
}

impl Running {
    /// Asks every part to stop, then waits for them.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        while let Some(r) = self.tasks.join_next().await {
            r??;
        }
        Ok(())
    }

    /// Waits until a part stops by itself (an error) and returns it.
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        match self.tasks.join_next().await {
            Some(r) => r?,
            None => Ok(()),
        }
    }

    /// A future that resolves when shutdown is asked.
    pub fn shutdown_signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    }
}

/// The configured chat model, or None (with a warning) when none can be used.
fn chat_model(config: &Config) -> anyhow::Result<Option<Arc<dyn steward_llm::ChatModel>>> {
    let provider = config.llm.provider.as_deref().unwrap_or("local");
    match provider {
        "openai" => {
            let m = steward_llm::from_config_with_timeout(
                "openai",
                config.llm.base_url.as_deref(),
                config.llm.api_key.as_deref(),
                config.llm.model.as_deref(),
                config.llm.timeout_secs.map(Duration::from_secs),
            )
            .context("STEWARD_LLM_PROVIDER=openai")?;
            Ok(Some(Arc::from(m)))
        }
        "local" => {
            let path = config
                .llm
                .model_path
                .clone()
                .unwrap_or_else(|| steward_llm_local::model_path_in(&config.data_dir));
            if !path.exists() {
                tracing::warn!(path = %path.display(), "the local model file is missing, so chat is off: run scripts/fetch-model.sh with STEWARD_MODEL_DIR=<data dir>/models (make run does), or set STEWARD_LLM_MODEL_PATH");
                return Ok(None);
            }
            let m = steward_llm_local::LocalChat::load(&path, steward_llm_local::DEFAULT_THREADS)
                .with_context(|| format!("cannot load the local model {}", path.display()))?;
            Ok(Some(Arc::new(m)))
        }
        "none" => Ok(None),
        other => anyhow::bail!("STEWARD_LLM_PROVIDER={other:?} is not a provider (local, openai, none)"),
    }
}

/// Loads the catalog from `dir`, or the stacks built into the binary.
pub fn load_catalog(dir: Option<&Path>) -> anyhow::Result<Catalog> {
    let c = match dir {
        Some(d) => stacks::load_dir(d).with_context(|| format!("invalid stack under {}", d.display()))?,
        None => stacks::load_embedded().context("invalid built-in stack")?,
    };
    Ok(c)
}

/// The shared agent token, when one is configured. Agents normally enroll and hold a
/// per-host credential; a shared token lets any holder claim any hostname, so it is for
/// tests, benchmarks and migrations only, and the server says so when it is set.
pub fn agent_token(config: &Config) -> anyhow::Result<Option<String>> {
    let Some(t) = &config.agent_token else {
        return Ok(None);
    };
    anyhow::ensure!(t.len() >= 16, "the agent token must be at least 16 characters");
    tracing::warn!("a shared agent token is configured (STEWARD_AGENT_TOKEN): whoever holds it can connect as any host; enroll agents instead");
    Ok(Some(t.clone()))
}

/// Starts everything `serve` runs and returns once it listens.
pub async fn start(config: &Config) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
    // Before anything else that takes time, so a wrong certificate path fails at once.
    let tls = ServerTls::from_files(config.tls_files()?)?;
    let catalog = Arc::new(load_catalog(config.stacks_dir.as_deref())?);
    let token = agent_token(config)?;
    let url = config.database_url();
    let store = db::connect(&url)
        .await
        .with_context(|| format!("cannot open the database {}", db::redact(&url)))?;
    let audit_checkpoint = crate::audit::Checkpoint::open(&config.data_dir)?;
    let bus = Bus::default();
    let presence = Arc::new(Presence::default());
    let (engine, engine_task) = Engine::start(
        store.clone(),
        bus.clone(),
        catalog.clone(),
        EngineConfig {
            max_concurrent_jobs: config.max_concurrent_jobs,
            offline_grace: Duration::from_secs(config.offline_grace_secs),
            result_grace: Duration::from_secs(config.result_grace_secs),
            task_log_max_bytes: config.task_log_max_bytes,
        },
    )
    .await
    .context("cannot recover jobs")?;
    let auth = Auth::new(store.clone(), config.auth.clone());
    if let Some(password) = auth.bootstrap_admin().await.context("cannot create the first admin")? {
        // Printed, never logged: this is the only time anyone sees it.
        println!("Created user \"admin\" with the generated password: {password}");
        println!("  (shown once: log in with `steward login --username admin`, then create users for people)");
    }
    let jobs = Jobs::new(
        store.clone(),
        catalog.clone(),
        engine.clone(),
        bus.clone(),
        Duration::from_secs(config.proposal_ttl_secs),
    )
    .with_approval_policy(ApprovalPolicy {
        four_eyes_hosts: config.auth.four_eyes_hosts,
        allow_self_approval: config.auth.allow_self_approval,
    });
    let chat = match chat_model(config)? {
        Some(model) => {
            let prompts =
                steward_llm::Prompts::load(config.prompts_dir.as_deref()).context("invalid prompt template")?;
            tracing::info!(model = %model.name(), "chat planner ready");
            let structured = match config.llm.planner.as_deref() {
                None | Some("tools") => false,
                Some("structured") => true,
                Some(other) => anyhow::bail!("STEWARD_LLM_PLANNER={other:?} is not a planner (tools, structured)"),
            };
            let chat = Chat::new(
                store.clone(),
                catalog.clone(),
                jobs.clone(),
                presence.clone(),
                model,
                Arc::new(prompts),
            );
            Some(chat.structured(structured).with_limits(auth.clone()))
        }
        None => None,
    };
    let knowledge = Knowledge::open(&config.knowledge(), &config.data_dir).await?;
    let chat = chat.map(|c| c.with_knowledge(knowledge.clone()));
    let remediation = Remediation {
        store: store.clone(),
        bus: bus.clone(),
        jobs: jobs.clone(),
        chat: chat.clone(),
        permits: Arc::new(tokio::sync::Semaphore::new(crate::remediation::CONCURRENT_REQUESTS)),
    };
    let (shutdown, _) = watch::channel(false);
    let integrations = Integrations::new(
        crate::integrations::Deps {
            store: store.clone(),
            auth: auth.clone(),
            jobs: jobs.clone(),
            chat: chat.clone(),
            bus: bus.clone(),
        },
        &config.slack,
        &config.telegram,
        config.public_url.as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    if let Some(bots) = integrations.describe() {
        tracing::info!(%bots, "chat bots on");
    }
    let (telemetry, telemetry_tasks) = Telemetry::start(
        store.clone(),
        bus,
        Some(Arc::new(remediation)),
        config.telemetry.clone(),
        shutdown.subscribe(),
    )
    .await
    .context("cannot start telemetry")?;
    if let Some(c) = &chat {
        c.attach_telemetry(telemetry.clone());
    }
    let state = AppState {
        knowledge: knowledge.clone(),
        store: store.clone(),
        catalog,
        jobs,
        presence: presence.clone(),
        chat,
        auth: auth.clone(),
        telemetry: telemetry.clone(),
        audit: audit_checkpoint.clone(),
        integrations: integrations.clone(),
    };

    let mut tasks = JoinSet::new();
    // Shutdown waits for telemetry's and the bots' tasks; one that dies before stops the
    // server, loudly.
    let background = telemetry_tasks
        .into_iter()
        .map(|(name, h)| (format!("telemetry {name}"), h))
        .chain(
            integrations
                .start(shutdown.subscribe())
                .into_iter()
                .map(|(name, h)| (name.to_owned(), h)),
        );
    for (name, handle) in background {
        let rx = shutdown.subscribe();
        tasks.spawn(async move {
            let r = handle.await;
            if *rx.borrow() {
                return Ok(());
            }
            match r {
                Err(e) => anyhow::bail!("the {name} task panicked: {e}"),
                Ok(()) => anyhow::bail!("the {name} task stopped"),
            }
        });
    }

    let http = tokio::net::TcpListener::bind(config.http)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http))?;
    let http_addr = http.local_addr()?;
    let grpc = tokio::net::TcpListener::bind(config.grpc)
        .await
        .with_context(|| format!("cannot listen for agents on {}", config.grpc))?;
    let grpc_addr = grpc.local_addr()?;

    let router = api::router(state.clone(), config.max_body_bytes);
    let mut rx = shutdown.subscribe();
    let mut stopping = shutdown.subscribe();
    let http_tls = tls.as_ref().map(ServerTls::http);
    tasks.spawn(async move {
        let serve = crate::tls::http::serve(http, router, http_tls, async move {
            let _ = rx.wait_for(|v| *v).await;
        });
        // Graceful shutdown waits for every connection to finish, and event streams (an open
        // console tab) never do: give requests in flight a moment, then stop regardless.
        tokio::select! {
            r = serve => r.context("HTTP server failed"),
            _ = async {
                let _ = stopping.wait_for(|v| *v).await;
                tokio::time::sleep(HTTP_DRAIN).await;
            } => Ok(()),
        }
    });

    let service = AgentService::new(
        store,
        engine,
        telemetry,
        presence,
        auth,
        SessionConfig {
            token: token.clone(),
            heartbeat_interval: config.heartbeat_interval(),
            hello_timeout: Duration::from_secs(10),
        },
    );
    let mut rx = shutdown.subscribe();
    let mut grpc_server = tonic::transport::Server::builder();
    if let Some(tls) = &tls {
        grpc_server = grpc_server
            .tls_config(tls.grpc())
            .context("cannot use the TLS certificate for gRPC")?;
    }
    tasks.spawn(async move {
        grpc_server
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .add_service(service.into_server())
            .serve_with_incoming_shutdown(agent_connections(grpc), async move {
                let _ = rx.wait_for(|v| *v).await;
            })
            .await
            .context("gRPC server failed")
    });
    if let Some(knowledge) = knowledge {
        let (catalog, jobs, rx) = (state.catalog.clone(), state.jobs.clone(), shutdown.subscribe());
        let bus = state.jobs.bus().clone();
        tasks.spawn(async move {
            knowledge.run(catalog, jobs, bus, rx).await;
            Ok(())
        });
    }
    let (expiry, rx) = (state.auth.clone(), shutdown.subscribe());
    tasks.spawn(async move {
        expiry.run_expiry(rx).await;
        Ok(())
    });
    let (checkpoint, db, rx) = (audit_checkpoint, state.store.read().clone(), shutdown.subscribe());
    tasks.spawn(async move {
        checkpoint.run(db, rx).await;
        Ok(())
    });
    let mut rx = shutdown.subscribe();
    tasks.spawn(async move {
        tokio::select! {
            r = engine_task => {
                // A failed commit ends the engine with its error: the server stops, and main
                // decides the exit code; a restart recovers from the database.
                r.context("job engine panicked")?.context("job engine failed")?;
                anyhow::bail!("job engine stopped")
            }
            _ = rx.wait_for(|v| *v) => Ok(()),
        }
    });
    tracing::info!(http = %http_addr, grpc = %grpc_addr, tls = tls.is_some(), database = %db::redact(&url), "steward server listening");
    Ok(Running {
        http: http_addr,
        grpc: grpc_addr,
        agent_token: token,
        state,
        shutdown,
        tasks,
    })
}

/// Makes sure cluster `local` (stack `essentials`) exists with this host carrying every
/// essentials component, for `steward up`.
pub async fn ensure_local_cluster(state: &AppState, hostname: &str) -> anyhow::Result<()> {
    if inventory::cluster_view(state.store.read(), "local", None).await.is_ok() {
        return Ok(());
    }
    let stack = state
        .catalog
        .latest("essentials")
        .context("the essentials stack is missing")?;
    let components = stack
        .services
        .values()
        .flat_map(|s| s.components.keys().map(move |c| format!("{}/{c}", s.name)))
        .collect();
    inventory::create_cluster(
        &state.store,
        "steward",
        &state.catalog,
        inventory::NewCluster {
            name: "local".into(),
            stack: stack.name.clone(),
            version: Some(stack.version.clone()),
            config: Default::default(),
            hosts: vec![inventory::NewPlacement {
                hostname: hostname.into(),
                components,
            }],
        },
    )
    .await?;
    tracing::info!(hostname, "created cluster local on stack essentials");
    Ok(())
}

/// Raises the open-file limit to its hard maximum: every agent session is a socket.
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

/// Agent connections as they are accepted, with Nagle's algorithm off. The server writes small
/// frames (run-tasks, acks) that must leave at once, and tonic turns TCP_NODELAY on only for
/// sockets it binds itself, not for an incoming stream like this one.
fn agent_connections(
    listener: tokio::net::TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        crate::tls::http::no_delay(&stream);
        Ok(stream)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn accepted_agent_connections_have_nagles_algorithm_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = std::pin::pin!(agent_connections(listener));
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let accepted = incoming.next().await.unwrap().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
