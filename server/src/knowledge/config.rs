//! The knowledge index's settings (`[knowledge]` in steward.toml), handed to it alone.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The knowledge index (retrieval context for the planner).
#[derive(Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// `local` (default: all-MiniLM-L6-v2 in-process), `openai`, or `none` (no index).
    pub embedder: Option<String>,
    /// The local embedder's model directory (default `<data_dir>/models/all-minilm-l6-v2`).
    pub embed_model_dir: Option<PathBuf>,
    /// The `openai` embedder's base URL (default: the LLM's).
    pub embed_base_url: Option<String>,
    /// The `openai` embedder's API key (default: the LLM's).
    pub embed_api_key: Option<String>,
    /// The `openai` embedder's model, e.g. `text-embedding-3-small`.
    pub embed_model: Option<String>,
    /// A Qdrant server's gRPC URL; unset: the embedded index under `data_dir/knowledge`.
    pub qdrant_url: Option<String>,
    /// The Qdrant server's API key.
    pub qdrant_api_key: Option<String>,
    /// The Qdrant collection (default `steward_<embedding model>`).
    pub qdrant_collection: Option<String>,
}

impl std::fmt::Debug for KnowledgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &Option<String>| s.as_ref().map(|_| "<set>");
        f.debug_struct("KnowledgeConfig")
            .field("embedder", &self.embedder)
            .field("embed_model_dir", &self.embed_model_dir)
            .field("embed_base_url", &self.embed_base_url)
            .field("embed_api_key", &secret(&self.embed_api_key))
            .field("embed_model", &self.embed_model)
            .field("qdrant_url", &self.qdrant_url)
            .field("qdrant_api_key", &secret(&self.qdrant_api_key))
            .field("qdrant_collection", &self.qdrant_collection)
            .finish()
    }
}
