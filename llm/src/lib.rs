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

pub use embedder::Embedder;
pub use openai::{OpenAiChat, OpenAiConfig, OpenAiEmbedder};
pub use prompts::{PromptError, Prompts};
pub use provider::{from_config, from_config_with_timeout};
pub use types::{
    ChatModel, ChatRequest, ChatResponse, Delta, FinishReason, LlmError, Message, Role, ToolCall, ToolDef, Usage,
};
