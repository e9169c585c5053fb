//! BM25 sparse vectors, computed here rather than by a store so that the embedded index and a
//! Qdrant server score a text identically.
//!
//! qdrant-edge's `EdgeBm25` tokenises as Qdrant's server-side BM25 does (lower-casing, English
//! stop words, Snowball stemming, murmur3 token ids). A document vector carries each term's
//! saturated, length-normalised frequency; a query vector carries 1.0 per term. The inverse
//! document frequency is applied by the store at search time (the sparse vector is configured
//! with Qdrant's `idf` modifier), so adding documents never changes stored vectors.
use std::sync::OnceLock;

use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};

/// A sparse vector: parallel term ids and weights, ids unique.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVector {
    /// Term ids (murmur3 of the stemmed token).
    pub indices: Vec<u32>,
    /// Weights, one per id.
    pub values: Vec<f32>,
}

impl SparseVector {
    /// Whether the text had no indexable term (only stop words or punctuation).
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// The model, built once: its stemmer and stop-word list are read-only after construction.
fn model() -> &'static EdgeBm25 {
    static MODEL: OnceLock<EdgeBm25> = OnceLock::new();
    MODEL.get_or_init(|| {
        // k = 1.2, b = 0.75, average length 256 tokens (about our chunk size), English.
        EdgeBm25::new(EdgeBm25Config::default()).expect("the default BM25 configuration is valid")
    })
}

/// The vector stored with a chunk of `text`.
pub fn document(text: &str) -> SparseVector {
    let vector = model().embed_document(text);
    SparseVector {
        indices: vector.indices,
        values: vector.values,
    }
}

/// The vector a search for `text` sends.
pub fn query(text: &str) -> SparseVector {
    let vector = model().embed_query(text);
    SparseVector {
        indices: vector.indices,
        values: vector.values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stemming_and_stop_words_make_query_and_document_terms_meet() {
        let doc = document("The brokers were restarting after the ZooKeeper session expired");
        let q = query("restart broker");
        assert!(!q.is_empty());
        for term in &q.indices {
            assert!(
                doc.indices.contains(term),
                "query term {term} missing from the document"
            );
        }
        assert!(query("the of and").is_empty());
    }

    #[test]
    fn repeated_terms_weigh_more_in_documents_only() {
        let once = document("kafka");
        let thrice = document("kafka kafka kafka");
        assert!(thrice.values[0] > once.values[0]);
        assert_eq!(query("kafka kafka").values, vec![1.0]);
    }
}
