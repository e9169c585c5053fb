//! `steward bench …`: system-level benchmarks that print numbers.
mod dispatch;

use clap::Subcommand;

pub use dispatch::DispatchArgs;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Approve → task-started latency and task throughput with simulated agents.
    Dispatch(DispatchArgs),
}

/// Runs a benchmark.
pub async fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Dispatch(a) => dispatch::run(a).await,
    }
}
