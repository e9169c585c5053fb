//! The `openai` provider: any OpenAI-compatible chat-completions endpoint (OpenAI, Azure OpenAI,
//! vLLM, Ollama, llama.cpp server, LM Studio) through the `async-openai` crate.
//!
//! The pieces, one job each:
//! - `wire`: our [`ChatRequest`]/[`ChatResponse`] to and from OpenAI's wire types;
//! - `transport`: the HTTP service under async-openai that keeps a refusal's status and Retry-After;
//! - `retry`: which failures are worth another attempt, and how long to wait;
//! - `stream`: assembling a streamed reply from its chunks;
//! - `endpoint`: the client for one configured endpoint, and the retry loop every request uses;
//! - `embed`: [`OpenAiEmbedder`], the `/embeddings` endpoint behind the [`Embedder`](crate::Embedder) trait.
//!
//! This file holds the configuration and the [`ChatModel`] implementation, which bounds every
//! attempt by [`OpenAiConfig::timeout`] and retries what `retry` says is retryable.
mod embed;
mod endpoint;
mod retry;
mod stream;
mod transport;
mod wire;

use std::time::Duration;

use async_openai::types::chat::ChatCompletionStreamOptions;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::{ChatModel, ChatRequest, ChatResponse, Delta, LlmError};
pub use embed::OpenAiEmbedder;
use endpoint::Endpoint;
use retry::Failure;
use stream::StreamedReply;
use wire::TokenLimit;

/// Where and how to reach an OpenAI-compatible endpoint.
///
/// Build it with [`OpenAiConfig::new`] and the `with_*` methods; the defaults (60 s timeout,
/// 3 retries, 500 ms first backoff capped at 30 s) suit a hosted provider.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// The API root that `/chat/completions` is appended to, e.g. `https://api.openai.com/v1`
    /// or `http://localhost:11434/v1`. For an Azure deployment with `azure_api_version` set,
    /// the resource endpoint, e.g. `https://my-resource.openai.azure.com`.
    pub base_url: String,
    /// The key; `None` sends no credentials at all (local servers need none, and we never fall
    /// back to the `OPENAI_API_KEY` environment variable, which would leak an OpenAI key to
    /// whatever server `base_url` names).
    pub api_key: Option<String>,
    /// The model name (for Azure: the deployment name).
    pub model: String,
    /// Bound on each attempt: until the whole answer for [`ChatModel::chat`], until the stream
    /// opens and then between two chunks for [`ChatModel::chat_stream`].
    pub timeout: Duration,
    /// How many times a rate-limited (429), failing (5xx) or unreachable request is tried again.
    pub max_retries: u32,
    /// The wait before the first retry; it doubles each retry, with jitter.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts, whether computed or asked for by `Retry-After`.
    pub max_backoff: Duration,
    /// When set, talk to an Azure OpenAI deployment the classic way: the URL
    /// `{base_url}/openai/deployments/{model}/chat/completions?api-version=…` and the key in an
    /// `api-key` header. Leave it `None` for Azure's OpenAI-compatible `/openai/v1` endpoint.
    pub azure_api_version: Option<String>,
}

impl OpenAiConfig {
    /// A configuration for `model` at `base_url`, without a key, with the default timeout,
    /// retries and backoff.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            timeout: Duration::from_secs(60),
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            azure_api_version: None,
        }
    }

    /// Sends `key` with every request.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Bounds each attempt by `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries retryable failures at most `max_retries` times.
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Waits `initial` before the first retry, doubling up to `max` (which also caps `Retry-After`).
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// Talks to a classic Azure OpenAI deployment with this `api-version` (see the field).
    pub fn with_azure_api_version(mut self, api_version: impl Into<String>) -> Self {
        self.azure_api_version = Some(api_version.into());
        self
    }
}

// By hand, so that logging a configuration never prints the key.
impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("azure_api_version", &self.azure_api_version)
            .finish()
    }
}

/// A chat model behind an OpenAI-compatible endpoint.
pub struct OpenAiChat {
    /// The endpoint: configuration, HTTP client, retries.
    endpoint: Endpoint,
    /// Which field carries `max_tokens` for this endpoint.
    token_limit: TokenLimit,
}

impl OpenAiChat {
    /// Checks `config` and prepares the HTTP client; nothing is sent until the first chat.
    ///
    /// Fails with [`LlmError::Unavailable`] when the base URL is not an `http(s)://` URL or the
    /// model name is empty.
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        let endpoint = Endpoint::new(config)?;
        let token_limit = TokenLimit::for_base_url(&endpoint.config.base_url);
        Ok(OpenAiChat { endpoint, token_limit })
    }

    /// The configuration in use (with the base URL normalised).
    pub fn config(&self) -> &OpenAiConfig {
        &self.endpoint.config
    }
}

#[async_trait::async_trait]
impl ChatModel for OpenAiChat {
    fn name(&self) -> String {
        format!("openai:{}", self.endpoint.config.model)
    }

    fn supports_tools(&self) -> bool {
        true
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let request = wire::request(req, &self.endpoint.config.model, self.token_limit);
        let response = self
            .endpoint
            .send(|| {
                let request = request.clone();
                async move { self.endpoint.client().chat().create(request).await }
            })
            .await?;
        wire::response(response)
    }

    async fn chat_stream(&self, req: &ChatRequest, tx: mpsc::Sender<Delta>) -> Result<ChatResponse, LlmError> {
        let mut request = wire::request(req, &self.endpoint.config.model, self.token_limit);
        request.stream = Some(true);
        // Without this OpenAI sends no token counts in a stream; servers that do not know the
        // option ignore it.
        request.stream_options = Some(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        });

        // Only opening the stream is retried: once deltas have gone out, a retry would repeat them.
        let mut chunks = self
            .endpoint
            .send(|| {
                let request = request.clone();
                async move { self.endpoint.client().chat().create_stream(request).await }
            })
            .await?;

        let mut reply = StreamedReply::default();
        loop {
            let next = tokio::time::timeout(self.endpoint.config.timeout, chunks.next())
                .await
                .map_err(|_elapsed| self.endpoint.timeout_error())?;
            match next {
                None => break,
                Some(Ok(chunk)) => {
                    for delta in reply.absorb(chunk) {
                        // A listener that went away (a closed browser tab) must not cut the
                        // reply short: the caller still gets, and may keep, the whole message.
                        let _ = tx.send(delta).await;
                    }
                }
                Some(Err(error)) => return Err(Failure::from(error).into_error(&self.endpoint.config.base_url)),
            }
        }
        reply.finish()
    }
}
