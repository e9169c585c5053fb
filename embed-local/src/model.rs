//! The network and its tokenizer, loaded once, turning one batch of texts into vectors.
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, DTYPE};
use steward_llm::LlmError;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::files::ModelFiles;
use crate::pooling::{l2_normalise, mean_pool};
use crate::{DIMENSION, MAX_TOKENS};

/// all-MiniLM-L6-v2 on the CPU. Synchronous: callers run it on a blocking thread.
pub(crate) struct MiniLm {
    bert: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

impl MiniLm {
    /// Loads the model in `dir`: the weights are memory-mapped, not read into memory.
    pub(crate) fn load(dir: &Path) -> Result<Self, LlmError> {
        let files = ModelFiles::in_dir(dir)?;
        let unreadable =
            |path: &Path, why: String| LlmError::Unavailable(format!("cannot load {}: {why}", path.display()));

        let config_text =
            std::fs::read_to_string(&files.config).map_err(|e| unreadable(&files.config, e.to_string()))?;
        let config: Config =
            serde_json::from_str(&config_text).map_err(|e| unreadable(&files.config, e.to_string()))?;
        if config.hidden_size != DIMENSION {
            return Err(unreadable(
                &files.config,
                format!(
                    "hidden size {} is not all-MiniLM-L6-v2's {DIMENSION}",
                    config.hidden_size
                ),
            ));
        }

        let device = Device::Cpu;
        // SAFETY: the file is mapped read-only; Steward never writes it, and fetch-embedder.sh
        // replaces it by rename, which leaves an existing mapping intact.
        let weights = unsafe { VarBuilder::from_mmaped_safetensors(&[&files.weights], DTYPE, &device) }
            .map_err(|e| unreadable(&files.weights, e.to_string()))?;
        let bert = BertModel::load(weights, &config).map_err(|e| unreadable(&files.weights, e.to_string()))?;

        let mut tokenizer =
            Tokenizer::from_file(&files.tokenizer).map_err(|e| unreadable(&files.tokenizer, e.to_string()))?;
        // tokenizer.json hard-codes truncation and padding to 128 tokens; the reference
        // (sentence-transformers) truncates at 256 and pads each batch to its longest text.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| unreadable(&files.tokenizer, e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        Ok(MiniLm {
            bert,
            tokenizer,
            device,
        })
    }

    /// One unit-length vector per text, in order. `texts` should be a bounded batch: the
    /// activations grow with its size times its longest text.
    pub(crate) fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| failed(e.to_string()))?;
        let rows = encodings.len();
        let width = encodings.first().map_or(0, |encoding| encoding.len());
        let mut ids = Vec::with_capacity(rows * width);
        let mut mask = Vec::with_capacity(rows * width);
        for encoding in &encodings {
            ids.extend_from_slice(encoding.get_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
        }
        self.forward(ids, mask, rows, width).map_err(|e| failed(e.to_string()))
    }

    /// The network on `rows` × `width` token ids and their attention mask.
    fn forward(&self, ids: Vec<u32>, mask: Vec<u32>, rows: usize, width: usize) -> candle_core::Result<Vec<Vec<f32>>> {
        let ids = Tensor::from_vec(ids, (rows, width), &self.device)?;
        let mask = Tensor::from_vec(mask, (rows, width), &self.device)?;
        let token_types = ids.zeros_like()?;
        let hidden = self.bert.forward(&ids, &token_types, Some(&mask))?;
        l2_normalise(&mean_pool(&hidden, &mask)?)?.to_vec2::<f32>()
    }
}

/// An inference failure, which should not happen with a model that loaded.
fn failed(why: String) -> LlmError {
    LlmError::Unavailable(format!("the local embedding model failed: {why}"))
}
