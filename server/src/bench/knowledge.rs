//! `steward bench knowledge`: local embedding throughput on the real stack docs, query
//! embedding latency, and filtered hybrid-search latency, recall and memory of the embedded
//! index at 10k and 100k chunks (`steward_vector::bench`).
use std::path::PathBuf;
use std::time::Instant;

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
    Ok(())
}

async fn embedding(a: &KnowledgeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let embedder = crate::knowledge::load_checkout_embedder(a.model_dir.clone())?;
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
        "Local embeddings (all-MiniLM-L6-v2, {} threads):",
        std::thread::available_parallelism().map_or(1, |n| n.get())
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
