//! When to call a service again, and how long to wait first. The decision is pure (the
//! jitter is passed in) so it is tested without a clock; [`retrying`] applies it.
use std::future::Future;
use std::time::Duration;

use rand::Rng;

/// How the Slack and Telegram clients retry a call, and how the long-lived loops (Socket
/// Mode, long polling) back off between reconnections.
///
/// A call is tried again when the service asked for it (HTTP 429 with `Retry-After`, or
/// Telegram's `retry_after`), after that wait, and when it failed in a way that may pass
/// (5xx, a broken connection, Slack's `internal_error`), after a jittered exponential
/// backoff. Every retry counts against `max_attempts`. A service that asks for a wait longer
/// than `max_retry_after` is not waited out: its rate-limit error is returned at once, so a
/// caller is never stuck for minutes inside one call.
pub use steward_backoff::RetryPolicy;

/// Why one attempt failed, as far as retrying goes; carries the error to return if it is
/// the last.
#[derive(Debug)]
pub(crate) enum Failure<E> {
    /// Trying again cannot help (bad token, unknown channel, malformed answer).
    Permanent(E),
    /// It may pass: retry after a backoff.
    Transient(E),
    /// The service asked for this wait before the next call.
    RateLimited(Duration, E),
}

/// The retry decision for Slack's and Telegram's failures, on the shared policy.
pub(crate) trait Decide {
    /// Whether to try again after attempt number `attempt` (1 for the first) failed with
    /// `failure`, and after how long.
    fn next<E>(&self, attempt: u32, failure: &Failure<E>, jitter: f64) -> Option<Duration>;
}

impl Decide for RetryPolicy {
    fn next<E>(&self, attempt: u32, failure: &Failure<E>, jitter: f64) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        match failure {
            Failure::Permanent(_) => None,
            Failure::Transient(_) => Some(self.backoff(attempt, jitter)),
            Failure::RateLimited(wait, _) if *wait > self.max_retry_after => None,
            Failure::RateLimited(wait, _) => Some(*wait),
        }
    }
}

impl<E> Failure<E> {
    fn into_error(self) -> E {
        match self {
            Failure::Permanent(e) | Failure::Transient(e) | Failure::RateLimited(_, e) => e,
        }
    }
}

/// Runs `attempt` until it succeeds or `policy` says to stop; `what` names the call in logs.
pub(crate) async fn retrying<T, E, F, Fut>(policy: &RetryPolicy, what: &str, mut attempt: F) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure<E>>>,
{
    let mut number = 1;
    loop {
        let failure = match attempt().await {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        let jitter = rand::thread_rng().gen::<f64>();
        let Some(wait) = policy.next(number, &failure, jitter) else {
            return Err(failure.into_error());
        };
        tracing::debug!(call = what, attempt = number, ?wait, error = %DisplayFailure(&failure), "retrying");
        tokio::time::sleep(wait).await;
        number += 1;
    }
}

/// Shows the error inside a failure, for the retry log line.
struct DisplayFailure<'a, E>(&'a Failure<E>);

impl<E: std::fmt::Display> std::fmt::Display for DisplayFailure<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Failure::Permanent(e) | Failure::Transient(e) | Failure::RateLimited(_, e) => e.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four attempts, 100 ms doubling to at most 350 ms, waits asked for up to 10 s honoured.
    fn policy() -> RetryPolicy {
        let ms = Duration::from_millis;
        RetryPolicy {
            max_attempts: 4,
            base_delay: ms(100),
            max_delay: ms(350),
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn a_requested_wait_is_honoured_unless_it_is_longer_than_allowed() {
        let p = policy();
        let limited = |secs| Failure::RateLimited(Duration::from_secs(secs), ());
        assert_eq!(p.next(1, &limited(3), 0.0), Some(Duration::from_secs(3)));
        assert_eq!(p.next(1, &limited(11), 0.0), None);
    }

    #[test]
    fn permanent_failures_and_the_last_attempt_are_not_retried() {
        let p = policy();
        assert_eq!(p.next(1, &Failure::Permanent(()), 1.0), None);
        assert_eq!(
            p.next(3, &Failure::Transient(()), 1.0),
            Some(Duration::from_millis(350))
        );
        assert_eq!(p.next(4, &Failure::Transient(()), 1.0), None);
        let once = RetryPolicy {
            max_attempts: 1,
            ..policy()
        };
        assert_eq!(once.next(1, &Failure::Transient(()), 1.0), None);
    }
}
