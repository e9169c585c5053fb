//! `steward knowledge search|status`.
use clap::Subcommand;
use steward_client::operations::{Search, SearchQuery, Status};
use steward_client::Client;

use super::{answer, table};

/// The knowledge index.
#[derive(Debug, Subcommand)]
pub enum KnowledgeCmd {
    /// Search stack docs, past job logs and incidents.
    Search {
        /// The question.
        query: String,
        /// At most this many chunks.
        #[arg(long, default_value_t = 5)]
        limit: usize,
        /// hybrid, dense or sparse.
        #[arg(long)]
        mode: Option<String>,
        /// doc, job_log or incident.
        #[arg(long)]
        kind: Option<String>,
        /// This cluster's job logs and incidents, with the docs.
        #[arg(long)]
        cluster: Option<String>,
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// Only this host.
        #[arg(long)]
        host: Option<String>,
    },
    /// What the index holds and whether it is still indexing.
    Status,
}

/// Runs a `steward knowledge` command.
pub async fn run(client: &Client, cmd: KnowledgeCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        KnowledgeCmd::Search {
            query,
            limit,
            mode,
            kind,
            cluster,
            service,
            host,
        } => {
            let query = SearchQuery {
                q: query,
                limit: Some(limit as u64),
                mode,
                kind,
                cluster,
                service,
                host,
                ..Default::default()
            };
            let Some(v) = answer(client, &Search { query: &query }, json_out).await? else {
                return Ok(());
            };
            if v.hits.is_empty() {
                println!("Nothing found.");
                return Ok(());
            }
            for (i, h) in v.hits.iter().enumerate() {
                println!("{}. {}  [{}]", i + 1, h.title, h.kind);
                println!("   {}  ({})", h.source, h.link);
                let text: String = h.text.lines().skip(1).collect::<Vec<_>>().join(" ");
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let short: String = text.chars().take(220).collect();
                println!("   {short}{}\n", if text.chars().count() > 220 { " …" } else { "" });
            }
            println!("{} hits, {} search, {:.0} ms", v.hits.len(), v.mode, v.took_ms);
            Ok(())
        }
        KnowledgeCmd::Status => {
            let Some(v) = answer(client, &Status, json_out).await? else {
                return Ok(());
            };
            let mut t = table(&[
                "state",
                "backend",
                "embedder",
                "chunks",
                "docs embedded",
                "docs unchanged",
                "jobs indexed",
            ]);
            t.add_row(vec![
                v.state.clone(),
                v.backend.clone(),
                v.embedder.clone(),
                v.chunks.to_string(),
                v.docs_embedded.to_string(),
                v.docs_unchanged.to_string(),
                v.jobs_indexed.to_string(),
            ]);
            println!("{t}");
            if let Some(e) = &v.error {
                println!("error: {e}");
            }
            Ok(())
        }
    }
}
