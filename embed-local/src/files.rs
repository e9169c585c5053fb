//! The model directory: which files it must hold, and a clear error when it does not.
use std::path::{Path, PathBuf};

use steward_llm::LlmError;

/// The script that fetches the model, named in every "missing model" error.
pub const FETCH_SCRIPT: &str = "scripts/fetch-embedder.sh";

/// The three files of a model directory, known to exist.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The BERT weights, memory-mapped at load.
    pub weights: PathBuf,
    /// The tokenizer (WordPiece vocabulary, normalisation, special tokens).
    pub tokenizer: PathBuf,
    /// The BERT configuration (layers, hidden size, vocabulary size).
    pub config: PathBuf,
}

impl ModelFiles {
    /// The files in `dir`, or [`LlmError::Unavailable`] naming the directory, what is missing
    /// and how to fetch it.
    pub fn in_dir(dir: &Path) -> Result<Self, LlmError> {
        let files = ModelFiles {
            weights: dir.join("model.safetensors"),
            tokenizer: dir.join("tokenizer.json"),
            config: dir.join("config.json"),
        };
        let missing: Vec<&str> = [&files.weights, &files.tokenizer, &files.config]
            .into_iter()
            .filter(|path| !path.is_file())
            .filter_map(|path| path.file_name().and_then(|name| name.to_str()))
            .collect();
        if missing.is_empty() {
            return Ok(files);
        }
        Err(LlmError::Unavailable(format!(
            "no embedding model in {} (missing {}); fetch it with {FETCH_SCRIPT}, \
             or set STEWARD_EMBED_MODEL_DIR to a directory that has it",
            dir.display(),
            missing.join(", ")
        )))
    }
}
