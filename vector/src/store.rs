//! The [`VectorStore`] trait: what the knowledge index needs from a vector database.
use std::collections::BTreeSet;

use uuid::Uuid;

use crate::{Filter, Hit, Point, Query, StoreError};

/// A collection of [`Point`]s searchable by dense vector, BM25 vector, or both fused, under
/// payload filters. Two implementations: [`EdgeStore`](crate::EdgeStore), embedded and on
/// disk (the default), and [`QdrantServerStore`](crate::QdrantServerStore) for a Qdrant server.
///
/// Ids, BM25 vectors and the hybrid fusion are computed by this crate, not by the backend, so
/// the same points and query rank the same on both.
#[async_trait::async_trait]
pub trait VectorStore: Send + Sync {
    /// Inserts `points`, replacing any stored point with the same id. After a large batch,
    /// call [`VectorStore::optimize`].
    async fn upsert(&self, points: Vec<Point>) -> Result<(), StoreError>;

    /// Deletes every point `filter` selects (e.g. all of a cluster, all of a source). An empty
    /// filter is refused: use [`VectorStore::clear`] to delete everything.
    async fn delete(&self, filter: &Filter) -> Result<(), StoreError>;

    /// Deletes these points; unknown ids are ignored.
    async fn delete_points(&self, ids: &[Uuid]) -> Result<(), StoreError>;

    /// Deletes every point (every point has one of the three kinds).
    async fn clear(&self) -> Result<(), StoreError> {
        let everything = Filter {
            kinds: vec![crate::Kind::Doc, crate::Kind::JobLog, crate::Kind::Incident],
            ..Filter::all()
        };
        self.delete(&everything).await
    }

    /// The best hits for `query`, best first, at most `query.limit`.
    async fn search(&self, query: &Query) -> Result<Vec<Hit>, StoreError>;

    /// The content hashes stored for `source`: ingestion embeds only chunks not among them and
    /// deletes the stored chunks no longer produced.
    async fn content_hashes(&self, source: &str) -> Result<BTreeSet<String>, StoreError>;

    /// How many points `filter` selects (exactly).
    async fn count(&self, filter: &Filter) -> Result<usize, StoreError>;

    /// Builds the search indexes for what was inserted since the last call. The embedded
    /// store searches new points by brute force until then; a server does it by itself, so
    /// there it returns at once.
    async fn optimize(&self) -> Result<(), StoreError>;

    /// The length of the dense vectors this store holds.
    fn dimension(&self) -> usize;
}
