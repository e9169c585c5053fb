//! `steward bench …`: system-level benchmarks that print numbers.
mod dispatch;
mod knowledge;
mod output;
mod telemetry;

use clap::Subcommand;

pub use dispatch::DispatchArgs;
pub use knowledge::KnowledgeArgs;
pub use output::OutputArgs;
pub use telemetry::TelemetryArgs;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Approve → task-started latency and task throughput with simulated agents.
    Dispatch(DispatchArgs),
    /// Embedding throughput, and filtered hybrid-search latency and memory at 10k and 100k chunks.
    Knowledge(KnowledgeArgs),
    /// Bulk task output (`seq 1 LINES` on every host) from real agents, stored and read back.
    Output(OutputArgs),
    /// Metric samples stored per second from simulated agents.
    Telemetry(TelemetryArgs),
}

/// Runs a benchmark.
pub async fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Dispatch(a) => dispatch::run(a).await,
        BenchCmd::Knowledge(a) => knowledge::run(a).await,
        BenchCmd::Output(a) => output::run(a).await,
        BenchCmd::Telemetry(a) => telemetry::run(a).await,
    }
}
