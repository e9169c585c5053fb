//! The detectors on made-up series, with the samples' own clock.

use super::*;
use crate::telemetry::TelemetryConfig;

fn disk(mount: &str) -> SeriesKey {
    SeriesKey {
        name: "disk_used_pct".into(),
        labels: [("mount".to_string(), mount.to_string())].into(),
    }
}

fn config(for_secs: u64, keep_secs: u64) -> TelemetryConfig {
    TelemetryConfig {
        detect_for_secs: for_secs,
        detect_keep_firing_secs: keep_secs,
        zscore_metrics: vec!["cpu_used_pct".into()],
        forecast_metrics: vec![],
        ..TelemetryConfig::default()
    }
}

/// Feeds `values` 5 s apart; returns (opens, clears) of the threshold detector.
fn run(d: &mut Detection, key: &SeriesKey, values: &[f64]) -> (usize, usize) {
    let mut firing = false;
    let (mut opens, mut clears) = (0, 0);
    for (i, v) in values.iter().enumerate() {
        for verdict in d.observe(1, key, i as i64 * 5000, *v) {
            match verdict {
                Verdict::Firing(f) if f.detector == "threshold" => {
                    if !firing {
                        opens += 1;
                    }
                    firing = true;
                }
                Verdict::Cleared { detector: "threshold" } => {
                    clears += 1;
                    firing = false;
                }
                _ => {}
            }
        }
    }
    (opens, clears)
}

#[test]
fn a_threshold_fires_after_its_duration_and_clears_after_keep_firing_for() {
    let mut d = Detection::new(&config(10, 10));
    let key = disk("/var");
    // 95 % for 3 samples (10 s), then 50 % for 3 samples.
    let (opens, clears) = run(&mut d, &key, &[50.0, 95.0, 95.0, 95.0, 50.0, 50.0, 50.0]);
    assert_eq!((opens, clears), (1, 1));
    // A single spike shorter than `for` never fires.
    let mut d = Detection::new(&config(10, 10));
    assert_eq!(run(&mut d, &key, &[50.0, 95.0, 50.0, 95.0, 50.0]), (0, 0));
}

#[test]
fn flapping_input_does_not_open_repeated_incidents() {
    let mut d = Detection::new(&config(5, 30));
    let key = disk("/data");
    // Above the threshold long enough to fire, then hovering around it for ten minutes:
    // 92, 87, 93, 86, … (fires above 90, clears only below 85).
    let mut values = vec![95.0; 3];
    values.extend((0..120).map(|i| {
        if i % 2 == 0 {
            92.0 + (i % 3) as f64
        } else {
            86.0 + (i % 4) as f64
        }
    }));
    let (opens, clears) = run(&mut d, &key, &values);
    assert_eq!((opens, clears), (1, 0), "it opened once and stays open while hovering");
    // Dropping below the clear level briefly and back up does not clear it either.
    let mut d = Detection::new(&config(0, 30));
    let values = [95.0, 80.0, 95.0, 80.0, 95.0, 80.0, 95.0];
    assert_eq!(run(&mut d, &key, &values), (1, 0));
    // It clears once the value has stayed below the clear level for keep_firing_for.
    let mut values = values.to_vec();
    values.extend([80.0; 8]);
    let mut d = Detection::new(&config(0, 30));
    assert_eq!(run(&mut d, &key, &values), (1, 1));
}

#[test]
fn resent_samples_are_judged_once() {
    let mut d = Detection::new(&config(0, 0));
    let key = disk("/");
    assert_eq!(d.observe(1, &key, 1000, 95.0).len(), 1);
    assert!(d.observe(1, &key, 1000, 95.0).is_empty(), "the same moment again");
    assert!(d.observe(1, &key, 500, 10.0).is_empty(), "older than what was seen");
}

#[test]
fn the_robust_z_score_flags_a_spike_and_ignores_noise() {
    let mut d = Detection::new(&config(0, 0));
    let cpu = SeriesKey {
        name: "cpu_used_pct".into(),
        labels: Default::default(),
    };
    let mut fired = vec![];
    for i in 0..60 {
        let v = 10.0 + (i % 5) as f64; // noisy but steady: 10..14
        fired.extend(d.observe(7, &cpu, i * 5000, v));
    }
    assert!(fired.is_empty(), "{fired:?}");
    let spike = d.observe(7, &cpu, 60 * 5000, 97.0);
    assert!(
        matches!(&spike[..], [Verdict::Firing(f)] if f.detector == "zscore" && f.summary.contains("CPU")),
        "{spike:?}"
    );
    assert!(
        zscore::robust_z(&[1.0, 1.0, 1.0, 1.0], 1.2).abs() < 1.0,
        "a flat series is not infinitely surprised"
    );
}

#[test]
fn the_forecast_says_when_the_disk_will_be_full() {
    let mut c = config(0, 0);
    c.forecast_metrics = vec!["disk_used_pct".into()];
    c.thresholds.clear();
    let mut d = Detection::new(&c);
    let key = disk("/var");
    // +1 % per minute from 50 %: at 61 % after 11 minutes, full in 39 minutes.
    let mut last = vec![];
    for i in 0..=11 {
        last = d.observe(1, &key, i * 60_000, 50.0 + i as f64);
    }
    let [Verdict::Firing(f)] = &last[..] else {
        panic!("{last:?}")
    };
    assert_eq!(f.detector, "forecast");
    assert_eq!(f.forecast.as_deref(), Some("full in 39 min"));
    assert!(f.summary.starts_with("disk /var is 61.0 % full"), "{}", f.summary);
    assert_eq!(forecast::human_duration(3.0 * 3600.0 + 600.0), "3 h 10 min");
    // A flat or shrinking disk has no forecast.
    let mut d = Detection::new(&c);
    let mut out = vec![];
    for i in 0..20 {
        out.extend(d.observe(1, &key, i * 60_000, 70.0 - i as f64 * 0.1));
    }
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_threshold_rule_may_name_the_labels_it_watches() {
    let mut c = config(0, 0);
    c.thresholds = TelemetryConfig::parse_thresholds("disk_used_pct{mount=/data*}>50:40").unwrap();
    let mut d = Detection::new(&c);
    assert!(d.observe(1, &disk("/"), 1000, 95.0).is_empty(), "/ is not watched");
    assert!(matches!(
        &d.observe(1, &disk("/data/a"), 1000, 60.0)[..],
        [Verdict::Firing(_)]
    ));
}
