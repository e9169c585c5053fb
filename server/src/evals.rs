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
pub mod world;

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
    /// Answers to questions: the facts each must contain, and must not.
    Answers(AnswerArgs),
    /// Job summaries: free of prompt text, and holding each case's key facts.
    Summaries(SummaryArgs),
}

/// Runs `steward eval …`.
pub async fn run_command(c: EvalCommand) -> anyhow::Result<()> {
    match c.what {
        Some(EvalWhat::Retrieval(a)) => retrieval::run(a).await.map(|_| ()),
        Some(EvalWhat::Answers(a)) => answers(a).await,
        Some(EvalWhat::Summaries(a)) => summaries(a),
        None => run(c.planner).await,
    }
}

/// Options of `steward eval answers`.
#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// JSONL cases: `{"question", "cluster", "must": [..], "must_not": [..]}`.
    #[arg(long, default_value = "llm/evals/answers.jsonl")]
    cases: PathBuf,
    /// The fixture world (TOML): clusters and placements.
    #[arg(long, default_value = "llm/evals/fixture.toml")]
    fixture: PathBuf,
    /// What Steward knows about it (TOML): metrics, incidents, finished jobs.
    #[arg(long, default_value = "llm/evals/world.toml")]
    world: PathBuf,
    /// `local` or `openai` (default: the configured provider).
    #[arg(long)]
    provider: Option<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Options of `steward eval summaries`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// JSONL cases: `{"name", "job": {id, summary, state}, "tasks": [..], "must", "must_not"}`.
    #[arg(long, default_value = "llm/evals/summaries.jsonl")]
    cases: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// One answer case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerCase {
    question: String,
    cluster: Option<String>,
    #[serde(default)]
    must: Vec<String>,
    #[serde(default)]
    must_not: Vec<String>,
}

/// One summary case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryCase {
    name: String,
    job: crate::chat::summary::JobHead,
    tasks: Vec<crate::chat::summary::TaskOutput>,
    #[serde(default)]
    must: Vec<String>,
    #[serde(default)]
    must_not: Vec<String>,
}

/// Text that is prompt machinery, never meant for a user.
const PROMPT_TEXT: &[&str] = &[
    "<task_output",
    "</task_output",
    "untrusted",
    "{{",
    "{%",
    "<context",
    "source=\"",
];

/// The `must` strings missing from `text` and the `must_not` strings present (case-insensitive).
fn facts(text: &str, must: &[String], must_not: &[String]) -> (Vec<String>, Vec<String>) {
    let lower = text.to_lowercase();
    let missing = must
        .iter()
        .filter(|m| !lower.contains(&m.to_lowercase()))
        .cloned()
        .collect();
    let present = must_not
        .iter()
        .filter(|m| lower.contains(&m.to_lowercase()))
        .cloned()
        .collect();
    (missing, present)
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{}:{}: not a case", path.display(), i + 1)))
        .collect()
}

/// Runs `steward eval summaries`: code's summaries of each case's task output.
fn summaries(a: SummaryArgs) -> anyhow::Result<()> {
    let cases: Vec<SummaryCase> = read_jsonl(&a.cases)?;
    let (mut clean, mut complete) = (0, 0);
    for (i, c) in cases.iter().enumerate() {
        let text = crate::chat::summary::extract(&c.job, &c.tasks);
        let lower = text.to_lowercase();
        let scaffolding: Vec<&str> = PROMPT_TEXT.iter().copied().filter(|p| lower.contains(p)).collect();
        let (missing, present) = facts(&text, &c.must, &c.must_not);
        clean += usize::from(scaffolding.is_empty());
        let ok = missing.is_empty() && present.is_empty();
        complete += usize::from(ok);
        if !a.json {
            eprintln!(
                "{:>3} {} {}",
                i + 1,
                if ok && scaffolding.is_empty() { "ok " } else { "BAD" },
                c.name
            );
            for m in &missing {
                eprintln!("      missing {m:?}");
            }
            for p in present.iter().map(String::as_str).chain(scaffolding) {
                eprintln!("      should not say {p:?}");
            }
        }
    }
    let n = cases.len().max(1) as f64;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"cases": cases.len(), "prompt_free": clean as f64 / n, "key_facts": complete as f64 / n})
        );
    } else {
        println!("| measure | value |\n|---|---|");
        println!("| cases | {} |", cases.len());
        println!("| free of prompt text | {:.1} % |", clean as f64 / n * 100.0);
        println!(
            "| every key fact, nothing forbidden | {:.1} % |",
            complete as f64 / n * 100.0
        );
    }
    Ok(())
}

/// Runs `steward eval answers`: questions against the fixture and its world.
async fn answers(a: AnswerArgs) -> anyhow::Result<()> {
    let cases: Vec<AnswerCase> = read_jsonl(&a.cases)?;
    let world = world::load(&a.world)?;
    let FixtureServer {
        _dir,
        running,
        state,
        chat,
    } = fixture_server(&a.fixture, a.provider).await?;
    world::seed(&state, &world).await?;
    let (mut complete, mut proposals) = (0, 0);
    let mut latencies = vec![];
    for (i, c) in cases.iter().enumerate() {
        let conv = chat.create("eval", "eval").await?;
        let text = match &c.cluster {
            Some(cl) => format!("[cluster {cl}] {}", c.question),
            None => c.question.clone(),
        };
        let t0 = Instant::now();
        let reply = chat.send(conv, "eval", "chat", &text, None, vec![]).await;
        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
        let (ok, detail) = match &reply {
            Ok(r) => {
                proposals += r.proposals.len();
                let (missing, present) = facts(&r.reply, &c.must, &c.must_not);
                let ok = missing.is_empty() && present.is_empty();
                (
                    ok,
                    format!("missing {missing:?}, should not say {present:?}\n{}", r.reply),
                )
            }
            Err(e) => (false, e.to_string()),
        };
        complete += usize::from(ok);
        if !a.json {
            eprintln!(
                "{:>3} {} {:>6.0} ms  {}",
                i + 1,
                if ok { "ok " } else { "BAD" },
                latencies[i],
                c.question
            );
            if !ok {
                for l in detail.lines() {
                    eprintln!("      {l}");
                }
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let n = cases.len().max(1) as f64;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"cases": cases.len(), "complete": complete as f64 / n, "read_only_proposals": proposals,
                "p50_ms": pct(&latencies, 0.5), "p95_ms": pct(&latencies, 0.95), "provider": chat.model_name()})
        );
    } else {
        println!("| measure | value |\n|---|---|");
        println!("| provider | {} |", chat.model_name());
        println!("| cases | {} |", cases.len());
        println!(
            "| every required fact, none forbidden | {:.1} % |",
            complete as f64 / n * 100.0
        );
        println!("| read-only proposals made | {proposals} |");
        println!(
            "| latency p50 / p95 | {:.0} / {:.0} ms |",
            pct(&latencies, 0.5),
            pct(&latencies, 0.95)
        );
    }
    running.stop().await?;
    Ok(())
}

/// Options of `steward eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// JSONL cases: `{"request", "cluster", "expect": {service, component, command, hosts} | null}`.
    /// Required unless a subcommand is given; repeat it to score several files apart
    /// (`--cases llm/evals/cases.jsonl --cases llm/evals/heldout.jsonl`).
    #[arg(long)]
    cases: Vec<PathBuf>,
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
    actions: usize,
    to_refuse: usize,
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

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A throw-away server in this process: its state directory, the server, and its chat.
struct FixtureServer {
    /// Removed when the evaluation ends.
    _dir: tempfile::TempDir,
    running: server::Running,
    state: crate::api::AppState,
    chat: crate::chat::Chat,
}

/// A throw-away server in this process with the configured model (or `provider`), holding
/// the clusters of `fixture`; no agent connects, so nothing can run.
async fn fixture_server(fixture: &Path, provider: Option<String>) -> anyhow::Result<FixtureServer> {
    let fixture: Fixture = toml::from_str(
        &std::fs::read_to_string(fixture).with_context(|| format!("cannot read {}", fixture.display()))?,
    )
    .with_context(|| format!("{} is not a fixture", fixture.display()))?;
    let dir = tempfile::tempdir()?;
    let mut config = Config::load(None)?;
    // The model stays where the configured data directory keeps it; only the state is thrown away.
    config
        .llm
        .model_path
        .get_or_insert_with(|| steward_llm_local::model_path_in(&config.data_dir));
    config
        .knowledge
        .embed_model_dir
        .get_or_insert_with(|| steward_embed_local::model_dir_in(&config.data_dir));
    config.data_dir = dir.path().to_owned();
    config.database_url = None;
    config.http = "127.0.0.1:0".parse()?;
    config.grpc = "127.0.0.1:0".parse()?;
    config.agent_token = Some("eval-token-not-used-by-any-agent".into());
    // An evaluation proposes hundreds of jobs a minute as one user: the abuse limit on
    // proposals (a person's pace) would turn most of them into refusals.
    config.auth.proposals_per_minute = 1_000_000;
    if let Some(p) = provider {
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
    Ok(FixtureServer {
        _dir: dir,
        running,
        state,
        chat,
    })
}

/// Runs the cases of each file and prints the scores, a row per file.
pub async fn run(a: EvalArgs) -> anyhow::Result<()> {
    if a.cases.is_empty() {
        bail!("steward eval needs --cases FILE (the planner's cases), or a subcommand such as `retrieval`");
    }
    let files: Vec<(PathBuf, Vec<Case>)> = a
        .cases
        .iter()
        .map(|p| read_jsonl::<Case>(p).map(|c| (p.clone(), c)))
        .collect::<anyhow::Result<_>>()?;
    let FixtureServer {
        _dir, running, chat, ..
    } = fixture_server(&a.fixture, a.provider).await?;
    let mut all = vec![];
    for (path, cases) in &files {
        let scores = score(&chat, cases, a.json).await?;
        all.push((path.display().to_string(), scores));
    }
    if a.json {
        let v: Vec<serde_json::Value> = all
            .iter()
            .map(|(f, s)| serde_json::json!({"file": f, "scores": s}))
            .collect();
        println!("{}", serde_json::to_string(&v)?);
    } else {
        println!("| cases file | provider | cases (actions / to refuse) | exact action | action | host set | correct refusals | invalid | errors | p50 / p95 |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for (f, s) in &all {
            println!(
                "| {f} | {} | {} ({} / {}) | {:.1} % | {:.1} % | {:.1} % | {:.1} % | {} | {} | {:.0} / {:.0} ms |",
                s.provider,
                s.cases,
                s.actions,
                s.to_refuse,
                s.exact_match * 100.0,
                s.action_match * 100.0,
                s.host_match * 100.0,
                s.refusal_accuracy * 100.0,
                s.invalid_proposals,
                s.errors,
                s.p50_ms,
                s.p95_ms
            );
        }
    }
    running.stop().await?;
    Ok(())
}

/// Scores one file's cases.
async fn score(chat: &crate::chat::Chat, cases: &[Case], quiet: bool) -> anyhow::Result<Scores> {
    let (mut exact, mut action, mut hosts_ok, mut expect_n, mut refusals, mut null_n, mut invalid, mut errors) =
        (0, 0, 0, 0, 0, 0, 0, 0);
    let mut latencies = vec![];
    for (i, case) in cases.iter().enumerate() {
        let conv = chat.create("eval", "eval").await?;
        let text = format!("[cluster {}] {}", case.cluster, case.request);
        let t0 = Instant::now();
        let reply = chat.send(conv, "eval", "chat", &text, None, vec![]).await;
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
        if !quiet {
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
    Ok(Scores {
        cases: cases.len(),
        actions: expect_n,
        to_refuse: null_n,
        exact_match: frac(exact, expect_n),
        action_match: frac(action, expect_n),
        host_match: frac(hosts_ok, expect_n),
        refusal_accuracy: frac(refusals, null_n),
        invalid_proposals: invalid,
        errors,
        p50_ms: pct(&latencies, 0.5),
        p95_ms: pct(&latencies, 0.95),
        provider: chat.model_name(),
    })
}
