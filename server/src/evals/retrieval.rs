//! `steward eval retrieval`: how well the knowledge index finds what answers a question.
//!
//! Builds a throw-away index exactly as the server does (the built-in stacks' docs through the
//! same chunking, plus fixture job logs through the same task-log path), then asks every
//! labelled question in each search mode and prints recall@k and MRR.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::knowledge::{Filter, Knowledge, SearchMode, SearchRequest, TaskLog};

/// Options of `steward eval retrieval`.
#[derive(Debug, Args)]
pub struct RetrievalArgs {
    /// JSONL cases: `{"query", "relevant": ["doc:<path>#<anchor>" | "log:<id>"]}`.
    #[arg(long, default_value = "llm/evals/retrieval.jsonl")]
    cases: PathBuf,
    /// The fixture job logs (JSON array).
    #[arg(long, default_value = "llm/evals/retrieval_logs.json")]
    logs: PathBuf,
    /// A stacks directory (default: the built-in stacks).
    #[arg(long)]
    stacks_dir: Option<PathBuf>,
    /// The local embedding model directory (default: STEWARD_EMBED_MODEL_DIR, else ./data/models/all-minilm-l6-v2).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Hits considered per question.
    #[arg(long, default_value_t = 5)]
    k: usize,
    /// Print every question the hybrid search missed.
    #[arg(long)]
    verbose: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Deserialize)]
struct Case {
    query: String,
    relevant: Vec<String>,
}

/// A fixture job log: the fields of a task, without the database.
#[derive(Debug, Deserialize)]
struct FixtureLog {
    id: String,
    cluster: String,
    host: String,
    service: String,
    component: String,
    command: String,
    state: String,
    exit_code: Option<i32>,
    finished_at: Option<String>,
    lines: Vec<String>,
}

/// The scores of one mode.
#[derive(Debug, Serialize)]
pub struct ModeScores {
    mode: String,
    /// Mean over questions of the share of their relevant chunks found in the top k.
    recall_at_k: f64,
    /// Share of questions with at least one relevant chunk in the top k.
    hit_rate_at_k: f64,
    /// Mean reciprocal rank of the first relevant chunk (0 when none in the top k).
    mrr: f64,
    /// Median search latency, embedding the question included.
    p50_ms: f64,
}

/// Everything `--json` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    cases: usize,
    doc_chunks: usize,
    log_chunks: usize,
    k: usize,
    index_secs: f64,
    modes: Vec<ModeScores>,
}

/// Runs the evaluation and prints the scores.
pub async fn run(args: RetrievalArgs) -> anyhow::Result<Report> {
    let text = std::fs::read_to_string(&args.cases).with_context(|| format!("cannot read {}", args.cases.display()))?;
    let cases: Vec<Case> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{}:{}: not a case", args.cases.display(), i + 1))
        })
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(!cases.is_empty(), "{} has no cases", args.cases.display());
    let logs: Vec<FixtureLog> = serde_json::from_str(
        &std::fs::read_to_string(&args.logs).with_context(|| format!("cannot read {}", args.logs.display()))?,
    )
    .with_context(|| format!("{} is not a list of logs", args.logs.display()))?;
    let catalog = crate::server::load_catalog(args.stacks_dir.as_deref())?;
    let embedder = crate::knowledge::load_checkout_embedder(args.model_dir.clone())?;
    let dir = tempfile::tempdir()?;
    let store = steward_vector::EdgeStore::open(dir.path().join("index"), steward_embed_local::DIMENSION).await?;
    let knowledge = Knowledge::new(Arc::new(store), Arc::new(embedder), "embedded");

    let started = Instant::now();
    eprintln!("eval retrieval: indexing the stack docs and {} job logs …", logs.len());
    knowledge.index_docs(&catalog).await?;
    for l in &logs {
        let log = TaskLog {
            source: format!("log:{}", l.id),
            job: l.id.clone(),
            job_state: l.state.clone(),
            cluster: l.cluster.clone(),
            service: l.service.clone(),
            component: l.component.clone(),
            command: l.command.clone(),
            host: l.host.clone(),
            state: l.state.clone(),
            exit_code: l.exit_code,
            error: None,
            finished_at: l.finished_at.clone(),
            lines: l.lines.clone(),
        };
        knowledge.index_task_log(&log).await?;
    }
    knowledge.store().optimize().await?;
    let index_secs = started.elapsed().as_secs_f64();
    let doc_chunks = knowledge
        .store()
        .count(&Filter {
            kinds: vec![crate::knowledge::Kind::Doc],
            ..Filter::all()
        })
        .await?;
    let total = knowledge.store().count(&Filter::all()).await?;

    // Every label must name something in the index, or the scores would silently lie.
    let mut known = std::collections::BTreeSet::new();
    for case in &cases {
        for label in &case.relevant {
            if known.contains(label) {
                continue;
            }
            let found = probe(&knowledge, label).await?;
            anyhow::ensure!(
                found,
                "label {label:?} (query {:?}) names no chunk in the index",
                case.query
            );
            known.insert(label.clone());
        }
    }

    let mut modes = vec![];
    for mode in [SearchMode::Dense, SearchMode::Sparse, SearchMode::Hybrid] {
        let (mut recall, mut hits, mut rr, mut times) = (0.0, 0usize, 0.0, vec![]);
        for case in &cases {
            let req = SearchRequest {
                query: case.query.clone(),
                limit: args.k,
                mode,
                filter: Filter::all(),
            };
            let t = Instant::now();
            let found = knowledge.search(&req).await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            let ids: Vec<String> = found.iter().map(|c| c.source.clone()).collect();
            let mut distinct = vec![];
            for id in &ids {
                if !distinct.contains(id) {
                    distinct.push(id.clone());
                }
            }
            let relevant_found = case.relevant.iter().filter(|r| distinct.contains(r)).count();
            recall += relevant_found as f64 / case.relevant.len() as f64;
            let first = distinct.iter().position(|id| case.relevant.contains(id));
            if let Some(rank) = first {
                hits += 1;
                rr += 1.0 / (rank as f64 + 1.0);
            }
            if args.verbose && mode == SearchMode::Hybrid && relevant_found < case.relevant.len() {
                eprintln!(
                    "MISS {:?}\n  wanted {:?}\n  got    {:?}",
                    case.query, case.relevant, distinct
                );
            }
        }
        times.sort_by(f64::total_cmp);
        let n = cases.len() as f64;
        modes.push(ModeScores {
            mode: mode.as_str().into(),
            recall_at_k: recall / n,
            hit_rate_at_k: hits as f64 / n,
            mrr: rr / n,
            p50_ms: times[times.len() / 2],
        });
    }
    let report = Report {
        cases: cases.len(),
        doc_chunks,
        log_chunks: total - doc_chunks,
        k: args.k,
        index_secs,
        modes,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} questions over {} doc chunks and {} job-log chunks (indexed in {:.1} s), top {}:",
            report.cases, report.doc_chunks, report.log_chunks, report.index_secs, report.k
        );
        println!(
            "{:<8} {:>10} {:>10} {:>7} {:>9}",
            "mode", "recall@k", "hit@k", "MRR", "p50 ms"
        );
        for m in &report.modes {
            println!(
                "{:<8} {:>10.3} {:>10.3} {:>7.3} {:>9.1}",
                m.mode, m.recall_at_k, m.hit_rate_at_k, m.mrr, m.p50_ms
            );
        }
    }
    Ok(report)
}

/// Whether some chunk carries the citation id `label`: a sparse search for the label's own
/// words restricted to its source, then an exact comparison.
async fn probe(knowledge: &Knowledge, label: &str) -> anyhow::Result<bool> {
    let source = label.split('#').next().unwrap_or(label);
    let req = SearchRequest {
        query: "the".into(),
        limit: crate::knowledge::MAX_LIMIT,
        mode: SearchMode::Dense,
        filter: Filter::source(source),
    };
    Ok(knowledge.search(&req).await?.iter().any(|c| c.source == label))
}
