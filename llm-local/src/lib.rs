//! Steward's local chat model: a small GGUF model run in-process on the CPU by llama.cpp,
//! so a fresh install answers with no API key and no network.
//!
//! The default model is Gemma 3 270M (Q4_K_M), fetched by `scripts/fetch-model.sh`. It is
//! a base model, weak alone: the planner resolves names itself and lets the model choose
//! only among what is left, under a JSON-schema grammar.
//!
//! This crate is a leaf so that llama.cpp's long C++ build happens once, not on every edit
//! to `steward-llm`.
//!
//! Code map: [`LocalChat`] (`chat.rs`) hands requests to one worker thread (`worker.rs`)
//! that owns the model (`model.rs`) and a session (`session.rs`) that generates with
//! KV-cache prefix reuse; prompts are rendered in Gemma's turn format (`prompt.rs`), schemas
//! become grammars (`grammar.rs`), tokens are chosen greedily (`sampler.rs`) and turned into
//! whole UTF-8 text (`utf8.rs`).
use std::path::{Path, PathBuf};

mod chat;
mod grammar;
mod model;
mod prompt;
mod sampler;
mod session;
mod utf8;
mod worker;

pub use chat::{GenerationStats, LocalChat, DEFAULT_MAX_TOKENS, DEFAULT_THREADS};

/// File name of the default model inside the model directory.
pub const DEFAULT_MODEL_FILE: &str = "gemma-3-270m-q4_k_m.gguf";

/// Where the default model lives under a data directory: `<data_dir>/models/gemma-3-270m-q4_k_m.gguf`,
/// the place `scripts/fetch-model.sh` writes to (`make run` and `make test` use `./data`).
pub fn model_path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("models").join(DEFAULT_MODEL_FILE)
}
