//! Loading a GGUF model and making its inference context.
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::OnceLock;

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::{send_logs_to_tracing, LogOptions};
use steward_llm::LlmError;

/// Tokens one context holds: prompt plus reply. Enough for the planner's few-shot prompt
/// with retrieved documents; its KV cache costs about 75 MB for Gemma 3 270M.
pub(crate) const CONTEXT_TOKENS: u32 = 4096;

/// Tokens llama.cpp evaluates per batch: the most a [`crate::session::Session`] hands it at once.
pub(crate) const BATCH_TOKENS: u32 = 512;

/// Tokens per micro-batch: what llama.cpp's compute buffer is sized for.
pub(crate) const MICRO_BATCH_TOKENS: u32 = 128;

/// llama.cpp's backend may be initialised once per process; every model shares it.
fn backend() -> Result<&'static LlamaBackend, LlmError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp prints hundreds of lines per load to stderr; route them to tracing,
            // where they are debug-level noise, before anything can log.
            send_logs_to_tracing(LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| LlmError::Unavailable(format!("cannot initialise llama.cpp: {e}")))
}

/// Loads the GGUF file at `path`.
pub(crate) fn load(path: &Path) -> Result<LlamaModel, LlmError> {
    let backend = backend()?;
    // Checked here because llama.cpp only says "null result" for a missing file.
    if !path.is_file() {
        return Err(LlmError::Unavailable(format!(
            "no model file at {} (fetch it with scripts/fetch-model.sh, or set STEWARD_LLM_MODEL_PATH)",
            path.display()
        )));
    }
    LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
        .map_err(|e| LlmError::Unavailable(format!("cannot load {} as a GGUF model ({e})", path.display())))
}

/// A fresh inference context for `model` running on `threads` CPU threads.
pub(crate) fn context(model: &LlamaModel, threads: usize) -> Result<LlamaContext<'_>, LlmError> {
    let threads = i32::try_from(threads.max(1)).unwrap_or(i32::MAX);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(CONTEXT_TOKENS))
        .with_n_batch(BATCH_TOKENS)
        // llama.cpp sizes its compute buffer for a micro-batch whose every token yields
        // logits: vocabulary × n_ubatch floats, 512 MiB reserved for Gemma 3's 262,144 tokens
        // at 512. Only the last token's logits are read. Less of it is ever touched: the
        // prefix-reuse test's process went from 396 to 381 MiB RSS at 128.
        .with_n_ubatch(MICRO_BATCH_TOKENS)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        // Gemma 3 uses sliding-window attention. With a window-sized cache llama.cpp drops
        // old positions, and then a cached prompt prefix cannot be extended; a full-size
        // cache keeps every position so prefix reuse always works.
        .with_swa_full(true)
        // 8-bit keys and values: half the cache's memory (72 → 38 MiB at 4,096 cells). A
        // quantised V needs flash attention, which llama.cpp turns on for the CPU by itself.
        .with_type_k(KvCacheType::Q8_0)
        .with_type_v(KvCacheType::Q8_0);
    model
        .new_context(backend()?, params)
        .map_err(|e| LlmError::Unavailable(format!("cannot create a llama.cpp context: {e}")))
}
