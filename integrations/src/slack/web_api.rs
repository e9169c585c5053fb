//! A client for the few Slack Web API methods Steward uses, and for response URLs.
//!
//! Every method is a POST with a JSON body and a bearer token. Slack answers HTTP 200 with
//! `{"ok": false, "error": "<code>"}` for most failures, and HTTP 429 with `Retry-After` when
//! a method's rate limit is hit; both are handled here, so callers see one error type.
use std::fmt;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error_chain;
use crate::retry::{retrying, Failure, RetryPolicy};

/// Where the Web API lives; tests point the client at a fake instead.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api/";

/// Slack error codes that may pass on their own; every other code is permanent.
const RETRYABLE_CODES: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// Why a Slack call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebApiError {
    /// The configured base URL is not an http(s) URL.
    #[error("Slack API base URL {0:?} is not an http(s) URL")]
    BaseUrl(String),
    /// The HTTP client could not be built (no TLS backend, …).
    #[error("could not build the HTTP client for Slack: {0}")]
    Client(String),
    /// Slack refused the call: `code` is Slack's error code (`channel_not_found`, …).
    #[error("Slack {method} failed: {code}{}", detail_suffix(.detail))]
    Api {
        /// The API method, or `response_url`.
        method: &'static str,
        /// Slack's error code.
        code: String,
        /// Slack's explanation, when it gives one (`invalid_blocks` says which block).
        detail: Option<String>,
    },
    /// Slack asked us to slow down for longer than the retry policy waits.
    #[error("Slack rate-limited {method} and asks to wait {}s", .retry_after.as_secs())]
    RateLimited {
        /// The API method, or `response_url`.
        method: &'static str,
        /// The wait Slack asked for.
        retry_after: Duration,
    },
    /// An HTTP status without a Slack error body (a proxy's 502, an expired response URL's 404).
    #[error("Slack answered {method} with HTTP {status}")]
    Status {
        /// The API method, or `response_url`.
        method: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// No answer: connection refused or broken, TLS, timeout.
    #[error("could not reach Slack for {method}: {reason}")]
    Transport {
        /// The API method, or `response_url`.
        method: &'static str,
        /// What went wrong, without the URL (a response URL is a credential).
        reason: String,
    },
    /// An answer that is not the JSON Slack documents.
    #[error("Slack's answer to {method} could not be read: {reason}")]
    Decode {
        /// The API method, or `response_url`.
        method: &'static str,
        /// What did not parse.
        reason: String,
    },
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
}

impl WebApiError {
    /// Slack's error code, when Slack refused the call.
    pub fn code(&self) -> Option<&str> {
        match self {
            WebApiError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the same call may succeed later; false for a bad token, an unknown channel,
    /// a missing scope and other errors that need a person to fix something.
    pub fn is_retryable(&self) -> bool {
        match self {
            WebApiError::Api { code, .. } => RETRYABLE_CODES.contains(&code.as_str()),
            WebApiError::RateLimited { .. } | WebApiError::Transport { .. } => true,
            WebApiError::Status { status, .. } => *status == 429 || *status >= 500,
            WebApiError::BaseUrl(_) | WebApiError::Client(_) | WebApiError::Decode { .. } => false,
        }
    }
}

/// A message to post with `chat.postMessage`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostMessage {
    /// The channel, direct-message conversation or user id to post in.
    pub channel: String,
    /// The text; with blocks, it is the notification and accessibility fallback.
    pub text: String,
    /// Block Kit blocks, shown instead of `text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<Value>>,
    /// The thread to answer in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
}

/// A posted message: the pair that names it for later updates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessageRef {
    /// The channel id (Slack's, even when a user id was posted to).
    pub channel: String,
    /// The message's timestamp.
    pub ts: String,
}

/// The Slack Web API with one bot token.
///
/// Calls are retried on 5xx and network errors, because a lost proposal card is worse than a
/// rare duplicate: Slack has no idempotency key, so a call that timed out after Slack acted
/// on it can post twice.
#[derive(Clone)]
pub struct WebApi {
    http: reqwest::Client,
    base: String,
    bot_token: String,
    retry: RetryPolicy,
}

impl fmt::Debug for WebApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebApi")
            .field("base", &self.base)
            .field("bot_token", &"<redacted>")
            .field("retry", &self.retry)
            .finish()
    }
}

/// How long one HTTP exchange with Slack may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl WebApi {
    /// A client for the Web API at `base_url` (normally [`DEFAULT_BASE_URL`]).
    pub fn new(base_url: &str, bot_token: impl Into<String>, retry: RetryPolicy) -> Result<Self, WebApiError> {
        let parsed = reqwest::Url::parse(base_url).map_err(|_| WebApiError::BaseUrl(base_url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(WebApiError::BaseUrl(base_url.to_owned()));
        }
        let mut base = base_url.to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| WebApiError::Client(error_chain(&e)))?;
        Ok(WebApi {
            http,
            base,
            bot_token: bot_token.into(),
            retry,
        })
    }

    /// The retry policy, which Socket Mode also uses for its reconnection backoff.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Posts a message (`chat.postMessage`).
    pub async fn post_message(&self, message: &PostMessage) -> Result<MessageRef, WebApiError> {
        let reply = self.call("chat.postMessage", &self.bot_token, message).await?;
        decode("chat.postMessage", reply)
    }

    /// Replaces a message's text and blocks (`chat.update`). Without `blocks` Slack keeps the
    /// old ones; pass an empty slice to remove them.
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: Option<&[Value]>,
    ) -> Result<MessageRef, WebApiError> {
        let mut body = json!({ "channel": channel, "ts": ts, "text": text });
        if let Some(blocks) = blocks {
            body["blocks"] = Value::from(blocks);
        }
        let reply = self.call("chat.update", &self.bot_token, &body).await?;
        decode("chat.update", reply)
    }

    /// Shows `text` to `user` only, in `channel` (`chat.postEphemeral`).
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Result<(), WebApiError> {
        let mut body = json!({ "channel": channel, "user": user, "text": text });
        if let Some(thread_ts) = thread_ts {
            body["thread_ts"] = thread_ts.into();
        }
        self.call("chat.postEphemeral", &self.bot_token, &body).await?;
        Ok(())
    }

    /// Answers a slash command or an interaction through its `response_url`: to its author
    /// only (`ephemeral`) or to the channel, optionally replacing the message the interaction
    /// came from. The URL itself authorises the call, so the bot token is not sent.
    pub async fn respond(
        &self,
        response_url: &str,
        text: &str,
        replace_original: bool,
        ephemeral: bool,
    ) -> Result<(), WebApiError> {
        let body = json!({
            "text": text,
            "replace_original": replace_original,
            "response_type": if ephemeral { "ephemeral" } else { "in_channel" },
        });
        retrying(&self.retry, "response_url", || {
            self.attempt("response_url", response_url, None, &body)
        })
        .await?;
        Ok(())
    }

    /// Asks for a Socket Mode WebSocket URL (`apps.connections.open`) with the app-level
    /// token (`xapp-…`), which is not the bot token.
    pub async fn open_socket(&self, app_token: &str) -> Result<String, WebApiError> {
        #[derive(Deserialize)]
        struct Opened {
            url: String,
        }
        let reply = self.call("apps.connections.open", app_token, &json!({})).await?;
        decode::<Opened>("apps.connections.open", reply).map(|opened| opened.url)
    }

    /// Calls `method` with `body`, retrying as the policy says; returns Slack's JSON reply.
    async fn call(&self, method: &'static str, token: &str, body: &impl Serialize) -> Result<Value, WebApiError> {
        let url = format!("{}{method}", self.base);
        retrying(&self.retry, method, || self.attempt(method, &url, Some(token), body)).await
    }

    /// One POST and what its answer means for retrying.
    async fn attempt(
        &self,
        method: &'static str,
        url: &str,
        token: Option<&str>,
        body: &impl Serialize,
    ) -> Result<Value, Failure<WebApiError>> {
        let body = serde_json::to_vec(body).map_err(|e| {
            Failure::Permanent(WebApiError::Decode {
                method,
                reason: format!("request body: {e}"),
            })
        })?;
        let mut request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| transport(method, e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.bytes().await.map_err(|e| transport(method, e))?;
        let reply: Option<Value> = serde_json::from_slice(&text).ok();
        if status == 429 {
            return Err(match retry_after {
                Some(wait) => Failure::RateLimited(
                    wait,
                    WebApiError::RateLimited {
                        method,
                        retry_after: wait,
                    },
                ),
                None => Failure::Transient(WebApiError::Status { method, status }),
            });
        }
        match reply {
            Some(reply) if reply.get("ok").and_then(Value::as_bool) == Some(true) => Ok(reply),
            Some(reply) if reply.get("error").is_some() => Err(refused(method, &reply)),
            _ if status >= 500 => Err(Failure::Transient(WebApiError::Status { method, status })),
            _ if !(200..300).contains(&status) => Err(Failure::Permanent(WebApiError::Status { method, status })),
            // Response URLs have answered a bare `ok` rather than JSON.
            _ if token.is_none() => Ok(Value::Null),
            _ => Err(Failure::Permanent(WebApiError::Decode {
                method,
                reason: "no \"ok\" field in the answer".to_owned(),
            })),
        }
    }
}

/// Slack's `{"ok": false, "error": …}` as an error, retryable or not by its code.
fn refused(method: &'static str, reply: &Value) -> Failure<WebApiError> {
    let code = reply
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("unknown_error")
        .to_owned();
    let messages = reply
        .pointer("/response_metadata/messages")
        .and_then(Value::as_array)
        .map(|messages| messages.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
        .filter(|joined| !joined.is_empty());
    let error = WebApiError::Api {
        method,
        code,
        detail: messages,
    };
    if error.is_retryable() {
        Failure::Transient(error)
    } else {
        Failure::Permanent(error)
    }
}

/// A failed exchange: retried unless the request could not even be built.
fn transport(method: &'static str, error: reqwest::Error) -> Failure<WebApiError> {
    let builder = error.is_builder();
    // Without the URL: a response URL is a credential, and logs keep error messages.
    let error = WebApiError::Transport {
        method,
        reason: error_chain(&error.without_url()),
    };
    if builder {
        Failure::Permanent(error)
    } else {
        Failure::Transient(error)
    }
}

fn decode<T: DeserializeOwned>(method: &'static str, reply: Value) -> Result<T, WebApiError> {
    serde_json::from_value(reply).map_err(|e| WebApiError::Decode {
        method,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_codes_are_not_retryable_and_transient_ones_are() {
        let api = |code: &str| WebApiError::Api {
            method: "chat.postMessage",
            code: code.to_owned(),
            detail: None,
        };
        for code in [
            "invalid_auth",
            "channel_not_found",
            "not_in_channel",
            "account_inactive",
            "token_revoked",
            "missing_scope",
            "invalid_blocks",
        ] {
            assert!(!api(code).is_retryable(), "{code}");
        }
        for code in [
            "ratelimited",
            "internal_error",
            "fatal_error",
            "service_unavailable",
            "request_timeout",
        ] {
            assert!(api(code).is_retryable(), "{code}");
        }
        assert_eq!(api("channel_not_found").code(), Some("channel_not_found"));
    }

    #[test]
    fn the_base_url_must_be_http() {
        assert!(matches!(
            WebApi::new("ftp://slack.com/api/", "xoxb", RetryPolicy::default()),
            Err(WebApiError::BaseUrl(_))
        ));
        assert!(WebApi::new("not a url", "xoxb", RetryPolicy::default()).is_err());
        let api = WebApi::new("http://127.0.0.1:1/api", "xoxb-secret", RetryPolicy::default()).unwrap();
        assert_eq!(api.base, "http://127.0.0.1:1/api/");
        assert!(!format!("{api:?}").contains("xoxb-secret"));
    }
}
