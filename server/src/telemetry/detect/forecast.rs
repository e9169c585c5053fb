//! Rate of change with a forecast: a least-squares line through the window, extended to
//! 100 %. Fires when a percentage is forecast to reach 100 % within the horizon ("disk /var
//! full in 3 h 10 min"), clears when the forecast moves beyond twice the horizon.

use super::{describe, Detector, Finding, SeriesKey, Window};

/// Points needed for a trend.
const MIN_POINTS: usize = 12;
/// Time the points must span, so a burst of samples is not a trend.
const MIN_SPAN_MS: i64 = 60_000;

/// The detector for the configured percentage metrics.
pub struct Forecast {
    metrics: Vec<String>,
    horizon_secs: f64,
}

impl Forecast {
    /// Fires when one of `metrics` will reach 100 within `horizon_secs`.
    pub fn new(metrics: Vec<String>, horizon_secs: f64) -> Self {
        Self { metrics, horizon_secs }
    }
}

/// Slope per second of the least-squares line through `points`.
pub fn slope_per_sec(points: &[(i64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let t0 = points.first()?.0;
    let xs: Vec<f64> = points.iter().map(|p| (p.0 - t0) as f64 / 1000.0).collect();
    let mx = xs.iter().sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = xs.iter().zip(points).map(|(x, p)| (x - mx) * (p.1 - my)).sum();
    Some(sxy / sxx)
}

/// "3 h 10 min", "12 min", "40 s".
pub fn human_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

impl Detector for Forecast {
    fn name(&self) -> &'static str {
        "forecast"
    }

    fn watches(&self, metric: &str) -> bool {
        self.metrics.iter().any(|m| m == metric)
    }

    fn check(&self, key: &SeriesKey, window: &Window, firing: bool) -> Option<Finding> {
        let points: Vec<(i64, f64)> = window.points().copied().collect();
        let (first, last) = (points.first()?, points.last()?);
        if points.len() < MIN_POINTS || last.0 - first.0 < MIN_SPAN_MS {
            return None;
        }
        let slope = slope_per_sec(&points)?;
        if slope <= 0.0 || last.1 >= 100.0 {
            return None;
        }
        let eta = (100.0 - last.1) / slope;
        let horizon = if firing {
            self.horizon_secs * 2.0
        } else {
            self.horizon_secs
        };
        (eta <= horizon).then(|| {
            let when = human_duration(eta);
            Finding {
                detector: self.name(),
                value: last.1,
                threshold: None,
                summary: format!(
                    "{} is {:.1} % full and full in {when} at the current rate",
                    describe(key),
                    last.1
                ),
                forecast: Some(format!("full in {when}")),
            }
        })
    }
}
