//! Turns a stream of "anomalous or not" into firing and clearing, like Prometheus's `for:`
//! and `keep_firing_for`: a condition must hold for `for_ms` before it fires, and stay clear
//! for `keep_ms` before it stops firing. Time is the samples' own, not the server's clock.

/// A change of state worth acting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Started firing: open (or update) an incident.
    Fired,
    /// Stopped firing: the signal recovered.
    Cleared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Quiet,
    /// Anomalous since this time, not yet for long enough.
    Pending(i64),
    Firing,
    /// Firing, but clear since this time.
    Recovering(i64),
}

/// The state of one detector on one series.
#[derive(Debug, Clone)]
pub struct Debounce {
    state: State,
    for_ms: i64,
    keep_ms: i64,
}

impl Debounce {
    /// Quiet, with the given minimum durations.
    pub fn new(for_ms: i64, keep_ms: i64) -> Self {
        Self {
            state: State::Quiet,
            for_ms,
            keep_ms,
        }
    }

    /// Firing already: for an incident left open by an earlier run, so it can clear.
    pub fn firing(for_ms: i64, keep_ms: i64) -> Self {
        Self {
            state: State::Firing,
            for_ms,
            keep_ms,
        }
    }

    /// Whether it is firing (recovering counts: it has not stopped yet).
    pub fn is_firing(&self) -> bool {
        matches!(self.state, State::Firing | State::Recovering(_))
    }

    /// One verdict at `at_ms`.
    pub fn step(&mut self, at_ms: i64, anomalous: bool) -> Option<Transition> {
        let (next, transition) = match (self.state, anomalous) {
            (State::Quiet, true) if self.for_ms == 0 => (State::Firing, Some(Transition::Fired)),
            (State::Quiet, true) => (State::Pending(at_ms), None),
            (State::Quiet, false) => (State::Quiet, None),
            (State::Pending(since), true) if at_ms - since >= self.for_ms => (State::Firing, Some(Transition::Fired)),
            (State::Pending(since), true) => (State::Pending(since), None),
            (State::Pending(_), false) => (State::Quiet, None),
            (State::Firing, true) | (State::Recovering(_), true) => (State::Firing, None),
            (State::Firing, false) if self.keep_ms == 0 => (State::Quiet, Some(Transition::Cleared)),
            (State::Firing, false) => (State::Recovering(at_ms), None),
            (State::Recovering(since), false) if at_ms - since >= self.keep_ms => {
                (State::Quiet, Some(Transition::Cleared))
            }
            (State::Recovering(since), false) => (State::Recovering(since), None),
        };
        self.state = next;
        transition
    }
}
