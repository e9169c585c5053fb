//! `steward knowledge search|status`.
use clap::Subcommand;

use super::admin::{print, urlencode};
use super::{s, table, Client};

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
            let mut q = vec![format!("q={}", urlencode(&query)), format!("limit={limit}")];
            for (k, v) in [
                ("mode", mode),
                ("kind", kind),
                ("cluster", cluster),
                ("service", service),
                ("host", host),
            ] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", urlencode(&v)));
                }
            }
            let v = client.get(&format!("/api/v1/knowledge/search?{}", q.join("&"))).await?;
            if json_out {
                return print(&v);
            }
            let hits = v["hits"].as_array().cloned().unwrap_or_default();
            if hits.is_empty() {
                println!("Nothing found.");
                return Ok(());
            }
            for (i, h) in hits.iter().enumerate() {
                println!("{}. {}  [{}]", i + 1, s(&h["title"]), s(&h["kind"]));
                println!("   {}  ({})", s(&h["source"]), s(&h["link"]));
                let text: String = h["text"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .skip(1)
                    .collect::<Vec<_>>()
                    .join(" ");
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let short: String = text.chars().take(220).collect();
                println!("   {short}{}\n", if text.chars().count() > 220 { " …" } else { "" });
            }
            println!(
                "{} hits, {} search, {:.0} ms",
                hits.len(),
                s(&v["mode"]),
                v["took_ms"].as_f64().unwrap_or(0.0)
            );
            Ok(())
        }
        KnowledgeCmd::Status => {
            let v = client.get("/api/v1/knowledge/status").await?;
            if json_out {
                return print(&v);
            }
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
                s(&v["state"]),
                s(&v["backend"]),
                s(&v["embedder"]),
                s(&v["chunks"]),
                s(&v["docs_embedded"]),
                s(&v["docs_unchanged"]),
                s(&v["jobs_indexed"]),
            ]);
            println!("{t}");
            if let Some(e) = v["error"].as_str() {
                println!("error: {e}");
            }
            Ok(())
        }
    }
}
