//! A client for the few Telegram Bot API methods Steward uses.
//!
//! Every method is a POST with a JSON body to `{base}/bot{token}/{method}`, answered with
//! `{"ok": true, "result": …}` or `{"ok": false, "error_code": …, "description": …}`. The
//! token is part of the URL, so URLs never reach an error message or a log line here.
use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::types::{InlineKeyboardMarkup, Message, Update};
use crate::error_chain;
use crate::retry::{retrying, Failure, RetryPolicy};

/// Where the Bot API lives; tests point the client at a fake instead.
pub const DEFAULT_BASE_URL: &str = "https://api.telegram.org";

/// How long an ordinary call may take; `getUpdates` gets its poll timeout on top.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The update kinds Steward asks for; others are never sent, rather than sent and ignored.
const ALLOWED_UPDATES: [&str; 3] = ["message", "edited_message", "callback_query"];

/// Why a Bot API call failed. No variant holds the bot token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BotApiError {
    /// The configured base URL is not an http(s) URL.
    #[error("Telegram Bot API base URL {0:?} is not an http(s) URL")]
    BaseUrl(String),
    /// The bot token is empty or has characters no token has (it goes into a URL path).
    #[error("the Telegram bot token is not in Telegram's format")]
    Token,
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client for Telegram: {0}")]
    Client(String),
    /// Telegram refused the call.
    #[error("Telegram {method} failed: {code} {description}")]
    Api {
        /// The Bot API method.
        method: &'static str,
        /// Telegram's `error_code` (an HTTP status: 400, 403, …).
        code: i64,
        /// Telegram's `description` ("Bad Request: chat not found").
        description: String,
    },
    /// Telegram asked us to wait longer than the retry policy waits.
    #[error("Telegram rate-limited {method} and asks to wait {}s", .retry_after.as_secs())]
    RateLimited {
        /// The Bot API method.
        method: &'static str,
        /// The wait Telegram asked for.
        retry_after: Duration,
    },
    /// An HTTP status without a Bot API body (a proxy's 502).
    #[error("Telegram answered {method} with HTTP {status}")]
    Status {
        /// The Bot API method.
        method: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// No answer: connection refused or broken, TLS, timeout.
    #[error("could not reach Telegram for {method}: {reason}")]
    Transport {
        /// The Bot API method.
        method: &'static str,
        /// What went wrong, without the URL.
        reason: String,
    },
    /// An answer that is not the JSON the Bot API documents.
    #[error("Telegram's answer to {method} could not be read: {reason}")]
    Decode {
        /// The Bot API method.
        method: &'static str,
        /// What did not parse.
        reason: String,
    },
}

impl BotApiError {
    /// Whether the same call may succeed later (rate limits, 5xx, network trouble).
    pub fn is_retryable(&self) -> bool {
        match self {
            BotApiError::Api { code, .. } => *code == 429 || *code >= 500,
            BotApiError::RateLimited { .. } | BotApiError::Transport { .. } => true,
            BotApiError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// Whether Telegram does not accept the token (revoked or wrong): nothing but a new
    /// token helps.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, BotApiError::Token | BotApiError::Api { code: 401 | 404, .. })
    }
}

/// The Telegram Bot API with one bot token.
#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    base: String,
    token: String,
    retry: RetryPolicy,
}

impl fmt::Debug for BotApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotApi")
            .field("base", &self.base)
            .field("token", &"<redacted>")
            .field("retry", &self.retry)
            .finish()
    }
}

impl BotApi {
    /// A client for the Bot API at `base_url` (normally [`DEFAULT_BASE_URL`]) as the bot
    /// whose token is `token`.
    pub fn new(base_url: &str, token: impl Into<String>, retry: RetryPolicy) -> Result<Self, BotApiError> {
        let parsed = reqwest::Url::parse(base_url).map_err(|_| BotApiError::BaseUrl(base_url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(BotApiError::BaseUrl(base_url.to_owned()));
        }
        let token = token.into();
        let token_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-');
        if token.is_empty() || !token.chars().all(token_chars) {
            return Err(BotApiError::Token);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| BotApiError::Client(error_chain(&e)))?;
        Ok(BotApi {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            token,
            retry,
        })
    }

    /// The retry policy, which the poller also uses for its backoff.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Sends `text` (plain text: no parse mode) to a chat, with buttons, as a reply to
    /// `reply_to` when given (and still sent if that message is gone).
    pub async fn send_message(
        &self,
        chat_id: i64,
        text: &str,
        reply_markup: Option<&InlineKeyboardMarkup>,
        reply_to: Option<i64>,
    ) -> Result<Message, BotApiError> {
        let mut body = json!({ "chat_id": chat_id, "text": text });
        if let Some(markup) = reply_markup {
            body["reply_markup"] = json!(markup);
        }
        if let Some(message_id) = reply_to {
            body["reply_parameters"] = json!({ "message_id": message_id, "allow_sending_without_reply": true });
        }
        self.call("sendMessage", &body, REQUEST_TIMEOUT).await
    }

    /// Replaces a message's text and buttons (no `reply_markup` removes the buttons). Editing
    /// to the same content succeeds: a card updated twice with one state is not an error.
    pub async fn edit_message_text(
        &self,
        chat_id: i64,
        message_id: i64,
        text: &str,
        reply_markup: Option<&InlineKeyboardMarkup>,
    ) -> Result<(), BotApiError> {
        let mut body = json!({ "chat_id": chat_id, "message_id": message_id, "text": text });
        if let Some(markup) = reply_markup {
            body["reply_markup"] = json!(markup);
        }
        match self.call::<Value>("editMessageText", &body, REQUEST_TIMEOUT).await {
            Ok(_) => Ok(()),
            Err(BotApiError::Api { description, .. }) if description.contains("message is not modified") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Stops the pressed button's spinner, showing `text` as a toast (or an alert).
    pub async fn answer_callback_query(
        &self,
        callback_query_id: &str,
        text: Option<&str>,
        show_alert: bool,
    ) -> Result<(), BotApiError> {
        let mut body = json!({ "callback_query_id": callback_query_id, "show_alert": show_alert });
        if let Some(text) = text {
            body["text"] = crate::truncate(text, 200).into();
        }
        self.call::<Value>("answerCallbackQuery", &body, REQUEST_TIMEOUT)
            .await?;
        Ok(())
    }

    /// Long-polls for updates from `offset` on (confirming every earlier one), waiting up
    /// to `timeout_secs` for one to arrive.
    pub async fn get_updates(&self, offset: Option<i64>, timeout_secs: u32) -> Result<Vec<Update>, BotApiError> {
        let mut body = json!({ "timeout": timeout_secs, "allowed_updates": ALLOWED_UPDATES });
        if let Some(offset) = offset {
            body["offset"] = offset.into();
        }
        // Telegram holds the request for up to the poll timeout before answering.
        let http_timeout = Duration::from_secs(u64::from(timeout_secs)) + REQUEST_TIMEOUT;
        self.call("getUpdates", &body, http_timeout).await
    }

    /// Removes the bot's webhook, if any: Telegram refuses `getUpdates` while one is set.
    pub async fn delete_webhook(&self) -> Result<(), BotApiError> {
        self.call::<Value>(
            "deleteWebhook",
            &json!({ "drop_pending_updates": false }),
            REQUEST_TIMEOUT,
        )
        .await?;
        Ok(())
    }

    /// Calls `method` with `body`, retrying as the policy says; decodes the `result`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        body: &Value,
        timeout: Duration,
    ) -> Result<T, BotApiError> {
        let result = retrying(&self.retry, method, || self.attempt(method, body, timeout)).await?;
        serde_json::from_value(result).map_err(|e| BotApiError::Decode {
            method,
            reason: e.to_string(),
        })
    }

    /// One POST and what its answer means for retrying.
    async fn attempt(
        &self,
        method: &'static str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, Failure<BotApiError>> {
        #[derive(Deserialize)]
        struct Reply {
            ok: bool,
            #[serde(default)]
            result: Value,
            error_code: Option<i64>,
            #[serde(default)]
            description: String,
            parameters: Option<Parameters>,
        }
        #[derive(Deserialize)]
        struct Parameters {
            retry_after: Option<u64>,
        }

        let url = format!("{}/bot{}/{method}", self.base, self.token);
        let response = self
            .http
            .post(url)
            .json(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.transport(method, e))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| self.transport(method, e))?;
        let reply = match serde_json::from_slice::<Reply>(&bytes) {
            Ok(reply) => reply,
            Err(_) if status == 429 || status >= 500 => {
                return Err(Failure::Transient(BotApiError::Status { method, status }))
            }
            Err(_) if !(200..300).contains(&status) => {
                return Err(Failure::Permanent(BotApiError::Status { method, status }))
            }
            Err(e) => {
                return Err(Failure::Permanent(BotApiError::Decode {
                    method,
                    reason: e.to_string(),
                }))
            }
        };
        if reply.ok {
            return Ok(reply.result);
        }
        let code = reply.error_code.unwrap_or(i64::from(status));
        if let Some(wait) = reply.parameters.and_then(|p| p.retry_after).map(Duration::from_secs) {
            return Err(Failure::RateLimited(
                wait,
                BotApiError::RateLimited {
                    method,
                    retry_after: wait,
                },
            ));
        }
        let error = BotApiError::Api {
            method,
            code,
            description: self.redact(reply.description),
        };
        Err(if error.is_retryable() {
            Failure::Transient(error)
        } else {
            Failure::Permanent(error)
        })
    }

    /// A failed exchange, its message stripped of the URL and so of the token.
    fn transport(&self, method: &'static str, error: reqwest::Error) -> Failure<BotApiError> {
        let builder = error.is_builder();
        let error = BotApiError::Transport {
            method,
            reason: self.redact(error_chain(&error.without_url())),
        };
        if builder {
            Failure::Permanent(error)
        } else {
            Failure::Transient(error)
        }
    }

    /// `text` with the token blanked out, should a cause ever quote the URL.
    fn redact(&self, text: String) -> String {
        text.replace(&self.token, "<token>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_that_would_change_the_url_is_refused() {
        for bad in ["", "123:abc/../x", "123:abc?x=1", "123 abc"] {
            assert_eq!(
                BotApi::new(DEFAULT_BASE_URL, bad, RetryPolicy::default()).unwrap_err(),
                BotApiError::Token,
                "{bad:?}"
            );
        }
        let api = BotApi::new("http://127.0.0.1:1/", "123456:AAE-x_y", RetryPolicy::default()).unwrap();
        assert_eq!(api.base, "http://127.0.0.1:1");
        assert!(!format!("{api:?}").contains("AAE-x_y"));
    }

    #[test]
    fn unauthorized_and_retryable_errors_are_told_apart() {
        let api = |code| BotApiError::Api {
            method: "getUpdates",
            code,
            description: String::new(),
        };
        assert!(api(401).is_unauthorized() && !api(401).is_retryable());
        assert!(api(502).is_retryable() && !api(502).is_unauthorized());
        assert!(!api(400).is_retryable() && !api(409).is_unauthorized());
    }
}
