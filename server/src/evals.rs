//! `steward eval`: runs planner cases against the fixture world and prints accuracy.
//!
//! The fixture (clusters, hosts, placements) is created in a throw-away server started in
//! this process with the configured language model; no agent connects, so nothing can run.
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::inventory::{self, NewCluster, NewPlacement};
use crate::server;

pub mod retrieval;

/// `steward eval`: the planner's cases (`--cases`), or `steward eval retrieval`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EvalCommand {
    /// What else to evaluate.
    #[command(subcommand)]
    pub what: Option<EvalWhat>,
    /// The planner evaluation's options.
    #[command(flatten)]
    pub planner: EvalArgs,
}

/// Evaluations other than the planner's.
#[derive(Debug, clap::Subcommand)]
pub enum EvalWhat {
    /// Retrieval quality of the knowledge index: recall@k and MRR for dense, sparse and hybrid.
    Retrieval(retrieval::RetrievalArgs),
}

/// Runs `steward eval …`.
pub async fn run_command(c: EvalCommand) -> anyhow::Result<()> {
    match c.what {
        Some(EvalWhat::Retrieval(a)) => retrieval::run(a).await.map(|_| ()),
        None => run(c.planner).await,
    }
}

/// Options of `steward eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// JSONL cases: `{"request", "cluster", "expect": {service, component, command, hosts} | null}`.
    /// Required unless a subcommand (`retrieval`) is given.
    #[arg(long)]
    cases: Option<PathBuf>,
    /// The fixture world (TOML).
    #[arg(long, default_value = "llm/evals/fixture.toml")]
    fixture: PathBuf,
    /// `local` or `openai` (default: the configured provider).
    #[arg(long)]
    provider: Option<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Deserialize)]
struct Fixture {
    clusters: Vec<FixtureCluster>,
}

#[derive(Debug, Deserialize)]
struct FixtureCluster {
    name: String,
    stack: String,
    version: Option<String>,
    hosts: Vec<FixtureHost>,
}

#[derive(Debug, Deserialize)]
struct FixtureHost {
    hostname: String,
    components: Vec<String>,
}

/// One case of a JSONL file.
#[derive(Debug, Deserialize)]
struct Case {
    request: String,
    cluster: String,
    expect: Option<Expect>,
}

/// The action a case expects.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct Expect {
    service: String,
    component: String,
    command: String,
    hosts: Vec<String>,
}

/// The scores, as `--json` prints them.
#[derive(Debug, Serialize)]
pub struct Scores {
    cases: usize,
    exact_match: f64,
    action_match: f64,
    host_match: f64,
    refusal_accuracy: f64,
    invalid_proposals: usize,
    errors: usize,
    p50_ms: f64,
    p95_ms: f64,
    provider: String,
}

fn load_cases(path: &Path) -> anyhow::Result<Vec<Case>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{}:{}: not a case", path.display(), i + 1)))
        .collect()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs the cases and prints the scores.
pub async fn run(a: EvalArgs) -> anyhow::Result<()> {
    let Some(cases) = &a.cases else {
        bail!("steward eval needs --cases FILE (the planner's cases), or a subcommand such as `retrieval`");
    };
    let cases = load_cases(cases)?;
    let fixture: Fixture = toml::from_str(
        &std::fs::read_to_string(&a.fixture).with_context(|| format!("cannot read {}", a.fixture.display()))?,
    )
    .with_context(|| format!("{} is not a fixture", a.fixture.display()))?;
    let dir = tempfile::tempdir()?;
    let mut config = Config::load(None)?;
    // The model stays where the configured data directory keeps it; only the state is thrown away.
    config
        .llm
        .model_path
        .get_or_insert_with(|| steward_llm_local::model_path_in(&config.data_dir));
    config.data_dir = dir.path().to_owned();
    config.database_url = None;
    config.http = "127.0.0.1:0".parse()?;
    config.grpc = "127.0.0.1:0".parse()?;
    config.agent_token = Some("eval-token-not-used-by-any-agent".into());
    if let Some(p) = a.provider {
        config.llm.provider = Some(p);
    }
    let running = server::start(&config).await?;
    let state = running.state.clone();
    let Some(chat) = state.chat.clone() else {
        bail!(
            "no language model is available for the provider {:?}",
            config.llm.provider.as_deref().unwrap_or("local")
        );
    };
    for c in fixture.clusters {
        inventory::create_cluster(
            &state.store,
            "steward",
            &state.catalog,
            NewCluster {
                name: c.name,
                stack: c.stack,
                version: c.version,
                config: Default::default(),
                hosts: c
                    .hosts
                    .into_iter()
                    .map(|h| NewPlacement {
                        hostname: h.hostname,
                        components: h.components,
                    })
                    .collect(),
            },
        )
        .await?;
    }

    let (mut exact, mut action, mut hosts_ok, mut expect_n, mut refusals, mut null_n, mut invalid, mut errors) =
        (0, 0, 0, 0, 0, 0, 0, 0);
    let mut latencies = vec![];
    for (i, case) in cases.iter().enumerate() {
        let conv = chat.create("eval", "eval").await?;
        let text = format!("[cluster {}] {}", case.cluster, case.request);
        let t0 = Instant::now();
        let reply = chat.send(conv, "eval", "chat", &text, None).await;
        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
        let (got, bad) = match &reply {
            Ok(r) => {
                let bad = r.tool_calls.iter().filter(|t| t.name == "propose_job" && !t.ok).count();
                let got = r.proposals.first().and_then(|j| {
                    let st = j.plan.get("stages")?.get(0)?;
                    let mut hosts: Vec<String> = st
                        .get("tasks")?
                        .as_array()?
                        .iter()
                        .filter_map(|t| t["host"].as_str().map(str::to_owned))
                        .collect();
                    hosts.sort();
                    Some(Expect {
                        service: st["service"].as_str()?.to_owned(),
                        component: st["component"].as_str()?.to_owned(),
                        command: st["command"].as_str()?.to_owned(),
                        hosts,
                    })
                });
                (got, bad)
            }
            Err(e) => {
                errors += 1;
                eprintln!("case {}: {e}", i + 1);
                (None, 0)
            }
        };
        invalid += bad;
        let verdict = match &case.expect {
            Some(want) => {
                expect_n += 1;
                let mut want_hosts = want.hosts.clone();
                want_hosts.sort();
                let a_ok = got.as_ref().is_some_and(|g| {
                    g.service == want.service && g.component == want.component && g.command == want.command
                });
                let h_ok = got.as_ref().is_some_and(|g| g.hosts == want_hosts);
                action += a_ok as usize;
                hosts_ok += h_ok as usize;
                exact += (a_ok && h_ok) as usize;
                a_ok && h_ok
            }
            None => {
                null_n += 1;
                let ok = got.is_none() && reply.as_ref().is_ok_and(|r| r.proposals.is_empty());
                refusals += ok as usize;
                ok
            }
        };
        if !a.json {
            eprintln!(
                "{:>3} {} {:>6.0} ms  {}",
                i + 1,
                if verdict { "ok " } else { "BAD" },
                latencies[i],
                case.request
            );
        }
    }
    latencies.sort_by(f64::total_cmp);
    let frac = |n: usize, d: usize| if d == 0 { 1.0 } else { n as f64 / d as f64 };
    let scores = Scores {
        cases: cases.len(),
        exact_match: frac(exact, expect_n),
        action_match: frac(action, expect_n),
        host_match: frac(hosts_ok, expect_n),
        refusal_accuracy: frac(refusals, null_n),
        invalid_proposals: invalid,
        errors,
        p50_ms: pct(&latencies, 0.5),
        p95_ms: pct(&latencies, 0.95),
        provider: chat.model_name(),
    };
    if a.json {
        println!("{}", serde_json::to_string(&scores)?);
    } else {
        println!("| measure | value |\n|---|---|");
        println!("| provider | {} |", scores.provider);
        println!("| cases | {} ({expect_n} actions, {null_n} to refuse) |", scores.cases);
        println!("| exact action match | {:.1} % |", scores.exact_match * 100.0);
        println!(
            "| action (service/component/command) | {:.1} % |",
            scores.action_match * 100.0
        );
        println!("| host-set match | {:.1} % |", scores.host_match * 100.0);
        println!("| correct refusals | {:.1} % |", scores.refusal_accuracy * 100.0);
        println!("| invalid proposals | {} |", scores.invalid_proposals);
        println!("| provider errors | {} |", scores.errors);
        println!("| latency p50 / p95 | {:.0} / {:.0} ms |", scores.p50_ms, scores.p95_ms);
    }
    running.stop().await?;
    Ok(())
}
