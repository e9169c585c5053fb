//! [`EdgeStore`]: the index embedded in the process with `qdrant-edge`, on disk under one
//! directory. The engine is synchronous, so every operation runs on a blocking thread.
mod convert;
mod open;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use qdrant_edge::{
    CountRequest, EdgeShard, PointInsertOperations, PointOperations, PointStructPersisted, ScrollRequest, SearchParams,
    SearchRequest, UpdateOperation, WithPayloadInterface, WithVector,
};
use uuid::Uuid;

use crate::fusion::reciprocal_rank_fusion;
use crate::{bm25, candidates, Filter, Hit, Point, Query, SearchMode, StoreError, VectorStore};

/// HNSW's search breadth unless changed with [`EdgeStore::with_hnsw_ef`]. Measured with
/// `bench.rs` (`steward bench knowledge`); higher finds more true neighbours and costs latency.
pub const DEFAULT_HNSW_EF: usize = 128;

/// Points read per page when listing content hashes.
const SCROLL_PAGE: usize = 1_000;

/// The embedded vector index.
#[derive(Clone)]
pub struct EdgeStore {
    shard: Arc<EdgeShard>,
    /// One write at a time: the engine's `flush` panics when it finds a lock taken.
    writes: Arc<std::sync::Mutex<()>>,
    path: PathBuf,
    dimension: usize,
    hnsw_ef: usize,
}

impl EdgeStore {
    /// Opens the index in `dir` for `dimension`-long dense vectors, creating it when `dir` is
    /// missing or empty. Runs on a blocking thread.
    ///
    /// Errors: [`StoreError::Corrupt`] when `dir` holds something that cannot be opened as an
    /// index (the server moves it aside and rebuilds), [`StoreError::DimensionMismatch`] when
    /// it was built for another embedding model, [`StoreError::Io`] when it cannot be created.
    pub async fn open(dir: impl Into<PathBuf>, dimension: usize) -> Result<Self, StoreError> {
        let path = dir.into();
        tokio::task::spawn_blocking(move || EdgeStore::open_blocking(&path, dimension))
            .await
            .map_err(|e| StoreError::Engine(format!("the open task failed: {e}")))?
    }

    /// [`EdgeStore::open`] on the calling thread.
    pub fn open_blocking(dir: &Path, dimension: usize) -> Result<Self, StoreError> {
        if dimension == 0 {
            return Err(StoreError::Invalid(
                "the dense vector dimension must be at least 1".into(),
            ));
        }
        let shard = open::open_shard(dir, dimension)?;
        Ok(EdgeStore {
            shard: Arc::new(shard),
            writes: Arc::default(),
            path: dir.to_path_buf(),
            dimension,
            hnsw_ef: DEFAULT_HNSW_EF,
        })
    }

    /// Searches HNSW with breadth `hnsw_ef` (at least the number of candidates asked for).
    pub fn with_hnsw_ef(mut self, hnsw_ef: usize) -> Self {
        self.hnsw_ef = hnsw_ef.max(1);
        self
    }

    /// The index directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `job` with the shard on a blocking thread.
    async fn blocking<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&EdgeShard) -> Result<T, StoreError> + Send + 'static,
    {
        let shard = self.shard.clone();
        tokio::task::spawn_blocking(move || job(&shard))
            .await
            .map_err(|e| StoreError::Engine(format!("the vector index task failed: {e}")))?
    }

    /// Runs the write `job` on a blocking thread, then flushes the WAL and segments to disk:
    /// qdrant-edge flushes only when the shard is dropped, so without this a killed process
    /// loses every write since it opened the index.
    async fn write<F>(&self, job: F) -> Result<(), StoreError>
    where
        F: FnOnce(&EdgeShard) -> Result<(), StoreError> + Send + 'static,
    {
        let writes = self.writes.clone();
        self.blocking(move |shard| {
            let _one = writes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            job(shard)?;
            shard.flush();
            Ok(())
        })
        .await
    }

    /// One ranking: `query` on the vector it names, best first.
    fn rank(
        shard: &EdgeShard,
        query: qdrant_edge::QueryEnum,
        filter: Option<qdrant_edge::Filter>,
        limit: usize,
        hnsw_ef: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        let request = SearchRequest {
            query,
            filter,
            params: Some(SearchParams {
                hnsw_ef: Some(hnsw_ef.max(limit)),
                ..SearchParams::default()
            }),
            limit,
            offset: 0,
            with_payload: Some(WithPayloadInterface::Bool(true)),
            with_vector: None,
            score_threshold: None,
        };
        shard
            .search(request)
            .map_err(engine)?
            .into_iter()
            .map(convert::hit)
            .collect()
    }

    /// Checks a dense vector's length against the index's.
    fn check_dimension(&self, vector: &[f32], what: &str) -> Result<(), StoreError> {
        if vector.len() == self.dimension {
            return Ok(());
        }
        Err(StoreError::Invalid(format!(
            "{what} has {} components; this index holds {}",
            vector.len(),
            self.dimension
        )))
    }
}

#[async_trait::async_trait]
impl VectorStore for EdgeStore {
    async fn upsert(&self, points: Vec<Point>) -> Result<(), StoreError> {
        if points.is_empty() {
            return Ok(());
        }
        for point in &points {
            self.check_dimension(&point.dense, &format!("the dense vector of {}", point.id))?;
        }
        let points = points
            .into_iter()
            .map(|point| convert::point(point).map(PointStructPersisted::from))
            .collect::<Result<Vec<_>, _>>()?;
        self.write(move |shard| {
            shard
                .update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                    PointInsertOperations::PointsList(points),
                )))
                .map_err(engine)
        })
        .await
    }

    async fn delete(&self, filter: &Filter) -> Result<(), StoreError> {
        let Some(filter) = convert::filter(filter) else {
            return Err(StoreError::Invalid(
                "refusing to delete with an empty filter; use clear() to delete everything".into(),
            ));
        };
        self.write(move |shard| {
            shard
                .update(UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(
                    filter,
                )))
                .map_err(engine)
        })
        .await
    }

    async fn delete_points(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids = ids.iter().map(|id| qdrant_edge::PointId::Uuid(*id)).collect();
        self.write(move |shard| {
            shard
                .update(UpdateOperation::PointOperation(PointOperations::DeletePoints { ids }))
                .map_err(engine)
        })
        .await
    }

    async fn search(&self, query: &Query) -> Result<Vec<Hit>, StoreError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let dense = match (query.mode, &query.dense) {
            (SearchMode::Sparse, _) => None,
            (_, Some(vector)) => {
                self.check_dimension(vector, "the query vector")?;
                Some(convert::dense_query(vector.clone()))
            }
            (mode, None) => {
                return Err(StoreError::Invalid(format!(
                    "a {} search needs the query's embedding",
                    mode.as_str()
                )))
            }
        };
        let sparse = match query.mode {
            SearchMode::Dense => None,
            _ => Some(bm25::query(&query.text)).filter(|vector| !vector.is_empty()),
        };
        let sparse = sparse.map(convert::sparse_query).transpose()?;
        let filter = convert::filter(&query.filter);
        let (mode, limit, hnsw_ef) = (query.mode, query.limit, self.hnsw_ef);
        self.blocking(move |shard| {
            let depth = if mode == SearchMode::Hybrid {
                candidates(limit)
            } else {
                limit
            };
            let mut rankings = Vec::new();
            if let Some(dense) = dense {
                rankings.push(EdgeStore::rank(shard, dense, filter.clone(), depth, hnsw_ef)?);
            }
            if let Some(sparse) = sparse {
                rankings.push(EdgeStore::rank(shard, sparse, filter, depth, hnsw_ef)?);
            }
            Ok(match mode {
                SearchMode::Hybrid => reciprocal_rank_fusion(rankings, limit),
                _ => rankings.into_iter().next().unwrap_or_default(),
            })
        })
        .await
    }

    async fn content_hashes(&self, source: &str) -> Result<BTreeSet<String>, StoreError> {
        let filter = convert::filter(&Filter::source(source));
        self.blocking(move |shard| {
            let mut hashes = BTreeSet::new();
            let mut offset = None;
            loop {
                let (records, next) = shard
                    .scroll(ScrollRequest {
                        offset,
                        limit: Some(SCROLL_PAGE),
                        filter: filter.clone(),
                        with_payload: Some(WithPayloadInterface::Fields(vec![convert::path("content_hash")])),
                        with_vector: WithVector::Bool(false),
                        order_by: None,
                    })
                    .map_err(engine)?;
                for record in records {
                    let hash = record
                        .payload
                        .as_ref()
                        .and_then(|payload| payload.0.get("content_hash"))
                        .and_then(|hash| hash.as_str());
                    if let Some(hash) = hash {
                        hashes.insert(hash.to_string());
                    }
                }
                match next {
                    Some(next) => offset = Some(next),
                    None => return Ok(hashes),
                }
            }
        })
        .await
    }

    async fn count(&self, filter: &Filter) -> Result<usize, StoreError> {
        let filter = convert::filter(filter);
        self.blocking(move |shard| shard.count(CountRequest { filter, exact: true }).map_err(engine))
            .await
    }

    async fn optimize(&self) -> Result<(), StoreError> {
        self.write(|shard| shard.optimize().map(|_| ()).map_err(engine)).await
    }

    fn dimension(&self) -> usize {
        self.dimension
    }
}

/// An engine failure on an index that opened fine.
fn engine(error: qdrant_edge::OperationError) -> StoreError {
    StoreError::Engine(error.to_string())
}
