//! What can go wrong talking to the server, as types a caller can match on.
use std::time::Duration;

/// An error from the SDK.
///
/// ```
/// use steward_client::Error;
///
/// fn explain(e: &Error) -> &'static str {
///     match e.code() {
///         Some("plan_hash_mismatch") => "the plan changed since you reviewed it",
///         Some("not_found") => "no such thing",
///         _ if e.is_connect() => "the server is not reachable",
///         _ => "something else",
///     }
/// }
/// # let _ = explain;
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status.
    #[error("{}", api_message(*status, message))]
    Api {
        /// The HTTP status.
        status: u16,
        /// The API's stable error code (`not_found`, `invalid_plan` …); `None` when the body
        /// was not the API's error shape (a proxy's page, say).
        code: Option<String>,
        /// The message for people (the body itself when it was not the API's shape).
        message: String,
        /// When to try again, from `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// No connection could be made: the request never reached the server.
    #[error("cannot reach the Steward server at {base}")]
    Connect {
        /// The server's base URL.
        base: String,
        /// What the HTTP client said.
        #[source]
        source: reqwest::Error,
    },
    /// The connection failed after the request may have been sent, or while reading the answer.
    #[error("the connection to the Steward server failed")]
    Transport(#[source] reqwest::Error),
    /// The answer was not what the API document says.
    #[error("cannot read the server's answer to {what}")]
    Decode {
        /// The request or event it answered.
        what: String,
        /// Why it does not decode.
        #[source]
        source: serde_json::Error,
    },
    /// An event stream ended in the middle of an event, or broke.
    #[error("the event stream broke: {0}")]
    Stream(String),
    /// The server reported an error inside an event stream (`error` event).
    #[error("{0}")]
    Remote(String),
    /// The client could not be set up (a CA file that cannot be read, say).
    #[error("{0}")]
    Config(String),
}

/// How an API error reads: the way `steward` has always printed them.
fn api_message(status: u16, message: &str) -> String {
    match status {
        404 => format!("not found: {message}"),
        401 | 403 => format!("not allowed: {message}"),
        _ => format!("{message} (HTTP {status})"),
    }
}

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The API's error code (`not_found`, `conflict`, `plan_hash_mismatch` …).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// When the server said to try again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the server could not be reached at all.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }

    /// The error for an answer with status `status`, body `body` and `Retry-After` value
    /// `retry_after` (seconds or an HTTP date).
    pub fn from_response(status: u16, body: &str, retry_after: Option<&str>) -> Self {
        #[derive(serde::Deserialize)]
        struct Body {
            error: Detail,
        }
        #[derive(serde::Deserialize)]
        struct Detail {
            code: String,
            message: String,
        }
        let (code, message) = match serde_json::from_str::<Body>(body) {
            Ok(b) => (Some(b.error.code), b.error.message),
            Err(_) => (None, body.trim().to_owned()),
        };
        Error::Api {
            status,
            code,
            message,
            retry_after: retry_after.and_then(|v| parse_retry_after(v, chrono::Utc::now())),
        }
    }
}

/// A `Retry-After` value, seconds or an HTTP date, as a wait from `now`.
pub(crate) fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apis_error_body_gives_code_message_and_retry_after() {
        let e = Error::from_response(
            429,
            r#"{"error":{"code":"rate_limited","message":"too many login attempts; retry in 7 s"}}"#,
            Some("7"),
        );
        assert_eq!(e.status(), Some(429));
        assert_eq!(e.code(), Some("rate_limited"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(e.to_string(), "too many login attempts; retry in 7 s (HTTP 429)");
    }

    #[test]
    fn errors_read_as_the_cli_always_printed_them() {
        let body = |m: &str| format!(r#"{{"error":{{"code":"x","message":"{m}"}}}}"#);
        assert_eq!(
            Error::from_response(404, &body("job 9 does not exist"), None).to_string(),
            "not found: job 9 does not exist"
        );
        assert_eq!(
            Error::from_response(401, &body("log in first"), None).to_string(),
            "not allowed: log in first"
        );
        assert_eq!(
            Error::from_response(403, &body("needs approver"), None).to_string(),
            "not allowed: needs approver"
        );
    }

    #[test]
    fn a_body_that_is_not_the_apis_shape_is_kept_as_the_message() {
        let e = Error::from_response(502, "<html>Bad Gateway</html>\n", None);
        assert_eq!(e.code(), None);
        assert_eq!(e.to_string(), "<html>Bad Gateway</html> (HTTP 502)");
        let e = Error::from_response(500, r#"{"error":"flat"}"#, None);
        assert_eq!(e.code(), None);
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Thu, 02 Jan 2025 03:04:35 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Thu, 02 Jan 2025 03:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
