//! Metric batches not yet acknowledged by the server, bounded.
//!
//! The collectors keep sampling while the server is away; their batches wait here. Past
//! `max_samples` the oldest batches give way, and the samples they held are counted in
//! `dropped` (sent with every batch, so the server can show what was lost).

use std::{collections::VecDeque, sync::Mutex};

use steward_proto::v1::{MetricBatch, MetricSample};
use tokio::sync::Notify;

/// Samples held unacknowledged by default: about 40 minutes of a typical host at 5 s.
pub(crate) const MAX_SAMPLES: usize = 100_000;

/// Numbered batches in order, oldest first.
pub(crate) struct MetricBuffer {
    inner: Mutex<Inner>,
    changed: Notify,
}

struct Inner {
    batches: VecDeque<MetricBatch>,
    samples: usize,
    max_samples: usize,
    next_seq: u64,
    dropped: u64,
}

impl Default for MetricBuffer {
    fn default() -> Self {
        Self::with_limit(MAX_SAMPLES)
    }
}

impl MetricBuffer {
    /// An empty buffer holding at most `max_samples` samples.
    pub(crate) fn with_limit(max_samples: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                batches: VecDeque::new(),
                samples: 0,
                max_samples,
                next_seq: 1,
                dropped: 0,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds one round of samples as the next batch, dropping the oldest batches if full.
    pub(crate) fn push(&self, samples: Vec<MetricSample>) {
        {
            let mut b = self.lock();
            let seq = b.next_seq;
            b.next_seq += 1;
            b.samples += samples.len();
            b.batches.push_back(MetricBatch {
                samples,
                seq,
                dropped: 0,
            });
            while b.samples > b.max_samples {
                let Some(old) = b.batches.pop_front() else { break };
                b.samples -= old.samples.len();
                b.dropped += old.samples.len() as u64;
            }
        }
        // One consumer (the session); a permit is kept if it is not waiting right now.
        self.changed.notify_one();
    }

    /// Forgets every batch with seq <= `seq`: the server has stored them.
    pub(crate) fn ack(&self, seq: u64) {
        let mut b = self.lock();
        while b.batches.front().is_some_and(|x| x.seq <= seq) {
            if let Some(old) = b.batches.pop_front() {
                b.samples -= old.samples.len();
            }
        }
    }

    /// Up to `max` batches after `after` (a session's cursor), stamped with the drop count.
    pub(crate) fn after(&self, after: u64, max: usize) -> Vec<MetricBatch> {
        let b = self.lock();
        b.batches
            .iter()
            .filter(|x| x.seq > after)
            .take(max)
            .map(|x| MetricBatch {
                dropped: b.dropped,
                ..x.clone()
            })
            .collect()
    }

    /// Samples dropped so far because the buffer was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Samples held now.
    pub(crate) fn held(&self) -> usize {
        self.lock().samples
    }

    /// Resolves at the next push.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }
}
