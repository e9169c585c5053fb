//! On a small labelled set (`fixtures/labelled.json`) embedded with the real local model,
//! hybrid retrieval finds at least as much as dense or BM25 alone: paraphrases need the
//! embedding, host names and error codes need the words.
//!
//! Needs the local embedding model (`scripts/fetch-embedder.sh`).
use serde::Deserialize;
use steward_embed_local::{default_model_dir, LocalEmbedder};
use steward_llm::Embedder;
use steward_vector::{content_hash, EdgeStore, Filter, Kind, Payload, Point, Query, SearchMode, VectorStore};

#[derive(Deserialize)]
struct Set {
    chunks: Vec<Chunk>,
    queries: Vec<Labelled>,
}

#[derive(Deserialize)]
struct Chunk {
    id: String,
    kind: Kind,
    cluster: Option<String>,
    host: Option<String>,
    service: String,
    title: String,
    text: String,
}

#[derive(Deserialize)]
struct Labelled {
    text: String,
    relevant: Vec<String>,
}

/// Recall@k and mean reciprocal rank of one mode over the set.
#[derive(Debug, Default, Clone, Copy)]
struct Score {
    recall: f32,
    mrr: f32,
}

const K: usize = 3;

#[tokio::test]
async fn hybrid_finds_at_least_what_dense_or_bm25_alone_find() {
    let set: Set = serde_json::from_str(include_str!("fixtures/labelled.json")).unwrap();
    let embedder = LocalEmbedder::load(&default_model_dir()).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let store = EdgeStore::open(dir.path().join("index"), embedder.dimension())
        .await
        .unwrap();

    let texts: Vec<String> = set.chunks.iter().map(|c| format!("{}\n{}", c.title, c.text)).collect();
    let vectors = embedder.embed(&texts).await.unwrap();
    let points = set
        .chunks
        .iter()
        .zip(texts.iter().zip(vectors))
        .map(|(chunk, (text, vector))| {
            Point::new(
                Payload {
                    kind: chunk.kind,
                    cluster: chunk.cluster.clone(),
                    service: Some(chunk.service.clone()),
                    component: None,
                    host: chunk.host.clone(),
                    job_id: None,
                    time: None,
                    title: chunk.title.clone(),
                    source: chunk.id.clone(),
                    text: text.clone(),
                    content_hash: content_hash(text),
                },
                vector,
            )
        })
        .collect();
    store.upsert(points).await.unwrap();
    store.optimize().await.unwrap();

    let questions: Vec<String> = set.queries.iter().map(|q| q.text.clone()).collect();
    let question_vectors = embedder.embed(&questions).await.unwrap();
    let mut scores = Vec::new();
    for mode in [SearchMode::Dense, SearchMode::Sparse, SearchMode::Hybrid] {
        let mut score = Score::default();
        for (labelled, vector) in set.queries.iter().zip(&question_vectors) {
            let hits = store
                .search(&Query {
                    text: labelled.text.clone(),
                    dense: Some(vector.clone()),
                    mode,
                    filter: Filter::all(),
                    limit: K,
                })
                .await
                .unwrap();
            let ranks: Vec<usize> = hits
                .iter()
                .enumerate()
                .filter(|(_, hit)| labelled.relevant.contains(&hit.payload.source))
                .map(|(rank, _)| rank)
                .collect();
            score.recall += ranks.len() as f32 / labelled.relevant.len().min(K) as f32;
            score.mrr += ranks.first().map_or(0.0, |rank| 1.0 / (*rank as f32 + 1.0));
        }
        let n = set.queries.len() as f32;
        score.recall /= n;
        score.mrr /= n;
        println!(
            "{:>6}: recall@{K} {:.3}  MRR {:.3}",
            mode.as_str(),
            score.recall,
            score.mrr
        );
        scores.push(score);
    }
    let (dense, sparse, hybrid) = (scores[0], scores[1], scores[2]);
    assert!(hybrid.recall >= dense.recall, "hybrid {hybrid:?} < dense {dense:?}");
    assert!(hybrid.recall >= sparse.recall, "hybrid {hybrid:?} < sparse {sparse:?}");
}
