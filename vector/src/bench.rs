//! The search benchmark behind `steward bench knowledge`: hybrid-search latency, recall and
//! memory of the embedded index at given sizes, on synthetic chunks shaped like the real ones.
//!
//! For each size it builds a fresh index in a temporary directory — 384-d unit vectors drawn
//! around 500 topic centroids (embeddings of real text cluster; uniform random vectors do not),
//! ~150-word texts over a Zipf-distributed vocabulary for BM25, payloads spread over 10
//! clusters and 60 hosts — then optimizes it, reopens it as after a restart, and runs queries:
//! each a perturbed copy of a stored vector plus five of its words, filtered to one cluster and
//! to job logs. It prints p50/p99 latency of hybrid and dense search through the async API,
//! dense recall@10 against exact search under the same filter, the same for 200 unfiltered
//! dense searches (answered by HNSW itself), and memory (RSS) of the reopened index.
use std::time::{Duration, Instant};

use crate::{content_hash, EdgeStore, Filter, Kind, Payload, Point, Query, SearchMode, VectorStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use steward_stats::{Memory, Percentiles};

const DIM: usize = 384;
const CLUSTERS: usize = 10;
const HOSTS: usize = 60;
const TOPICS: usize = 500;
const VOCABULARY: usize = 8_000;
const BATCH: usize = 1_000;
const K: usize = 10;

/// What to measure.
#[derive(Debug, Clone)]
pub struct SearchBench {
    /// Index sizes, in points.
    pub sizes: Vec<usize>,
    /// Queries per size.
    pub queries: usize,
    /// HNSW search breadth.
    pub hnsw_ef: usize,
}

/// A unit vector near `centroid`.
fn near(rng: &mut StdRng, centroid: &[f32], spread: f32) -> Vec<f32> {
    let mut vector: Vec<f32> = centroid
        .iter()
        .map(|c| c + spread * rng.gen_range(-1.0f32..1.0))
        .collect();
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    vector.iter_mut().for_each(|x| *x /= norm);
    vector
}

/// A word of the synthetic vocabulary by rank, Zipf-like: low ranks are far more frequent.
fn word(rng: &mut StdRng) -> u16 {
    (VOCABULARY as f64).powf(rng.gen_range(0.0f64..1.0)) as u16
}

/// The text of word ranks.
fn text(words: &[u16]) -> String {
    words
        .iter()
        .map(|rank| format!("w{rank}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The synthetic corpus: vectors kept for exact search, payload fields per point.
struct Corpus {
    vectors: Vec<Vec<f32>>,
    clusters: Vec<usize>,
    kinds: Vec<Kind>,
    words: Vec<Vec<u16>>,
}

fn corpus(size: usize, rng: &mut StdRng) -> Corpus {
    let centroids: Vec<Vec<f32>> = (0..TOPICS).map(|_| near(rng, &[0.0; DIM], 1.0)).collect();
    let mut corpus = Corpus {
        vectors: Vec::with_capacity(size),
        clusters: Vec::with_capacity(size),
        kinds: Vec::with_capacity(size),
        words: Vec::with_capacity(size),
    };
    for _ in 0..size {
        let topic = rng.gen_range(0..TOPICS);
        corpus.vectors.push(near(rng, &centroids[topic], 0.08));
        corpus.clusters.push(rng.gen_range(0..CLUSTERS));
        corpus.kinds.push(match rng.gen_range(0..10) {
            0..=1 => Kind::Doc,
            2..=8 => Kind::JobLog,
            _ => Kind::Incident,
        });
        corpus.words.push((0..150).map(|_| word(rng)).collect());
    }
    corpus
}

fn point(corpus: &Corpus, i: usize, rng: &mut StdRng) -> Point {
    let text = text(&corpus.words[i]);
    let kind = corpus.kinds[i];
    let scoped = kind != Kind::Doc;
    Point::new(
        Payload {
            kind,
            cluster: scoped.then(|| format!("cluster-{}", corpus.clusters[i])),
            service: Some(format!("service-{}", i % 12)),
            component: Some(format!("component-{}", i % 30)),
            host: scoped.then(|| format!("host-{}", rng.gen_range(0..HOSTS))),
            job_id: (kind == Kind::JobLog).then(|| (i / 8).to_string()),
            time: Some(1_700_000_000 + i as i64 * 60),
            title: format!("chunk {i}"),
            source: format!("source-{}", i / 4),
            content_hash: content_hash(&text),
            text,
        },
        corpus.vectors[i].clone(),
    )
}

/// The filter every query uses: job logs of one cluster (about 7 % of the points).
fn filter(cluster: usize) -> Filter {
    Filter {
        kinds: vec![Kind::JobLog],
        ..Filter::cluster(format!("cluster-{cluster}"))
    }
}

/// Queries whose unfiltered dense search is also checked against exact search (a full scan
/// per query is slow).
const UNFILTERED_CHECKS: usize = 200;

/// Exact top-K ids (positions) for `query` among the points the query filter selects for
/// `cluster`, or among all points for `None`.
fn exact(corpus: &Corpus, query: &[f32], cluster: Option<usize>) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = (0..corpus.vectors.len())
        .filter(|&i| cluster.is_none_or(|cluster| corpus.kinds[i] == Kind::JobLog && corpus.clusters[i] == cluster))
        .map(|i| (corpus.vectors[i].iter().zip(query).map(|(a, b)| a * b).sum(), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(K).map(|(_, i)| i).collect()
}

/// The share of `truth` among `hits`.
fn overlap(hits: &[crate::Hit], truth: &[usize]) -> f64 {
    let found: Vec<&str> = hits.iter().map(|hit| hit.payload.title.as_str()).collect();
    let matched = truth
        .iter()
        .filter(|&&i| found.contains(&format!("chunk {i}").as_str()))
        .count();
    matched as f64 / truth.len().max(1) as f64
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| match entry.metadata() {
                    Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
                    Ok(meta) => meta.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Stores the corpus in a new index at `path` and optimizes it: how long each took.
async fn build(
    path: &std::path::Path,
    corpus: &Corpus,
    rng: &mut StdRng,
) -> Result<(Duration, Duration), crate::StoreError> {
    let started = Instant::now();
    let store = EdgeStore::open(path, DIM).await?;
    let size = corpus.vectors.len();
    for start in (0..size).step_by(BATCH) {
        let points = (start..(start + BATCH).min(size))
            .map(|i| point(corpus, i, rng))
            .collect();
        store.upsert(points).await?;
    }
    let ingest = started.elapsed();
    let started = Instant::now();
    store.optimize().await?;
    Ok((ingest, started.elapsed()))
}

/// Builds an optimized index of `size` synthetic chunks at `path` (the corpus [`run`] searches)
/// for a server to open, and returns `queries` searches for it: five words of a stored chunk
/// and the cluster to filter to.
pub async fn populate(
    path: &std::path::Path,
    size: usize,
    queries: usize,
) -> Result<Vec<(String, String)>, crate::StoreError> {
    let mut rng = StdRng::seed_from_u64(size as u64);
    let corpus = corpus(size, &mut rng);
    build(path, &corpus, &mut rng).await?;
    Ok((0..queries)
        .map(|_| {
            let target = rng.gen_range(0..size);
            let words: Vec<u16> = (0..5).map(|_| corpus.words[target][rng.gen_range(0..150)]).collect();
            (text(&words), format!("cluster-{}", corpus.clusters[target]))
        })
        .collect())
}

/// Runs the benchmark, printing a Markdown table row per size as it finishes.
pub async fn run(args: &SearchBench) -> Result<(), crate::StoreError> {
    println!(
        "| points | ingest | optimize | hybrid p50 | hybrid p99 | dense p50 | dense p99 | dense recall@{K} | \
         unfiltered dense p50 / p99 | unfiltered recall@{K} | index RSS | peak RSS | on disk |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &size in &args.sizes {
        let mut rng = StdRng::seed_from_u64(size as u64);
        let corpus = corpus(size, &mut rng);
        let dir = tempfile::tempdir().map_err(|source| crate::StoreError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let path = dir.path().join("index");

        let (ingest, optimize) = build(&path, &corpus, &mut rng).await?;

        // As after a restart: only what the reopened index holds is in memory.
        let before = Memory::own().rss_mib;
        let store = EdgeStore::open(&path, DIM).await?.with_hnsw_ef(args.hnsw_ef);

        let mut hybrid = Vec::new();
        let mut dense = Vec::new();
        let mut recall = 0.0;
        let mut unfiltered = Vec::new();
        let mut unfiltered_recall = 0.0;
        for _ in 0..args.queries {
            let target = rng.gen_range(0..size);
            let vector = near(&mut rng, &corpus.vectors[target], 0.02);
            let words: Vec<u16> = (0..5).map(|_| corpus.words[target][rng.gen_range(0..150)]).collect();
            let cluster = rng.gen_range(0..CLUSTERS);
            let mut query = Query {
                text: text(&words),
                dense: Some(vector.clone()),
                mode: SearchMode::Hybrid,
                filter: filter(cluster),
                limit: K,
            };
            let started = Instant::now();
            store.search(&query).await?;
            hybrid.push(started.elapsed());

            query.mode = SearchMode::Dense;
            let started = Instant::now();
            let hits = store.search(&query).await?;
            dense.push(started.elapsed());
            recall += overlap(&hits, &exact(&corpus, &vector, Some(cluster)));

            // Without a filter HNSW itself answers, which is where its recall shows.
            if unfiltered.len() < UNFILTERED_CHECKS {
                query.filter = Filter::all();
                let started = Instant::now();
                let hits = store.search(&query).await?;
                unfiltered.push(started.elapsed());
                unfiltered_recall += overlap(&hits, &exact(&corpus, &vector, None));
            }
        }
        let Memory {
            rss_mib: after,
            peak_mib: peak,
        } = Memory::own();
        let ms = |p: f64| format!("{:.2} ms", p * 1000.0);
        let (hybrid, dense, unfiltered) = (seconds(&hybrid), seconds(&dense), seconds(&unfiltered));
        println!(
            "| {size} | {:.1} s | {:.1} s | {} | {} | {} | {} | {:.3} | {} / {} | {:.3} | {:.0} MiB | {:.0} MiB | {:.0} MiB |",
            ingest.as_secs_f64(),
            optimize.as_secs_f64(),
            ms(hybrid.median()),
            ms(hybrid.at(0.99)),
            ms(dense.median()),
            ms(dense.at(0.99)),
            recall / args.queries as f64,
            ms(unfiltered.median()),
            ms(unfiltered.at(0.99)),
            unfiltered_recall / unfiltered.len().max(1) as f64,
            after - before,
            peak,
            dir_size(&path) as f64 / (1024.0 * 1024.0),
        );
    }
    println!(
        "\nqueries per size: {}; filter: kind = job_log and one of {CLUSTERS} clusters; hnsw_ef {}",
        args.queries, args.hnsw_ef
    );
    Ok(())
}

/// The sample of durations, in seconds.
fn seconds(samples: &[Duration]) -> Percentiles {
    Percentiles::new(samples.iter().map(Duration::as_secs_f64))
}
