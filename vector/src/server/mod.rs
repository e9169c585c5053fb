//! [`QdrantServerStore`]: the index in one collection of a Qdrant server, over gRPC with
//! `qdrant-client`. For several server replicas sharing one index.
mod convert;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use qdrant_client::qdrant::{
    vectors_config, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Modifier, PayloadIncludeSelector, PointId, PointsIdsList,
    QueryPointsBuilder, ScrollPointsBuilder, SearchParamsBuilder, SparseVectorParamsBuilder,
    SparseVectorsConfigBuilder, UpsertPointsBuilder, VectorInput, VectorParamsBuilder, VectorsConfigBuilder,
};
use qdrant_client::Qdrant;
use uuid::Uuid;

use crate::edge::DEFAULT_HNSW_EF;
use crate::fusion::reciprocal_rank_fusion;
use crate::{
    bm25, candidates, Filter, Hit, Point, Query, SearchMode, StoreError, VectorStore, DENSE, KEYWORD_FIELDS, SPARSE,
    TIME_FIELD,
};

/// Points sent per upsert request: keeps each gRPC message well under the 4 MiB default limit
/// (a point with a 384-d vector and a chunk of text is a few kB).
const UPSERT_BATCH: usize = 256;
/// Points read per page when listing content hashes.
const SCROLL_PAGE: u32 = 1_000;

/// The index in a Qdrant server's collection.
pub struct QdrantServerStore {
    client: Qdrant,
    url: String,
    collection: String,
    dimension: usize,
    hnsw_ef: usize,
}

impl QdrantServerStore {
    /// Connects to the server at `url` (its gRPC port, e.g. `http://qdrant:6334`) and opens
    /// `collection`, creating it (a cosine `dense` vector of `dimension`, an IDF-weighted `bm25`
    /// sparse vector, payload indexes) when it does not exist.
    ///
    /// Errors: [`StoreError::Server`] when the server cannot be reached or refuses,
    /// [`StoreError::DimensionMismatch`] when the collection holds vectors of another length.
    pub async fn open(
        url: &str,
        api_key: Option<&str>,
        collection: &str,
        dimension: usize,
    ) -> Result<Self, StoreError> {
        if dimension == 0 {
            return Err(StoreError::Invalid(
                "the dense vector dimension must be at least 1".into(),
            ));
        }
        let client = Qdrant::from_url(url)
            .api_key(api_key.map(str::to_string))
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            // The check is a request of its own that logs to stdout when it fails; a real
            // incompatibility shows in the first operation anyway.
            .skip_compatibility_check()
            .build()
            .map_err(|e| server(url, e))?;
        let store = QdrantServerStore {
            client,
            url: url.to_string(),
            collection: collection.to_string(),
            dimension,
            hnsw_ef: DEFAULT_HNSW_EF,
        };
        store.ensure_collection().await?;
        Ok(store)
    }

    /// Searches HNSW with breadth `hnsw_ef`.
    pub fn with_hnsw_ef(mut self, hnsw_ef: usize) -> Self {
        self.hnsw_ef = hnsw_ef.max(1);
        self
    }

    /// The collection's name.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Deletes the collection and everything in it (tests and rebuilds).
    pub async fn drop_collection(&self) -> Result<(), StoreError> {
        self.client
            .delete_collection(self.collection.as_str())
            .await
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// Creates the collection and its payload indexes if missing; checks its dimension if not.
    async fn ensure_collection(&self) -> Result<(), StoreError> {
        let exists = self
            .client
            .collection_exists(self.collection.as_str())
            .await
            .map_err(|e| self.error(e))?;
        if exists {
            return self.check_dimension_of_collection().await;
        }
        let mut vectors = VectorsConfigBuilder::default();
        vectors.add_named_vector_params(DENSE, VectorParamsBuilder::new(self.dimension as u64, Distance::Cosine));
        let mut sparse = SparseVectorsConfigBuilder::default();
        sparse.add_named_vector_params(SPARSE, SparseVectorParamsBuilder::default().modifier(Modifier::Idf));
        self.client
            .create_collection(
                CreateCollectionBuilder::new(self.collection.as_str())
                    .vectors_config(vectors)
                    .sparse_vectors_config(sparse),
            )
            .await
            .map_err(|e| self.error(e))?;
        let fields = KEYWORD_FIELDS
            .iter()
            .map(|field| (*field, FieldType::Keyword))
            .chain([(TIME_FIELD, FieldType::Integer)]);
        for (field, kind) in fields {
            self.client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(self.collection.as_str(), field, kind).wait(true),
                )
                .await
                .map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// Refuses a collection whose `dense` vector has another length.
    async fn check_dimension_of_collection(&self) -> Result<(), StoreError> {
        let info = self
            .client
            .collection_info(self.collection.as_str())
            .await
            .map_err(|e| self.error(e))?;
        let found = info
            .result
            .and_then(|info| info.config)
            .and_then(|config| config.params)
            .and_then(|params| params.vectors_config)
            .and_then(|vectors| vectors.config)
            .and_then(|config| match config {
                vectors_config::Config::ParamsMap(map) => map.map.get(DENSE).map(|params| params.size),
                vectors_config::Config::Params(_) => None,
            });
        match found {
            Some(size) if size as usize == self.dimension => Ok(()),
            Some(size) => Err(StoreError::DimensionMismatch {
                location: format!("{} collection {}", self.url, self.collection),
                expected: self.dimension,
                found: size as usize,
            }),
            None => Err(StoreError::Server {
                url: self.url.clone(),
                message: format!(
                    "collection {} exists but has no `{DENSE}` vector; it was not created by Steward",
                    self.collection
                ),
            }),
        }
    }

    /// One ranking on the vector named `using`, best first.
    async fn rank(
        &self,
        vector: VectorInput,
        using: &str,
        filter: Option<qdrant_client::qdrant::Filter>,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        let mut request = QueryPointsBuilder::new(self.collection.as_str())
            .query(vector)
            .using(using)
            .limit(limit as u64)
            .with_payload(true)
            .params(SearchParamsBuilder::default().hnsw_ef(self.hnsw_ef.max(limit) as u64));
        if let Some(filter) = filter {
            request = request.filter(filter);
        }
        let response = self.client.query(request).await.map_err(|e| self.error(e))?;
        response.result.into_iter().map(convert::hit).collect()
    }

    fn error(&self, error: qdrant_client::QdrantError) -> StoreError {
        server(&self.url, error)
    }
}

#[async_trait::async_trait]
impl VectorStore for QdrantServerStore {
    async fn upsert(&self, points: Vec<Point>) -> Result<(), StoreError> {
        for point in &points {
            if point.dense.len() != self.dimension {
                return Err(StoreError::Invalid(format!(
                    "the dense vector of {} has {} components; this collection holds {}",
                    point.id,
                    point.dense.len(),
                    self.dimension
                )));
            }
        }
        let mut points = points.into_iter().peekable();
        while points.peek().is_some() {
            let batch = points
                .by_ref()
                .take(UPSERT_BATCH)
                .map(convert::point)
                .collect::<Result<Vec<_>, _>>()?;
            self.client
                .upsert_points(UpsertPointsBuilder::new(self.collection.as_str(), batch).wait(true))
                .await
                .map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    async fn delete(&self, filter: &Filter) -> Result<(), StoreError> {
        let Some(filter) = convert::filter(filter) else {
            return Err(StoreError::Invalid(
                "refusing to delete with an empty filter; use clear() to delete everything".into(),
            ));
        };
        self.client
            .delete_points(
                DeletePointsBuilder::new(self.collection.as_str())
                    .points(filter)
                    .wait(true),
            )
            .await
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    async fn delete_points(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<PointId> = ids.iter().map(|id| PointId::from(id.to_string())).collect();
        self.client
            .delete_points(
                DeletePointsBuilder::new(self.collection.as_str())
                    .points(PointsIdsList { ids })
                    .wait(true),
            )
            .await
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    async fn search(&self, query: &Query) -> Result<Vec<Hit>, StoreError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let filter = convert::filter(&query.filter);
        let depth = if query.mode == SearchMode::Hybrid {
            candidates(query.limit)
        } else {
            query.limit
        };
        let mut rankings = Vec::new();
        if query.mode != SearchMode::Sparse {
            let dense = query.dense.as_ref().ok_or_else(|| {
                StoreError::Invalid(format!("a {} search needs the query's embedding", query.mode.as_str()))
            })?;
            if dense.len() != self.dimension {
                return Err(StoreError::Invalid(format!(
                    "the query vector has {} components; this collection holds {}",
                    dense.len(),
                    self.dimension
                )));
            }
            let vector = VectorInput::new_dense(dense.clone());
            rankings.push(self.rank(vector, DENSE, filter.clone(), depth).await?);
        }
        if query.mode != SearchMode::Dense {
            let sparse = bm25::query(&query.text);
            if !sparse.is_empty() {
                let vector = VectorInput::new_sparse(sparse.indices, sparse.values);
                rankings.push(self.rank(vector, SPARSE, filter, depth).await?);
            }
        }
        Ok(match query.mode {
            SearchMode::Hybrid => reciprocal_rank_fusion(rankings, query.limit),
            _ => rankings.into_iter().next().unwrap_or_default(),
        })
    }

    async fn content_hashes(&self, source: &str) -> Result<BTreeSet<String>, StoreError> {
        let filter = convert::filter(&Filter::source(source));
        let mut hashes = BTreeSet::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(self.collection.as_str())
                .limit(SCROLL_PAGE)
                .with_payload(PayloadIncludeSelector::new(vec!["content_hash".to_string()]))
                .with_vectors(false);
            if let Some(filter) = filter.clone() {
                request = request.filter(filter);
            }
            if let Some(offset) = offset.take() {
                request = request.offset(offset);
            }
            let page = self.client.scroll(request).await.map_err(|e| self.error(e))?;
            for point in page.result {
                let payload: HashMap<String, qdrant_client::qdrant::Value> = point.payload;
                if let Some(hash) = payload.get("content_hash").and_then(|value| value.as_str()) {
                    hashes.insert(hash.to_string());
                }
            }
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(hashes),
            }
        }
    }

    async fn count(&self, filter: &Filter) -> Result<usize, StoreError> {
        let mut request = CountPointsBuilder::new(self.collection.as_str()).exact(true);
        if let Some(filter) = convert::filter(filter) {
            request = request.filter(filter);
        }
        let response = self.client.count(request).await.map_err(|e| self.error(e))?;
        Ok(response.result.map_or(0, |result| result.count as usize))
    }

    async fn optimize(&self) -> Result<(), StoreError> {
        // The server's own optimizers index new segments in the background.
        Ok(())
    }

    fn dimension(&self) -> usize {
        self.dimension
    }
}

/// A client error, with the server's URL.
fn server(url: &str, error: qdrant_client::QdrantError) -> StoreError {
    StoreError::Server {
        url: url.to_string(),
        message: error.to_string(),
    }
}
