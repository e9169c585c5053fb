//! Which failed attempts are worth another try, how long to wait before it, and what a person
//! is told when the tries run out.
use std::time::Duration;

use async_openai::error::OpenAIError;
use rand::Rng;

use super::transport::Refusal;
use crate::{error_chain, LlmError};

/// How one attempt failed, sorted by what to do about it.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The provider answered with a non-2xx status.
    Refused(Refusal),
    /// No connection could be made, or it broke before any answer.
    Unreachable(String),
    /// An answer came that cannot be understood.
    Malformed(String),
    /// The request could not even be built (a bad URL or header): retrying cannot help.
    Invalid(String),
}

impl From<OpenAIError> for Failure {
    fn from(error: OpenAIError) -> Self {
        match error {
            OpenAIError::Boxed(boxed) => match boxed.downcast::<Refusal>() {
                Ok(refusal) => Failure::Refused(*refusal),
                Err(other) => Failure::Invalid(other.to_string()),
            },
            // Our transport turns refusals into `Refusal`s first; this arm is for completeness.
            OpenAIError::ApiError(api) => Failure::Refused(Refusal {
                status: api.status_code.as_u16(),
                message: api.api_error.message,
                retry_after: None,
                out_of_quota: api.api_error.r#type.as_deref() == Some("insufficient_quota"),
            }),
            OpenAIError::Reqwest(error) if error.is_connect() || error.is_request() => {
                Failure::Unreachable(error_chain(&error))
            }
            OpenAIError::Reqwest(error) if error.is_builder() => Failure::Invalid(error_chain(&error)),
            // A body that broke off or could not be decoded: the answer came, and is unusable.
            OpenAIError::Reqwest(error) => {
                Failure::Malformed(format!("the answer could not be read: {}", error_chain(&error)))
            }
            OpenAIError::JSONDeserialize(error, body) => {
                Failure::Malformed(format!("{error}; the answer began: {}", excerpt(&body)))
            }
            OpenAIError::StreamError(error) => Failure::Malformed(format!("the event stream broke: {error}")),
            other => Failure::Invalid(other.to_string()),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(refusal) => write!(f, "{refusal}"),
            Failure::Unreachable(why) | Failure::Malformed(why) | Failure::Invalid(why) => f.write_str(why),
        }
    }
}

impl Failure {
    /// Rate limits (except an exhausted quota), server errors and connection failures may pass;
    /// anything else would fail the same way again.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Failure::Refused(refusal) => (refusal.status == 429 && !refusal.out_of_quota) || refusal.status >= 500,
            Failure::Unreachable(_) => true,
            Failure::Malformed(_) | Failure::Invalid(_) => false,
        }
    }

    /// How long the provider asked us to wait, if it did.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Refused(refusal) => refusal.retry_after,
            _ => None,
        }
    }

    /// What the caller is told once no retry is left.
    pub(crate) fn into_error(self, base_url: &str) -> LlmError {
        match self {
            Failure::Refused(refusal) if refusal.status == 429 && !refusal.out_of_quota => LlmError::RateLimited,
            Failure::Refused(refusal) => LlmError::Http {
                status: refusal.status,
                message: refusal.message,
            },
            Failure::Unreachable(why) => LlmError::Unavailable(format!("cannot reach {base_url}: {why}")),
            Failure::Malformed(why) => LlmError::Malformed(why),
            Failure::Invalid(why) => LlmError::Unavailable(format!("cannot send a request to {base_url}: {why}")),
        }
    }
}

/// Exponential backoff with jitter, capped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    initial: Duration,
    max: Duration,
}

impl RetryPolicy {
    /// Waits `initial` before the first retry, doubling each time, never more than `max`.
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        RetryPolicy {
            initial,
            max: max.max(initial),
        }
    }

    /// The wait before retry number `retry + 1`. A provider's `Retry-After` is honoured as is
    /// (it knows when its window resets) but capped, so a provider asking for an hour does not
    /// hold a chat open for an hour. Otherwise "equal jitter": half the exponential delay fixed,
    /// half random, so that many clients throttled together do not come back together, and no
    /// retry comes back immediately.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max);
        }
        let exponential = self.initial.saturating_mul(2u32.saturating_pow(retry)).min(self.max);
        let half = exponential / 2;
        let jitter = rand::thread_rng().gen_range(0..=half.as_micros() as u64);
        half + Duration::from_micros(jitter)
    }
}

/// The start of an unreadable body, enough to recognise an HTML page or a proxy's message.
fn excerpt(body: &str) -> String {
    const MAX: usize = 200;
    let body = body.trim();
    if body.chars().count() <= MAX {
        body.to_string()
    } else {
        format!("{}…", body.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16) -> Failure {
        Failure::Refused(Refusal {
            status,
            message: "m".into(),
            retry_after: None,
            out_of_quota: false,
        })
    }

    #[test]
    fn rate_limits_server_errors_and_lost_connections_are_retried() {
        assert!(refused(429).is_retryable());
        assert!(refused(500).is_retryable());
        assert!(refused(503).is_retryable());
        assert!(Failure::Unreachable("refused".into()).is_retryable());
        assert!(!refused(400).is_retryable());
        assert!(!refused(401).is_retryable());
        assert!(!Failure::Malformed("x".into()).is_retryable());
    }

    #[test]
    fn an_exhausted_quota_is_not_retried_and_keeps_its_message() {
        let failure = Failure::Refused(Refusal {
            status: 429,
            message: "You exceeded your current quota".into(),
            retry_after: None,
            out_of_quota: true,
        });
        assert!(!failure.is_retryable());
        assert!(
            matches!(failure.into_error("u"), LlmError::Http { status: 429, message } if message.contains("quota"))
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy::new(Duration::from_millis(100), Duration::from_millis(1000));
        for _ in 0..100 {
            let first = policy.delay(0, None);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = policy.delay(2, None);
            assert!(
                third >= Duration::from_millis(200) && third <= Duration::from_millis(400),
                "{third:?}"
            );
            let late = policy.delay(30, None);
            assert!(
                late >= Duration::from_millis(500) && late <= Duration::from_millis(1000),
                "{late:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let policy = RetryPolicy::new(Duration::from_millis(100), Duration::from_secs(30));
        assert_eq!(policy.delay(0, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(
            policy.delay(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }
}
