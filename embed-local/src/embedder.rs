//! [`LocalEmbedder`]: the [`Embedder`] over [`MiniLm`], batching texts and keeping inference off
//! the async runtime.
use std::path::Path;
use std::sync::Arc;

use steward_llm::{Embedder, LlmError};
use tokio::sync::Semaphore;

use crate::model::MiniLm;
use crate::{default_model_dir, DIMENSION, MODEL_ID};

/// Texts per forward pass unless changed with [`LocalEmbedder::with_batch_size`]. Eight
/// 256-token chunks already keep the matrix kernels busy, and their attention scores (25 MB)
/// stay under glibc's mmap ceiling, so the heap reuses them instead of faulting in fresh pages
/// each layer: 32 was slower (BENCHMARKS.md) and peaked at 700 MiB instead of 270.
pub const DEFAULT_BATCH_SIZE: usize = 8;

/// all-MiniLM-L6-v2 run in-process on the CPU.
///
/// Cheap to clone (the model is shared). One batch runs at a time per embedder, on a blocking
/// thread: the matrix kernels already use every core, so concurrent batches would only compete.
#[derive(Clone)]
pub struct LocalEmbedder {
    model: Arc<MiniLm>,
    /// One permit: batches from concurrent callers take turns.
    turn: Arc<Semaphore>,
    batch_size: usize,
}

impl LocalEmbedder {
    /// Loads the model from `dir` (see [`crate::default_model_dir`]). Reading and mapping the
    /// files blocks for a fraction of a second; call it at startup or on a blocking thread.
    ///
    /// Fails with [`LlmError::Unavailable`] naming the directory and `scripts/fetch-embedder.sh`
    /// when the model is not there, or naming the file that could not be loaded.
    pub fn load(dir: &Path) -> Result<Self, LlmError> {
        let model = MiniLm::load(dir)?;
        tracing::debug!(dir = %dir.display(), "loaded the local embedding model");
        Ok(LocalEmbedder {
            model: Arc::new(model),
            turn: Arc::new(Semaphore::new(1)),
            batch_size: DEFAULT_BATCH_SIZE,
        })
    }

    /// Loads the model from [`default_model_dir`].
    pub fn load_default() -> Result<Self, LlmError> {
        LocalEmbedder::load(&default_model_dir())
    }

    /// Runs at most `batch_size` texts per forward pass (at least one).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// One batch on a blocking thread, after the batches queued before it.
    async fn embed_batch(&self, batch: Vec<String>) -> Result<Vec<Vec<f32>>, LlmError> {
        let _turn = self
            .turn
            .acquire()
            .await
            .map_err(|_| LlmError::Unavailable("the local embedding model was shut down".into()))?;
        let model = self.model.clone();
        tokio::task::spawn_blocking(move || model.embed_batch(&batch))
            .await
            .map_err(|e| LlmError::Unavailable(format!("the local embedding task failed: {e}")))?
    }
}

#[async_trait::async_trait]
impl Embedder for LocalEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        // Texts of similar length batched together waste little on padding; the results are
        // put back in the caller's order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&index| texts[index].len());
        let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for indices in order.chunks(self.batch_size) {
            let batch = indices.iter().map(|&index| texts[index].clone()).collect();
            for (&index, vector) in indices.iter().zip(self.embed_batch(batch).await?) {
                vectors[index] = vector;
            }
        }
        Ok(vectors)
    }

    fn dimension(&self) -> usize {
        DIMENSION
    }

    fn model_id(&self) -> String {
        MODEL_ID.to_string()
    }
}
