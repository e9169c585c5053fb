//! Answers to questions, from Steward's own data.
//!
//! For the structured planner (the small local model), code decides what a question asks
//! about (`Asked`, from its words), reads it through the same typed functions as the REST API
//! (inventory, telemetry, incidents, jobs, the knowledge index) and renders the facts, each
//! with its source. The model supplies no fact. Where a read-only catalog command would tell
//! more (a component's status, a disk's largest directories), the answer carries it as an
//! [`Investigation`], which the turn proposes like any job: it waits for approval.
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::resolve::{distance, looks_like_host};
use super::summary::largest_directories;
use super::{Chat, ChatError};
use crate::inventory::{self, ClusterView, HostView};
use crate::jobs::{JobFilter, JobSummary};
use crate::knowledge::{Citation, Filter, Kind, SearchMode, SearchRequest};
use crate::telemetry::{IncidentFilter, IncidentView, RangeQuery, Telemetry};

/// What a question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Topic {
    Inventory,
    Cpu,
    Memory,
    Load,
    Disk,
    Network,
    Incidents,
    Jobs,
    Docs,
}

/// Words that name each topic (English first, then the other languages the planner reads).
const TOPIC_WORDS: &[(Topic, &[&str])] = &[
    (
        Topic::Inventory,
        &[
            "host",
            "hosts",
            "machine",
            "machines",
            "server",
            "servers",
            "node",
            "nodes",
            "box",
            "boxes",
            "inventory",
            "cluster",
            "clusters",
            "component",
            "components",
            "service",
            "services",
            "manage",
            "placed",
            "where",
            "run",
            "runs",
            "carry",
            "carries",
            "hôtes",
            "hôte",
            "machines",
            "rechner",
            "servidores",
            "máquinas",
            "maquinas",
            "macchine",
            "knooppunten",
        ],
    ),
    (
        Topic::Cpu,
        &[
            "cpu",
            "processor",
            "busy",
            "busiest",
            "hot",
            "utilisation",
            "utilization",
            "process",
            "processes",
            "processeur",
            "prozessor",
            "auslastung",
            "procesador",
        ],
    ),
    (
        Topic::Memory,
        &[
            "memory",
            "ram",
            "mem",
            "swap",
            "mémoire",
            "memoire",
            "speicher",
            "arbeitsspeicher",
            "memoria",
            "geheugen",
        ],
    ),
    (Topic::Load, &["load", "charge", "carga"]),
    (
        Topic::Disk,
        &[
            "disk",
            "disks",
            "space",
            "full",
            "fullest",
            "filling",
            "storage",
            "mount",
            "mounts",
            "filesystem",
            "filesystems",
            "partition",
            "inode",
            "inodes",
            "du",
            "disque",
            "espace",
            "festplatte",
            "platte",
            "speicherplatz",
            "disco",
            "espacio",
            "schijf",
        ],
    ),
    (
        Topic::Network,
        &[
            "network",
            "traffic",
            "bandwidth",
            "interface",
            "interfaces",
            "nic",
            "réseau",
            "netzwerk",
            "red",
            "rete",
        ],
    ),
    (
        Topic::Incidents,
        &[
            "incident",
            "incidents",
            "alert",
            "alerts",
            "alarm",
            "alarms",
            "problem",
            "problems",
            "wrong",
            "issue",
            "issues",
            "firing",
            "anomaly",
            "anomalies",
            "forecast",
            "vorfall",
            "vorfälle",
            "incidente",
            "incidentes",
            "problème",
            "problèmes",
        ],
    ),
    (
        Topic::Jobs,
        &[
            "job", "jobs", "ran", "failed", "fail", "happened", "history", "recent", "tâche", "tâches", "auftrag",
            "trabajo", "trabajos", "lavoro",
        ],
    ),
];

/// Phrases that ask what something is or how it works: answered from the docs.
const DOC_PHRASES: &[&str] = &[
    "how does",
    "how do",
    "what is",
    "what's",
    "what are",
    "what does",
    "what happens",
    "explain",
    "difference",
    "used for",
    "documentation",
    "docs",
    "how to",
    "qu'est-ce",
    "c'est quoi",
    "was ist",
    "was macht",
    "qué es",
    "para qué",
    "cos'è",
    "o que é",
    "wat is",
];

/// Words asking whether a component works: its known state, and its `status` command.
const STATE_WORDS: &[&str] = &[
    "running",
    "up",
    "down",
    "alive",
    "healthy",
    "unhealthy",
    "started",
    "stopped",
    "status",
    "state",
    "ok",
    "working",
    "dead",
    "back",
    "läuft",
    "fonctionne",
    "tourne",
    "funciona",
    "corriendo",
    "attivo",
    "draait",
];

/// First words of a question.
const QUESTION_STARTS: &[&str] = &[
    "what", "what's", "whats", "why", "how", "how's", "explain", "describe", "who", "which", "when", "where", "is",
    "are", "does", "do", "did", "has", "have", "show", "list", "tell", "give", "any", "quel", "quels", "quelle",
    "quelles", "combien", "pourquoi", "comment", "qui", "où", "est-ce", "was", "wie", "warum", "welche", "welcher",
    "welches", "wo", "wer", "gibt", "zeig", "qué", "que", "cuál", "cuáles", "cuántos", "cuánto", "dónde", "quién",
    "cómo", "por", "quais", "qual", "quanto", "quantos", "onde", "porque", "perché", "quale", "quali", "quanti",
    "dove", "come", "wat", "welke", "waarom", "hoe", "waar",
];

/// Openings that make a question a request ("can you restart kafka?").
const REQUEST_OPENINGS: &[&str] = &[
    "can you",
    "could you",
    "would you",
    "will you",
    "please",
    "pls",
    "kannst du",
    "könntest du",
    "pouvez-vous",
    "peux-tu",
    "pourrais-tu",
    "puedes",
    "podrías",
    "podes",
    "puoi",
    "kun je",
    "kan je",
];

/// Whether `text` asks something rather than asks for something.
pub fn is_question(text: &str) -> bool {
    let lower = text.trim().to_lowercase();
    if REQUEST_OPENINGS.iter().any(|p| lower.starts_with(p)) {
        return false;
    }
    let first = lower
        .split(|c: char| c.is_whitespace() || c == ',' || c == ':')
        .next()
        .unwrap_or("")
        .trim_start_matches('¿');
    // "Do a graceful restart", "is" in "is it up": auxiliaries ask only with a question mark.
    let auxiliary = matches!(first, "is" | "are" | "do" | "does" | "did" | "has" | "have");
    lower.ends_with('?') || (QUESTION_STARTS.contains(&first) && !auxiliary)
}

/// Whether `text` asks about something Steward measures or knows (a metric, incidents,
/// jobs): a request that names no command but says "mem on web-1" is a question without
/// its question mark.
pub fn asks_about(text: &str) -> bool {
    let tw = words(text);
    TOPIC_WORDS
        .iter()
        .filter(|(t, _)| *t != Topic::Inventory)
        .any(|(_, list)| tw.iter().any(|w| list.iter().any(|t| near(w, t))))
}

/// A word, or a typo of a longer one ("laod", "bussiest").
fn near(w: &str, t: &str) -> bool {
    w == t || (t.chars().count() >= 4 && w.chars().count() >= 4 && distance(w, t) <= 1)
}

/// Lower-case words of a text (letters, digits, `-`, `_`, `.`, `/`).
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '\'')))
        .map(|w| w.trim_matches(|c| matches!(c, '.' | '-' | '\'')).to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

/// What a question asks, from its words alone.
#[derive(Debug, Default)]
struct Asked {
    topics: BTreeSet<Topic>,
    /// Known hosts it names.
    hosts: Vec<String>,
    /// Host-like names it uses that no cluster has.
    unknown_hosts: Vec<String>,
    /// Components it names: (service, component).
    components: Vec<(String, String)>,
    /// `job 12`.
    job: Option<i64>,
    /// A path it names (`/data`).
    path: Option<String>,
    why: bool,
    /// Asks about the past too (resolved incidents).
    past: bool,
    /// Asks whether something works.
    state: bool,
    /// Asks about a failure.
    failed: bool,
    /// Asks about inodes.
    inodes: bool,
    /// Asks about every cluster ("which clusters …").
    all_clusters: bool,
    /// Asks what became of something (a check's result, whether it works, why it failed).
    outcome: bool,
    /// Asks how something is doing, without saying what ("is web-1 ok?").
    health: bool,
}

fn parse(text: &str, hosts: &[HostView], clusters: &[ClusterView], chat: &Chat) -> Asked {
    let lower = text.to_lowercase();
    let tw = words(text);
    let mut a = Asked::default();
    for (topic, list) in TOPIC_WORDS {
        if tw.iter().any(|w| list.iter().any(|t| near(w, t))) {
            a.topics.insert(*topic);
        }
    }
    a.inodes = tw.iter().any(|w| w.starts_with("inode"));
    a.all_clusters = tw.iter().any(|w| w == "clusters");
    if DOC_PHRASES.iter().any(|p| lower.contains(p)) {
        a.topics.insert(Topic::Docs);
    }
    let known: BTreeSet<&str> = hosts.iter().map(|h| h.hostname.as_str()).collect();
    let clusters_named: BTreeSet<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    // "web1" for web-1: the same name without its dashes.
    let undashed = |w: &str| -> Option<&str> {
        let bare = w.replace('-', "");
        known.iter().copied().find(|k| k.replace('-', "") == bare)
    };
    for (i, w) in tw.iter().enumerate() {
        let w = &w.trim_end_matches("'s").to_owned();
        if let Some(k) = known.get(w.as_str()).copied().or_else(|| undashed(w)) {
            if !a.hosts.iter().any(|h| h == k) {
                a.hosts.push(k.to_owned());
            }
        } else if looks_like_host(w) && !clusters_named.contains(w.as_str()) && !a.unknown_hosts.contains(w) {
            a.unknown_hosts.push(w.clone());
        }
        if matches!(w.as_str(), "job" | "jobs" | "tâche" | "auftrag" | "trabajo") {
            if let Some(n) = tw.get(i + 1).and_then(|n| n.trim_start_matches('#').parse().ok()) {
                a.job = Some(n);
            }
        }
        if w.starts_with('/') && a.path.is_none() {
            a.path = Some(w.trim_end_matches(['?', ',']).to_owned());
        }
    }
    if let Some(n) = tw.iter().find_map(|w| w.strip_prefix('#').and_then(|n| n.parse().ok())) {
        a.job.get_or_insert(n);
    }
    if a.job.is_some() {
        a.topics.insert(Topic::Jobs);
    }
    if a.path.is_some() {
        a.topics.insert(Topic::Disk);
    }
    for c in clusters {
        let Some(stack) = chat.catalog.stack(&c.stack, &c.stack_version) else {
            continue;
        };
        for s in stack.services.values() {
            for comp in s.components.values() {
                let mut names = vec![s.name.clone()];
                if comp.name != s.name && !matches!(comp.name.as_str(), "server" | "host") {
                    names.push(comp.name.clone());
                }
                names.extend(s.aliases.iter().cloned());
                names.extend(comp.aliases.iter().cloned());
                let named = names.iter().any(|n| {
                    let nw = words(n);
                    !nw.is_empty()
                        && tw
                            .windows(nw.len())
                            .any(|win| win.iter().zip(&nw).all(|(a, b)| a == b || a.trim_end_matches('s') == b))
                });
                // `host` names the machine, which inventory answers already.
                if named && s.name != "host" {
                    let pair = (s.name.clone(), comp.name.clone());
                    if !a.components.contains(&pair) {
                        a.components.push(pair);
                    }
                }
            }
        }
    }
    a.why = tw.first().is_some_and(|w| {
        matches!(
            w.as_str(),
            "why" | "pourquoi" | "warum" | "porque" | "perché" | "waarom"
        )
    }) || lower.contains("por qué")
        || ["how come", "going on", "happening", "se passe"]
            .iter()
            .any(|p| lower.contains(p));
    a.past = tw.iter().any(|w| {
        matches!(
            w.as_str(),
            "resolved" | "past" | "earlier" | "before" | "previous" | "history" | "closed" | "last" | "yesterday"
        )
    });
    a.state = tw.iter().any(|w| STATE_WORDS.contains(&w.as_str()));
    a.health = tw.iter().any(|w| {
        matches!(
            w.as_str(),
            "ok" | "okay" | "doing" | "attention" | "health" | "healthy" | "fine" | "alright" | "status" | "state"
        )
    });
    a.failed = tw
        .iter()
        .any(|w| w.starts_with("fail") || w.starts_with("fall") || w.starts_with("échou"));
    a.outcome = a.state
        || a.failed
        || a.why
        || a.health
        || a.topics.contains(&Topic::Jobs)
        || tw.iter().any(|w| {
            matches!(
                w.as_str(),
                "result"
                    | "results"
                    | "check"
                    | "test"
                    | "pass"
                    | "passed"
                    | "find"
                    | "found"
                    | "outcome"
                    | "did"
                    | "doing"
                    | "leader"
                    | "ergebnis"
                    | "résultat"
                    | "resultado"
            )
        });
    if !a.components.is_empty() && a.topics.is_empty() {
        a.topics.insert(Topic::Inventory);
    }
    a
}

/// A read-only command that would tell more than Steward knows: proposed with the answer.
#[derive(Debug, Clone)]
pub struct Investigation {
    /// Cluster.
    pub cluster: String,
    /// Service.
    pub service: String,
    /// Component.
    pub component: String,
    /// Command (read-only).
    pub command: String,
    /// Hosts.
    pub hosts: Vec<String>,
    /// Parameters.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Why, citing what prompted it.
    pub rationale: String,
}

/// An answer: Markdown facts, their sources, and what to run to know more.
#[derive(Debug, Default)]
pub struct Answer {
    /// The facts, each line with its source in brackets.
    pub text: String,
    /// Sources, for the reply's citations.
    pub citations: Vec<Citation>,
    /// A read-only command to propose.
    pub investigate: Option<Investigation>,
}

impl Answer {
    fn line(&mut self, text: impl AsRef<str>) {
        self.text.push_str(text.as_ref());
        self.text.push('\n');
    }

    /// Cites a console page: source `kind:name`, title `kind name`, link `/kinds/id`.
    fn cite_page(&mut self, kind: &str, name: impl std::fmt::Display, id: i64) -> String {
        self.cite(
            format!("{kind}:{name}"),
            format!("{kind} {name}"),
            format!("/{kind}s/{id}"),
        )
    }

    fn cite(&mut self, source: String, title: String, link: String) -> String {
        let tag = format!("[{source}]");
        if !self.citations.iter().any(|c| c.source == source) {
            self.citations.push(Citation { source, title, link });
        }
        tag
    }
}

/// `93.2 %`.
fn pct(v: f64) -> String {
    format!("{v:.1} %")
}

/// `17:42 UTC`, or the date too when not today.
fn when(rfc3339: &str) -> String {
    match DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => {
            let t = t.with_timezone(&Utc);
            if t.date_naive() == Utc::now().date_naive() {
                t.format("%H:%M UTC").to_string()
            } else {
                t.format("%Y-%m-%d %H:%M UTC").to_string()
            }
        }
        Err(_) => rfc3339.to_owned(),
    }
}

/// Least-squares slope of `points` per hour.
fn slope_per_hour(points: &[(i64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0 as f64).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in points {
        num += (*x as f64 - mx) * (y - my);
        den += (*x as f64 - mx).powi(2);
    }
    (den > 0.0).then(|| num / den * 3_600_000.0)
}

/// "rising, +2.0 %/h over the last 4 h".
fn trend_words(slope: f64, hours: f64, unit: &str) -> String {
    if slope.abs() < 0.2 {
        format!("steady over the last {hours:.0} h")
    } else if slope > 0.0 {
        format!("rising, +{slope:.1} {unit}/h over the last {hours:.0} h")
    } else {
        format!("falling, {slope:.1} {unit}/h over the last {hours:.0} h")
    }
}

/// Hours of history a trend is read from.
const TREND_HOURS: i64 = 4;
/// Hosts listed in one answer, at most.
const MAX_HOSTS: usize = 12;
/// Mounts listed per host, at most.
const MAX_MOUNTS: usize = 4;

/// A latest value with its series' labels.
struct Value {
    labels: std::collections::BTreeMap<String, String>,
    value: f64,
    at: String,
}

impl Chat {
    /// The newest jobs (on `host_id`, in `states`), at most `limit`.
    async fn newest_jobs(
        &self,
        host_id: Option<i64>,
        states: Vec<crate::jobs::JobState>,
        limit: u64,
    ) -> Result<Vec<JobSummary>, ChatError> {
        let f = JobFilter {
            states,
            host_id,
            source: None,
            limit,
            offset: 0,
        };
        Ok(self.jobs.search(&f).await?.0)
    }

    /// The newest jobs in any state on the one host in scope (on every host when the scope
    /// holds more than one, or none) of the cluster in scope, at most `limit`.
    async fn jobs_here(
        &self,
        scope: Option<&ClusterView>,
        in_scope: &[&HostView],
        limit: u64,
    ) -> Result<Vec<JobSummary>, ChatError> {
        let host_id = match in_scope {
            [one] => Some(one.id),
            _ => None,
        };
        let mut list = self.newest_jobs(host_id, vec![], limit).await?;
        list.retain(|j| scope.is_none_or(|c| c.name == j.cluster));
        Ok(list)
    }

    /// The telemetry service, once the server has started it.
    fn telemetry(&self) -> Option<&Telemetry> {
        self.telemetry.get()
    }

    /// Answers the question `text`, asked about `scope` (a cluster) or everything.
    pub(super) async fn answer(
        &self,
        text: &str,
        clusters: &[ClusterView],
        scope: Option<&ClusterView>,
    ) -> Result<Answer, ChatError> {
        let all_hosts = inventory::list_hosts(self.store.read(), &self.presence).await?;
        let asked = parse(text, &all_hosts, clusters, self);
        let mut ans = Answer::default();
        if !asked.unknown_hosts.is_empty() {
            let names: Vec<&str> = all_hosts.iter().map(|h| h.hostname.as_str()).collect();
            ans.line(format!(
                "There is no host {} here. The hosts Steward manages are: {}.",
                asked.unknown_hosts.join(", "),
                if names.is_empty() {
                    "none yet".to_owned()
                } else {
                    names.join(", ")
                }
            ));
            return Ok(ans);
        }
        // The hosts in question: the ones named, else the cluster's, else all.
        let in_scope: Vec<&HostView> = if !asked.hosts.is_empty() {
            all_hosts.iter().filter(|h| asked.hosts.contains(&h.hostname)).collect()
        } else if let Some(c) = scope.filter(|_| !asked.all_clusters) {
            all_hosts
                .iter()
                .filter(|h| h.cluster.as_deref() == Some(c.name.as_str()))
                .collect()
        } else {
            all_hosts.iter().collect()
        };
        let mut topics = asked.topics.clone();
        // "Is web-1 ok?", "which hosts need attention?": the headline numbers and incidents.
        let overview = topics.is_empty() || (asked.health && asked.components.is_empty());
        if overview && (!asked.hosts.is_empty() || asked.health) {
            topics.extend([Topic::Cpu, Topic::Memory, Topic::Disk, Topic::Load, Topic::Incidents]);
        } else if topics.is_empty() {
            topics.insert(Topic::Inventory);
            topics.insert(Topic::Incidents);
        }
        if topics.contains(&Topic::Inventory) || (!asked.components.is_empty() && asked.state) {
            self.inventory_facts(&mut ans, &asked, clusters, scope, &all_hosts, &in_scope);
        }
        if !asked.components.is_empty() && asked.outcome {
            let jobs = self.jobs_here(scope, &in_scope, 100).await?;
            self.component_jobs(&mut ans, &asked, &jobs).await?;
        }
        let metrics: Vec<Topic> = topics
            .iter()
            .copied()
            .filter(|t| {
                matches!(
                    t,
                    Topic::Cpu | Topic::Memory | Topic::Load | Topic::Disk | Topic::Network
                )
            })
            .collect();
        if !metrics.is_empty() {
            self.metric_facts(&mut ans, &asked, &metrics, &in_scope).await;
        }
        if topics.contains(&Topic::Incidents) || asked.why || topics.contains(&Topic::Disk) {
            self.incident_facts(&mut ans, &asked, &in_scope, topics.contains(&Topic::Incidents))
                .await;
        }
        if topics.contains(&Topic::Jobs) || asked.failed {
            let jobs = self.jobs_here(scope, &in_scope, 40).await?;
            self.job_facts(&mut ans, &asked, &jobs).await?;
        }
        // A question about one host's disk: what takes the space is worth knowing.
        if asked.topics.contains(&Topic::Disk) && (asked.why || in_scope.len() == 1) {
            self.disk_investigation(&mut ans, &asked, clusters, &in_scope).await?;
        }
        if topics.contains(&Topic::Docs) || asked.why {
            self.doc_facts(&mut ans, text, scope).await;
        }
        if !asked.components.is_empty() && asked.state && ans.investigate.is_none() {
            ans.investigate = status_check(self, &asked, clusters, scope);
        }
        if ans.text.trim().is_empty() {
            ans.line("Steward holds no data that answers that.");
        }
        Ok(ans)
    }

    fn inventory_facts(
        &self,
        ans: &mut Answer,
        asked: &Asked,
        clusters: &[ClusterView],
        scope: Option<&ClusterView>,
        all_hosts: &[HostView],
        in_scope: &[&HostView],
    ) {
        if !asked.components.is_empty() {
            for (s, c) in &asked.components {
                let mut placed = false;
                for cl in clusters.iter().filter(|cl| scope.is_none_or(|sc| sc.name == cl.name)) {
                    let on: Vec<String> = cl
                        .hosts
                        .iter()
                        .filter(|h| asked.hosts.is_empty() || asked.hosts.contains(&h.hostname))
                        .filter_map(|h| {
                            let hc = h.components.iter().find(|x| &x.service == s && &x.component == c)?;
                            Some(format!("{} ({}, host {})", h.hostname, hc.state, h.state))
                        })
                        .collect();
                    if on.is_empty() {
                        continue;
                    }
                    placed = true;
                    let tag = ans.cite_page("cluster", &cl.name, cl.id);
                    ans.line(format!(
                        "- {s}/{c} runs on {} host{} of cluster **{}**: {} {tag}",
                        on.len(),
                        if on.len() == 1 { "" } else { "s" },
                        cl.name,
                        on.join(", ")
                    ));
                }
                if !placed {
                    let where_ = scope.map_or("any cluster".to_owned(), |c| format!("cluster {}", c.name));
                    let hosts = if asked.hosts.is_empty() {
                        String::new()
                    } else {
                        format!(" on {}", asked.hosts.join(", "))
                    };
                    ans.line(format!("- {s}/{c} does not run{hosts} in {where_}."));
                }
            }
            if asked.state {
                ans.line("  (A component's state is what its last start, stop or status job found; UNKNOWN means none has checked it.)");
            }
            return;
        }
        // "Which clusters …" asks beyond the one the chat is about.
        let scoped: Vec<&ClusterView> = match scope {
            Some(c) if asked.hosts.is_empty() && !asked.all_clusters => vec![c],
            _ => clusters.iter().collect(),
        };
        let shown: BTreeSet<&str> = in_scope.iter().map(|h| h.hostname.as_str()).collect();
        let count = shown.len();
        ans.line(format!(
            "Steward manages {} host{} in {} cluster{}{}:",
            all_hosts.len(),
            if all_hosts.len() == 1 { "" } else { "s" },
            clusters.len(),
            if clusters.len() == 1 { "" } else { "s" },
            if count < all_hosts.len() {
                format!("; {count} in question")
            } else {
                String::new()
            }
        ));
        for cl in scoped {
            let hosts: Vec<String> = cl
                .hosts
                .iter()
                .filter(|h| shown.contains(h.hostname.as_str()))
                .map(|h| {
                    let comps: Vec<String> = h
                        .components
                        .iter()
                        .map(|c| format!("{}/{} {}", c.service, c.component, c.state))
                        .collect();
                    format!(
                        "{} ({}{}{})",
                        h.hostname,
                        h.state,
                        if comps.is_empty() { "" } else { ": " },
                        comps.join(", ")
                    )
                })
                .collect();
            if hosts.is_empty() {
                continue;
            }
            let tag = ans.cite_page("cluster", &cl.name, cl.id);
            ans.line(format!(
                "- cluster **{}** ({} {}): {} {tag}",
                cl.name,
                cl.stack,
                cl.stack_version,
                hosts.join("; ")
            ));
        }
        let loose: Vec<String> = in_scope
            .iter()
            .filter(|h| h.cluster.is_none())
            .map(|h| format!("{} ({})", h.hostname, h.state))
            .collect();
        if !loose.is_empty() {
            ans.line(format!("- in no cluster: {}", loose.join(", ")));
        }
    }

    async fn metric_facts(&self, ans: &mut Answer, asked: &Asked, topics: &[Topic], in_scope: &[&HostView]) {
        let Some(t) = self.telemetry() else {
            ans.line("Telemetry is not running, so there are no host metrics to report.");
            return;
        };
        // Busiest first when the question compares hosts; trends only for a few hosts.
        let mut rows: Vec<(f64, String)> = vec![];
        let few = in_scope.len() <= 4;
        for h in in_scope.iter().take(MAX_HOSTS * 4) {
            let Ok(series) = t.series(h.id).await else { continue };
            let latest = |name: &str| -> Vec<Value> {
                series
                    .iter()
                    .filter(|s| s.name == name)
                    .filter_map(|s| {
                        s.latest.as_ref().map(|p| Value {
                            labels: s.labels.clone(),
                            value: p.value,
                            at: p.t.clone(),
                        })
                    })
                    .collect()
            };
            let one = |name: &str| latest(name).into_iter().find(|v| v.labels.is_empty());
            let mut parts = vec![];
            let mut rank = 0.0f64;
            let mut at = None;
            for topic in topics {
                match topic {
                    Topic::Cpu => {
                        if let Some(v) = one("cpu_used_pct") {
                            let trend = self.trend_of(t, h.id, "cpu_used_pct", few).await;
                            rank = rank.max(v.value);
                            at.get_or_insert(v.at.clone());
                            let mut procs = latest("process_cpu_pct");
                            procs.sort_by(|a, b| b.value.total_cmp(&a.value));
                            let top = procs
                                .first()
                                .and_then(|p| {
                                    p.labels
                                        .get("process")
                                        .map(|n| format!(" (top process {n}, {})", pct(p.value)))
                                })
                                .unwrap_or_default();
                            parts.push(format!("CPU {}{trend}{top}", pct(v.value)));
                        }
                    }
                    Topic::Memory => {
                        if let Some(v) = one("mem_used_pct") {
                            rank = rank.max(v.value);
                            at.get_or_insert(v.at.clone());
                            let trend = self.trend_of(t, h.id, "mem_used_pct", few).await;
                            parts.push(format!("memory {}{trend}", pct(v.value)));
                        }
                        if let Some(v) = one("swap_used_pct") {
                            parts.push(format!("swap {}", pct(v.value)));
                        }
                    }
                    Topic::Load => {
                        if let Some(v) = one("load1") {
                            at.get_or_insert(v.at.clone());
                            parts.push(format!("load {:.2}", v.value));
                        }
                    }
                    Topic::Network => {
                        let mut ifs = latest("net_rx_bytes_per_s");
                        ifs.sort_by(|a, b| b.value.total_cmp(&a.value));
                        for v in ifs.iter().take(3) {
                            let name = v.labels.get("interface").cloned().unwrap_or_default();
                            parts.push(format!("{name} receiving {:.1} KiB/s", v.value / 1024.0));
                        }
                    }
                    Topic::Disk => {
                        let mut disks = latest("disk_used_pct");
                        disks.sort_by(|a, b| b.value.total_cmp(&a.value));
                        if let Some(p) = &asked.path {
                            // The mount holding the path: the longest mount point that prefixes it.
                            let holder = disks
                                .iter()
                                .filter_map(|d| d.labels.get("mount").map(|m| (m.clone(), d)))
                                .filter(|(m, _)| p == m || p.starts_with(&format!("{}/", m.trim_end_matches('/'))))
                                .max_by_key(|(m, _)| m.len())
                                .map(|(m, _)| m);
                            disks.retain(|d| d.labels.get("mount") == holder.as_ref());
                        }
                        let trends = self.trends(t, h.id, "disk_used_pct").await;
                        let mut mounts = vec![];
                        for d in disks.iter().take(MAX_MOUNTS) {
                            let mount = d.labels.get("mount").cloned().unwrap_or_default();
                            rank = rank.max(d.value);
                            at.get_or_insert(d.at.clone());
                            let trend = trends
                                .iter()
                                .find(|(l, _)| l.get("mount") == Some(&mount))
                                .map(|(_, s)| format!(", {}", trend_words(*s, TREND_HOURS as f64, "%")))
                                .unwrap_or_default();
                            let inodes = if asked.inodes {
                                latest("disk_inodes_used_pct")
                                    .iter()
                                    .find(|i| i.labels.get("mount") == Some(&mount))
                                    .map(|i| format!(", inodes {} used", pct(i.value)))
                                    .unwrap_or_default()
                            } else {
                                String::new()
                            };
                            mounts.push(format!("`{mount}` {} used{trend}{inodes}", pct(d.value)));
                        }
                        if !mounts.is_empty() {
                            parts.push(format!("disk {}", mounts.join("; ")));
                        }
                    }
                    _ => {}
                }
            }
            if parts.is_empty() {
                continue;
            }
            let tag = ans.cite_page("host", &h.hostname, h.id);
            let at = at.map(|a| format!(" at {}", when(&a))).unwrap_or_default();
            rows.push((rank, format!("- **{}**: {}{at} {tag}", h.hostname, parts.join(", "))));
        }
        if rows.is_empty() {
            ans.line("No host in question has reported those metrics.");
            return;
        }
        if asked.hosts.is_empty() && rows.len() > 1 {
            rows.sort_by(|a, b| b.0.total_cmp(&a.0));
            ans.line("Highest first:");
        }
        let more = rows.len().saturating_sub(MAX_HOSTS);
        for (_, r) in rows.into_iter().take(MAX_HOSTS) {
            ans.line(r);
        }
        if more > 0 {
            ans.line(format!("- … and {more} more hosts"));
        }
    }

    /// ", rising, +2.0 %/h over the last 4 h" for the unlabelled series `metric`, when `want`.
    async fn trend_of(&self, t: &Telemetry, host_id: i64, metric: &str, want: bool) -> String {
        if !want {
            return String::new();
        }
        self.trends(t, host_id, metric)
            .await
            .into_iter()
            .find(|(l, _)| l.is_empty())
            .map(|(_, s)| format!(", {}", trend_words(s, TREND_HOURS as f64, "%")))
            .unwrap_or_default()
    }

    /// Each series of `metric` on `host_id` with its slope per hour over the last hours.
    async fn trends(
        &self,
        t: &Telemetry,
        host_id: i64,
        metric: &str,
    ) -> Vec<(std::collections::BTreeMap<String, String>, f64)> {
        let now = Utc::now().timestamp_millis();
        let q = RangeQuery {
            name: metric.to_owned(),
            from: Some((now - TREND_HOURS * 3_600_000).to_string()),
            to: None,
            step: None,
        };
        match t.range(host_id, &q).await {
            Ok(r) => r
                .series
                .into_iter()
                .filter_map(|s| slope_per_hour(&s.points).map(|k| (s.labels, k)))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a trend for an answer");
                vec![]
            }
        }
    }

    async fn incident_facts(&self, ans: &mut Answer, asked: &Asked, in_scope: &[&HostView], say_none: bool) {
        let Some(t) = self.telemetry() else { return };
        let ids: BTreeSet<i64> = in_scope.iter().map(|h| h.id).collect();
        let mut shown = vec![];
        for state in ["OPEN", "RESOLVED"] {
            if state == "RESOLVED" && !asked.past {
                continue;
            }
            let f = IncidentFilter {
                state: Some(state.into()),
                host_id: None,
                limit: Some(200),
            };
            let Ok(list) = t.incidents(&f).await else { continue };
            shown.extend(list.into_iter().filter(|i| ids.contains(&i.host_id)).take(8));
        }
        if shown.is_empty() {
            if say_none {
                ans.line(format!(
                    "No incident is open{}.",
                    if asked.hosts.is_empty() {
                        String::new()
                    } else {
                        format!(" on {}", asked.hosts.join(", "))
                    }
                ));
            }
            return;
        }
        for i in &shown {
            let line = incident_line(ans, i);
            ans.line(line);
        }
    }

    async fn job_facts(&self, ans: &mut Answer, asked: &Asked, jobs: &[JobSummary]) -> Result<(), ChatError> {
        if let Some(id) = asked.job {
            match self.jobs.get(id).await {
                Ok(job) => {
                    let account = self.account(&job).await?;
                    let tag = ans.cite_page("job", id, id);
                    ans.line(format!("{account} {tag}"));
                }
                Err(_) => ans.line(format!("There is no job {id}.")),
            }
            return Ok(());
        }
        let list: Vec<_> = jobs
            .iter()
            .filter(|j| !matches!(j.state.as_str(), "PROPOSED" | "REJECTED" | "EXPIRED"))
            .collect();
        let failed_asked = asked.failed || (asked.why && asked.topics.contains(&Topic::Jobs));
        if list.is_empty() {
            ans.line("No job has run there yet.");
            return Ok(());
        }
        if !failed_asked || asked.hosts.is_empty() && list.len() > 1 {
            ans.line("Recent jobs:");
            for j in list.iter().take(5) {
                let tag = ans.cite_page("job", j.id, j.id);
                let at = j
                    .finished_at
                    .as_deref()
                    .map(|t| format!(", finished {}", when(t)))
                    .unwrap_or_default();
                ans.line(format!("- job {}: {} — {}{at} {tag}", j.id, j.summary, j.state));
            }
        }
        // "Why did … fail": the newest failure, told by its output.
        if failed_asked && asked.components.is_empty() {
            if let Some(j) = list.iter().find(|j| j.state == "FAILED") {
                let job = self.jobs.get(j.id).await?;
                let account = self.account(&job).await?;
                let tag = ans.cite_page("job", j.id, j.id);
                ans.line(format!("\n{account} {tag}"));
            }
        }
        Ok(())
    }

    /// The newest finished job of each component asked about, on the hosts in question, told
    /// by its output ("is the kafka broker on an-3 running?" → how its last restart went).
    async fn component_jobs(&self, ans: &mut Answer, asked: &Asked, jobs: &[JobSummary]) -> Result<(), ChatError> {
        for (s, c) in &asked.components {
            let needle = format!(" {s}/{c}");
            let Some(j) = jobs
                .iter()
                .filter(|j| matches!(j.state.as_str(), "SUCCESSFUL" | "FAILED" | "CANCELED"))
                .find(|j| j.summary.contains(&needle))
            else {
                continue;
            };
            let job = self.jobs.get(j.id).await?;
            let account = self.account(&job).await?;
            let tag = ans.cite_page("job", j.id, j.id);
            let at = j
                .finished_at
                .as_deref()
                .map(|t| format!(" (finished {})", when(t)))
                .unwrap_or_default();
            ans.line(format!("\nThe last job on {s}/{c} here{at}:\n{} {tag}", account));
        }
        Ok(())
    }

    /// For "why is the disk filling up on H": the largest directories the last disk-usage
    /// job found, and that job again (read-only) on the fullest mount, proposed.
    async fn disk_investigation(
        &self,
        ans: &mut Answer,
        asked: &Asked,
        clusters: &[ClusterView],
        in_scope: &[&HostView],
    ) -> Result<(), ChatError> {
        let [host] = in_scope else { return Ok(()) };
        let Some(cluster) = clusters.iter().find(|c| Some(&c.name) == host.cluster.as_ref()) else {
            return Ok(());
        };
        let list = self
            .newest_jobs(Some(host.id), vec![crate::jobs::JobState::Successful], 20)
            .await?;
        if let Some(j) = list.iter().find(|j| j.summary.contains("disk-usage")) {
            let job = self.jobs.get(j.id).await?;
            let (tasks, _) = self.task_outputs(&job).await?;
            if let Some(t) = tasks.iter().find(|t| t.host == host.hostname) {
                let dirs = largest_directories(&t.output);
                if !dirs.is_empty() {
                    let tag = ans.cite_page("job", j.id, j.id);
                    let at = j.finished_at.as_deref().map(when).unwrap_or_default();
                    let list: Vec<String> = dirs.iter().take(5).map(|(s, p)| format!("{p} {s}")).collect();
                    ans.line(format!(
                        "- the largest directories in job {} ({at}): {} {tag}",
                        j.id,
                        list.join(", ")
                    ));
                }
            }
        }
        let Some(stack) = self.catalog.stack(&cluster.stack, &cluster.stack_version) else {
            return Ok(());
        };
        let Some(cmd) = stack
            .component("host", "host")
            .and_then(|c| c.commands.get("disk-usage"))
        else {
            return Ok(());
        };
        if !cluster.carriers("host", "host").contains(&host.hostname) || !cmd.read_only {
            return Ok(());
        }
        // The mount in question: the one named, else the fullest.
        let mount = match (&asked.path, self.telemetry()) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(t)) => t.series(host.id).await.ok().and_then(|s| {
                s.into_iter()
                    .filter(|s| s.name == "disk_used_pct")
                    .filter_map(|s| Some((s.latest?.value, s.labels.get("mount")?.clone())))
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, m)| m)
            }),
            _ => None,
        };
        let mut params = serde_json::Map::new();
        if let (Some(m), true) = (&mount, cmd.params.contains_key("path")) {
            params.insert("path".into(), serde_json::json!(m));
        }
        ans.investigate = Some(Investigation {
            cluster: cluster.name.clone(),
            service: "host".into(),
            component: "host".into(),
            command: "disk-usage".into(),
            hosts: vec![host.hostname.clone()],
            params,
            rationale: format!(
                "Asked about the disk of {}: disk-usage on {} lists what takes the space, and changes nothing.",
                host.hostname,
                mount.as_deref().unwrap_or("the default path")
            ),
        });
        Ok(())
    }

    async fn doc_facts(&self, ans: &mut Answer, text: &str, scope: Option<&ClusterView>) {
        let Some(k) = &self.knowledge else { return };
        let req = SearchRequest {
            query: text.chars().take(500).collect(),
            limit: 2,
            mode: SearchMode::Hybrid,
            filter: Filter {
                kinds: vec![Kind::Doc],
                ..Filter::all()
            },
        };
        let hits = match scope {
            Some(c) => k.search_in_cluster(&req, &c.name).await,
            None => k.search(&req).await,
        };
        match hits {
            Ok(hits) if !hits.is_empty() => {
                ans.line("From the documentation:");
                for h in hits {
                    let excerpt: String = h
                        .text
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .collect::<Vec<_>>()
                        .join(" ")
                        .chars()
                        .take(300)
                        .collect();
                    let tag = ans.cite(h.source.clone(), h.title.clone(), h.link.clone());
                    ans.line(format!("> **{}**: {excerpt}… {tag}", h.title));
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "knowledge search for an answer failed"),
        }
    }
}

fn incident_line(ans: &mut Answer, i: &IncidentView) -> String {
    let tag = ans.cite_page("incident", i.id, i.id);
    let since = match &i.resolved_at {
        Some(r) => format!("RESOLVED at {}", when(r)),
        None => format!("OPEN since {}", when(&i.opened_at)),
    };
    let forecast = i
        .forecast
        .as_deref()
        .map(|f| format!("; forecast: {f}"))
        .unwrap_or_default();
    let value = if i.metric.ends_with("_pct") {
        format!(" (now {})", pct(i.value))
    } else {
        format!(" (now {:.2})", i.value)
    };
    let job = i.job_id.map(|j| format!("; proposed job {j}")).unwrap_or_default();
    format!(
        "- incident {} on **{}** ({since}): {}{value}{forecast}{job} {tag}",
        i.id, i.host, i.summary
    )
}

/// For "is kafka running on an-2?": the component's `status` on the hosts asked, when the
/// command exists and only reads.
fn status_check(
    chat: &Chat,
    asked: &Asked,
    clusters: &[ClusterView],
    scope: Option<&ClusterView>,
) -> Option<Investigation> {
    let [(s, c)] = asked.components.as_slice() else {
        return None;
    };
    let cluster = match scope {
        Some(c) => c,
        None => clusters.iter().find(|cl| !cl.carriers(s, c).is_empty())?,
    };
    let stack = chat.catalog.stack(&cluster.stack, &cluster.stack_version)?;
    let cmd = stack.component(s, c)?.commands.get("status")?;
    if !cmd.read_only {
        return None;
    }
    let carriers = cluster.carriers(s, c);
    let hosts: Vec<String> = if asked.hosts.is_empty() {
        carriers
    } else {
        asked.hosts.iter().filter(|h| carriers.contains(h)).cloned().collect()
    };
    if hosts.is_empty() {
        return None;
    }
    Some(Investigation {
        cluster: cluster.name.clone(),
        service: s.clone(),
        component: c.clone(),
        command: "status".into(),
        hosts: hosts.clone(),
        params: serde_json::Map::new(),
        rationale: format!(
            "Asked whether {s}/{c} works on {}: its status command checks, and changes nothing.",
            hosts.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_are_told_from_requests() {
        assert!(is_question("what hosts do we have?"));
        assert!(is_question("why is the disk filling up on vm"));
        assert!(is_question("Is kafka running on an-2?"));
        assert!(!is_question("do a graceful restart of nginx"));
        assert!(is_question("¿Qué hosts tenemos?"));
        assert!(is_question("list the hosts"));
        assert!(!is_question("can you restart kafka on an-3?"));
        assert!(!is_question("restart kafka on an-3"));
        assert!(!is_question("please check the namenode"));
    }

    #[test]
    fn a_trend_is_the_least_squares_slope_per_hour() {
        let hour = 3_600_000;
        let pts: Vec<(i64, f64)> = (0..5).map(|i| (i * hour, 85.0 + 2.0 * i as f64)).collect();
        let s = slope_per_hour(&pts).unwrap();
        assert!((s - 2.0).abs() < 1e-9, "{s}");
        assert_eq!(trend_words(s, 4.0, "%"), "rising, +2.0 %/h over the last 4 h");
        assert_eq!(trend_words(0.05, 4.0, "%"), "steady over the last 4 h");
        assert!(slope_per_hour(&pts[..2]).is_none(), "two points are no trend");
    }
}
