//! `steward bench output`: bulk task output from real agents through a real server.
//!
//! The server and `--hosts` real `steward-agent` processes (the binary beside this one) run as
//! children on loopback with SQLite in a temporary directory. Each run proposes a job that runs
//! `seq 1 LINES` on every host, approves it, and stops the clock when the server says the job
//! ended, which it does only after it committed every task's output and result. Then every
//! task's log is read back through the HTTP API and compared with what `seq` printed; a
//! run that lost or reordered a line is reported, and the benchmark fails. Memory is sampled
//! throughout: the agents' peak RSS, the server's RSS.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Args;
use serde_json::{json, Value};
use steward_stats::{Memory, Percentiles};

use super::dispatch::{admin_client, create_cluster, post, start_server, wait_online, TOKEN};

/// Options of the output benchmark.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Agents (hosts), each a `steward-agent` process.
    #[arg(long, default_value_t = 20)]
    hosts: usize,
    /// Lines each task prints (`seq 1 LINES`).
    #[arg(long, default_value_t = 100_000)]
    lines: u64,
    /// Timed runs, after one untimed warm-up.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// The agent processes; killed with the benchmark.
struct Agents(Vec<Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A stacks tree with one stack, `bench`, whose `bulk/bulk seq` prints `seq 1 LINES`.
fn write_stack(root: &Path) -> anyhow::Result<PathBuf> {
    let stacks = root.join("stacks");
    let service = stacks.join("bench/1.0/services/bulk");
    std::fs::create_dir_all(service.join("scripts"))?;
    std::fs::write(
        stacks.join("bench/1.0/stack.toml"),
        "name = \"bench\"\nversion = \"1.0\"\ndescription = \"steward bench output\"\n",
    )?;
    std::fs::write(
        service.join("scripts/seq.sh"),
        "#!/usr/bin/env bash\nexec seq 1 \"$STEWARD_PARAM_LINES\"\n",
    )?;
    std::fs::write(
        service.join("service.toml"),
        r#"name = "bulk"
description = "bulk output"

[[components]]
name = "bulk"

[components.commands.seq]
read_only = true
script = "scripts/seq.sh"
timeout = 600
risk = "low"
[components.commands.seq.params.lines]
type = "integer"
min = 1
max = 100000000
"#,
    )?;
    Ok(stacks)
}

/// The `steward-agent` binary built beside this one.
fn agent_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let agent = exe.with_file_name("steward-agent");
    ensure!(
        agent.exists(),
        "{} not found: build it beside steward (cargo build --release -p steward-agent)",
        agent.display()
    );
    Ok(agent)
}

/// What `seq 1 lines` prints, as the log route returns it.
fn expected_log(lines: u64) -> String {
    let mut text = String::with_capacity(lines as usize * 7);
    for i in 1..=lines {
        text.push_str(&i.to_string());
        text.push('\n');
    }
    text
}

async fn job_state(http: &reqwest::Client, base: &str, id: i64) -> anyhow::Result<Value> {
    Ok(http
        .get(format!("{base}/api/v1/jobs/{id}"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Runs the benchmark and prints its numbers.
pub async fn run(a: OutputArgs) -> anyhow::Result<()> {
    crate::server::raise_fd_limit();
    ensure!(a.hosts > 0 && a.runs > 0, "--hosts and --runs must be at least 1");
    let agent = agent_binary()?;
    let dir = tempfile::tempdir()?;
    let stacks = write_stack(dir.path())?;
    let server = start_server(&[("STEWARD_STACKS_DIR", stacks.to_str().context("a UTF-8 path")?)])?;
    let base = server.http.clone();
    let http = admin_client(&base).await?;
    let server_pid = server.child.id();
    println!(
        "steward bench output: {} hosts × `seq 1 {}`, {} runs after a warm-up, SQLite, server pid {server_pid}",
        a.hosts, a.lines, a.runs
    );

    let names: Vec<String> = (0..a.hosts).map(|i| format!("bulk-{i:03}")).collect();
    create_cluster(&http, &base, "bulk", "bench", &names, "bulk/bulk").await?;
    let mut agents = Agents(vec![]);
    for name in &names {
        let data = dir.path().join("agents").join(name);
        std::fs::create_dir_all(&data)?;
        agents.0.push(
            Command::new(&agent)
                .args([
                    "--server",
                    &server.grpc,
                    "--token",
                    TOKEN,
                    "--hostname",
                    name,
                    "--data-dir",
                ])
                .arg(&data)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| format!("cannot start {}", agent.display()))?,
        );
    }
    wait_online(&http, &base, a.hosts).await?;
    let agent_pids: Vec<u32> = agents.0.iter().map(Child::id).collect();
    let idle_agent = Percentiles::new(agent_pids.iter().map(|&p| Memory::of(p).rss_mib));
    let idle_server = Memory::of(server_pid).rss_mib;

    // The server's RSS at its highest, sampled every 20 ms while the runs go on (the agents'
    // highest is their VmHWM, which the kernel keeps).
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = 0f64;
            while sampling.load(Ordering::Relaxed) {
                peak = peak.max(Memory::of(server_pid).rss_mib);
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };

    let expected = expected_log(a.lines);
    let mut times = vec![];
    let mut reads = vec![];
    let mut lost_runs = 0;
    for run in 0..=a.runs {
        let job = post(
            &http,
            format!("{base}/api/v1/jobs"),
            json!({"cluster": "bulk", "service": "bulk", "component": "bulk", "command": "seq", "params": {"lines": a.lines}}),
        )
        .await?;
        let id = job["id"].as_i64().context("no job id")?;
        let t0 = Instant::now();
        post(
            &http,
            format!("{base}/api/v1/jobs/{id}/approve"),
            json!({"plan_hash": job["plan_hash"]}),
        )
        .await?;
        // Polled rather than followed on the event feed: an operator's feed carries every
        // line, which would make the benchmark a follower of 2 million lines.
        let done = loop {
            let j = job_state(&http, &base, id).await?;
            if !j["finished_at"].is_null() {
                break j;
            }
            if t0.elapsed() > Duration::from_secs(600) {
                bail!("job {id} did not end within 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let elapsed = t0.elapsed().as_secs_f64();
        ensure!(
            done["state"] == "SUCCESSFUL",
            "job {id} ended {}: {}",
            done["state"],
            done["error"]
        );

        let t1 = Instant::now();
        let mut stored = 0;
        let mut wrong = vec![];
        for stage in done["stages"].as_array().into_iter().flatten() {
            for task in stage["tasks"].as_array().into_iter().flatten() {
                let log = http
                    .get(format!("{base}/api/v1/jobs/{id}/tasks/{}/logs", task["id"]))
                    .send()
                    .await?
                    .error_for_status()?
                    .text()
                    .await?;
                stored += log.lines().count();
                if log != expected {
                    wrong.push(task["host"].as_str().unwrap_or("?").to_owned());
                }
            }
        }
        if !wrong.is_empty() {
            lost_runs += 1;
            println!(
                "run {run}: the stored logs of {} differ from `seq 1 {}`: {stored} of {} lines stored",
                wrong.join(", "),
                a.lines,
                a.lines * a.hosts as u64
            );
        }
        let read = t1.elapsed().as_secs_f64();
        if run == 0 {
            println!("warm-up: {elapsed:.3} s");
            continue;
        }
        println!("run {run}: {elapsed:.3} s approve → job ended; read back and checked in {read:.3} s");
        times.push(elapsed);
        reads.push(read);
    }
    sampling.store(false, Ordering::Relaxed);
    let server_peak = sampler.join().unwrap_or(0.0);
    let agent_peak = Percentiles::new(agent_pids.iter().map(|&p| Memory::of(p).peak_mib));
    let agent_after = Percentiles::new(agent_pids.iter().map(|&p| Memory::of(p).rss_mib));
    let t = Percentiles::new(times.iter().copied());
    let r = Percentiles::new(reads.iter().copied());
    let bytes = expected.len() as f64 * a.hosts as f64;

    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| approve → job ended, median (min–max) | {:.3} s ({:.3}–{:.3}) |",
        t.median(),
        t.at(0.0),
        t.max()
    );
    println!(
        "| output stored | {:.1} MB, {} lines ({:.1} MB/s at the median) |",
        bytes / 1e6,
        a.lines * a.hosts as u64,
        bytes / 1e6 / t.median()
    );
    println!("| every log read back through the API, median | {:.3} s |", r.median());
    println!(
        "| agent RSS idle, median / max | {:.1} / {:.1} MiB |",
        idle_agent.median(),
        idle_agent.max()
    );
    println!(
        "| agent peak RSS (VmHWM), median / max | {:.1} / {:.1} MiB |",
        agent_peak.median(),
        agent_peak.max()
    );
    println!(
        "| agent RSS after the runs, median / max | {:.1} / {:.1} MiB |",
        agent_after.median(),
        agent_after.max()
    );
    println!(
        "| server RSS idle / peak / after | {idle_server:.1} / {server_peak:.1} / {:.1} MiB |",
        Memory::of(server_pid).rss_mib
    );
    drop(agents);
    drop(server);
    ensure!(
        lost_runs == 0,
        "{lost_runs} of {} runs did not store every line: the times above are not valid",
        a.runs + 1
    );
    Ok(())
}
