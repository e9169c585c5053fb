//! Steward's vector store: the chunks of the knowledge index (stack docs, job logs, incident
//! summaries) with a dense embedding and a BM25 vector each, searched by either or both fused,
//! under payload filters (kind, cluster, service, component, host, job, source, time).
//!
//! Behind one trait, [`VectorStore`], two backends:
//! - [`EdgeStore`]: `qdrant-edge` in-process, on disk under a directory (the default). A
//!   directory that cannot be opened comes back as [`StoreError::Corrupt`], so the server can
//!   move it aside and rebuild from the sources.
//! - [`QdrantServerStore`]: a Qdrant server over gRPC (`qdrant-client`), for several replicas.
//!
//! This crate computes what must not differ between the two: point ids ([`point_id`]), BM25
//! vectors ([`bm25`], scored with Qdrant's IDF modifier), and the hybrid fusion (reciprocal
//! rank fusion of the dense and BM25 rankings, in `fusion.rs`).
//!
//! It is a leaf crate: qdrant-edge's build takes minutes and should happen once, not on every
//! edit to the server.
pub mod bench;
pub mod bm25;
mod edge;
mod error;
mod fusion;
mod point;
mod query;
mod server;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use bm25::SparseVector;
pub use edge::{EdgeStore, DEFAULT_HNSW_EF};
pub use error::StoreError;
pub use point::{content_hash, point_id, Kind, Payload, Point};
pub use query::{Filter, Hit, Query, SearchMode, TimeRange};
pub use server::QdrantServerStore;
pub use store::VectorStore;
pub use uuid::Uuid;

/// Name of the dense vector in both backends.
pub(crate) const DENSE: &str = "dense";
/// Name of the BM25 vector in both backends.
pub(crate) const SPARSE: &str = "bm25";

/// The payload fields with a keyword index: every field a [`Filter`] matches exactly, and the
/// content hash (scrolled by source at every ingestion).
pub(crate) const KEYWORD_FIELDS: [&str; 8] = [
    "kind",
    "cluster",
    "service",
    "component",
    "host",
    "job_id",
    "source",
    "content_hash",
];
/// The payload field with an integer (range) index.
pub(crate) const TIME_FIELD: &str = "time";

/// How many candidates each ranking contributes before fusion, for a search of `limit` hits:
/// enough that a chunk ranked modestly by both lists still surfaces.
pub(crate) fn candidates(limit: usize) -> usize {
    (limit * 4).max(40)
}
