//! The HTTP service under async-openai: it sends each request with reqwest and turns every
//! non-2xx answer into a [`Refusal`] that keeps the status code, the provider's own message and
//! how long it asked us to wait.
//!
//! Why our own service rather than async-openai's default one: the default retries by itself
//! (three times, no jitter, `Retry-After` uncapped), and once it gives up it reports a 5xx body
//! as raw text and a non-JSON 4xx body without its status. Installing this service through
//! async-openai's `middleware` feature keeps the crate's request building, wire types and SSE
//! parsing, while our retry loop (`retry.rs`, driven from `openai.rs`) sees the real status and
//! headers. Going to reqwest directly would have meant re-implementing the SSE client too.
use std::time::Duration;

use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use async_openai::Client;
use serde_json::Value;
use tower::ServiceExt;

/// The longest provider message we keep: an HTML error page is not a message.
const MAX_MESSAGE_CHARS: usize = 500;

/// A provider's refusal: a non-2xx answer, read whole.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// HTTP status code.
    pub status: u16,
    /// The provider's message, from its JSON error body when it sent one.
    pub message: String,
    /// How long the provider asked us to wait (`retry-after-ms` or `retry-after` in seconds).
    pub retry_after: Option<Duration>,
    /// OpenAI's `insufficient_quota`: a 429 that no amount of waiting fixes.
    pub out_of_quota: bool,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.message)
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    /// Reads a refusal from its status, its `retry-after-ms`/`retry-after` headers and its body.
    pub(crate) fn read(status: u16, retry_after_ms: Option<&str>, retry_after: Option<&str>, body: &[u8]) -> Self {
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let out_of_quota = json.as_ref().is_some_and(|json| {
            let error = &json["error"];
            error["type"] == "insufficient_quota" || error["code"] == "insufficient_quota"
        });
        let message = json.as_ref().and_then(message_in).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                format!("no error message (HTTP {status})")
            } else {
                text.chars().take(MAX_MESSAGE_CHARS).collect()
            }
        });
        Refusal {
            status,
            message,
            retry_after: parse_retry_after(retry_after_ms, retry_after),
            out_of_quota,
        }
    }
}

/// The message in a JSON error body, in the shapes compatible servers use: OpenAI, Azure,
/// llama.cpp and Ollama's `{"error": {"message": …}}`, `{"error": "…"}`, vLLM's
/// `{"object": "error", "message": …}`, FastAPI's `{"detail": …}`.
fn message_in(json: &Value) -> Option<String> {
    let candidates = [
        &json["error"]["message"],
        &json["error"],
        &json["message"],
        &json["detail"],
    ];
    candidates.into_iter().find_map(|value| match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        _ => None,
    })
}

/// How long to wait, from OpenAI's `retry-after-ms` or the standard `retry-after` in seconds.
/// The HTTP-date form of `retry-after` is not honoured (no provider we know sends it); the
/// caller then falls back to its own backoff.
pub(crate) fn parse_retry_after(retry_after_ms: Option<&str>, retry_after: Option<&str>) -> Option<Duration> {
    let millis = retry_after_ms
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|ms| ms / 1000.0);
    let seconds = retry_after.and_then(|value| value.trim().parse::<f64>().ok());
    millis
        .or(seconds)
        .filter(|secs| secs.is_finite() && *secs >= 0.0)
        // Bounded here so a silly value cannot overflow; the retry policy applies the real cap.
        .map(|secs| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// An async-openai client for `endpoint` whose HTTP goes through our service. Without
/// `send_credentials` the `Authorization` and `api-key` headers are removed: a local server
/// needs none, and an empty `Bearer` header confuses some proxies.
pub(crate) fn client(endpoint: Box<dyn Config>, send_credentials: bool) -> Client<Box<dyn Config>> {
    let transport = ReqwestService::default();
    let service = tower::service_fn(move |request: HttpRequestFactory| {
        let transport = transport.clone();
        async move {
            let request = if send_credentials {
                request
            } else {
                without_credentials(request)
            };
            let response = transport.oneshot(request).await?;
            if response.status().is_success() {
                return Ok(response);
            }
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned)
            };
            let (retry_after_ms, retry_after) = (header("retry-after-ms"), header("retry-after"));
            let body = response.bytes().await.map_err(OpenAIError::Reqwest)?;
            let refusal = Refusal::read(status, retry_after_ms.as_deref(), retry_after.as_deref(), &body);
            Err(OpenAIError::Boxed(Box::new(refusal)))
        }
    });
    Client::with_config(endpoint).with_http_service(service)
}

/// The same request, rebuilt for each attempt, minus its credential headers.
fn without_credentials(request: HttpRequestFactory) -> HttpRequestFactory {
    HttpRequestFactory::new(move || {
        let request = request.clone();
        async move {
            let mut built = request.build().await?;
            built.headers_mut().remove("authorization");
            built.headers_mut().remove("api-key");
            Ok(built)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_comes_from_the_openai_error_body() {
        let body = br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        let refusal = Refusal::read(429, None, Some("2"), body);
        assert_eq!(refusal.message, "Rate limit reached");
        assert_eq!(refusal.retry_after, Some(Duration::from_secs(2)));
        assert!(!refusal.out_of_quota);
    }

    #[test]
    fn other_servers_error_shapes_are_understood() {
        assert_eq!(
            Refusal::read(404, None, None, br#"{"error":"model 'x' not found"}"#).message,
            "model 'x' not found"
        );
        assert_eq!(
            Refusal::read(400, None, None, br#"{"object":"error","message":"bad","code":400}"#).message,
            "bad"
        );
        assert_eq!(
            Refusal::read(404, None, None, br#"{"detail":"Not Found"}"#).message,
            "Not Found"
        );
        assert_eq!(
            Refusal::read(404, None, None, b"404 page not found\n").message,
            "404 page not found"
        );
        assert_eq!(
            Refusal::read(502, None, None, b"").message,
            "no error message (HTTP 502)"
        );
    }

    #[test]
    fn insufficient_quota_is_recognised() {
        let body = br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        assert!(Refusal::read(429, None, None, body).out_of_quota);
    }

    #[test]
    fn retry_after_ms_wins_over_retry_after_and_nonsense_is_ignored() {
        assert_eq!(
            parse_retry_after(Some("250"), Some("7")),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_retry_after(None, Some("1.5")), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after(None, Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(parse_retry_after(None, Some("-3")), None);
    }
}
