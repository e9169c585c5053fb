//! One configured OpenAI-compatible endpoint: the checked configuration, async-openai's client
//! over our transport, and the retry loop that every request (chat or embeddings) goes through.
use std::future::Future;

use async_openai::config::{AzureConfig, Config, OpenAIConfig};
use async_openai::error::OpenAIError;
use async_openai::Client;

use super::retry::{Failure, RetryPolicy};
use super::transport;
use super::OpenAiConfig;
use crate::LlmError;

/// A checked configuration and the client built from it.
pub(crate) struct Endpoint {
    /// The configuration, base URL normalised and an empty key dropped.
    pub(crate) config: OpenAiConfig,
    /// async-openai's client over our transport; `Box<dyn Config>` so OpenAI and Azure URL
    /// shapes share one type.
    client: Client<Box<dyn Config>>,
    /// Backoff between attempts.
    retry: RetryPolicy,
}

impl Endpoint {
    /// Checks `config` and prepares the HTTP client; nothing is sent yet.
    ///
    /// Fails with [`LlmError::Unavailable`] when the base URL is not an `http(s)://` URL or the
    /// model name is empty.
    pub(crate) fn new(mut config: OpenAiConfig) -> Result<Self, LlmError> {
        // async-openai appends `/chat/completions` (or `/embeddings`) to the base as a string; a
        // trailing slash would make `…/v1//chat/completions`, which several servers answer with 404.
        config.base_url = config.base_url.trim().trim_end_matches('/').to_string();
        if !(config.base_url.starts_with("http://") || config.base_url.starts_with("https://")) {
            return Err(LlmError::Unavailable(format!(
                "the openai provider's base URL must start with http:// or https:// (got `{}`)",
                config.base_url
            )));
        }
        if config.model.trim().is_empty() {
            return Err(LlmError::Unavailable(
                "the openai provider needs a model name (for Azure: the deployment name)".into(),
            ));
        }
        config.api_key = config.api_key.filter(|key| !key.is_empty());

        // The key is always set explicitly (empty when absent): async-openai's own default reads
        // OPENAI_API_KEY from the environment. An absent key is then dropped by the transport.
        let key = config.api_key.clone().unwrap_or_default();
        let endpoint: Box<dyn Config> = match &config.azure_api_version {
            Some(version) => Box::new(
                AzureConfig::new()
                    .with_api_base(&config.base_url)
                    .with_api_key(key)
                    .with_deployment_id(&config.model)
                    .with_api_version(version),
            ),
            None => Box::new(OpenAIConfig::new().with_api_base(&config.base_url).with_api_key(key)),
        };
        let client = transport::client(endpoint, config.api_key.is_some());
        let retry = RetryPolicy::new(config.initial_backoff, config.max_backoff);
        Ok(Endpoint { config, client, retry })
    }

    /// The async-openai client, for building one attempt.
    pub(crate) fn client(&self) -> &Client<Box<dyn Config>> {
        &self.client
    }

    /// Runs `attempt` until it succeeds, fails for good, or runs out of retries; each attempt is
    /// bounded by the timeout. A timeout is not retried: the caller has already waited the whole
    /// budget, and a provider too slow once is usually too slow again.
    pub(crate) async fn send<T, F, Fut>(&self, attempt: F) -> Result<T, LlmError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, OpenAIError>>,
    {
        let mut retries = 0;
        loop {
            let failure = match tokio::time::timeout(self.config.timeout, attempt()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) => Failure::from(error),
                Err(_elapsed) => return Err(self.timeout_error()),
            };
            if retries >= self.config.max_retries || !failure.is_retryable() {
                return Err(failure.into_error(&self.config.base_url));
            }
            let delay = self.retry.delay(retries, failure.retry_after());
            retries += 1;
            tracing::warn!(
                model = %format!("openai:{}", self.config.model),
                retry = retries,
                max_retries = self.config.max_retries,
                delay_ms = delay.as_millis() as u64,
                "language model request failed ({failure}); retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// The error for an attempt (or a stream gap) that outlasted the timeout.
    pub(crate) fn timeout_error(&self) -> LlmError {
        // Whole seconds, rounded up, so a sub-second test timeout does not read "within 0 s".
        let timeout = self.config.timeout;
        LlmError::Timeout(timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0))
    }
}
