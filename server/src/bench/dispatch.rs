//! `steward bench dispatch`: simulated agents over real gRPC against a real server process.
use clap::Args;

/// Options of the dispatch benchmark.
#[derive(Debug, Args)]
pub struct DispatchArgs {
    /// Simulated agents.
    #[arg(long, default_value_t = 100)]
    agents: usize,
}

/// Runs it.
pub async fn run(_a: DispatchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
