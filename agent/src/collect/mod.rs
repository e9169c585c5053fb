//! The telemetry collectors: one file per source, one shared loop here.
//!
//! Every `interval` (5 s unless the server's Welcome says otherwise) the loop asks each
//! collector for its samples and puts them, as one numbered batch, into the [`MetricBuffer`],
//! which the session drains towards the server. Collectors never fail: a source that cannot
//! be read (no `nvidia-smi`, an unreadable `/sys` file) yields fewer samples, not an error.

mod buffer;
mod cpu;
mod disk;
mod diskio;
mod gpu;
mod memory;
mod network;
mod process;

use std::{collections::HashMap, sync::Arc, time::Duration};

use steward_proto::v1::MetricSample;
use sysinfo::System;
use tokio::sync::watch;

pub(crate) use buffer::MetricBuffer;

use crate::clock::now_ms;

/// Sampling period until the server's Welcome says otherwise.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// The shortest sampling period honoured, whatever the server asks.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// One sample under construction: a name, labels and a value, timed by the loop.
pub(crate) struct Samples {
    at_ms: i64,
    out: Vec<MetricSample>,
}

impl Samples {
    fn new(at_ms: i64) -> Self {
        Self { at_ms, out: Vec::new() }
    }

    /// Adds a sample without labels; non-finite values are skipped.
    pub(crate) fn push(&mut self, name: &str, value: f64) {
        self.push_labeled(name, &[], value);
    }

    /// Adds a sample with labels; non-finite values are skipped.
    pub(crate) fn push_labeled(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        if !value.is_finite() {
            return;
        }
        self.out.push(MetricSample {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
            value,
            at_ms: self.at_ms,
        });
    }
}

/// `part` of `whole` in percent (0 when `whole` is 0).
pub(crate) fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}

/// A source of samples, refreshed once per tick.
pub(crate) trait Collector: Send {
    /// Adds this source's samples; `elapsed` is the time since the previous tick (for rates).
    fn collect(&mut self, system: &mut System, elapsed: Duration, out: &mut Samples);
}

/// Makes a collector afresh (None when its source is gone, e.g. no `nvidia-smi` any more).
type MakeCollector = Box<dyn Fn() -> Option<Box<dyn Collector>> + Send>;

/// One collector and how to make it again after it panicked.
struct Entry {
    name: &'static str,
    make: MakeCollector,
    current: Option<Box<dyn Collector>>,
    panics: u64,
}

/// What an agent reports for collectors that panicked: how many times, per collector.
pub(crate) const PANICS_METRIC: &str = "steward_agent_collector_panics_total";

/// Every collector of this host, in the order their samples appear.
pub(crate) struct Collectors {
    system: System,
    entries: Vec<Entry>,
    last: Option<std::time::Instant>,
}

impl Collectors {
    /// The collectors this host supports (GPU only when `nvidia-smi` is present).
    pub(crate) fn new() -> Self {
        fn always<C: Collector + 'static>(make: fn() -> C) -> MakeCollector {
            Box::new(move || Some(Box::new(make()) as Box<dyn Collector>))
        }
        let mut all: Vec<(&'static str, MakeCollector)> = vec![
            ("cpu", always(|| cpu::Cpu)),
            ("memory", always(|| memory::Memory)),
            ("disk", always(disk::Disk::default)),
            ("diskio", always(diskio::DiskIo::default)),
            ("network", always(network::Network::default)),
            ("process", always(|| process::Processes)),
        ];
        if gpu::Gpu::detect().is_some() {
            all.push((
                "gpu",
                Box::new(|| gpu::Gpu::detect().map(|g| Box::new(g) as Box<dyn Collector>)),
            ));
        }
        Self::with(all)
    }

    /// These collectors, each made once now.
    pub(crate) fn with(all: Vec<(&'static str, MakeCollector)>) -> Self {
        Self {
            system: System::new(),
            entries: all
                .into_iter()
                .map(|(name, make)| Entry {
                    name,
                    current: make(),
                    make,
                    panics: 0,
                })
                .collect(),
            last: None,
        }
    }

    /// One round of every collector. A collector that panics loses this round's samples, is
    /// made afresh for the next, and is reported (an error line, and [`PANICS_METRIC`] in
    /// every later batch): one broken source never silences the others.
    pub(crate) fn sample(&mut self) -> Vec<MetricSample> {
        let now = std::time::Instant::now();
        let elapsed = self.last.map_or(Duration::ZERO, |l| now - l);
        self.last = Some(now);
        let mut out = Samples::new(now_ms());
        for e in &mut self.entries {
            let Some(c) = e.current.as_mut() else { continue };
            let before = out.out.len();
            let system = &mut self.system;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.collect(system, elapsed, &mut out)));
            if let Err(panic) = r {
                out.out.truncate(before);
                e.panics += 1;
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(collector = e.name, panics = e.panics, %why, "a collector panicked; it is made afresh for the next round");
                e.current = (e.make)();
            }
        }
        for e in self.entries.iter().filter(|e| e.panics > 0) {
            out.push_labeled(PANICS_METRIC, &[("collector", e.name)], e.panics as f64);
        }
        out.out
    }
}

/// What the session needs of the collectors: their unacknowledged batches, and the sampling
/// period to set when the server's Welcome names one.
#[derive(Clone)]
pub(crate) struct Metrics {
    /// Batches not yet acknowledged.
    pub(crate) buffer: Arc<MetricBuffer>,
    /// The sampling period the collector loop follows.
    pub(crate) interval: Arc<watch::Sender<Duration>>,
}

/// The running collector loop, to stop and wait for at shutdown.
pub(crate) struct Collection {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Collection {
    /// Stops the loop and waits until it has.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the collector loop failed");
        }
    }
}

impl Metrics {
    /// Starts the collector loop on the current runtime, supervised: should the loop itself
    /// die, that is logged and it starts again. It runs until [`Collection::stop`].
    pub(crate) fn start() -> (Self, Collection) {
        let buffer = Arc::new(MetricBuffer::default());
        let (interval, rx) = watch::channel(DEFAULT_INTERVAL);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn({
            let buffer = buffer.clone();
            async move {
                loop {
                    let round = tokio::spawn(run(Collectors::new(), buffer.clone(), rx.clone(), stop_rx.clone()));
                    match round.await {
                        Ok(()) => return,
                        Err(error) => {
                            tracing::error!(%error, "the collector loop died; starting it again");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            }
        });
        let metrics = Self {
            buffer,
            interval: Arc::new(interval),
        };
        (metrics, Collection { stop, task })
    }

    /// Follows the server's sampling period (0 keeps the current one).
    pub(crate) fn set_interval_ms(&self, ms: u32) {
        if ms > 0 {
            let period = Duration::from_millis(ms.into()).max(MIN_INTERVAL);
            self.interval
                .send_if_modified(|p| std::mem::replace(p, period) != period);
        }
    }
}

/// Samples every collector at the period `interval` holds, into `buffer`, until `stop`
/// turns true.
pub(crate) async fn run(
    collectors: Collectors,
    buffer: Arc<MetricBuffer>,
    mut interval: watch::Receiver<Duration>,
    mut stop: watch::Receiver<bool>,
) {
    // sysinfo reads /proc synchronously; a blocking thread keeps that off the runtime's workers.
    let collectors = Arc::new(std::sync::Mutex::new(collectors));
    loop {
        let c = collectors.clone();
        // Collectors' panics are caught inside `sample`, so the lock is not poisoned by them;
        // if it ever is, its data is still whole collectors, so carry on with it.
        let round =
            tokio::task::spawn_blocking(move || c.lock().unwrap_or_else(std::sync::PoisonError::into_inner).sample());
        match round.await {
            Ok(samples) if !samples.is_empty() => buffer.push(samples),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "a collector round failed"),
        }
        let period = (*interval.borrow_and_update()).max(MIN_INTERVAL);
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            _ = interval.changed() => {}
            _ = stop.wait_for(|v| *v) => return,
        }
    }
}

#[cfg(test)]
mod tests;
