//! `steward bench dispatch`: simulated agents over real gRPC against a real server process.
//!
//! The server runs as a child process (so its RSS is its own) with SQLite in a temporary
//! directory. The simulated agents live in this process, each on its own connection: each
//! opens the same gRPC session a real agent does, answers every run-task at once with started
//! and finished events, and records when the run-task arrived. Latency is measured from just
//! before the approve request to the arrival of each of the job's run-tasks; throughput until
//! the event feed says the last job ended, that is, once the server committed its results.
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};
use steward_proto::v1 as pb;
use steward_stats::{Memory, Percentiles};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Options of the dispatch benchmark.
#[derive(Debug, Args)]
pub struct DispatchArgs {
    /// Simulated agents that run tasks.
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Jobs approved one after another for the latency measurement (one task per agent each).
    #[arg(long, default_value_t = 30)]
    jobs: usize,
    /// Jobs approved all at once for the throughput measurement.
    #[arg(long, default_value_t = 30)]
    burst: usize,
    /// Then connect this many idle agents and report the server's memory.
    #[arg(long, default_value_t = 0)]
    idle_agents: usize,
}

#[derive(Default)]
struct Record {
    arrivals: HashMap<i64, Instant>,
    finished: usize,
}

pub(super) struct ServerProc {
    pub(super) child: Child,
    pub(super) http: String,
    pub(super) grpc: String,
    _dir: tempfile::TempDir,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        // Whatever the sessions say from here on is the server going away, not a failure.
        DONE.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) const TOKEN: &str = "bench-token-0123456789abcdef";
const ADMIN_PASSWORD: &str = "bench-admin-password-0123";

/// Set when the measurements are done: sessions then end with the server, quietly.
static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn report(who: String, e: impl std::fmt::Display) {
    if !DONE.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("{who}: {e}");
    }
}

/// Starts `steward serve` as a child process with `extra_env`, and waits until it listens.
pub(super) fn start_server(extra_env: &[(&str, &str)]) -> anyhow::Result<ServerProc> {
    start_server_in(tempfile::tempdir()?, extra_env)
}

/// [`start_server`] on a data directory prepared beforehand; it goes with the server.
pub(super) fn start_server_in(dir: tempfile::TempDir, extra_env: &[(&str, &str)]) -> anyhow::Result<ServerProc> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("STEWARD_AGENT_TOKEN", TOKEN)
        .env("STEWARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
        // The benchmark proposes far faster than any person; the limit is not what it measures.
        .env("STEWARD_PROPOSALS_PER_MINUTE", "1000000")
        // One admin proposes and approves 100-host jobs: four-eyes is not what it measures.
        .env("STEWARD_FOUR_EYES_HOSTS", "1000000")
        .env("STEWARD_HEARTBEAT_INTERVAL_MS", "5000")
        // Neither the planner nor the knowledge index is measured; they would only take CPU.
        .env("STEWARD_LLM_PROVIDER", "none")
        .env("STEWARD_EMBEDDER", "none")
        .env(
            "RUST_LOG",
            std::env::var("STEWARD_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .envs(extra_env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the server")?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let line = loop {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("Steward is up") => break l,
            Some(Ok(_)) => {}
            _ => bail!("the server exited before listening"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let http = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .context("no address")?
        .to_owned();
    let grpc = line
        .rsplit("agents connect to ")
        .next()
        .context("no gRPC address")?
        .trim_end_matches(')')
        .to_owned();
    Ok(ServerProc {
        child,
        http: format!("http://{http}"),
        grpc: format!("http://{grpc}"),
        _dir: dir,
    })
}

/// Opens an agent session as `hostname` with the shared token; returns the sender (room for
/// `buffer` messages) and the server's messages.
pub(super) async fn open_session(
    channel: tonic::transport::Channel,
    hostname: String,
    buffer: usize,
) -> anyhow::Result<(mpsc::Sender<pb::AgentMessage>, tonic::Streaming<pb::ServerMessage>)> {
    let mut client = pb::agent_service_client::AgentServiceClient::new(channel).max_decoding_message_size(64 << 20);
    let (tx, rx) = mpsc::channel::<pb::AgentMessage>(buffer);
    tx.send(pb::AgentMessage {
        msg: Some(pb::agent_message::Msg::Hello(pb::Hello {
            hostname,
            agent_version: "bench".into(),
            facts: None,
            tasks: vec![],
        })),
    })
    .await?;
    let mut req = tonic::Request::new(ReceiverStream::new(rx));
    req.metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse()?);
    Ok((tx, client.session(req).await?.into_inner()))
}

/// Runs a simulated agent on a connection of its own, as agents on separate hosts have;
/// what ends it is reported, not returned.
fn spawn_sim_agent(grpc: &str, hostname: String, record: Option<Arc<Mutex<Record>>>) {
    let grpc = grpc.to_owned();
    tokio::spawn(async move {
        let session = async {
            let channel = tonic::transport::Endpoint::from_shared(grpc)?.connect().await?;
            sim_agent(channel, hostname.clone(), record).await
        };
        if let Err(e) = session.await {
            report(format!("simulated agent {hostname}"), e);
        }
    });
}

/// One simulated agent session; answers run-tasks immediately when `record` is given.
async fn sim_agent(
    channel: tonic::transport::Channel,
    hostname: String,
    record: Option<Arc<Mutex<Record>>>,
) -> anyhow::Result<()> {
    let (tx, mut inbound) = open_session(channel, hostname, 1024).await?;
    let beat = tx.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let hb = pb::AgentMessage {
                msg: Some(pb::agent_message::Msg::Heartbeat(pb::Heartbeat {
                    sent_at_ms: 0,
                    running: vec![],
                })),
            };
            if beat.send(hb).await.is_err() {
                return;
            }
        }
    });
    while let Some(msg) = inbound.message().await? {
        if let Some(pb::server_message::Msg::RunTask(rt)) = msg.msg {
            let now = Instant::now();
            if let Some(r) = &record {
                r.lock().expect("lock").arrivals.insert(rt.task_id, now);
            }
            let ev = |seq, kind| pb::AgentMessage {
                msg: Some(pb::agent_message::Msg::TaskEvent(pb::TaskEvent {
                    task_id: rt.task_id,
                    attempt: rt.attempt,
                    seq,
                    at_ms: 0,
                    kind: Some(kind),
                })),
            };
            tx.send(ev(1, pb::task_event::Kind::Started(pb::TaskStarted { pid: 1 })))
                .await?;
            tx.send(ev(
                2,
                pb::task_event::Kind::Finished(pb::TaskFinished {
                    outcome: pb::TaskOutcome::Exited as i32,
                    exit_code: 0,
                    error: String::new(),
                }),
            ))
            .await?;
            if let Some(r) = &record {
                r.lock().expect("lock").finished += 1;
            }
        }
    }
    Ok(())
}

pub(super) async fn wait_online(http: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let hosts: Value = http.get(format!("{base}/api/v1/hosts")).send().await?.json().await?;
        let online = hosts
            .as_array()
            .map_or(0, |a| a.iter().filter(|h| h["state"] == "ONLINE").count());
        if online >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {online} of {n} agents came online");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(super) async fn post(http: &reqwest::Client, url: String, body: Value) -> anyhow::Result<Value> {
    let r = http.post(url).json(&body).send().await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        bail!("HTTP {status}: {v}");
    }
    Ok(v)
}

/// Creates cluster `name` of `stack` with a host of each name, every one carrying
/// `component` (`service/component`).
pub(super) async fn create_cluster(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    stack: &str,
    hostnames: &[String],
    component: &str,
) -> anyhow::Result<()> {
    let hosts: Vec<Value> = hostnames
        .iter()
        .map(|h| json!({"hostname": h, "components": [component]}))
        .collect();
    post(
        http,
        format!("{base}/api/v1/clusters"),
        json!({"name": name, "stack": stack, "hosts": hosts}),
    )
    .await?;
    Ok(())
}

/// The server's event feed, subscribed: events published from now on arrive on it.
async fn events_feed(
    http: &reqwest::Client,
    base: &str,
) -> anyhow::Result<impl futures::Stream<Item = Result<eventsource_stream::Event, String>>> {
    use eventsource_stream::Eventsource;
    use futures::StreamExt;
    let r = http
        .get(format!("{base}/api/v1/events"))
        .send()
        .await?
        .error_for_status()?;
    let feed = r.bytes_stream().eventsource().map(|e| e.map_err(|e| e.to_string()));
    // The server subscribes when it first polls the response body, just after the headers.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(feed)
}

/// When the last of `jobs` ended, as the event feed reports it (after the server stored it).
async fn all_finished(
    feed: impl futures::Stream<Item = Result<eventsource_stream::Event, String>>,
    mut jobs: HashSet<i64>,
) -> anyhow::Result<Instant> {
    use futures::StreamExt;
    let mut feed = std::pin::pin!(feed);
    while let Some(event) = feed.next().await {
        let event = event.map_err(anyhow::Error::msg)?;
        if event.event != "job" {
            continue;
        }
        let v: Value = serde_json::from_str(&event.data)?;
        if v["finished"] == true {
            if let Some(id) = v["job_id"].as_i64() {
                jobs.remove(&id);
            }
            if jobs.is_empty() {
                return Ok(Instant::now());
            }
        }
    }
    bail!("the event feed ended with {} jobs unfinished", jobs.len())
}

async fn wait_finished(record: &Mutex<Record>, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while record.lock().expect("lock").finished < n {
        if Instant::now() > deadline {
            bail!("tasks did not finish in time");
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(())
}

/// A client that sends the admin's session token on every request.
pub(super) async fn admin_client(base: &str) -> anyhow::Result<reqwest::Client> {
    let v: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = v["token"].as_str().context("no session token")?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse()?);
    Ok(reqwest::Client::builder().default_headers(headers).build()?)
}

/// Runs the benchmark and prints its numbers.
pub async fn run(a: DispatchArgs) -> anyhow::Result<()> {
    crate::server::raise_fd_limit();
    let server = start_server(&[])?;
    let base = server.http.clone();
    let http = admin_client(&base).await?;
    let pid = server.child.id();
    println!(
        "steward bench dispatch: {} agents, {} sequential jobs, {} burst jobs, SQLite, server pid {pid}",
        a.agents, a.jobs, a.burst
    );
    let rss_empty = Memory::of(pid).rss_mib;

    let record = Arc::new(Mutex::new(Record::default()));
    if a.agents > 0 {
        let names: Vec<String> = (0..a.agents).map(|i| format!("sim-{i:05}")).collect();
        create_cluster(&http, &base, "bench", "essentials", &names, "host/host").await?;
        for name in names {
            spawn_sim_agent(&server.grpc, name, Some(record.clone()));
        }
        wait_online(&http, &base, a.agents).await?;
    }

    let mut latencies = vec![];
    // Per job: when its first and its last run-task arrived, to tell a late start from a slow fan-out.
    let (mut firsts, mut lasts) = (vec![], vec![]);
    let mut answered = vec![];
    let mut proposed = vec![];
    let propose = |http: reqwest::Client, base: String| async move {
        post(
            &http,
            format!("{base}/api/v1/jobs"),
            json!({"cluster": "bench", "service": "host", "component": "host", "command": "check"}),
        )
        .await
    };
    let mut expected = 0;
    if a.agents > 0 {
        for _ in 0..a.jobs {
            let t0 = Instant::now();
            let job = propose(http.clone(), base.clone()).await?;
            proposed.push(t0.elapsed().as_secs_f64() * 1000.0);
            let ids: Vec<i64> = job["stages"][0]["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["id"].as_i64())
                .collect();
            let t0 = Instant::now();
            post(
                &http,
                format!("{base}/api/v1/jobs/{}/approve", job["id"]),
                json!({"plan_hash": job["plan_hash"]}),
            )
            .await?;
            answered.push(t0.elapsed().as_secs_f64() * 1000.0);
            expected += ids.len();
            wait_finished(&record, expected).await?;
            let r = record.lock().expect("lock");
            let job: Vec<f64> = ids
                .iter()
                .filter_map(|id| r.arrivals.get(id))
                .map(|t| t.duration_since(t0).as_secs_f64() * 1000.0)
                .collect();
            firsts.extend(job.iter().copied().reduce(f64::min));
            lasts.extend(job.iter().copied().reduce(f64::max));
            latencies.extend(job);
        }

        let mut burst = vec![];
        for _ in 0..a.burst {
            burst.push(propose(http.clone(), base.clone()).await?);
        }
        let ids: HashSet<i64> = burst.iter().filter_map(|j| j["id"].as_i64()).collect();
        let committed = tokio::spawn(all_finished(events_feed(&http, &base).await?, ids));
        let t0 = Instant::now();
        let mut approvals = tokio::task::JoinSet::new();
        for job in &burst {
            let (http, url, body) = (
                http.clone(),
                format!("{base}/api/v1/jobs/{}/approve", job["id"]),
                json!({"plan_hash": job["plan_hash"]}),
            );
            approvals.spawn(async move { post(&http, url, body).await });
        }
        while let Some(r) = approvals.join_next().await {
            r??;
        }
        expected += a.burst * a.agents;
        wait_finished(&record, expected).await?;
        let reported = t0.elapsed().as_secs_f64();
        // The clock stops when the server has stored every result and says the jobs ended.
        let elapsed = tokio::time::timeout(Duration::from_secs(300), committed)
            .await
            .context("the jobs did not end within 5 minutes of their results")???
            .duration_since(t0)
            .as_secs_f64();
        let tasks = a.burst * a.agents;
        println!();
        println!("| measure | value |");
        println!("|---|---|");
        let latency = Percentiles::new(latencies.iter().copied());
        println!("| approve → task-started p50 | {:.2} ms |", latency.median());
        println!("| approve → task-started p99 | {:.2} ms |", latency.at(0.99));
        println!("| approve → task-started max | {:.2} ms |", latency.max());
        let answered = Percentiles::new(answered.iter().copied());
        println!(
            "| … of which the approve request, p50 / p99 | {:.2} / {:.2} ms |",
            answered.median(),
            answered.at(0.99)
        );
        let proposed = Percentiles::new(proposed);
        println!(
            "| the propose request ({} tasks), p50 / p99 | {:.2} / {:.2} ms |",
            a.agents,
            proposed.median(),
            proposed.at(0.99)
        );
        let (firsts, lasts) = (Percentiles::new(firsts), Percentiles::new(lasts));
        println!(
            "| … a job's first / last run-task arrives, p50 | {:.2} / {:.2} ms |",
            firsts.median(),
            lasts.median()
        );
        println!(
            "| latency samples | {} ({} jobs × {} tasks) |",
            latencies.len(),
            a.jobs,
            a.agents
        );
        println!(
            "| sustained throughput, results committed | {:.0} tasks/s ({tasks} tasks in {elapsed:.2} s) |",
            tasks as f64 / elapsed
        );
        println!("| … of which until the agents had reported | {reported:.2} s |");
        println!("| server RSS after the run | {:.1} MiB |", Memory::of(pid).rss_mib);
    }

    if a.idle_agents > 0 {
        let names: Vec<String> = (0..a.idle_agents).map(|i| format!("idle-{i:05}")).collect();
        create_cluster(&http, &base, "idle", "essentials", &names, "host/host").await?;
        let before = Memory::of(pid).rss_mib;
        for name in names {
            spawn_sim_agent(&server.grpc, name, None);
        }
        wait_online(&http, &base, a.agents + a.idle_agents).await?;
        tokio::time::sleep(Duration::from_secs(10)).await;
        println!();
        println!("| idle agents | server RSS |");
        println!("|---|---|");
        println!("| 0 (fresh server) | {rss_empty:.1} MiB |");
        println!("| {} (before idle agents) | {before:.1} MiB |", a.agents);
        println!(
            "| {} connected, 10 s idle | {:.1} MiB |",
            a.agents + a.idle_agents,
            Memory::of(pid).rss_mib
        );
    }
    Ok(())
}
