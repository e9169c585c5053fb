//! `steward bench knowledge`: local embedding throughput on the real stack docs, query
//! embedding latency, and filtered hybrid-search latency, recall and memory of the embedded
//! index at 10k and 100k chunks (`steward_vector::bench`); with `--api-size`, the search an
//! operator makes: `GET /api/v1/knowledge/search` of a real server whose index holds that many
//! chunks, the question embedded by the server.
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use steward_llm::Embedder;
use steward_stats::Percentiles;

use crate::knowledge::chunk;

/// Options of `steward bench knowledge`.
#[derive(Debug, Args)]
pub struct KnowledgeArgs {
    /// Index sizes for the search benchmark, in chunks (0 to skip it).
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    sizes: Vec<usize>,
    /// Queries per size.
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// HNSW search breadth.
    #[arg(long, default_value_t = steward_vector::DEFAULT_HNSW_EF)]
    hnsw_ef: usize,
    /// Doc chunks to embed for the throughput figure (the built-in docs, repeated as needed; 0 to skip).
    #[arg(long, default_value_t = 128)]
    embed_chunks: usize,
    /// Texts per forward pass of the local embedder.
    #[arg(long, default_value_t = steward_embed_local::DEFAULT_BATCH_SIZE)]
    embed_batch: usize,
    /// Write the texts embedded for the throughput figure to this file (a JSON array), for the
    /// reference (`scripts/embed-reference.sh`) to embed the same ones.
    #[arg(long)]
    texts_out: Option<PathBuf>,
    /// Also search through the HTTP API of a server whose index holds this many chunks (0: not).
    #[arg(long, default_value_t = 0)]
    api_size: usize,
    /// The local embedding model directory (default: STEWARD_EMBED_MODEL_DIR, else ./data/models/all-minilm-l6-v2).
    #[arg(long)]
    model_dir: Option<PathBuf>,
}

/// Runs the benchmark and prints its numbers.
pub async fn run(a: KnowledgeArgs) -> anyhow::Result<()> {
    if a.embed_chunks > 0 {
        embedding(&a).await?;
    }
    let sizes: Vec<usize> = a.sizes.iter().copied().filter(|s| *s > 0).collect();
    if !sizes.is_empty() {
        println!("\nFiltered search on the embedded index (synthetic 384-d chunks):");
        steward_vector::bench::run(&steward_vector::bench::SearchBench {
            sizes,
            queries: a.queries,
            hnsw_ef: a.hnsw_ef,
        })
        .await?;
    }
    if a.api_size > 0 {
        through_the_api(&a).await?;
    }
    Ok(())
}

/// Search latency through the HTTP API: a real server, its index prepared with `api_size`
/// synthetic chunks, each question embedded by the server (the synthetic vectors are not the
/// model's, so this measures time, not relevance).
async fn through_the_api(a: &KnowledgeArgs) -> anyhow::Result<()> {
    let model_dir = crate::knowledge::checkout_model_dir(a.model_dir.clone());
    let model_id = crate::knowledge::load_checkout_embedder(Some(model_dir.clone()))?.model_id();
    let data = tempfile::tempdir()?;
    let index = data
        .path()
        .join("knowledge")
        .join(crate::knowledge::dir_name(&model_id));
    println!(
        "\nSearch through the HTTP API: building an index of {} synthetic chunks…",
        a.api_size
    );
    let started = Instant::now();
    let queries = steward_vector::bench::populate(&index, a.api_size, a.queries).await?;
    println!("  built and optimized in {:.0} s", started.elapsed().as_secs_f64());
    let model = model_dir.canonicalize()?;
    let server = super::dispatch::start_server_in(
        data,
        &[
            ("STEWARD_EMBEDDER", "local"),
            ("STEWARD_EMBED_MODEL_DIR", model.to_str().unwrap_or_default()),
        ],
    )?;
    let base = server.http.clone();
    let http = super::dispatch::admin_client(&base).await?;
    // The server indexes the built-in docs beside the synthetic chunks first.
    let deadline = Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let status: serde_json::Value = http
            .get(format!("{base}/api/v1/knowledge/status"))
            .send()
            .await?
            .json()
            .await?;
        if status["state"] == "ready" {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the index was not ready in 10 minutes: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let mut total = vec![];
    let mut server_side = vec![];
    for (i, (words, cluster)) in queries.iter().enumerate() {
        // Distinct questions, so no answer could come from a cache.
        let q = format!("why did the job fail on {cluster} {words} {i}");
        let started = Instant::now();
        let r: serde_json::Value = http
            .get(format!("{base}/api/v1/knowledge/search"))
            .query(&[
                ("q", q.as_str()),
                ("cluster", cluster.as_str()),
                ("kind", "job_log"),
                ("limit", "10"),
            ])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        total.push(started.elapsed().as_secs_f64() * 1000.0);
        server_side.push(r["took_ms"].as_f64().unwrap_or(f64::NAN));
    }
    let total = Percentiles::new(total);
    let server_side = Percentiles::new(server_side);
    println!(
        "  {} hybrid searches (job logs of one cluster, 10 hits), one at a time:",
        a.queries
    );
    println!(
        "  through the API: p50 {:.1} ms, p99 {:.1} ms; of which the server's search with the embedding: p50 {:.1} ms, p99 {:.1} ms",
        total.median(),
        total.at(0.99),
        server_side.median(),
        server_side.at(0.99)
    );
    println!(
        "  server RSS after the searches: {:.0} MiB",
        steward_stats::Memory::of(server.child.id()).rss_mib
    );
    Ok(())
}

async fn embedding(a: &KnowledgeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let embedder = crate::knowledge::load_checkout_embedder(a.model_dir.clone())?.with_batch_size(a.embed_batch);
    let load = started.elapsed().as_secs_f64();
    let catalog = crate::server::load_catalog(None)?;
    let sections: Vec<String> = catalog
        .stacks()
        .flat_map(|s| s.services.values())
        .flat_map(|s| s.docs.iter())
        .flat_map(|(_, text)| chunk::markdown(text))
        .map(|s| s.text)
        .collect();
    anyhow::ensure!(!sections.is_empty(), "the built-in stacks have no docs");
    // Distinct texts, so nothing could be answered from a cache.
    let texts: Vec<String> = (0..a.embed_chunks)
        .map(|i| format!("{} [{i}]", sections[i % sections.len()]))
        .collect();
    if let Some(path) = &a.texts_out {
        std::fs::write(path, serde_json::to_string(&texts)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mean_bytes = texts.iter().map(String::len).sum::<usize>() / texts.len();
    embedder.embed(&texts[..texts.len().min(8)]).await?; // warm-up
    let started = Instant::now();
    embedder.embed(&texts).await?;
    let secs = started.elapsed().as_secs_f64();
    let mut single = vec![];
    for q in [
        "kafka broker will not start after zookeeper session expired",
        "disk full on an-3",
        "how do I restart the namenode safely without losing blocks",
    ]
    .iter()
    .cycle()
    .take(30)
    {
        let t = Instant::now();
        embedder.embed(&[q.to_string()]).await?;
        single.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let single = Percentiles::new(single);
    println!(
        "Local embeddings (all-MiniLM-L6-v2, {} threads, batches of {}):",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        a.embed_batch
    );
    println!(
        "  {} doc chunks (mean {mean_bytes} bytes) in {secs:.1} s: {:.1} chunks/s; model load {load:.2} s",
        texts.len(),
        texts.len() as f64 / secs
    );
    println!(
        "  one short query: p50 {:.1} ms, p99 {:.1} ms (added to every search through the API)",
        single.median(),
        single.at(0.99)
    );
    Ok(())
}
