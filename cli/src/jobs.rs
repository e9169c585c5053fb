//! `steward jobs …`: list, show, propose, approve, reject, cancel, logs.
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use futures::StreamExt;
use steward_client::operations::{
    ApproveJob, CancelJob, EventsQuery, GetJob, ListJobs, ListJobsQuery, ProposeJob, RejectJob, SummarizeJob,
    TaskLogsQuery,
};
use steward_client::types::{ApproveRequest, Event, JobView, ProposeRequest, RejectRequest};
use steward_client::{Client, FeedEvent};

use super::{answer, dash, table, when};

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
pub async fn run(client: &Client, cmd: JobsCmd, json_out: bool) -> anyhow::Result<u8> {
    match cmd {
        JobsCmd::List { state, limit } => {
            let query = ListJobsQuery {
                state,
                limit: Some(limit),
                ..Default::default()
            };
            let Some(jobs) = answer(client, &ListJobs { query: &query }, json_out).await? else {
                return Ok(0);
            };
            let mut t = table(&["ID", "STATE", "RISK", "CLUSTER", "SUMMARY", "BY", "CREATED"]);
            for j in &jobs {
                t.add_row(vec![
                    j.id.to_string(),
                    j.state.clone(),
                    j.risk.clone(),
                    j.cluster.clone(),
                    j.summary.clone(),
                    j.requested_by.clone(),
                    when(Some(&j.created_at)),
                ]);
            }
            println!("{t}");
        }
        JobsCmd::Show { id } => {
            if let Some(job) = answer(client, &GetJob { id }, json_out).await? {
                print_job(&job);
            }
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
                    serde_json::from_str::<ProposeRequest>(&text)
                        .with_context(|| format!("{} is not JSON", file.display()))?
                }
                None => {
                    let cluster = cluster.context("--cluster is required")?;
                    let (Some(service), Some(component), Some(command)) = (service, component, command) else {
                        anyhow::bail!("give SERVICE COMPONENT COMMAND, e.g. `steward jobs propose --cluster local host host check`, or --plan FILE");
                    };
                    ProposeRequest {
                        cluster,
                        service: Some(service),
                        component: Some(component),
                        command: Some(command),
                        hosts: (!hosts.is_empty()).then_some(hosts),
                        params: (!params.is_empty()).then(|| {
                            params
                                .into_iter()
                                .map(|(k, v)| (k, serde_json::Value::String(v)))
                                .collect::<BTreeMap<_, _>>()
                        }),
                        rationale,
                        ..Default::default()
                    }
                }
            };
            if let Some(job) = answer(client, &ProposeJob { body: &body }, json_out).await? {
                print_job(&job);
                println!(
                    "\nProposed; nothing runs until approved:  steward jobs approve {}",
                    job.job_summary.id
                );
            }
        }
        JobsCmd::Approve { id, plan_hash, comment } => {
            let hash = match plan_hash {
                Some(h) => h,
                None => {
                    let job = client.get_job(id).await?;
                    if !json_out {
                        print_job(&job);
                    }
                    job.plan_hash
                }
            };
            let body = ApproveRequest {
                plan_hash: hash.clone(),
                comment,
            };
            if answer(client, &ApproveJob { id, body: &body }, json_out)
                .await?
                .is_some()
            {
                println!(
                    "Job {id} approved (plan {}). Follow it:  steward jobs logs {id} -f",
                    &hash[..hash.len().min(12)]
                );
            }
        }
        JobsCmd::Reject { id, comment } => {
            let body = RejectRequest { comment };
            if answer(client, &RejectJob { id, body: &body }, json_out)
                .await?
                .is_some()
            {
                println!("Job {id} rejected.");
            }
        }
        JobsCmd::Cancel { id } => {
            if answer(client, &CancelJob { id }, json_out).await?.is_some() {
                println!("Job {id} canceled; running tasks are being killed.");
            }
        }
        JobsCmd::Logs { id, task, follow } => return logs(client, id, task, follow).await,
        JobsCmd::Summary { id } => {
            eprintln!("Asking the language model to read job {id}'s output…");
            if let Some(s) = answer(client, &SummarizeJob { id }, json_out).await? {
                println!("{}", s.summary);
                println!("\n(read: {}; written by {})", s.sources.join(", "), s.model);
            }
        }
    }
    Ok(0)
}

fn print_job(v: &JobView) {
    let job = &v.job_summary;
    println!(
        "Job {}  {}  risk {}  cluster {}",
        job.id, job.state, job.risk, job.cluster
    );
    println!("  {}", job.summary);
    if !v.rationale.is_empty() {
        println!("  rationale: {}", v.rationale);
    }
    println!("  plan hash: {}", v.plan_hash);
    println!("  requested by {} at {}", job.requested_by, when(Some(&job.created_at)));
    if let Some(e) = &v.error {
        println!("  error: {e}");
    }
    let mut t = table(&["STAGE", "COMMAND", "AFTER", "TASK", "HOST", "STATE", "EXIT", "ERROR"]);
    for st in &v.stages {
        let after: Vec<String> = st.depends_on.iter().map(i64::to_string).collect();
        for (i, task) in st.tasks.iter().enumerate() {
            let (name, cmd, deps) = if i == 0 {
                (
                    format!("{} ({})", st.name, st.state),
                    format!("{}/{} {}", st.service, st.component, st.command),
                    after.join(","),
                )
            } else {
                (String::new(), String::new(), String::new())
            };
            t.add_row(vec![
                name,
                cmd,
                deps,
                task.id.to_string(),
                task.host.clone(),
                task.state.clone(),
                dash(task.exit_code),
                dash(task.error.as_ref()),
            ]);
        }
    }
    println!("{t}");
}

async fn logs(client: &Client, id: i64, only: Option<i64>, follow: bool) -> anyhow::Result<u8> {
    let job = client.get_job(id).await?;
    let tasks: Vec<(i64, String)> = job
        .stages
        .iter()
        .flat_map(|st| &st.tasks)
        .map(|t| (t.id, t.host.clone()))
        .filter(|(t, _)| only.is_none_or(|o| o == *t))
        .collect();
    if only.is_some() && tasks.is_empty() {
        anyhow::bail!("job {id} has no task {}", only.unwrap_or_default());
    }
    let prefix = tasks.len() > 1;
    if !follow {
        for (tid, host) in &tasks {
            let text = client.task_logs(id, *tid, &TaskLogsQuery::default()).await?;
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
    let stream = client.event_stream(&EventsQuery { job: Some(id) }).await?;
    futures::pin_mut!(stream);
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut states: HashMap<i64, String> = HashMap::new();
    let mut job_state = job.job_summary.state.clone();
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
        if tty {
            eprint!("\r\x1b[2K");
        }
        match ev {
            FeedEvent::Event(Event::Log { task_id, line, .. }) if only.is_none_or(|o| o == task_id) => {
                match (prefix, hosts.get(&task_id)) {
                    (true, Some(h)) => println!("[{h}] {line}"),
                    _ => println!("{line}"),
                }
            }
            FeedEvent::Event(Event::Task { task_id, state, .. }) => {
                states.insert(task_id, state);
            }
            FeedEvent::Event(Event::Job { state, finished, .. }) => {
                job_state = state;
                if finished == Some(true) {
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
