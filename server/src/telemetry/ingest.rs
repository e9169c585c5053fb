//! What an agent's metric batch must look like to be stored: bounded, named like Prometheus
//! names, finite, and timed within the raw window. Anything else is dropped and counted
//! (`steward_metric_samples_rejected_total{reason}`); a bad sample never rejects its neighbours.

use std::collections::BTreeMap;

use steward_proto::v1 as pb;

use super::SeriesKey;
use crate::metrics;

/// Samples one batch may carry; a larger batch is refused whole.
pub const MAX_SAMPLES_PER_BATCH: usize = 10_000;
/// Longest metric name or label name.
const MAX_NAME: usize = 128;
/// Most labels on one sample.
const MAX_LABELS: usize = 8;
/// Longest label value, in bytes.
const MAX_LABEL_VALUE: usize = 256;
/// How far ahead of the server's clock a sample may be (clock skew).
const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;

/// A sample that passed the checks, as small as it can be: it waits in the writer's queue, so the series is
/// only its id string (name and canonical labels) until the writer needs the parts.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The series id: name, US, canonical labels JSON (see [`SeriesKey::id`]).
    pub series: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// A finite value.
    pub value: f64,
}

impl Sample {
    /// The metric name.
    pub fn name(&self) -> &str {
        self.series.split_once('\u{1f}').map_or(&self.series, |(name, _)| name)
    }

    /// The labels as canonical JSON.
    pub fn labels_json(&self) -> &str {
        self.series.split_once('\u{1f}').map_or("{}", |(_, labels)| labels)
    }

    /// The series' name and labels.
    pub fn key(&self) -> SeriesKey {
        SeriesKey {
            name: self.name().to_owned(),
            labels: serde_json::from_str(self.labels_json()).unwrap_or_default(),
        }
    }
}

/// A Prometheus-compatible name: `[a-zA-Z_][a-zA-Z0-9_]*`, at most `MAX_NAME` bytes.
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && name.len() <= MAX_NAME
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(crate) fn reject(reason: &str, n: usize) {
    if n > 0 {
        metrics::SAMPLES_REJECTED.with_label_values(&[reason]).inc_by(n as u64);
    }
}

/// The acceptable samples of `batch`, given the server's clock and the oldest time kept.
pub fn validate(batch: pb::MetricBatch, now_ms: i64, oldest_ms: i64) -> Vec<Sample> {
    if batch.samples.len() > MAX_SAMPLES_PER_BATCH {
        reject("batch_too_large", batch.samples.len());
        return Vec::new();
    }
    let total = batch.samples.len();
    let mut out = Vec::with_capacity(total);
    for s in batch.samples {
        let reason = if !valid_name(&s.name) {
            "bad_name"
        } else if s.labels.len() > MAX_LABELS
            || s.labels.iter().any(|(k, v)| {
                // `__…` label names are reserved in Prometheus, where these series are exposed.
                !valid_name(k) || k.starts_with("__") || v.len() > MAX_LABEL_VALUE || v.chars().any(char::is_control)
            })
        {
            "bad_labels"
        } else if !s.value.is_finite() {
            "not_finite"
        } else if s.at_ms > now_ms + MAX_FUTURE_MS {
            "in_the_future"
        } else if s.at_ms < oldest_ms {
            "too_old"
        } else {
            let labels: BTreeMap<&str, &str> = s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            out.push(Sample {
                series: SeriesKey::id_of(&s.name, &labels),
                at_ms: s.at_ms,
                value: s.value,
            });
            continue;
        };
        reject(reason, 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, labels: &[(&str, &str)], value: f64, at_ms: i64) -> pb::MetricSample {
        pb::MetricSample {
            name: name.into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            value,
            at_ms,
        }
    }

    /// A fixed batch identifies its series by these exact strings (what the database keys
    /// series on): a change to label serialisation would split every stored series in two.
    #[test]
    fn a_fixed_batch_has_its_pinned_series_ids() {
        let now = 1_000_000_000;
        let batch = pb::MetricBatch {
            samples: vec![
                sample("disk_used_pct", &[("mount", "/var"), ("fs", "ext4")], 50.5, now),
                sample("cpu_used_pct", &[], 12.0, now),
                sample("net_rx_bytes", &[("iface", "eth0"), ("dir", "in")], 7.0, now),
            ],
            seq: 1,
            dropped: 0,
        };
        let got: Vec<(String, String)> = validate(batch, now, 0)
            .into_iter()
            .map(|s| (s.labels_json().to_owned(), s.series.replace('\u{1f}', "|")))
            .collect();
        assert_eq!(
            got,
            [
                (
                    r#"{"fs":"ext4","mount":"/var"}"#.to_owned(),
                    r#"disk_used_pct|{"fs":"ext4","mount":"/var"}"#.to_owned()
                ),
                ("{}".to_owned(), "cpu_used_pct|{}".to_owned()),
                (
                    r#"{"dir":"in","iface":"eth0"}"#.to_owned(),
                    r#"net_rx_bytes|{"dir":"in","iface":"eth0"}"#.to_owned()
                ),
            ]
        );
    }

    #[test]
    fn bad_samples_are_dropped_and_their_neighbours_kept() {
        let now = 1_000_000_000;
        let long = "v".repeat(300);
        let batch = pb::MetricBatch {
            samples: vec![
                sample("disk_used_pct", &[("mount", "/")], 50.0, now),
                sample("1bad", &[], 1.0, now),
                sample("has space", &[], 1.0, now),
                sample("ok", &[("bad-key", "x")], 1.0, now),
                sample("ok", &[("__name__", "x")], 1.0, now),
                sample("ok", &[("k", &long)], 1.0, now),
                sample("ok", &[("k", "line\nbreak")], 1.0, now),
                sample("ok", &[], f64::NAN, now),
                sample("ok", &[], f64::INFINITY, now),
                sample("ok", &[], 1.0, now + 3_600_000),
                sample("ok", &[], 1.0, now - 10_000),
                sample("load1", &[], 0.5, now - 10),
            ],
            seq: 1,
            dropped: 0,
        };
        let ok = validate(batch, now, now - 5_000);
        let names: Vec<&str> = ok.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["disk_used_pct", "load1"]);
        assert_eq!(ok[0].key().labels["mount"], "/");
    }

    #[test]
    fn an_oversized_batch_is_refused_whole() {
        let batch = pb::MetricBatch {
            samples: (0..=MAX_SAMPLES_PER_BATCH).map(|_| sample("x", &[], 1.0, 10)).collect(),
            seq: 1,
            dropped: 0,
        };
        assert!(validate(batch, 10, 0).is_empty());
    }
}
