//! The provider-neutral shapes every chat model speaks.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
    /// A tool's result, answering one tool call.
    Tool,
}

/// A tool call the model made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id; a tool message answers it.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// The arguments as JSON text, exactly as the model wrote them (may be invalid JSON).
    pub arguments: String,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Text (may be empty when the assistant only called tools).
    pub content: String,
    /// Tool calls of an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: text.into(),
            tool_calls: vec![],
            tool_call_id: None,
        }
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: text.into(),
            tool_calls: vec![],
            tool_call_id: None,
        }
    }

    /// An assistant message.
    pub fn assistant(text: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message {
            role: Role::Assistant,
            content: text.into(),
            tool_calls,
            tool_call_id: None,
        }
    }

    /// A tool result answering `call_id`.
    pub fn tool(call_id: impl Into<String>, result: impl Into<String>) -> Self {
        Message {
            role: Role::Tool,
            content: result.into(),
            tool_calls: vec![],
            tool_call_id: Some(call_id.into()),
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    /// Name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: Value,
}

/// One request to a chat model.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Tools offered.
    pub tools: Vec<ToolDef>,
    /// Sampling temperature (None: the provider's default).
    pub temperature: Option<f32>,
    /// Longest reply, in tokens.
    pub max_tokens: Option<u32>,
    /// When set, the reply's text must be JSON valid under this schema (constrained decoding
    /// where the provider supports it, structured output otherwise).
    pub response_schema: Option<Value>,
}

/// Token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub completion_tokens: u32,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// Natural end.
    Stop,
    /// The model called tools.
    ToolCalls,
    /// `max_tokens` reached.
    Length,
    /// Anything else the provider said.
    Other,
}

/// A model's reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// The assistant message (text and tool calls).
    pub message: Message,
    /// Token counts.
    pub usage: Usage,
    /// Why it stopped.
    pub finish_reason: FinishReason,
}

/// A piece of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    /// More text.
    Text(String),
    /// A tool call is being written (fragments of its arguments arrive in order).
    ToolCall {
        /// Position among this reply's tool calls.
        index: usize,
        /// Name, once known.
        name: Option<String>,
        /// The next fragment of the arguments' JSON text.
        arguments: String,
    },
}

/// What can go wrong talking to a model; each says what a person should know.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// No answer in time.
    #[error("the language model did not answer within {0} s")]
    Timeout(u64),
    /// Too many requests, after retries.
    #[error("the language model provider is rate-limiting requests (HTTP 429); try again shortly")]
    RateLimited,
    /// The model's queue is full: this request was not taken, and may be tried again later.
    #[error("the language model is busy with {queued} waiting requests; try again in {retry_after_secs} s")]
    Busy {
        /// Requests already waiting.
        queued: usize,
        /// When trying again makes sense.
        retry_after_secs: u64,
    },
    /// The provider answered with an error.
    #[error("the language model provider answered HTTP {status}: {message}")]
    Http {
        /// Status code.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// The provider's answer could not be understood.
    #[error("the language model provider sent a malformed answer: {0}")]
    Malformed(String),
    /// The provider cannot be used (no model file, no endpoint, bad configuration).
    #[error("the language model is unavailable: {0}")]
    Unavailable(String),
}

/// A chat model: one provider behind one interface.
#[async_trait::async_trait]
pub trait ChatModel: Send + Sync {
    /// A name for logs and the UI, e.g. `openai:gpt-4o-mini` or `local:gemma-3-270m`.
    fn name(&self) -> String;

    /// Whether the model can call tools natively (the planner uses a structured prompt
    /// instead when it cannot).
    fn supports_tools(&self) -> bool;

    /// One complete reply.
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError>;

    /// A reply streamed as deltas into `tx`, then returned whole. Providers without
    /// streaming send the whole text as one delta.
    async fn chat_stream(&self, req: &ChatRequest, tx: mpsc::Sender<Delta>) -> Result<ChatResponse, LlmError> {
        let r = self.chat(req).await?;
        if !r.message.content.is_empty() {
            let _ = tx.send(Delta::Text(r.message.content.clone())).await;
        }
        Ok(r)
    }
}
