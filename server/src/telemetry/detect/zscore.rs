//! Robust z-score against the series' own recent history: how many MADs (median absolute
//! deviations, scaled to a standard deviation) the latest value is from the median of the
//! points before it. Robust because one spike moves neither the median nor the MAD.

use super::{describe, Detector, Finding, SeriesKey, Window};

/// Points of history needed before judging (2.5 minutes at 5 s).
const MIN_HISTORY: usize = 30;
/// Scales the MAD to a standard deviation for normally distributed data.
const MAD_SCALE: f64 = 1.4826;
/// The smallest spread assumed, as a share of the median (a flat series has MAD 0, and every
/// wiggle would be infinitely surprising), with an absolute floor for series near zero.
const MIN_SPREAD_SHARE: f64 = 0.05;
const MIN_SPREAD: f64 = 0.5;

/// The detector for the configured metrics.
pub struct RobustZ {
    metrics: Vec<String>,
    limit: f64,
}

impl RobustZ {
    /// Fires when |z| exceeds `limit` on one of `metrics`.
    pub fn new(metrics: Vec<String>, limit: f64) -> Self {
        Self { metrics, limit }
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The robust z-score of `x` against `history`.
pub fn robust_z(history: &[f64], x: f64) -> f64 {
    let mut v = history.to_vec();
    v.sort_by(f64::total_cmp);
    let med = median(&v);
    let mut dev: Vec<f64> = v.iter().map(|y| (y - med).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let spread = (median(&dev) * MAD_SCALE)
        .max(med.abs() * MIN_SPREAD_SHARE)
        .max(MIN_SPREAD);
    (x - med) / spread
}

impl Detector for RobustZ {
    fn name(&self) -> &'static str {
        "zscore"
    }

    fn watches(&self, metric: &str) -> bool {
        self.metrics.iter().any(|m| m == metric)
    }

    fn check(&self, key: &SeriesKey, window: &Window, firing: bool) -> Option<Finding> {
        let (_, value) = window.last()?;
        if window.len() <= MIN_HISTORY {
            return None;
        }
        let history: Vec<f64> = window.points().take(window.len() - 1).map(|p| p.1).collect();
        let z = robust_z(&history, value);
        // Hysteresis: once firing, half the limit keeps it firing.
        let limit = if firing { self.limit / 2.0 } else { self.limit };
        (z.abs() > limit).then(|| Finding {
            detector: self.name(),
            value,
            threshold: None,
            summary: format!(
                "{} is {value:.2}, {z:+.1} robust standard deviations from its recent median",
                describe(key)
            ),
            forecast: None,
        })
    }
}
