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

/// Every collector of this host, in the order their samples appear.
pub(crate) struct Collectors {
    system: System,
    collectors: Vec<Box<dyn Collector>>,
    last: Option<std::time::Instant>,
}

impl Collectors {
    /// The collectors this host supports (GPU only when `nvidia-smi` is present).
    pub(crate) fn new() -> Self {
        let mut collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(cpu::Cpu),
            Box::new(memory::Memory),
            Box::new(disk::Disk::default()),
            Box::new(diskio::DiskIo::default()),
            Box::new(network::Network::default()),
            Box::new(process::Processes),
        ];
        if let Some(gpu) = gpu::Gpu::detect() {
            collectors.push(Box::new(gpu));
        }
        Self {
            system: System::new(),
            collectors,
            last: None,
        }
    }

    /// One round of every collector.
    pub(crate) fn sample(&mut self) -> Vec<MetricSample> {
        let now = std::time::Instant::now();
        let elapsed = self.last.map_or(Duration::ZERO, |l| now - l);
        self.last = Some(now);
        let mut out = Samples::new(now_ms());
        for c in &mut self.collectors {
            c.collect(&mut self.system, elapsed, &mut out);
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

impl Metrics {
    /// Starts the collector loop on the current runtime; it runs until the runtime stops.
    pub(crate) fn start() -> Self {
        let buffer = Arc::new(MetricBuffer::default());
        let (interval, rx) = watch::channel(DEFAULT_INTERVAL);
        tokio::spawn(run(buffer.clone(), rx));
        Self {
            buffer,
            interval: Arc::new(interval),
        }
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

/// Samples every collector forever, at the period `interval` holds, into `buffer`.
pub(crate) async fn run(buffer: Arc<MetricBuffer>, mut interval: watch::Receiver<Duration>) {
    // sysinfo reads /proc synchronously; a blocking thread keeps that off the runtime's workers.
    let collectors = Arc::new(std::sync::Mutex::new(Collectors::new()));
    loop {
        let c = collectors.clone();
        match tokio::task::spawn_blocking(move || c.lock().map(|mut c| c.sample()).unwrap_or_default()).await {
            Ok(samples) if !samples.is_empty() => buffer.push(samples),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "a collector round failed"),
        }
        let period = (*interval.borrow_and_update()).max(MIN_INTERVAL);
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            _ = interval.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests;
