//! Embedding throughput of the local model on chunks shaped like the knowledge index's.
//!
//! ```text
//! cargo run --release -p steward-embed-local --example embed_throughput -- [CHUNKS] [--batch N]
//! ```
//!
//! Builds CHUNKS (default 256) distinct chunks of about 190 word pieces each from log-like and
//! doc-like sentences, embeds them through the async API in batches of N (default 32), and
//! prints chunks per second, the words per chunk, and the load time.
use std::time::Instant;

use steward_embed_local::{default_model_dir, LocalEmbedder, DEFAULT_BATCH_SIZE};
use steward_llm::Embedder;

const SENTENCES: [&str; 8] = [
    "[2026-11-20 03:14:07] kafka-broker an-{n} WARN ZooKeeper session 0x{n}a1 expired, reconnecting to zk-1:2181.",
    "Restart brokers one at a time and wait until under-replicated partitions return to zero.",
    "[an-{n}] ERROR Error while writing to checkpoint file /data/kafka/part-{n}: No space left on device.",
    "After a restart the NameNode stays in safe mode until enough DataNodes report their blocks.",
    "NodeManager on an-{n} failed: yarn.nodemanager.resource.memory-mb exceeds physical memory.",
    "nginx: the configuration file /etc/nginx/sites-enabled/app-{n}.conf syntax is ok.",
    "MISCONF Redis is configured to save RDB snapshots, but it is unable to persist to disk.",
    "Disk usage on /data grew {n} percent per hour; at that rate the volume is full in six hours.",
];

#[tokio::main]
async fn main() {
    let mut chunks = 256usize;
    let mut batch = DEFAULT_BATCH_SIZE;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--batch" => {
                batch = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--batch needs a number")
            }
            n => chunks = n.parse().expect("CHUNKS must be a number"),
        }
    }
    // Eight sentences of ~24 word pieces each make one ~190-piece chunk; numbers vary per chunk.
    let texts: Vec<String> = (0..chunks)
        .map(|i| {
            (0..SENTENCES.len())
                .map(|s| SENTENCES[(i + s) % SENTENCES.len()].replace("{n}", &(i * 7 + s).to_string()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();

    let started = Instant::now();
    let embedder = LocalEmbedder::load(&default_model_dir())
        .unwrap_or_else(|e| panic!("{e}"))
        .with_batch_size(batch);
    let load = started.elapsed();
    // Warm-up: the first batch pays for page faults on the mapped weights.
    embedder.embed(&texts[..batch.min(chunks)]).await.expect("embed");

    let started = Instant::now();
    let vectors = embedder.embed(&texts).await.expect("embed");
    let elapsed = started.elapsed();
    assert_eq!(vectors.len(), chunks);
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    println!(
        "{chunks} chunks (~{} words each) in batches of {batch}: {:.1} s, {:.1} chunks/s; model load {:.2} s; threads: {}",
        words / chunks.max(1),
        elapsed.as_secs_f64(),
        chunks as f64 / elapsed.as_secs_f64(),
        load.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
}
