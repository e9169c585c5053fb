//! Steward's language-model layer: the chat-model and embedder traits, their OpenAI-compatible
//! providers, and prompt rendering.
//!
//! This crate knows nothing about the database or HTTP routes: the server's `chat` module
//! gives it messages and tool definitions and gets back text and tool calls.
mod embedder;
pub mod openai;
pub mod prompts;
mod provider;
#[cfg(feature = "testing")]
pub mod testing;
mod types;

/// An error and its causes on one line: a library's own message ("error sending request",
/// "failed to render") says little without the cause ("connection refused", the variable).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let causes = std::iter::successors(Some(error), |e| e.source());
    causes.map(ToString::to_string).collect::<Vec<_>>().join(": ")
}

pub use embedder::Embedder;
pub use openai::{OpenAiChat, OpenAiConfig, OpenAiEmbedder};
pub use prompts::{PromptError, Prompts};
pub use provider::{from_config, from_config_with_timeout};
pub use types::{
    ChatModel, ChatRequest, ChatResponse, Delta, FinishReason, LlmError, Message, Role, ToolCall, ToolDef, Usage,
};
