//! `stewardctl`: Steward's command line over the REST API, without the server inside it.
use std::process::ExitCode;

use clap::Parser;
use steward_cli::{Command, Connection};

#[derive(Debug, Parser)]
#[command(
    name = "stewardctl",
    version,
    about = "LLM-assisted operations: proposals that run only after approval (the client commands of `steward`)"
)]
struct Cli {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: Command,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match steward_cli::run(&cli.conn, cli.command).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
