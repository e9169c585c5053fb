//! `steward-agent`: the host agent's command line. Parses flags (with `STEWARD_AGENT_*`
//! environment fallbacks), sets up logging and signal handling, and hands over to
//! [`steward_agent::run`].

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Parser;
use steward_agent::AgentError;
use tracing_subscriber::EnvFilter;

/// Exit code for a usage error, as clap uses for its own.
const USAGE_ERROR: u8 = 2;

/// Runs approved tasks on this host for a Steward server.
#[derive(Debug, Parser)]
#[command(name = "steward-agent", version = steward_agent::VERSION)]
struct Cli {
    /// The server's gRPC address, e.g. https://steward.example:9090.
    #[arg(long, env = "STEWARD_AGENT_SERVER")]
    server: String,
    /// PEM CA certificate of the server: trust only this CA for an https:// server
    /// [default: the host's trust store].
    #[arg(long, env = "STEWARD_AGENT_CA")]
    ca: Option<PathBuf>,
    /// A credential or shared token to present [default: the credential stored in the data
    /// directory by enrollment].
    #[arg(long, env = "STEWARD_AGENT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A one-time enrollment token (`steward enrollments create`): exchanged on first start
    /// for this host's credential, kept in the data directory with mode 0600.
    #[arg(long, env = "STEWARD_AGENT_ENROLL", hide_env_values = true)]
    enroll: Option<String>,
    /// The name this host is known by [default: the system hostname].
    #[arg(long, env = "STEWARD_AGENT_HOSTNAME")]
    hostname: Option<String>,
    /// Where task work dirs and unacknowledged results are kept.
    #[arg(long, env = "STEWARD_AGENT_DATA_DIR", default_value = "/var/lib/steward-agent")]
    data_dir: PathBuf,
    /// A label reported with the host's facts; repeat for several.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    // Checked before anything else, so a misconfigured agent never dials the server.
    let token = cli
        .token
        .clone()
        .filter(|token| !token.trim().is_empty())
        .unwrap_or_default();
    let enrolled = steward_agent::credential_path(&cli.data_dir).exists();
    if token.is_empty() && cli.enroll.is_none() && !enrolled {
        eprintln!(
            "steward-agent: no credential: pass --enroll TOKEN (an admin creates one with \
             `steward enrollments create`), or --token"
        );
        return ExitCode::from(USAGE_ERROR);
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    match serve(cli, token) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("steward-agent: {error:#}");
            // A bad address or token is a usage error, like a missing flag.
            let usage = matches!(
                error.downcast_ref::<AgentError>(),
                Some(
                    AgentError::InvalidServer { .. }
                        | AgentError::InvalidToken
                        | AgentError::InvalidCa { .. }
                        | AgentError::NoCredential
                )
            );
            ExitCode::from(if usage { USAGE_ERROR } else { 1 })
        }
    }
}

fn serve(cli: Cli, token: String) -> anyhow::Result<()> {
    let hostname = match cli.hostname {
        Some(hostname) => hostname,
        None => hostname::get()
            .context("cannot read the system hostname; pass --hostname")?
            .to_string_lossy()
            .into_owned(),
    };
    let config = steward_agent::AgentConfig {
        server: cli.server,
        token,
        enroll: cli.enroll,
        hostname,
        data_dir: cli.data_dir,
        labels: cli.labels.into_iter().collect::<BTreeMap<_, _>>(),
        ca: cli.ca,
    };
    // One crypto provider for the whole process, rather than whichever rustls would guess.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(steward_agent::run(config, shutdown_requested()))?;
    Ok(())
}

/// One malloc arena, and freed memory over 256 KiB given back: the agent's allocations are
/// small and brief (events until acknowledged, output chunks), and glibc's default of an arena
/// per thread kept ~1 MiB more resident for each thread that once held a chunk. Must run
/// before the runtime starts its threads.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's tunables; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 10);
    }
}

/// Resolves on Ctrl-C or SIGTERM (what systemd sends on stop).
async fn shutdown_requested() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the agent gracefully");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutdown requested");
}

fn parse_label(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {raw:?}")),
    }
}
