//! The collectors on this machine, and the bounded buffer.

use std::collections::HashMap;

use super::*;

fn by_name(samples: &[MetricSample]) -> HashMap<String, Vec<&MetricSample>> {
    let mut m: HashMap<String, Vec<&MetricSample>> = HashMap::new();
    for s in samples {
        m.entry(s.name.clone()).or_default().push(s);
    }
    m
}

#[test]
fn collectors_return_sane_values_on_this_machine() {
    let mut c = Collectors::new();
    c.sample();
    std::thread::sleep(Duration::from_millis(300));
    let samples = c.sample();
    let m = by_name(&samples);
    let one = |name: &str| -> f64 {
        let v = m.get(name).unwrap_or_else(|| panic!("no {name} in {:?}", m.keys()));
        v[0].value
    };
    // One per online CPU: at least as many as this process may use.
    let cores = m["cpu_core_used_pct"].len();
    assert!(
        cores >= std::thread::available_parallelism().unwrap().get(),
        "{cores} cores"
    );
    for name in ["cpu_used_pct", "mem_used_pct"] {
        let v = one(name);
        assert!((0.0..=100.0).contains(&v), "{name} = {v}");
    }
    assert!(one("load1") >= 0.0);
    let total = one("mem_total_bytes");
    assert!(total > 64.0 * 1024.0 * 1024.0, "mem_total_bytes = {total}");
    assert!(one("mem_used_bytes") <= total);
    // The root filesystem is reported with its mount label and a plausible fill level.
    let root = m["disk_used_pct"]
        .iter()
        .find(|s| s.labels.get("mount").map(String::as_str) == Some("/"))
        .expect("the root filesystem is reported");
    assert!(root.value > 0.0 && root.value <= 100.0, "{root:?}");
    let root_free = m["disk_free_bytes"]
        .iter()
        .find(|s| s.labels["mount"] == "/")
        .unwrap()
        .value;
    assert!(root_free > 0.0);
    assert!(m.contains_key("disk_inodes_used_pct"), "inodes are counted on /");
    // Read-only mounts (full by design) are not reported.
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 3 && f[3].split(',').any(|o| o == "ro") {
            assert!(
                !m["disk_used_pct"].iter().any(|s| s.labels["mount"] == f[1]),
                "read-only {} is reported",
                f[1]
            );
        }
    }
    // At least one non-loopback interface with rates; packets are whole per second or more.
    let rx = &m["net_rx_bytes_per_s"];
    assert!(!rx.is_empty() && rx.iter().all(|s| s.value >= 0.0 && s.labels["interface"] != "lo"));
    // This agent process itself has memory, so the top-by-memory list is not empty.
    assert!(!m["process_rss_bytes"].is_empty());
    assert!(m["process_rss_bytes"].len() <= 5);
    assert!(m["process_cpu_pct"].iter().all(|s| s.value >= 0.0));
    // Every sample is finite and stamped with the same time.
    let at = samples[0].at_ms;
    assert!(samples.iter().all(|s| s.value.is_finite() && s.at_ms == at));
    // No NVIDIA GPU here: the collector is absent, not failing.
    if std::process::Command::new("nvidia-smi").output().is_err() {
        assert!(!m.contains_key("gpu_util_pct"));
    }
}

#[test]
fn the_first_round_reports_no_rates() {
    let mut c = Collectors::new();
    let samples = c.sample();
    let m = by_name(&samples);
    assert!(!m.contains_key("cpu_used_pct") && !m.contains_key("net_rx_bytes_per_s"));
    assert!(m.contains_key("mem_used_pct") && m.contains_key("disk_used_pct"));
}

#[test]
fn nvidia_smi_rows_parse_and_odd_fields_are_skipped() {
    let rows = gpu::parse("0, 37, 1024, 8192, 55\n1, [N/A], 0, 8192, 40\nbroken line\n");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][1], "37");
    assert_eq!(rows[1][1], "[N/A]");
}

#[test]
fn diskstats_keep_whole_devices_only() {
    let text = "   8       0 sda 100 0 2000 0 50 0 4000 0 0 300 0\n   8       1 sda1 1 0 2 0 0 0 0 0 0 0 0\n 259 0 nvme0n1 1 0 8 0 1 0 16 0 0 5 0\n 259 1 nvme0n1p1 1 0 8 0 1 0 16 0 0 5 0\n   7 0 loop0 1 0 8 0 1 0 16 0 0 5 0\n";
    let d = diskio::parse(text);
    let mut names: Vec<&String> = d.keys().collect();
    names.sort();
    assert_eq!(names, ["nvme0n1", "sda"]);
    assert_eq!(d["sda"], (2000, 4000, 300));
}

fn samples(n: usize) -> Vec<MetricSample> {
    (0..n)
        .map(|i| MetricSample {
            name: "x".into(),
            labels: Default::default(),
            value: i as f64,
            at_ms: 0,
        })
        .collect()
}

#[test]
fn a_full_buffer_drops_the_oldest_batches_and_counts_their_samples() {
    let b = MetricBuffer::with_limit(10);
    for _ in 0..5 {
        b.push(samples(4));
    }
    // 20 samples pushed, 10 fit: batches 1–3 gave way (12 samples), 4 and 5 remain.
    assert_eq!(b.held(), 8);
    assert_eq!(b.dropped(), 12);
    let left = b.after(0, 10);
    assert_eq!(left.iter().map(|x| x.seq).collect::<Vec<_>>(), [4, 5]);
    assert!(left.iter().all(|x| x.dropped == 12));
}

#[test]
fn acknowledged_batches_are_forgotten_and_a_new_cursor_resends_the_rest() {
    let b = MetricBuffer::with_limit(100);
    for _ in 0..4 {
        b.push(samples(2));
    }
    // A session sent 1–3; the server acknowledged 1–2; the session broke.
    b.ack(2);
    // The next session starts from nothing and gets 3 and 4 again, nothing acknowledged.
    assert_eq!(b.after(0, 10).iter().map(|x| x.seq).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(b.after(3, 10).iter().map(|x| x.seq).collect::<Vec<_>>(), [4]);
    assert_eq!(b.held(), 4);
    assert_eq!(b.dropped(), 0);
}

/// Panics on every `n`th round, else reports `probe 1`.
struct Flaky {
    round: u32,
    every: u32,
}

impl Collector for Flaky {
    fn collect(&mut self, _: &mut System, _: Duration, out: &mut Samples) {
        self.round += 1;
        out.push("flaky_partial", 1.0);
        assert!(!self.round.is_multiple_of(self.every), "flaky collector broke");
        out.push("probe", 1.0);
    }
}

struct Steady;

impl Collector for Steady {
    fn collect(&mut self, _: &mut System, _: Duration, out: &mut Samples) {
        out.push("steady", 1.0);
    }
}

fn flaky_and_steady(every: u32) -> Collectors {
    Collectors::with(vec![
        (
            "flaky",
            Box::new(move || Some(Box::new(Flaky { round: 0, every }) as Box<dyn Collector>)),
        ),
        ("steady", Box::new(|| Some(Box::new(Steady) as Box<dyn Collector>))),
    ])
}

#[test]
fn a_panicking_collector_is_restarted_and_reported_and_the_others_keep_sampling() {
    let mut c = flaky_and_steady(1);
    for round in 1..=3 {
        let samples = c.sample();
        let m = by_name(&samples);
        assert!(m.contains_key("steady"), "round {round}: {:?}", m.keys());
        assert!(
            !m.contains_key("flaky_partial"),
            "a panicked round's samples are dropped"
        );
        let panics = &m[PANICS_METRIC];
        assert_eq!(panics[0].labels["collector"], "flaky");
        assert_eq!(panics[0].value, round as f64);
    }
    // Made afresh, a collector that panics only sometimes reports again.
    let mut c = flaky_and_steady(2);
    let (one, two, three) = (c.sample(), c.sample(), c.sample());
    let first = by_name(&one);
    assert!(first.contains_key("probe") && !first.contains_key(PANICS_METRIC));
    let second = by_name(&two);
    assert!(!second.contains_key("probe") && second.contains_key(PANICS_METRIC));
    let third = by_name(&three);
    assert!(
        third.contains_key("probe"),
        "restarted after its panic: {:?}",
        third.keys()
    );
}

#[tokio::test]
async fn the_loop_keeps_filling_batches_after_a_panic_and_stops_when_asked() {
    let buffer = Arc::new(MetricBuffer::default());
    let (_interval, rx) = watch::channel(MIN_INTERVAL);
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run(flaky_and_steady(1), buffer.clone(), rx, stop_rx));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while buffer.held() < 6 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rounds after a panic came back empty"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the loop did not stop")
        .unwrap();
}
