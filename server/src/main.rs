//! `steward`: the server (`serve`, `up`) and the command line over its REST API.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use steward_server::config::Config;
use steward_server::{bench, server};

#[derive(Debug, Parser)]
#[command(
    name = "steward",
    version,
    about = "LLM-assisted operations: proposals that run only after approval"
)]
struct Cli {
    #[command(flatten)]
    conn: steward_cli::Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Configuration file (TOML); `STEWARD_*` variables and flags override it.
    #[arg(long, env = "STEWARD_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database, agent token, local agent state).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// HTTP listen address.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// gRPC listen address for agents.
    #[arg(long)]
    grpc: Option<SocketAddr>,
    /// Stacks directory (the built-in stacks when omitted).
    #[arg(long)]
    stacks_dir: Option<PathBuf>,
}

impl ServeArgs {
    /// The configuration these arguments give, and where each value came from.
    fn load(&self) -> anyhow::Result<steward_server::config::Loaded> {
        let path = |p: &PathBuf| p.display().to_string();
        let flags: Vec<steward_server::config::Flag> = [
            ("data_dir", "--data-dir", self.data_dir.as_ref().map(path)),
            ("http", "--http", self.http.map(|a| a.to_string())),
            ("grpc", "--grpc", self.grpc.map(|a| a.to_string())),
            ("stacks_dir", "--stacks-dir", self.stacks_dir.as_ref().map(path)),
        ]
        .into_iter()
        .filter_map(|(key, flag, v)| Some((key, flag, v?)))
        .collect();
        Ok(steward_server::config::load(self.config.as_deref(), &flags)?)
    }

    fn config(&self) -> anyhow::Result<Config> {
        Ok(self.load()?.config)
    }
}

/// `steward config …`.
#[derive(Debug, Subcommand)]
enum ConfigCmd {
    /// Every key's effective value (secrets masked) and where it came from.
    Show(ServeArgs),
    /// The configuration reference (Markdown) the README carries.
    Reference,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server alone (production).
    Serve(ServeArgs),
    /// Run everything on this machine: server, a local agent, cluster `local`.
    Up(ServeArgs),
    /// The client commands (jobs, chat, hosts …), as `stewardctl` has them.
    #[command(flatten)]
    Client(steward_cli::Command),
    /// The server's configuration: what is in force, and the reference of every key.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Run planner evaluation cases against the fixture world.
    Eval(steward_server::evals::EvalCommand),
    /// Benchmarks that print numbers.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Print the OpenAPI document (keys sorted), for `web/src/api/openapi.json`.
    #[command(hide = true)]
    Openapi,
}

/// Log levels when RUST_LOG is unset. `serve` runs under a supervisor that keeps its log;
/// `up` runs in someone's terminal, which gets warnings and the readiness summary only.
/// llama.cpp's model-loading chatter is debug-level in both.
const SERVE_LOG: &str = "info,sqlx=warn,tower_http=info,qdrant_edge=error,llama-cpp-2=error,steward_llm_local=warn";
const UP_LOG: &str = "warn,qdrant_edge=error,llama-cpp-2=error";

fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn serve(args: ServeArgs, with_agent: bool) -> anyhow::Result<()> {
    init_tracing(if with_agent { UP_LOG } else { SERVE_LOG });
    server::raise_fd_limit();
    let config = args.config()?;
    if with_agent {
        // The in-process agent dials plain gRPC on loopback; it has no CA to pin.
        anyhow::ensure!(
            config.tls_files()?.is_none(),
            "steward up runs on loopback without TLS; unset tls_cert and tls_key, or use steward serve"
        );
    }
    for warning in config.plaintext_warnings() {
        tracing::warn!("{warning}");
        eprintln!("WARNING: {warning}");
    }
    let mut running = server::start(&config).await?;
    let mut agent_host = None;
    let agent = if with_agent {
        let hostname = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        server::ensure_local_cluster(&running.state, &hostname).await?;
        agent_host = Some(hostname.clone());
        let agent_dir = config.data_dir.join("agent");
        // The local agent enrolls like any other, once; later starts reuse its credential.
        let enroll = if steward_agent::credential_path(&agent_dir).exists() {
            None
        } else {
            let e = running
                .state
                .auth
                .create_enrollment(
                    "steward",
                    &steward_server::auth::NewEnrollment {
                        hostname: Some(hostname.clone()),
                        cluster: None,
                        expires_in: Some(600),
                    },
                )
                .await
                .context("cannot enroll the local agent")?;
            e.token
        };
        let agent_config = steward_agent::AgentConfig {
            server: format!("http://{}", running.grpc),
            token: String::new(),
            enroll,
            hostname: hostname.clone(),
            data_dir: agent_dir,
            labels: Default::default(),
            ca: None,
        };
        let stop = running.shutdown_signal();
        Some(tokio::spawn(
            async move { steward_agent::run(agent_config, stop).await },
        ))
    } else {
        None
    };
    let scheme = if config.tls_files()?.is_some() { "https" } else { "http" };
    // One line that scripts and tests parse: the HTTP address first, the gRPC one last.
    println!(
        "Steward is up: {scheme}://{}  (open it in a browser for the web console; API docs: {scheme}://{}/docs; agents connect to {})",
        running.http, running.http, running.grpc
    );
    if with_agent {
        readiness(&running.state, agent_host.as_deref()).await;
    }
    tokio::select! {
        r = running.wait() => { r?; }
        _ = shutdown_signal() => { tracing::info!("shutting down"); }
    }
    running.stop().await?;
    if let Some(a) = agent {
        let _ = a.await;
    }
    Ok(())
}

/// What `steward up` started, in a few lines: the agent, the model, the knowledge index.
async fn readiness(state: &steward_server::api::AppState, agent: Option<&str>) {
    if let Some(h) = agent {
        println!("  agent:     {h}, in this process, in cluster \"local\"");
    }
    match &state.chat {
        Some(c) => println!(
            "  model:     {} ({} planner)",
            c.model_name(),
            if c.is_structured() {
                "structured"
            } else {
                "tool-calling"
            }
        ),
        None => println!("  model:     none (STEWARD_LLM_PROVIDER=none): chat is off"),
    }
    match &state.knowledge {
        Some(k) => match k.status().await {
            Ok(s) => println!(
                "  knowledge: {} chunks, {} ({} docs embedded, {} unchanged){}",
                s.chunks,
                s.state,
                s.docs_embedded,
                s.docs_unchanged,
                if s.state == "indexing" {
                    "; indexing goes on in the background"
                } else {
                    ""
                }
            ),
            Err(e) => println!("  knowledge: unavailable ({e})"),
        },
        None => println!("  knowledge: off"),
    }
    println!("  logs:      warnings only here; RUST_LOG=info for more");
    println!(
        "Try:  steward chat \"what hosts do we have?\"   ·   steward jobs propose --cluster local host host check"
    );
}

fn main() -> ExitCode {
    tune_allocator();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(70)
        }
    }
}

/// Keeps glibc's malloc from holding on to memory the server has freed: by default every
/// thread that contends gets an arena of its own, and freed memory stays in them. Measured
/// on `steward up` (debug build) after indexing and one model turn: 820 MiB RSS by default,
/// 658 MiB with two arenas, 585 MiB when free memory over 1 MiB is also given back.
/// Must run before the runtime starts its threads.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's tunables; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    steward_server::tls::install_crypto_provider();
    let result: anyhow::Result<u8> = match cli.command {
        Command::Serve(a) => serve(a, false).await.map(|_| 0),
        Command::Up(a) => serve(a, true).await.map(|_| 0),
        Command::Client(cmd) => steward_cli::run(&cli.conn, cmd).await,
        Command::Config(ConfigCmd::Show(a)) => a.load().map(|loaded| {
            print!("{}", loaded.show());
            0
        }),
        Command::Config(ConfigCmd::Reference) => {
            print!("{}", steward_server::config::reference());
            Ok(0)
        }
        Command::Eval(a) => {
            init_tracing(UP_LOG);
            steward_server::evals::run_command(a).await.map(|_| 0)
        }
        Command::Bench(cmd) => {
            init_tracing(UP_LOG);
            bench::run(cmd).await.map(|_| 0)
        }
        Command::Openapi => serde_json::to_string_pretty(&steward_server::api::openapi_json())
            .map(|doc| {
                println!("{doc}");
                0
            })
            .map_err(Into::into),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
