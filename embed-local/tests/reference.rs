//! The local embedder against reference vectors computed once by sentence-transformers itself
//! (`fixtures/reference.json`, made by `fixtures/make_reference.py`): every vector must point the
//! same way (cosine > 0.999), including a 1,430-token text that both truncate at 256 tokens.
//!
//! Needs the model in `steward_embed_local::default_model_dir()` (`scripts/fetch-embedder.sh`,
//! which `make setup` runs).
use serde::Deserialize;
use steward_embed_local::{default_model_dir, LocalEmbedder, DIMENSION, MODEL_ID};
use steward_llm::Embedder;

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    text: String,
    embedding: Vec<f32>,
}

fn reference() -> Reference {
    serde_json::from_str(include_str!("fixtures/reference.json")).expect("the fixture is valid JSON")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

fn embedder() -> LocalEmbedder {
    LocalEmbedder::load(&default_model_dir()).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn embeddings_match_sentence_transformers() {
    let reference = reference();
    let embedder = embedder();
    let texts: Vec<String> = reference.sentences.iter().map(|s| s.text.clone()).collect();

    let vectors = embedder.embed(&texts).await.unwrap();

    assert_eq!(vectors.len(), texts.len());
    for (sentence, vector) in reference.sentences.iter().zip(&vectors) {
        assert_eq!(vector.len(), DIMENSION);
        let similarity = cosine(vector, &sentence.embedding);
        assert!(
            similarity > 0.999,
            "cosine {similarity} for {:?}",
            &sentence.text[..sentence.text.len().min(60)]
        );
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
}

#[tokio::test]
async fn batching_and_order_do_not_change_a_vector() {
    let reference = reference();
    let texts: Vec<String> = reference.sentences.iter().map(|s| s.text.clone()).collect();
    // Batches of two mix short and long texts differently from one batch of six, so padding
    // differs; the mask must make that invisible.
    let small_batches = embedder().with_batch_size(2);
    let one_by_one: Vec<Vec<f32>> = {
        let mut vectors = Vec::new();
        for text in &texts {
            vectors.extend(small_batches.embed(std::slice::from_ref(text)).await.unwrap());
        }
        vectors
    };
    let batched = small_batches.embed(&texts).await.unwrap();
    for (single, batch) in one_by_one.iter().zip(&batched) {
        assert!(cosine(single, batch) > 0.99999, "{}", cosine(single, batch));
    }
}

#[tokio::test]
async fn paraphrases_are_closer_than_unrelated_texts() {
    let embedder = embedder();
    let texts = [
        "kafka on an-3 failed to start: the ZooKeeper session had expired",
        "why did the kafka broker not come up on an-3?",
        "nginx reload succeeded on web-1",
    ]
    .map(String::from);
    let vectors = embedder.embed(&texts).await.unwrap();
    assert!(cosine(&vectors[0], &vectors[1]) > cosine(&vectors[0], &vectors[2]));
    assert_eq!(embedder.model_id(), MODEL_ID);
    assert_eq!(embedder.dimension(), 384);
    assert!(embedder.embed(&[]).await.unwrap().is_empty());
}
