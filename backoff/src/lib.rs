//! How Steward's clients of other services retry (the SDK, the Slack and Telegram clients):
//! one policy type and one backoff, so they back off alike.
use std::time::Duration;

/// How many times to try a request and how long to wait in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1: never retry).
    pub max_attempts: u32,
    /// The wait before the first retry (before jitter).
    pub base_delay: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
    /// The longest `Retry-After` a service may ask for that is still waited out; a longer one
    /// ends the request with its error, for the caller to retry later.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `retry` (1 for the first): exponential from `base_delay`,
    /// capped at `max_delay`, then drawn from its upper half by `jitter` (in `[0, 1]`) so that
    /// many clients that failed together do not retry in step.
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_delay);
        exp / 2 + exp.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_within_its_upper_half() {
        let p = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            max_retry_after: Duration::from_secs(10),
        };
        let ms = |retry, jitter| p.backoff(retry, jitter).as_millis();
        assert_eq!(ms(1, 0.0), 50);
        assert_eq!(ms(1, 1.0), 100);
        assert_eq!(ms(2, 0.0), 100);
        assert_eq!(ms(2, 1.0), 200);
        assert_eq!(ms(3, 0.5), 262);
        assert_eq!(ms(3, 1.0), 350, "400 ms is capped at 350");
        assert_eq!(ms(40, 1.0), 350, "no overflow far out");
        assert_eq!(ms(1, 7.0), 100, "jitter is clamped");
    }
}
