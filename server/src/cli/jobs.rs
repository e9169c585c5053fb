//! `steward jobs …`: list, show, propose, approve, reject, cancel, logs.
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Value};

use super::{s, table, when, Client};

/// Job commands.
#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state (PROPOSED, RUNNING …).
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Show a job: plan, hash, stages and tasks.
    Show {
        /// Job id.
        id: i64,
    },
    /// Propose a job (it waits for approval): `propose --cluster local host host check`.
    Propose {
        /// Cluster name.
        #[arg(long)]
        cluster: Option<String>,
        /// Service.
        service: Option<String>,
        /// Component.
        component: Option<String>,
        /// Command.
        command: Option<String>,
        /// Hosts, comma-separated; every host carrying the component when omitted.
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<String>,
        /// Command parameter `name=value`, repeatable.
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Why this job.
        #[arg(long)]
        rationale: Option<String>,
        /// A whole plan as a JSON file instead (`{cluster, stages: […]}`).
        #[arg(long, conflicts_with_all = ["service", "component", "command"])]
        plan: Option<std::path::PathBuf>,
    },
    /// Approve a proposal. Without --plan-hash, shows the plan and approves the hash shown.
    Approve {
        /// Job id.
        id: i64,
        /// The plan hash you reviewed.
        #[arg(long)]
        plan_hash: Option<String>,
        /// Why.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a proposal.
    Reject {
        /// Job id.
        id: i64,
        /// Why.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Cancel an approved or running job.
    Cancel {
        /// Job id.
        id: i64,
    },
    /// Print a job's logs (every task, or one); -f follows until the job ends.
    Logs {
        /// Job id.
        id: i64,
        /// Only this task.
        task: Option<i64>,
        /// Follow live, with a progress line; exits 0 only if the job succeeds.
        #[arg(short, long)]
        follow: bool,
    },
    /// Have the language model summarise what a job did, citing its task output.
    Summary {
        /// Job id.
        id: i64,
    },
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not name=value"))
}

/// Runs a jobs command; returns the process exit code.
pub async fn run(client: &Client, cmd: JobsCmd, json_out: bool) -> anyhow::Result<i32> {
    match cmd {
        JobsCmd::List { state, limit } => {
            let mut path = format!("/api/v1/jobs?limit={limit}");
            if let Some(st) = state {
                path.push_str(&format!("&state={st}"));
            }
            let v = client.get(&path).await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let mut t = table(&["ID", "STATE", "RISK", "CLUSTER", "SUMMARY", "BY", "CREATED"]);
                for j in v.as_array().into_iter().flatten() {
                    t.add_row(vec![
                        s(&j["id"]),
                        s(&j["state"]),
                        s(&j["risk"]),
                        s(&j["cluster"]),
                        s(&j["summary"]),
                        s(&j["requested_by"]),
                        when(&j["created_at"]),
                    ]);
                }
                println!("{t}");
            }
        }
        JobsCmd::Show { id } => {
            let v = client.get(&format!("/api/v1/jobs/{id}")).await?;
            print_job(&v, json_out)?;
        }
        JobsCmd::Propose {
            cluster,
            service,
            component,
            command,
            hosts,
            params,
            rationale,
            plan,
        } => {
            let body = match plan {
                Some(file) => {
                    let text =
                        std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
                    serde_json::from_str::<Value>(&text).with_context(|| format!("{} is not JSON", file.display()))?
                }
                None => {
                    let cluster = cluster.context("--cluster is required")?;
                    let (Some(service), Some(component), Some(command)) = (service, component, command) else {
                        anyhow::bail!("give SERVICE COMPONENT COMMAND, e.g. `steward jobs propose --cluster local host host check`, or --plan FILE");
                    };
                    let mut b =
                        json!({"cluster": cluster, "service": service, "component": component, "command": command});
                    if !hosts.is_empty() {
                        b["hosts"] = json!(hosts);
                    }
                    if !params.is_empty() {
                        b["params"] = json!(params.into_iter().collect::<BTreeMap<_, _>>());
                    }
                    if let Some(r) = rationale {
                        b["rationale"] = json!(r);
                    }
                    b
                }
            };
            let v = client.post("/api/v1/jobs", &body).await?;
            print_job(&v, json_out)?;
            if !json_out {
                println!(
                    "\nProposed; nothing runs until approved:  steward jobs approve {}",
                    s(&v["id"])
                );
            }
        }
        JobsCmd::Approve { id, plan_hash, comment } => {
            let hash = match plan_hash {
                Some(h) => h,
                None => {
                    let v = client.get(&format!("/api/v1/jobs/{id}")).await?;
                    if !json_out {
                        print_job(&v, false)?;
                    }
                    s(&v["plan_hash"])
                }
            };
            let v = client
                .post(
                    &format!("/api/v1/jobs/{id}/approve"),
                    &json!({"plan_hash": hash, "comment": comment}),
                )
                .await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "Job {id} approved (plan {}). Follow it:  steward jobs logs {id} -f",
                    &hash[..hash.len().min(12)]
                );
            }
        }
        JobsCmd::Reject { id, comment } => {
            let v = client
                .post(&format!("/api/v1/jobs/{id}/reject"), &json!({"comment": comment}))
                .await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("Job {id} rejected.");
            }
        }
        JobsCmd::Cancel { id } => {
            let v = client.post(&format!("/api/v1/jobs/{id}/cancel"), &json!({})).await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("Job {id} canceled; running tasks are being killed.");
            }
        }
        JobsCmd::Logs { id, task, follow } => return logs(client, id, task, follow).await,
        JobsCmd::Summary { id } => {
            eprintln!("Asking the language model to read job {id}'s output…");
            let v = client.post(&format!("/api/v1/jobs/{id}/summary"), &json!({})).await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("{}", v["summary"].as_str().unwrap_or_default());
                let sources: Vec<&str> = v["sources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                println!(
                    "\n(read: {}; written by {})",
                    sources.join(", "),
                    v["model"].as_str().unwrap_or("?")
                );
            }
        }
    }
    Ok(0)
}

fn print_job(v: &Value, json_out: bool) -> anyhow::Result<()> {
    if json_out {
        println!("{}", serde_json::to_string_pretty(v)?);
        return Ok(());
    }
    println!(
        "Job {}  {}  risk {}  cluster {}",
        s(&v["id"]),
        s(&v["state"]),
        s(&v["risk"]),
        s(&v["cluster"])
    );
    println!("  {}", s(&v["summary"]));
    if v["rationale"].as_str().is_some_and(|r| !r.is_empty()) {
        println!("  rationale: {}", s(&v["rationale"]));
    }
    println!("  plan hash: {}", s(&v["plan_hash"]));
    println!("  requested by {} at {}", s(&v["requested_by"]), when(&v["created_at"]));
    if let Some(e) = v["error"].as_str() {
        println!("  error: {e}");
    }
    let mut t = table(&["STAGE", "COMMAND", "AFTER", "TASK", "HOST", "STATE", "EXIT", "ERROR"]);
    for st in v["stages"].as_array().into_iter().flatten() {
        let after: Vec<String> = st["depends_on"].as_array().into_iter().flatten().map(s).collect();
        for (i, task) in st["tasks"].as_array().into_iter().flatten().enumerate() {
            let (name, cmd, deps) = if i == 0 {
                (
                    format!("{} ({})", s(&st["name"]), s(&st["state"])),
                    format!("{}/{} {}", s(&st["service"]), s(&st["component"]), s(&st["command"])),
                    after.join(","),
                )
            } else {
                (String::new(), String::new(), String::new())
            };
            t.add_row(vec![
                name,
                cmd,
                deps,
                s(&task["id"]),
                s(&task["host"]),
                s(&task["state"]),
                s(&task["exit_code"]),
                s(&task["error"]),
            ]);
        }
    }
    println!("{t}");
    Ok(())
}

async fn logs(client: &Client, id: i64, only: Option<i64>, follow: bool) -> anyhow::Result<i32> {
    let job = client.get(&format!("/api/v1/jobs/{id}")).await?;
    let tasks: Vec<(i64, String)> = job["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|st| st["tasks"].as_array().cloned().unwrap_or_default())
        .map(|t| (t["id"].as_i64().unwrap_or(0), s(&t["host"])))
        .filter(|(t, _)| only.is_none_or(|o| o == *t))
        .collect();
    if only.is_some() && tasks.is_empty() {
        anyhow::bail!("job {id} has no task {}", only.unwrap_or_default());
    }
    let prefix = tasks.len() > 1;
    if !follow {
        for (tid, host) in &tasks {
            let text = client.get_text(&format!("/api/v1/jobs/{id}/tasks/{tid}/logs")).await?;
            for line in text.lines() {
                if prefix {
                    println!("[{host}] {line}");
                } else {
                    println!("{line}");
                }
            }
        }
        return Ok(0);
    }
    let hosts: HashMap<i64, String> = tasks.iter().cloned().collect();
    let resp = client
        .request(reqwest::Method::GET, &format!("/api/v1/events?job={id}"))
        .send()
        .await
        .context("cannot reach the server")?;
    let resp = super::client::check(resp).await?;
    let mut stream = resp.bytes_stream().eventsource();
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut states: HashMap<i64, String> = HashMap::new();
    let mut job_state = s(&job["state"]);
    let progress = |states: &HashMap<i64, String>, job_state: &str| {
        let done = states
            .values()
            .filter(|s| matches!(s.as_str(), "SUCCESSFUL" | "FAILED" | "TIMED_OUT" | "CANCELED"))
            .count();
        let running = states.values().filter(|s| s.as_str() == "RUNNING").count();
        let failed = states
            .values()
            .filter(|s| matches!(s.as_str(), "FAILED" | "TIMED_OUT"))
            .count();
        format!(
            "job {id} {job_state} · {done}/{} tasks done · {running} running{} · {:.1}s",
            states.len().max(hosts.len()),
            if failed > 0 {
                format!(" · {failed} failed")
            } else {
                String::new()
            },
            started.elapsed().as_secs_f64()
        )
    };
    let mut final_state = None;
    while let Some(ev) = stream.next().await {
        let ev = ev.context("the event stream broke")?;
        let data: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
        if tty {
            eprint!("\r\x1b[2K");
        }
        match ev.event.as_str() {
            "log" => {
                let tid = data["task_id"].as_i64().unwrap_or(0);
                if only.is_none_or(|o| o == tid) {
                    let line = s(&data["line"]);
                    match (prefix, hosts.get(&tid)) {
                        (true, Some(h)) => println!("[{h}] {line}"),
                        _ => println!("{line}"),
                    }
                }
            }
            "task" => {
                states.insert(data["task_id"].as_i64().unwrap_or(0), s(&data["state"]));
            }
            "job" => {
                job_state = s(&data["state"]);
                if data["finished"].as_bool() == Some(true) {
                    final_state = Some(job_state.clone());
                }
            }
            _ => {}
        }
        if tty {
            eprint!("{}", progress(&states, &job_state));
            let _ = std::io::stderr().flush();
        }
        if final_state.is_some() {
            break;
        }
    }
    if tty {
        eprintln!();
    }
    let state = final_state.unwrap_or(job_state);
    eprintln!("job {id} finished: {state}");
    Ok(if state == "SUCCESSFUL" { 0 } else { 1 })
}
