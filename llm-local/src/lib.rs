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
use std::path::PathBuf;

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

/// Where the local model is read from: `STEWARD_MODEL_PATH` when set, else
/// `${STEWARD_MODEL_DIR:-$HOME/.cache/steward/models}/gemma-3-270m-q4_k_m.gguf`, the place
/// `scripts/fetch-model.sh` writes to.
pub fn default_model_path() -> PathBuf {
    if let Some(path) = std::env::var_os("STEWARD_MODEL_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let dir = match std::env::var_os("STEWARD_MODEL_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
            home.join(".cache/steward/models")
        }
    };
    dir.join(DEFAULT_MODEL_FILE)
}
