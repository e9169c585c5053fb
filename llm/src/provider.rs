//! Builds a chat model from the configuration's provider name, base URL, key and model.
use crate::openai::{OpenAiChat, OpenAiConfig};
use crate::{ChatModel, LlmError};

/// A chat model for `provider` (`openai`; see below for `local`), with the default timeout,
/// retries and backoff of [`OpenAiConfig::new`].
///
/// For `openai`, `base_url` and `model` are required. A base URL carrying an `api-version`
/// query (`https://my-resource.openai.azure.com?api-version=2024-10-21`) selects a classic
/// Azure OpenAI deployment, with `model` as the deployment name; see `llm/README.md`.
/// An empty key counts as no key.
///
/// `local` is not built here: the embedded model lives in the `steward-llm-local` crate, which
/// depends on this one, so this returns [`LlmError::Unavailable`] for it and the server builds
/// the local model itself.
pub fn from_config(
    provider: &str,
    base_url: Option<&str>,
    api_key: Option<&str>,
    model: Option<&str>,
) -> Result<Box<dyn ChatModel>, LlmError> {
    from_config_with_timeout(provider, base_url, api_key, model, None)
}

/// [`from_config`] with a per-request timeout instead of the provider's default.
pub fn from_config_with_timeout(
    provider: &str,
    base_url: Option<&str>,
    api_key: Option<&str>,
    model: Option<&str>,
    timeout: Option<std::time::Duration>,
) -> Result<Box<dyn ChatModel>, LlmError> {
    match provider.trim().to_ascii_lowercase().as_str() {
        "openai" => {
            let base_url = base_url.map(str::trim).filter(|url| !url.is_empty()).ok_or_else(|| {
                LlmError::Unavailable(
                    "the openai provider needs a base URL, e.g. https://api.openai.com/v1 \
                     (or http://localhost:11434/v1 for Ollama)"
                        .into(),
                )
            })?;
            let model = model.map(str::trim).filter(|model| !model.is_empty()).ok_or_else(|| {
                LlmError::Unavailable(
                    "the openai provider needs a model name, e.g. gpt-4o-mini (for Azure: the deployment name)".into(),
                )
            })?;
            let (base_url, azure_api_version) = split_api_version(base_url)?;
            let mut config = OpenAiConfig::new(base_url, model);
            config.api_key = api_key.map(str::trim).filter(|key| !key.is_empty()).map(str::to_string);
            config.azure_api_version = azure_api_version;
            if let Some(t) = timeout {
                config.timeout = t;
            }
            Ok(Box::new(OpenAiChat::new(config)?))
        }
        "local" => Err(LlmError::Unavailable(
            "the local provider is built by the server from the steward-llm-local crate, \
             not by steward_llm::from_config"
                .into(),
        )),
        other => Err(LlmError::Unavailable(format!(
            "unknown language-model provider `{other}`; expected `openai` or `local`"
        ))),
    }
}

/// Splits `?api-version=…` off a base URL. Any other query is refused: async-openai appends the
/// path after the base URL, so a query there would end up in the middle of the URL.
fn split_api_version(base_url: &str) -> Result<(String, Option<String>), LlmError> {
    let Some((base, query)) = base_url.split_once('?') else {
        return Ok((base_url.to_string(), None));
    };
    let mut version = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("api-version", value)) if !value.is_empty() => version = Some(value.to_string()),
            _ => {
                return Err(LlmError::Unavailable(format!(
                    "the base URL `{base_url}` has a query other than api-version=…; \
                     give only the API root, e.g. https://api.openai.com/v1"
                )))
            }
        }
    }
    Ok((base.to_string(), version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_version_query_selects_azure() {
        let (base, version) = split_api_version("https://res.openai.azure.com?api-version=2024-10-21").unwrap();
        assert_eq!(base, "https://res.openai.azure.com");
        assert_eq!(version.as_deref(), Some("2024-10-21"));
        assert_eq!(
            split_api_version("http://localhost:1234/v1").unwrap(),
            ("http://localhost:1234/v1".into(), None)
        );
        assert!(split_api_version("http://h/v1?foo=bar").is_err());
    }
}
