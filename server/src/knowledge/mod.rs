//! The knowledge index: stack docs, finished jobs' logs and incident summaries, embedded and
//! searchable by meaning and by words (hybrid), so the planner's proposals cite evidence.
//!
//! The vector store trait and its two backends live in the leaf crate `steward-vector`
//! (qdrant-edge takes minutes to build); the embedders behind `steward_llm::Embedder` in
//! `steward-llm` and `steward-embed-local`. This module decides what goes in (`ingest.rs`,
//! cut by `chunk.rs`), where the index lives, and how a search is asked and answered.
//!
//! The embedded index lives in `<data_dir>/knowledge/<embedding model>`: a new model gets a
//! new index instead of mixing vector spaces. An index directory that cannot be opened is
//! moved aside and rebuilt from the sources, with a warning.
pub mod chunk;
mod config;
mod ingest;

pub use ingest::{DocStats, IncidentRecord, TaskLog};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use steward_llm::{Embedder, LlmError};
use steward_vector::{EdgeStore, Hit, QdrantServerStore, Query, StoreError};
pub use steward_vector::{Filter, Kind, SearchMode, TimeRange, VectorStore};

pub use config::KnowledgeConfig;

/// Longest query text, in bytes.
pub const MAX_QUERY_BYTES: usize = 1000;
/// Most hits one search returns.
pub const MAX_LIMIT: usize = 50;

/// A knowledge request that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// The caller asked for something invalid.
    #[error("{0}")]
    Invalid(String),
    /// The index is off (no embedder configured or its model is missing).
    #[error("the knowledge index is off: {0}")]
    Off(String),
    /// The embedder failed.
    #[error("embedding failed: {0}")]
    Embed(#[from] LlmError),
    /// The vector store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading the sources failed.
    #[error("{0}")]
    Source(String),
}

/// One search, as the API, the CLI and the planner ask it.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// The question.
    pub query: String,
    /// At most this many hits (1 to [`MAX_LIMIT`]).
    pub limit: usize,
    /// Hybrid (default), dense or sparse.
    pub mode: SearchMode,
    /// Which chunks may be returned.
    pub filter: Filter,
}

/// One retrieved chunk, with what a citation needs.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Chunk {
    /// The citation id: `doc:<path>#<anchor>`, `job:<id>/task:<id>` or `incident:<id>`.
    pub source: String,
    /// A heading or one-line description.
    pub title: String,
    /// Where to read it whole: a stack file with its anchor, or an API path.
    pub link: String,
    /// `doc`, `job_log` or `incident`.
    pub kind: String,
    /// Rank score (only the order is meaningful).
    pub score: f32,
    /// The chunk's text (quoted data, never instructions).
    pub text: String,
    /// Cluster (job logs, incidents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Job id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// When it happened (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

impl From<Hit> for Chunk {
    fn from(h: Hit) -> Self {
        let p = h.payload;
        let (source, link) = match p.kind {
            Kind::Doc => {
                let path = p.source.trim_start_matches("doc:");
                let anchor = chunk::slug(strip_part(p.title.rsplit(" › ").next().unwrap_or(&p.title)));
                (format!("{}#{anchor}", p.source), format!("stacks/{path}#{anchor}"))
            }
            Kind::JobLog => {
                let link = match p.source.split_once("/task:") {
                    Some((job, task)) => format!("/api/v1/jobs/{}/tasks/{task}/logs", job.trim_start_matches("job:")),
                    None => format!("/api/v1/jobs/{}", p.job_id.as_deref().unwrap_or_default()),
                };
                (p.source.clone(), link)
            }
            Kind::Incident => (
                p.source.clone(),
                format!("/api/v1/incidents/{}", p.source.trim_start_matches("incident:")),
            ),
        };
        Chunk {
            source,
            title: p.title,
            link,
            kind: p.kind.as_str().to_owned(),
            score: h.score,
            text: p.text,
            cluster: p.cluster,
            service: p.service,
            component: p.component,
            host: p.host,
            job_id: p.job_id,
            time: p
                .time
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|t| t.to_rfc3339()),
        }
    }
}

/// What a reply or a proposal cites: enough to find the chunk again.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Citation {
    /// The citation id (see [`Chunk::source`]).
    pub source: String,
    /// A heading or one-line description.
    pub title: String,
    /// Where to read it whole.
    pub link: String,
}

impl Chunk {
    /// This chunk as a citation.
    pub fn citation(&self) -> Citation {
        Citation {
            source: self.source.clone(),
            title: self.title.clone(),
            link: self.link.clone(),
        }
    }
}

/// `title (2)` → `title`: the parts of a long section share its anchor.
fn strip_part(title: &str) -> &str {
    match title.rsplit_once(" (") {
        Some((head, tail)) if tail.ends_with(')') && tail[..tail.len() - 1].bytes().all(|b| b.is_ascii_digit()) => head,
        _ => title,
    }
}

/// What the index is doing, for `GET /api/v1/knowledge/status` and the tests.
#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct Status {
    /// `indexing` while the stack docs are (re)indexed, then `ready`, or `failed`.
    pub state: String,
    /// `embedded` (qdrant-edge under the data directory) or `qdrant` (a server).
    pub backend: String,
    /// The embedding model's id.
    pub embedder: String,
    /// Chunks in the index.
    pub chunks: usize,
    /// Doc chunks embedded by the last indexing (unchanged ones are not).
    pub docs_embedded: usize,
    /// Doc chunks found unchanged by the last indexing.
    pub docs_unchanged: usize,
    /// Finished jobs whose logs were indexed since start.
    pub jobs_indexed: usize,
    /// Where a damaged index was moved aside at start, if one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuilt_from: Option<String>,
    /// Why indexing failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The knowledge index: cheap to clone.
#[derive(Clone)]
pub struct Knowledge {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn VectorStore>,
    embedder: Arc<dyn Embedder>,
    status: Mutex<Status>,
    /// One ingestion at a time: two writers of the same source would both see it missing.
    writer: tokio::sync::Mutex<()>,
}

impl Knowledge {
    /// An index over `store`, embedding with `embedder`.
    pub fn new(store: Arc<dyn VectorStore>, embedder: Arc<dyn Embedder>, backend: &str) -> Self {
        let status = Status {
            state: "indexing".into(),
            backend: backend.into(),
            embedder: embedder.model_id(),
            ..Status::default()
        };
        Knowledge {
            inner: Arc::new(Inner {
                store,
                embedder,
                status: Mutex::new(status),
                writer: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Opens the configured index, or `None` (with a warning saying how to turn it on) when
    /// the embedder is `none` or the local model has not been fetched. A damaged embedded
    /// index is moved aside (see [`Status::rebuilt_from`]) and a new one created.
    /// `k` comes resolved: the `openai` embedder's URL and key already default to the LLM's.
    pub async fn open(k: &KnowledgeConfig, data_dir: &std::path::Path) -> anyhow::Result<Option<Knowledge>> {
        let Some(embedder) = embedder(k, data_dir).await? else {
            return Ok(None);
        };
        let (store, backend, rebuilt_from): (Arc<dyn VectorStore>, _, _) = match &k.qdrant_url {
            Some(url) => {
                let collection = k
                    .qdrant_collection
                    .clone()
                    .unwrap_or_else(|| format!("steward_{}", dir_name(&embedder.model_id())));
                let store =
                    QdrantServerStore::open(url, k.qdrant_api_key.as_deref(), &collection, embedder.dimension())
                        .await
                        .with_context(|| {
                            format!("cannot open the Qdrant collection {collection} (STEWARD_QDRANT_URL)")
                        })?;
                (Arc::new(store) as Arc<dyn VectorStore>, "qdrant", None)
            }
            None => {
                let dir = data_dir.join("knowledge").join(dir_name(&embedder.model_id()));
                let (store, moved) = open_embedded(&dir, embedder.dimension()).await?;
                (Arc::new(store) as Arc<dyn VectorStore>, "embedded", moved)
            }
        };
        let knowledge = Knowledge::new(store, embedder, backend);
        knowledge.inner.status.lock().expect("status").rebuilt_from = rebuilt_from.map(|p| p.display().to_string());
        Ok(Some(knowledge))
    }

    /// The store (for benchmarks and evals).
    pub fn store(&self) -> &Arc<dyn VectorStore> {
        &self.inner.store
    }

    /// The embedder (for benchmarks and evals).
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.inner.embedder
    }

    /// What the index is doing, with a fresh chunk count.
    pub async fn status(&self) -> Result<Status, KnowledgeError> {
        let chunks = self.inner.store.count(&Filter::all()).await?;
        let mut s = self.inner.status.lock().expect("status").clone();
        s.chunks = chunks;
        Ok(s)
    }

    fn update_status(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.inner.status.lock().expect("status"));
    }

    /// The best chunks for `req`, best first.
    pub async fn search(&self, req: &SearchRequest) -> Result<Vec<Chunk>, KnowledgeError> {
        let text = validate(req)?;
        let dense = self.embed_query(req.mode, text).await?;
        self.search_with(text, dense, req.mode, req.filter.clone(), req.limit)
            .await
    }

    /// Like [`Knowledge::search`], over the docs together with `cluster`'s own job logs and
    /// incidents: a cluster filter alone would leave out the docs, which belong to no cluster.
    /// The two rankings are merged by their (reciprocal-rank) scores.
    pub async fn search_in_cluster(&self, req: &SearchRequest, cluster: &str) -> Result<Vec<Chunk>, KnowledgeError> {
        let text = validate(req)?;
        let dense = self.embed_query(req.mode, text).await?;
        let wanted = |k: Kind| req.filter.kinds.is_empty() || req.filter.kinds.contains(&k);
        let mut hits = vec![];
        if wanted(Kind::Doc) {
            let docs = Filter {
                kinds: vec![Kind::Doc],
                cluster: None,
                host: None,
                job_id: None,
                time: None,
                ..req.filter.clone()
            };
            hits.extend(self.search_with(text, dense.clone(), req.mode, docs, req.limit).await?);
        }
        let kinds: Vec<Kind> = [Kind::JobLog, Kind::Incident]
            .into_iter()
            .filter(|k| wanted(*k))
            .collect();
        if !kinds.is_empty() {
            let own = Filter {
                kinds,
                cluster: Some(cluster.to_owned()),
                ..req.filter.clone()
            };
            hits.extend(self.search_with(text, dense, req.mode, own, req.limit).await?);
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(req.limit);
        Ok(hits)
    }

    async fn embed_query(&self, mode: SearchMode, text: &str) -> Result<Option<Vec<f32>>, KnowledgeError> {
        if mode == SearchMode::Sparse {
            return Ok(None);
        }
        let mut v = self.inner.embedder.embed(&[text.to_owned()]).await?;
        Ok(Some(v.pop().ok_or_else(|| {
            LlmError::Malformed("no embedding for the query".into())
        })?))
    }

    async fn search_with(
        &self,
        text: &str,
        dense: Option<Vec<f32>>,
        mode: SearchMode,
        filter: Filter,
        limit: usize,
    ) -> Result<Vec<Chunk>, KnowledgeError> {
        let query = Query {
            text: text.to_owned(),
            dense,
            mode,
            filter,
            limit,
        };
        Ok(self
            .inner
            .store
            .search(&query)
            .await?
            .into_iter()
            .map(Chunk::from)
            .collect())
    }

    /// Removes everything of `cluster` (its job logs and incidents).
    pub async fn delete_cluster(&self, cluster: &str) -> Result<(), KnowledgeError> {
        let _w = self.inner.writer.lock().await;
        self.inner.store.delete(&Filter::cluster(cluster)).await?;
        Ok(())
    }
}

/// The query text of `req`, trimmed, if `req` is a valid search.
fn validate(req: &SearchRequest) -> Result<&str, KnowledgeError> {
    let text = req.query.trim();
    if text.is_empty() {
        return Err(KnowledgeError::Invalid("the query is empty".into()));
    }
    if text.len() > MAX_QUERY_BYTES {
        return Err(KnowledgeError::Invalid(format!(
            "the query is {} bytes; at most {MAX_QUERY_BYTES}",
            text.len()
        )));
    }
    if !(1..=MAX_LIMIT).contains(&req.limit) {
        return Err(KnowledgeError::Invalid(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    Ok(text)
}

/// The configured embedder, or `None` with a warning.
async fn embedder(k: &KnowledgeConfig, data_dir: &std::path::Path) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
    match k.embedder.as_deref().unwrap_or("local") {
        "local" => {
            let dir = k
                .embed_model_dir
                .clone()
                .unwrap_or_else(|| steward_embed_local::model_dir_in(data_dir));
            if !dir.join("model.safetensors").exists() {
                tracing::warn!(dir = %dir.display(), "the local embedding model is missing, so the knowledge index is off: run scripts/fetch-embedder.sh with STEWARD_MODEL_DIR=<data dir>/models (make run does), or set STEWARD_EMBED_MODEL_DIR");
                return Ok(None);
            }
            let e = steward_embed_local::LocalEmbedder::load(&dir)
                .with_context(|| format!("cannot load the local embedding model in {}", dir.display()))?;
            Ok(Some(Arc::new(e)))
        }
        "openai" => {
            let base_url = k
                .embed_base_url
                .clone()
                .context("STEWARD_EMBEDDER=openai needs STEWARD_EMBED_BASE_URL (or STEWARD_LLM_BASE_URL)")?;
            let model = k
                .embed_model
                .clone()
                .context("STEWARD_EMBEDDER=openai needs STEWARD_EMBED_MODEL, e.g. text-embedding-3-small")?;
            let cfg = steward_llm::OpenAiConfig {
                api_key: k.embed_api_key.clone(),
                ..steward_llm::OpenAiConfig::new(base_url, model)
            };
            let e = steward_llm::OpenAiEmbedder::detect(cfg)
                .await
                .context("cannot reach the embeddings endpoint (STEWARD_EMBEDDER=openai)")?;
            Ok(Some(Arc::new(e)))
        }
        "none" => Ok(None),
        other => anyhow::bail!("STEWARD_EMBEDDER={other:?} is not an embedder (local, openai, none)"),
    }
}

/// Loads the local embedder for the commands run from a checkout (`steward eval retrieval`,
/// `steward bench knowledge`): from `dir`, else `STEWARD_EMBED_MODEL_DIR`, else
/// `./data/models/all-minilm-l6-v2` where `make` fetched it.
pub fn load_checkout_embedder(dir: Option<PathBuf>) -> anyhow::Result<steward_embed_local::LocalEmbedder> {
    let dir = checkout_model_dir(dir);
    steward_embed_local::LocalEmbedder::load(&dir)
        .with_context(|| format!("cannot load the embedding model in {}", dir.display()))
}

/// Where [`load_checkout_embedder`] looks: `dir`, else `STEWARD_EMBED_MODEL_DIR`, else
/// `./data/models/all-minilm-l6-v2`.
pub fn checkout_model_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| {
        std::env::var_os("STEWARD_EMBED_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| steward_embed_local::model_dir_in(Path::new("data")))
    })
}

/// `local:all-minilm-l6-v2` → `local-all-minilm-l6-v2`: a safe directory or collection name.
pub(crate) fn dir_name(model_id: &str) -> String {
    model_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Opens the embedded index in `dir`; a directory that cannot be opened is renamed to
/// `<dir>.damaged-<unix time>` (kept for a post-mortem, never deleted) and a new index is
/// created in its place. Returns where the damaged one went.
async fn open_embedded(dir: &Path, dimension: usize) -> anyhow::Result<(EdgeStore, Option<PathBuf>)> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    match EdgeStore::open(dir, dimension).await {
        Ok(store) => Ok((store, None)),
        Err(e @ (StoreError::Corrupt { .. } | StoreError::DimensionMismatch { .. })) => {
            let aside = PathBuf::from(format!("{}.damaged-{}", dir.display(), chrono::Utc::now().timestamp()));
            tracing::warn!(error = %e, moved_to = %aside.display(), "the knowledge index cannot be opened; it was moved aside and is being rebuilt from the stack docs and job logs");
            eprintln!(
                "warning: the knowledge index {} cannot be opened ({e}); moved it to {} and rebuilding",
                dir.display(),
                aside.display()
            );
            std::fs::rename(dir, &aside)
                .with_context(|| format!("cannot move the damaged index {} aside", dir.display()))?;
            let store = EdgeStore::open(dir, dimension)
                .await
                .with_context(|| format!("cannot create a new index in {}", dir.display()))?;
            Ok((store, Some(aside)))
        }
        Err(e) => Err(e).with_context(|| format!("cannot open the knowledge index {}", dir.display())),
    }
}

/// Progress of a long indexing run: silent for the first second, then a line a second.
struct Progress {
    what: &'static str,
    total: usize,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new(what: &'static str, total: usize) -> Self {
        let now = Instant::now();
        Progress {
            what,
            total,
            started: now,
            last: now,
        }
    }

    fn tick(&mut self, done: usize) {
        let now = Instant::now();
        if now.duration_since(self.started).as_secs_f64() < 1.0 || now.duration_since(self.last).as_secs_f64() < 1.0 {
            return;
        }
        self.last = now;
        let rate = done as f64 / now.duration_since(self.started).as_secs_f64();
        let left = if rate > 0.0 {
            format!(", about {:.0} s left", (self.total - done) as f64 / rate)
        } else {
            String::new()
        };
        tracing::info!(
            "indexing {}: {done}/{} chunks ({rate:.1}/s{left})",
            self.what,
            self.total
        );
    }

    fn finish(&self, embedded: usize) {
        let secs = self.started.elapsed().as_secs_f64();
        if secs >= 1.0 {
            tracing::info!("indexed {}: {embedded} chunks embedded in {secs:.1} s", self.what);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_suffixes_are_not_part_of_the_anchor() {
        assert_eq!(strip_part("Operations (2)"), "Operations");
        assert_eq!(strip_part("Kafka (3.x) notes"), "Kafka (3.x) notes");
        assert_eq!(strip_part("Mode (fast)"), "Mode (fast)");
        assert_eq!(
            dir_name("openai:text-embedding-3-small/1536"),
            "openai-text-embedding-3-small-1536"
        );
    }
}
