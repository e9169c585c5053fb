//! Telemetry's settings (`[telemetry]` in steward.toml), handed to it alone.
use serde::{Deserialize, Serialize};

/// Telemetry: how often agents sample, how long each tier is kept, and the detectors.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Milliseconds between agent samples, sent to agents in the welcome.
    pub metrics_interval_ms: u64,
    /// Seconds raw samples are kept.
    pub raw_retention_secs: u64,
    /// Seconds 1-minute rollups are kept.
    pub minute_retention_secs: u64,
    /// Seconds 1-hour rollups are kept.
    pub hour_retention_secs: u64,
    /// Seconds between rollup and retention passes.
    pub rollup_interval_secs: u64,
    /// Seconds a condition must hold before it opens an incident (Prometheus's `for:`).
    pub detect_for_secs: u64,
    /// Seconds a condition must stay clear before its incident resolves (`keep_firing_for`).
    pub detect_keep_firing_secs: u64,
    /// Static thresholds: fire above `above`, clear below `clear`.
    pub thresholds: Vec<ThresholdRule>,
    /// Metrics watched by the robust z-score detector.
    pub zscore_metrics: Vec<String>,
    /// |z| above which a value is anomalous.
    pub zscore_limit: f64,
    /// Metrics (percentages) watched by the rate-of-change forecast.
    pub forecast_metrics: Vec<String>,
    /// Seconds: a metric forecast to reach 100 % within this fires.
    pub forecast_horizon_secs: u64,
    /// Whether a new incident asks the planner for a remediation proposal.
    pub remediate: bool,
    /// Distinct series one host may report (since the server started); samples of further
    /// new series are refused and counted.
    pub max_series_per_host: u64,
}

/// One static threshold.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRule {
    /// Metric name, e.g. `disk_used_pct`.
    pub metric: String,
    /// Only series whose labels match all of these (a value ending in `*` matches by prefix).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Fires when the value is above this.
    pub above: f64,
    /// Clears when the value is back below this (hysteresis).
    pub clear: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        let rule = |metric: &str, above, clear| ThresholdRule {
            metric: metric.into(),
            labels: Default::default(),
            above,
            clear,
        };
        TelemetryConfig {
            metrics_interval_ms: 5000,
            raw_retention_secs: 2 * 24 * 3600,
            minute_retention_secs: 30 * 24 * 3600,
            hour_retention_secs: 400 * 24 * 3600,
            rollup_interval_secs: 60,
            detect_for_secs: 60,
            detect_keep_firing_secs: 120,
            thresholds: vec![
                rule("disk_used_pct", 90.0, 85.0),
                rule("disk_inodes_used_pct", 90.0, 85.0),
                rule("mem_used_pct", 95.0, 90.0),
                rule("swap_used_pct", 90.0, 80.0),
            ],
            zscore_metrics: vec!["cpu_used_pct".into(), "load1".into()],
            zscore_limit: 8.0,
            forecast_metrics: vec!["disk_used_pct".into()],
            forecast_horizon_secs: 6 * 3600,
            remediate: true,
            max_series_per_host: 10_000,
        }
    }
}

impl TelemetryConfig {
    /// Thresholds written as `metric>above:clear;…`, the metric optionally with labels to
    /// match, `disk_used_pct{mount=/data*}>80:75` (`STEWARD_DETECT_THRESHOLDS`).
    pub fn parse_thresholds(text: &str) -> Result<Vec<ThresholdRule>, String> {
        text.split(';')
            .flat_map(|r| {
                // Commas separate rules too, except inside a label set.
                let mut out = vec![];
                let (mut depth, mut start) = (0, 0);
                for (i, c) in r.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.push(&r[start..i]);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                out.push(&r[start..]);
                out
            })
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| {
                let bad = || format!("{r:?} is not metric{{label=value,…}}>above:clear");
                let (metric, rest) = r.rsplit_once('>').ok_or_else(bad)?;
                let (metric, labels) = match metric.split_once('{') {
                    Some((m, l)) => {
                        let l = l.strip_suffix('}').ok_or_else(bad)?;
                        let labels = l
                            .split(',')
                            .map(|kv| {
                                kv.split_once('=')
                                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                            })
                            .collect::<Option<std::collections::BTreeMap<_, _>>>()
                            .ok_or_else(bad)?;
                        (m, labels)
                    }
                    None => (metric, Default::default()),
                };
                let (above, clear) = rest.split_once(':').ok_or_else(bad)?;
                let above: f64 = above.trim().parse().map_err(|_| bad())?;
                let clear: f64 = clear.trim().parse().map_err(|_| bad())?;
                if clear > above || !above.is_finite() || !clear.is_finite() {
                    return Err(format!("{r:?}: clear must be a number at most above"));
                }
                Ok(ThresholdRule {
                    metric: metric.trim().to_owned(),
                    labels,
                    above,
                    clear,
                })
            })
            .collect()
    }
}

impl TelemetryConfig {
    /// Refuses settings the pipeline cannot run with.
    pub fn validate(&self) -> Result<(), String> {
        if self.metrics_interval_ms < 200 {
            return Err("telemetry.metrics_interval_ms must be at least 200".into());
        }
        if self.rollup_interval_secs == 0 {
            return Err("telemetry.rollup_interval_secs must be at least 1".into());
        }
        if self.raw_retention_secs < 2 * 3600
            || self.minute_retention_secs < self.raw_retention_secs
            || self.hour_retention_secs < self.minute_retention_secs
        {
            return Err("telemetry retention must grow from tier to tier: raw (at least 2 h) <= minute <= hour".into());
        }
        Ok(())
    }
}
