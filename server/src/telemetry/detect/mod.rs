//! Detectors over the in-memory windows: one file per detector, the shared loop here.
//!
//! Each detector looks at one series' window and says whether its latest point is anomalous
//! (and why). [`Debounce`] turns those verdicts into opening and clearing, Prometheus-style:
//! a condition must hold for `for` before it fires and stay clear for `keep_firing_for`
//! before it stops, and the threshold and forecast detectors clear at a gentler level than
//! they fire at (hysteresis), so a value hovering at the limit does not flap.

mod debounce;
mod forecast;
mod threshold;
mod zscore;

use std::collections::HashMap;

pub use debounce::{Debounce, Transition};
pub use forecast::Forecast;
pub use threshold::Threshold;
pub use zscore::RobustZ;

use super::{window::Window, SeriesKey};
use crate::telemetry::TelemetryConfig;

/// Points kept per watched series: 10 minutes at the default 5 s, enough for a z-score.
const WINDOW_POINTS: usize = 240;
/// Oldest point kept per watched series.
const WINDOW_AGE_MS: i64 = 2 * 3600 * 1000;

/// Why a point is anomalous.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// `threshold`, `zscore` or `forecast`.
    pub detector: &'static str,
    /// The value that is anomalous.
    pub value: f64,
    /// The limit it crossed, when there is one.
    pub threshold: Option<f64>,
    /// What is wrong, for people: "disk /var is 93.1 % full (threshold 90 %)".
    pub summary: String,
    /// When the forecast detector fired: "full in 3 h 10 min".
    pub forecast: Option<String>,
}

/// One detector.
pub trait Detector: Send {
    /// Its name, as in [`Finding::detector`].
    fn name(&self) -> &'static str;
    /// Whether it watches this metric.
    fn watches(&self, metric: &str) -> bool;
    /// The verdict on the window's latest point; `firing` says whether this detector is
    /// currently firing for the series, for hysteresis.
    fn check(&self, key: &SeriesKey, window: &Window, firing: bool) -> Option<Finding>;
}

/// What the detectors concluded about one point.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The detector has fired (or keeps firing) for this series.
    Firing(Finding),
    /// The detector's condition has stayed clear long enough: it stopped firing.
    Cleared {
        /// Which detector.
        detector: &'static str,
    },
}

/// Every detector with its windows and debounce state, for every host and series.
pub struct Detection {
    detectors: Vec<Box<dyn Detector>>,
    windows: HashMap<(i64, SeriesKey), Window>,
    states: HashMap<(i64, SeriesKey, &'static str), Debounce>,
    for_ms: i64,
    keep_ms: i64,
}

impl Detection {
    /// The detectors the configuration asks for.
    pub fn new(config: &TelemetryConfig) -> Self {
        let mut detectors: Vec<Box<dyn Detector>> = vec![Box::new(Threshold::new(config.thresholds.clone()))];
        if !config.zscore_metrics.is_empty() {
            detectors.push(Box::new(RobustZ::new(
                config.zscore_metrics.clone(),
                config.zscore_limit,
            )));
        }
        if !config.forecast_metrics.is_empty() && config.forecast_horizon_secs > 0 {
            detectors.push(Box::new(Forecast::new(
                config.forecast_metrics.clone(),
                config.forecast_horizon_secs as f64,
            )));
        }
        Self {
            detectors,
            windows: HashMap::new(),
            states: HashMap::new(),
            for_ms: (config.detect_for_secs * 1000) as i64,
            keep_ms: (config.detect_keep_firing_secs * 1000) as i64,
        }
    }

    /// Marks `detector` as firing on a series: an incident an earlier run left open then
    /// resolves when the series stays clear, as it would have without the restart.
    pub fn assume_firing(&mut self, host_id: i64, key: SeriesKey, detector: &'static str) {
        self.states
            .insert((host_id, key, detector), Debounce::firing(self.for_ms, self.keep_ms));
    }

    /// Whether any detector watches `metric` (only those series get a window).
    pub fn watches(&self, metric: &str) -> bool {
        self.detectors.iter().any(|d| d.watches(metric))
    }

    /// The window of one series, for the planner's prompt.
    pub fn window(&self, host_id: i64, key: &SeriesKey) -> Option<&Window> {
        self.windows.get(&(host_id, key.clone()))
    }

    /// Adds one point and returns what every watching detector concluded: a `Firing` for each
    /// detector that fires (on every point while it does) and a `Cleared` when one stops.
    pub fn observe(&mut self, host_id: i64, key: &SeriesKey, at_ms: i64, value: f64) -> Vec<Verdict> {
        if !self.watches(&key.name) {
            return vec![];
        }
        let window = self
            .windows
            .entry((host_id, key.clone()))
            .or_insert_with(|| Window::new(WINDOW_POINTS, WINDOW_AGE_MS));
        if !window.push(at_ms, value) {
            return vec![];
        }
        let mut out = vec![];
        for d in self.detectors.iter().filter(|d| d.watches(&key.name)) {
            let state = self
                .states
                .entry((host_id, key.clone(), d.name()))
                .or_insert_with(|| Debounce::new(self.for_ms, self.keep_ms));
            let finding = d.check(key, window, state.is_firing());
            match state.step(at_ms, finding.is_some()) {
                Some(Transition::Cleared) => out.push(Verdict::Cleared { detector: d.name() }),
                Some(Transition::Fired) | None if state.is_firing() => {
                    // While it keeps firing through a quiet spell, report the last finding's
                    // detector with the current value, so the incident follows the signal.
                    let f = finding.unwrap_or_else(|| Finding {
                        detector: d.name(),
                        value,
                        threshold: None,
                        summary: String::new(),
                        forecast: None,
                    });
                    out.push(Verdict::Firing(f));
                }
                _ => {}
            }
        }
        out
    }
}

/// A person's name for a series: "disk /var", "memory", "cpu_used_pct".
pub fn describe(key: &SeriesKey) -> String {
    let label = |k: &str| key.labels.get(k).cloned().unwrap_or_default();
    match key.name.as_str() {
        "disk_used_pct" => format!("disk {}", label("mount")),
        "disk_inodes_used_pct" => format!("inodes of disk {}", label("mount")),
        "mem_used_pct" => "memory".into(),
        "swap_used_pct" => "swap".into(),
        "cpu_used_pct" => "CPU".into(),
        "load1" => "the load average".into(),
        _ => key.signal(),
    }
}

#[cfg(test)]
mod tests;
