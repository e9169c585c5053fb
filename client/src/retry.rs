//! When to send a request again, and how long to wait first: a pure decision the client
//! applies, so it can be tested without a server.
use std::time::Duration;

/// How the client retries.
///
/// A request is retried when it cannot have been acted on, or when acting on it twice is
/// harmless:
/// - a connection that could not be made (any method: the request never left);
/// - 429 Too Many Requests (any method: the server refused it), after `Retry-After`;
/// - 502, 503 and 504, and a connection that broke mid-request, only for idempotent methods
///   (GET, HEAD, PUT, DELETE): a POST may have reached the server, and is never repeated then.
///
/// Waits grow exponentially from `base_delay` up to `max_delay`, with jitter so that many
/// clients do not retry in step. A `Retry-After` longer than `max_retry_after` is not waited
/// out: the error is returned at once, carrying it.
///
/// ```
/// use std::time::Duration;
/// use steward_client::{Client, RetryPolicy};
///
/// let client = Client::builder("https://steward.example:8080")
///     .retry(RetryPolicy { max_attempts: 5, ..RetryPolicy::default() })
///     .build()?;
/// let patient = RetryPolicy { max_retry_after: Duration::from_secs(120), ..RetryPolicy::default() };
/// let never = RetryPolicy::none();
/// # let _ = (client, patient, never);
/// # Ok::<(), steward_client::Error>(())
/// ```
pub use steward_backoff::RetryPolicy;

/// How one attempt ended, as far as retrying goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// No connection: the request was never sent.
    Connect,
    /// The connection broke after the request may have been sent.
    Transport,
    /// The server answered with this status.
    Status { status: u16, retry_after: Option<Duration> },
}

/// The client's retry decision, on the shared policy.
pub(crate) trait Decide {
    /// Whether to try again after attempt number `attempt` (1 for the first) of a request
    /// whose method is `idempotent` or not ended in `outcome`, and after how long.
    fn next(&self, idempotent: bool, attempt: u32, outcome: Outcome, jitter: f64) -> Option<Duration>;
}

impl Decide for RetryPolicy {
    fn next(&self, idempotent: bool, attempt: u32, outcome: Outcome, jitter: f64) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let retry_after = match outcome {
            Outcome::Connect => None,
            Outcome::Transport if idempotent => None,
            Outcome::Status {
                status: 429,
                retry_after,
            } => retry_after,
            Outcome::Status {
                status: 502..=504,
                retry_after,
            } if idempotent => retry_after,
            _ => return None,
        };
        match retry_after {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(attempt, jitter)),
        }
    }
}

/// Whether sending `method` twice does what sending it once does.
pub(crate) fn idempotent(method: &reqwest::Method) -> bool {
    use reqwest::Method;
    [Method::GET, Method::HEAD, Method::PUT, Method::DELETE, Method::OPTIONS].contains(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four attempts, 100 ms doubling to at most 350 ms, `Retry-After` up to 10 s.
    fn policy() -> RetryPolicy {
        let (base_delay, max_delay) = (Duration::from_millis(100), Duration::from_millis(350));
        RetryPolicy {
            max_attempts: 4,
            base_delay,
            max_delay,
            ..RetryPolicy::default()
        }
    }

    fn status(status: u16, retry_after: Option<u64>) -> Outcome {
        Outcome::Status {
            status,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn idempotent_requests_retry_on_gateway_errors_and_broken_connections() {
        let p = policy();
        for s in [502, 503, 504] {
            assert!(p.next(true, 1, status(s, None), 1.0).is_some(), "{s}");
        }
        assert_eq!(
            p.next(true, 2, Outcome::Transport, 1.0),
            Some(Duration::from_millis(200))
        );
        for s in [400, 401, 404, 409, 422, 500] {
            assert_eq!(p.next(true, 1, status(s, None), 1.0), None, "{s}");
        }
    }

    #[test]
    fn a_post_that_may_have_reached_the_server_is_never_repeated() {
        let p = policy();
        for s in [502, 503, 504] {
            assert_eq!(p.next(false, 1, status(s, None), 1.0), None, "{s}");
        }
        assert_eq!(p.next(false, 1, Outcome::Transport, 1.0), None);
        // Refused before it was sent, or refused by the server: safe to send again.
        assert_eq!(
            p.next(false, 1, Outcome::Connect, 1.0),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            p.next(false, 1, status(429, Some(3)), 1.0),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn retry_after_is_honoured_unless_it_is_longer_than_allowed() {
        let p = policy();
        assert_eq!(p.next(true, 1, status(503, Some(2)), 0.0), Some(Duration::from_secs(2)));
        assert_eq!(p.next(true, 1, status(429, Some(11)), 0.0), None);
        assert_eq!(p.next(true, 1, status(429, None), 0.0), Some(Duration::from_millis(50)));
    }

    #[test]
    fn attempts_stop_at_the_maximum() {
        let p = policy();
        assert!(p.next(true, 3, Outcome::Connect, 0.0).is_some());
        assert_eq!(p.next(true, 4, Outcome::Connect, 0.0), None);
        assert_eq!(RetryPolicy::none().next(true, 1, Outcome::Connect, 0.0), None);
    }

    #[test]
    fn only_safe_methods_are_idempotent() {
        assert!(idempotent(&reqwest::Method::GET));
        assert!(idempotent(&reqwest::Method::DELETE));
        assert!(!idempotent(&reqwest::Method::POST));
        assert!(!idempotent(&reqwest::Method::PATCH));
    }
}
