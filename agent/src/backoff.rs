//! How long to wait before reconnecting: exponential with jitter, so a server restart is not
//! met by every agent of a fleet reconnecting in the same millisecond.

use std::time::Duration;

use rand::Rng;

/// The first delay after a session ends.
const START: Duration = Duration::from_millis(200);
/// The longest delay: an agent should notice a returning server within seconds.
const CAP: Duration = Duration::from_secs(5);

/// Reconnect delays: 200 ms, doubling up to 5 s, each drawn from the upper half of its step.
#[derive(Debug)]
pub(crate) struct Backoff {
    step: Duration,
}

impl Backoff {
    /// A backoff at its first step.
    pub(crate) fn new() -> Self {
        Self { step: START }
    }

    /// The delay before the next attempt; each call doubles the following one, up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(CAP);
        // "Equal jitter": never less than half the step, so backoff still backs off.
        let half = step / 2;
        half + half.mul_f64(rand::thread_rng().gen::<f64>())
    }

    /// Back to the first step, after a session that proved the server healthy.
    pub(crate) fn reset(&mut self) {
        self.step = START;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_200ms_and_stop_growing_at_5s() {
        let mut backoff = Backoff::new();
        let steps = [200, 400, 800, 1600, 3200, 5000, 5000, 5000];
        for step in steps {
            let delay = backoff.next_delay();
            let step = Duration::from_millis(step);
            assert!(delay >= step / 2 && delay <= step, "{delay:?} outside {step:?}");
        }
    }

    #[test]
    fn reset_starts_again_from_the_first_step() {
        let mut backoff = Backoff::new();
        for _ in 0..10 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(backoff.next_delay() <= START);
    }
}
