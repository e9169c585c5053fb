//! Static thresholds from the configuration: fire above `above`, clear only below `clear`.
//! A rule may name labels to match (`mount=/data*`); the first matching rule applies.

use super::{describe, Detector, Finding, SeriesKey, Window};
use crate::telemetry::ThresholdRule;

/// `disk_used_pct > 90` and friends.
pub struct Threshold {
    rules: Vec<ThresholdRule>,
}

impl Threshold {
    /// The detector for these rules.
    pub fn new(rules: Vec<ThresholdRule>) -> Self {
        Self { rules }
    }
}

/// Whether `key`'s labels satisfy the rule's (a value ending in `*` matches by prefix).
fn matches(rule: &ThresholdRule, key: &SeriesKey) -> bool {
    rule.metric == key.name
        && rule.labels.iter().all(|(k, want)| {
            key.labels.get(k).is_some_and(|v| match want.strip_suffix('*') {
                Some(prefix) => v.starts_with(prefix),
                None => v == want,
            })
        })
}

impl Detector for Threshold {
    fn name(&self) -> &'static str {
        "threshold"
    }

    fn watches(&self, metric: &str) -> bool {
        self.rules.iter().any(|r| r.metric == metric)
    }

    fn check(&self, key: &SeriesKey, window: &Window, firing: bool) -> Option<Finding> {
        let rule = self.rules.iter().find(|r| matches(r, key))?;
        let (_, value) = window.last()?;
        // Hysteresis: once firing, only falling below `clear` counts as recovered.
        let limit = if firing { rule.clear } else { rule.above };
        (value > limit).then(|| Finding {
            detector: self.name(),
            value,
            threshold: Some(rule.above),
            summary: if key.name.ends_with("_pct") {
                let what = if key.name.starts_with("disk") { "full" } else { "used" };
                format!("{} is {value:.1} % {what} (threshold {} %)", describe(key), rule.above)
            } else {
                format!("{} is {value:.2} (threshold {})", describe(key), rule.above)
            },
            forecast: None,
        })
    }
}
