//! `steward bench telemetry`: metric ingest throughput from simulated agents.
//!
//! A real `steward serve` child process (SQLite in a temporary directory, detectors on) and
//! N simulated agents in this process, each on its own gRPC session as a real agent opens
//! it. Every agent sends batches of `--series` samples (one per series, at a new timestamp
//! each batch), keeping `--window` batches unacknowledged at most, as fast as the server
//! acknowledges them. The server acknowledges a batch only after it is committed, so
//! acknowledged samples per second is stored samples per second.
//!
//! Run that way the server is saturated, and a batch's wait for its ack is, by Little's law,
//! the samples in flight (agents × window × series) over the throughput: it measures the
//! benchmark's window as much as the server. With `--interval-ms` each agent instead sends a
//! batch every that many milliseconds (as a real agent does, every 5 s by default), and the
//! ack latency is what an agent waits under that load.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use steward_proto::v1 as pb;

use super::dispatch::{open_session, start_server};
use steward_stats::{Memory, Percentiles};

/// Options of the telemetry benchmark.
#[derive(Debug, Args)]
pub struct TelemetryArgs {
    /// Simulated agents, one gRPC session each.
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Series per agent (samples per batch); a few are ones the detectors watch.
    #[arg(long, default_value_t = 500)]
    series: usize,
    /// Batches each agent may have unacknowledged.
    #[arg(long, default_value_t = 4)]
    window: usize,
    /// Send a batch every this many milliseconds per agent instead of as fast as acks allow.
    #[arg(long)]
    interval_ms: Option<u64>,
    /// Seconds measured, after 3 s of warm-up.
    #[arg(long, default_value_t = 20)]
    secs: u64,
}

struct Totals {
    samples: AtomicU64,
    batches: AtomicU64,
    latencies_us: std::sync::Mutex<Vec<u64>>,
    measuring: AtomicBool,
    done: AtomicBool,
}

fn batch(host: usize, series: usize, seq: u64, at_ms: i64) -> pb::MetricBatch {
    let samples = (0..series)
        .map(|i| {
            // A few watched series with ordinary values (no incident), the rest generic.
            let (name, labels): (String, HashMap<String, String>) = match i {
                0 => ("cpu_used_pct".into(), HashMap::new()),
                1 => ("mem_used_pct".into(), HashMap::new()),
                2 => ("load1".into(), HashMap::new()),
                3..=6 => (
                    "disk_used_pct".into(),
                    HashMap::from([("mount".into(), format!("/m{i}"))]),
                ),
                _ => ("bench_value".into(), HashMap::from([("n".into(), i.to_string())])),
            };
            let wobble = ((seq as usize * 7 + i * 13 + host) % 10) as f64;
            pb::MetricSample {
                name,
                labels,
                value: 40.0 + wobble,
                at_ms,
            }
        })
        .collect();
    pb::MetricBatch {
        samples,
        seq,
        dropped: 0,
    }
}

/// Sends batch `next` and notes when.
async fn send_batch(
    tx: &tokio::sync::mpsc::Sender<pb::AgentMessage>,
    host: usize,
    series: usize,
    t0: i64,
    next: &mut u64,
    sent: &mut HashMap<u64, Instant>,
) -> anyhow::Result<()> {
    let b = batch(host, series, *next, t0 + *next as i64);
    tx.send(pb::AgentMessage {
        msg: Some(pb::agent_message::Msg::Metrics(b)),
    })
    .await?;
    sent.insert(*next, Instant::now());
    *next += 1;
    Ok(())
}

async fn sim_agent(grpc: String, host: usize, args: Arc<TelemetryArgs>, totals: Arc<Totals>) -> anyhow::Result<()> {
    let channel = tonic::transport::Endpoint::from_shared(grpc)?.connect().await?;
    let (tx, mut inbound) = open_session(channel, format!("tb-{host}"), args.window + 4).await?;
    // Timestamps start a minute ago and advance 1 ms per batch: inside the raw window.
    let t0 = chrono::Utc::now().timestamp_millis() - 60_000;
    let mut sent: HashMap<u64, Instant> = HashMap::new();
    let mut next = 1u64;
    let mut acked = 0u64;
    // Paced agents start spread over one interval, as a fleet's timers are.
    let mut pace = args.interval_ms.map(|ms| {
        let period = Duration::from_millis(ms.max(1));
        let offset = period.mul_f64(host as f64 / args.agents as f64);
        tokio::time::interval_at(tokio::time::Instant::now() + offset, period)
    });
    let window = args.window as u64;
    loop {
        if pace.is_none() {
            while next - acked <= window {
                send_batch(&tx, host, args.series, t0, &mut next, &mut sent).await?;
            }
        }
        let m = match pace.as_mut() {
            Some(timer) => tokio::select! {
                _ = timer.tick() => {
                    // A batch due while the window is full waits for the next tick, as a
                    // real agent's buffer holds it.
                    if next - acked <= window {
                        send_batch(&tx, host, args.series, t0, &mut next, &mut sent).await?;
                    }
                    continue;
                }
                m = inbound.message() => m?,
            },
            None => inbound.message().await?,
        };
        let Some(m) = m else {
            return Ok(());
        };
        if let Some(pb::server_message::Msg::Ack(a)) = m.msg {
            for seq in acked + 1..=a.metrics_seq.min(next - 1) {
                if let Some(at) = sent.remove(&seq) {
                    if totals.measuring.load(Ordering::Relaxed) {
                        totals.samples.fetch_add(args.series as u64, Ordering::Relaxed);
                        totals.batches.fetch_add(1, Ordering::Relaxed);
                        totals
                            .latencies_us
                            .lock()
                            .expect("lock")
                            .push(at.elapsed().as_micros() as u64);
                    }
                }
            }
            acked = acked.max(a.metrics_seq);
        }
    }
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the command name.
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// Runs the benchmark and prints its numbers.
pub async fn run(args: TelemetryArgs) -> anyhow::Result<()> {
    let server = start_server(&[("STEWARD_METRICS_ROLLUP_INTERVAL_SECS", "60")])?;
    let pid = server.child.id();
    let args = Arc::new(args);
    let totals = Arc::new(Totals {
        samples: AtomicU64::new(0),
        batches: AtomicU64::new(0),
        latencies_us: Default::default(),
        measuring: AtomicBool::new(false),
        done: AtomicBool::new(false),
    });
    for host in 0..args.agents {
        let (grpc, a, t) = (server.grpc.clone(), args.clone(), totals.clone());
        tokio::spawn(async move {
            if let Err(e) = sim_agent(grpc, host, a, t.clone()).await {
                // Once measured, the server is stopped under the agents: that is no error.
                if !t.done.load(Ordering::Relaxed) {
                    eprintln!("agent {host}: {e}");
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ticks0 = cpu_ticks(pid);
    let start = Instant::now();
    totals.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    totals.measuring.store(false, Ordering::Relaxed);
    totals.done.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let ticks = cpu_ticks(pid) - ticks0;
    // SAFETY: sysconf only reads a system setting.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let samples = totals.samples.load(Ordering::Relaxed) as f64;
    let batches = totals.batches.load(Ordering::Relaxed) as f64;
    let lat = std::mem::take(&mut *totals.latencies_us.lock().expect("lock"));
    let ack_ms = Percentiles::new(lat.into_iter().map(|us| us as f64 / 1000.0));
    let pacing = match args.interval_ms {
        Some(ms) => format!("a batch every {ms} ms per agent"),
        None => "as fast as acknowledged".to_owned(),
    };
    println!(
        "telemetry ingest: {} agents x {} series, window {}, {pacing}, {:.1} s measured",
        args.agents, args.series, args.window, elapsed
    );
    println!("  stored samples/s: {:.0}", samples / elapsed);
    println!("  batches/s:        {:.0}", batches / elapsed);
    println!(
        "  ack latency:      p50 {:.1} ms, p99 {:.1} ms",
        ack_ms.median(),
        ack_ms.at(0.99)
    );
    println!(
        "  server CPU:       {:.0} % of one core",
        100.0 * ticks as f64 / hz / elapsed
    );
    println!("  server RSS:       {:.1} MiB", Memory::of(pid).rss_mib);
    Ok(())
}
