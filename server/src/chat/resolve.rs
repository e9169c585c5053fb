//! Deterministic resolution of a request against the catalog, for models without tool calling.
//!
//! A small local model confuses services and invents hosts (FINDINGS.md), so names are
//! resolved here: which cluster, which hosts are named (and which named hosts do not exist),
//! whether "all" was said, and which catalog actions the words point at. The model is then
//! asked only to choose among those candidate actions, or none.
use std::collections::BTreeSet;

use crate::inventory::ClusterView;
use crate::stacks::{Catalog, Stack};

/// One action of the catalog the request may mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Service.
    pub service: String,
    /// Component.
    pub component: String,
    /// Command.
    pub command: String,
}

impl Candidate {
    /// How the model sees it: `restart kafka/broker`.
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.command, self.service, self.component)
    }
}

/// What the words of a request resolve to.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// Hosts of the cluster named in the request.
    pub hosts: Vec<String>,
    /// Host-like names in the request that the cluster does not have.
    pub unknown_hosts: Vec<String>,
    /// Candidate actions, best first.
    pub candidates: Vec<Candidate>,
    /// Why there is nothing to propose, when resolution alone can tell.
    pub refusal: Option<String>,
}

/// Lower-case words (letters, digits, `-`, `_`, `.`) of a text.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .map(|w| w.trim_matches(|c| c == '.' || c == '-').to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Optimal-string-alignment distance (an adjacent swap counts once), for typos.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Words that carry no meaning for matching ("rotate the logs" names "rotate logs").
const FILLER: &[&str] = &[
    "the", "it", "a", "an", "my", "our", "its", "their", "this", "that", "of", "on", "le", "la", "les", "der", "die",
    "das", "el",
];

/// Whether the phrase occurs exactly (no typo allowed): for refusals, where a near miss
/// ("broken" for "broker") must not refuse a good request.
fn mentions_exactly(text_words: &[String], phrase: &str) -> bool {
    let p = words(phrase);
    !p.is_empty() && text_words.windows(p.len()).any(|w| w == p.as_slice())
}

/// Whether the phrase (one or more words) occurs in `text_words`, allowing a typo in long words.
fn mentions(text_words: &[String], phrase: &str) -> bool {
    let text_words: Vec<String> = text_words
        .iter()
        .filter(|w| !FILLER.contains(&w.as_str()))
        .cloned()
        .collect();
    let p: Vec<String> = words(phrase)
        .into_iter()
        .filter(|w| !FILLER.contains(&w.as_str()))
        .collect();
    if p.is_empty() || p.len() > text_words.len() {
        return false;
    }
    text_words.windows(p.len()).any(|w| {
        w.iter().zip(&p).all(|(t, q)| {
            t == q || {
                let tolerance = match q.chars().count() {
                    0..=4 => 0,
                    5..=7 => 1,
                    _ => 2,
                };
                tolerance > 0 && distance(t, q) <= tolerance
            }
        })
    })
}

const INJECTION: &[&str] = &[
    "ignore previous",
    "ignore all previous",
    "ignore your instructions",
    "disregard previous",
    "admin mode",
    "system:",
    "rm -rf",
    "curl ",
    "wget ",
    "| sh",
    "|sh",
    "sudo ",
    "chmod ",
    "nc -e",
    "/bin/sh",
    "bash -i",
];

/// First words of a question: the structured planner proposes actions, it does not answer.
const QUESTION_STARTS: &[&str] = &[
    "what", "what's", "whats", "why", "how", "explain", "describe", "who", "which", "when", "where",
];

/// Phrases that say "not now".
const NOT_NOW: &[&str] = &[
    "don't do anything",
    "do not do anything",
    "don't run anything",
    "not now",
    "just asking",
    "asking before",
    "for later",
    "no action",
];

/// Resolves `text` against cluster `cluster` running `stack` (`catalog` tells which names
/// exist elsewhere).
pub fn resolve(text: &str, cluster: &ClusterView, stack: &Stack, catalog: &Catalog) -> Resolution {
    let lower = text.to_lowercase();
    let tw = words(text);
    let mut r = Resolution::default();
    if let Some(p) = INJECTION.iter().find(|p| lower.contains(*p)) {
        r.refusal = Some(format!(
            "the request contains {:?}, which is not an operation of the catalog",
            p.trim()
        ));
        return r;
    }
    if tw.first().is_some_and(|w| QUESTION_STARTS.contains(&w.as_str())) {
        r.refusal = Some("that is a question, and this planner only proposes actions".into());
        return r;
    }
    if let Some(p) = NOT_NOW.iter().find(|p| lower.contains(*p)) {
        r.refusal = Some(format!("the request says {p:?}"));
        return r;
    }
    // Hosts: exact names of this cluster; host-like words (letters-digits) that are not.
    let known: BTreeSet<&str> = cluster.hosts.iter().map(|h| h.hostname.as_str()).collect();
    for w in &tw {
        if known.contains(w.as_str()) {
            if !r.hosts.contains(w) {
                r.hosts.push(w.clone());
            }
        } else if looks_like_host(w) && !r.unknown_hosts.contains(w) {
            r.unknown_hosts.push(w.clone());
        }
    }
    if !r.unknown_hosts.is_empty() {
        r.refusal = Some(format!(
            "cluster {} has no host {}",
            cluster.name,
            r.unknown_hosts.join(", ")
        ));
        return r;
    }

    // Components named that this cluster does not run (or no stack of ours has): refuse
    // rather than guess a neighbour.
    let placed = |svc: &str, comp: &str| !cluster.carriers(svc, comp).is_empty();
    for svc in catalog_services(catalog) {
        for comp in &svc.1 {
            let generic = matches!(comp.as_str(), "server" | "host");
            let named = (!generic && comp != &svc.0 && mentions_exactly(&tw, comp))
                || (svc.0 != "host" && mentions_exactly(&tw, &svc.0));
            if named && !svc.1.iter().any(|c| placed(&svc.0, c)) {
                r.refusal = Some(format!("cluster {} does not run {}", cluster.name, svc.0));
                return r;
            }
        }
    }

    // Components placed in this cluster, scored by how strongly the words name them.
    let mut scored: Vec<(u32, &str, &str)> = vec![];
    for svc in stack.services.values() {
        for comp in svc.components.values() {
            if !placed(&svc.name, &comp.name) {
                continue;
            }
            let mut score = 0;
            if mentions(&tw, &svc.name) || svc.aliases.iter().any(|a| mentions(&tw, a)) {
                score += 2;
            }
            // Named or aliased counts once; a generic name ("server") alone names nothing.
            let named = (comp.name != svc.name && comp.name != "server" && mentions(&tw, &comp.name))
                || comp.aliases.iter().any(|a| mentions(&tw, a));
            if named {
                score += 2;
            } else if comp.name == "server" && score > 0 && mentions(&tw, &comp.name) {
                score += 1;
            }
            scored.push((score, &svc.name, &comp.name));
        }
    }
    let best = scored.iter().map(|s| s.0).max().unwrap_or(0);
    let mut comps: Vec<(&str, &str)> = if best > 0 {
        scored.iter().filter(|s| s.0 == best).map(|s| (s.1, s.2)).collect()
    } else if !r.hosts.is_empty() {
        // Nothing named: whatever runs on the named hosts.
        scored
            .iter()
            .filter(|s| r.hosts.iter().any(|h| cluster.carriers(s.1, s.2).contains(h)))
            .map(|s| (s.1, s.2))
            .collect()
    } else {
        scored.iter().map(|s| (s.1, s.2)).collect()
    };
    if !r.hosts.is_empty() {
        let before = comps.clone();
        comps.retain(|(s, c)| r.hosts.iter().all(|h| cluster.carriers(s, c).contains(h)));
        if comps.is_empty() {
            let names: Vec<String> = before.iter().map(|(s, c)| format!("{s}/{c}")).collect();
            r.refusal = Some(format!("{} does not run {}", r.hosts.join(", "), names.join(" or ")));
            return r;
        }
    }

    // Commands of those components; named or aliased counts the same, so one command's extra
    // aliases do not outrank another's name.
    let named_cmd = |name: &str, aliases: &[String]| {
        mentions(&tw, name) || mentions(&tw, &name.replace('-', " ")) || aliases.iter().any(|a| mentions(&tw, a))
    };
    let mut cmds: Vec<(bool, Candidate)> = vec![];
    for (s, c) in &comps {
        let comp = stack.component(s, c).expect("from the stack");
        for cmd in comp.commands.values() {
            let cand = Candidate {
                service: s.to_string(),
                component: c.to_string(),
                command: cmd.name.clone(),
            };
            cmds.push((named_cmd(&cmd.name, &cmd.aliases), cand));
        }
    }
    let any_named = cmds.iter().any(|c| c.0);
    if !any_named {
        // A command of the stack was named, but not one these components have.
        let elsewhere = stack
            .services
            .values()
            .flat_map(|s| s.components.values())
            .flat_map(|c| c.commands.values())
            .find(|cmd| mentions(&tw, &cmd.name) || mentions(&tw, &cmd.name.replace('-', " ")));
        if let (Some(cmd), true) = (elsewhere, best > 0) {
            let names: Vec<String> = comps.iter().map(|(s, c)| format!("{s}/{c}")).collect();
            r.refusal = Some(format!("{} has no command {}", names.join(" or "), cmd.name));
            return r;
        }
    }
    r.candidates = if any_named {
        cmds.into_iter().filter(|c| c.0).map(|c| c.1).collect()
    } else if best > 0 {
        cmds.into_iter().map(|c| c.1).collect()
    } else {
        vec![]
    };
    // When no component was named, a command only counts if it names one component by itself
    // ("rotate the logs on web-2"); "restart postgres on web-1" must not become nginx.
    if best == 0 && r.candidates.len() > 1 {
        r.candidates.clear();
    }
    if r.candidates.is_empty() {
        r.refusal = Some("the request does not name one of this cluster's components and commands".into());
    }
    r
}

/// Every service of every stack with its component names (for "not in this cluster").
fn catalog_services(catalog: &Catalog) -> Vec<(String, Vec<String>)> {
    catalog
        .stacks()
        .flat_map(|st| st.services.values())
        .map(|s| (s.name.clone(), s.components.keys().cloned().collect()))
        .collect()
}

/// `an-9`, `web-12`, `db01`, `h9`, `broker7.lan`-style names: letters then digits, with an
/// optional dash, and any domain after a dot. A host the request names that the cluster
/// does not have must be refused, never dropped: dropping it would widen the request to
/// every host running the component.
fn looks_like_host(w: &str) -> bool {
    let label = w.split('.').next().unwrap_or(w);
    let Some(pos) = label.find(|c: char| c.is_ascii_digit()) else {
        return false;
    };
    let (head, tail) = label.split_at(pos);
    let head = head.trim_end_matches('-');
    !head.is_empty()
        && head.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        && tail.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_tolerated_in_long_words_only() {
        let tw = words("please restart kafak on an-3");
        assert!(mentions(&tw, "kafka"));
        assert!(mentions(&words("zookeper is down"), "zookeeper"));
        assert!(!mentions(&words("stop nm"), "rm"));
        assert!(mentions(&words("is it up?"), "is it up"));
        assert_eq!(distance("kafak", "kafka"), 1);
    }

    #[test]
    fn host_like_words() {
        assert!(looks_like_host("an-9"));
        assert!(looks_like_host("web-12"));
        assert!(looks_like_host("db01"), "no dash needed");
        assert!(looks_like_host("h9"));
        assert!(looks_like_host("broker7.example.com"));
        assert!(!looks_like_host("log4j"));
        assert!(!looks_like_host("nginx"));
        assert!(!looks_like_host("7"));
    }
}

#[cfg(test)]
mod eval_cases {
    //! The resolver against the planner's evaluation cases: the right action must survive
    //! resolution, so the model can pick it; and requests that name nothing real are refused.
    use super::*;
    use crate::inventory::{HostComponentView, HostView};

    #[derive(serde::Deserialize)]
    struct Fixture {
        clusters: Vec<FCluster>,
    }
    #[derive(serde::Deserialize)]
    struct FCluster {
        name: String,
        stack: String,
        version: String,
        hosts: Vec<FHost>,
    }
    #[derive(serde::Deserialize)]
    struct FHost {
        hostname: String,
        components: Vec<String>,
    }

    fn clusters() -> Vec<ClusterView> {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../llm/evals/fixture.toml")).unwrap();
        let f: Fixture = toml::from_str(&text).unwrap();
        f.clusters
            .into_iter()
            .map(|c| ClusterView {
                id: 0,
                name: c.name,
                stack: c.stack,
                stack_version: c.version,
                config: serde_json::json!({}),
                hosts: c
                    .hosts
                    .into_iter()
                    .map(|h| HostView {
                        id: 0,
                        hostname: h.hostname,
                        cluster: None,
                        state: "ONLINE".into(),
                        last_heartbeat: None,
                        agent_version: None,
                        labels: serde_json::json!({}),
                        facts: serde_json::json!({}),
                        components: h
                            .components
                            .iter()
                            .map(|p| {
                                let (s, c) = p.split_once('/').unwrap();
                                HostComponentView {
                                    service: s.into(),
                                    component: c.into(),
                                    state: "UNKNOWN".into(),
                                }
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn the_right_action_survives_resolution_for_the_eval_cases() {
        let catalog = crate::stacks::load_embedded().unwrap();
        let clusters = clusters();
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../llm/evals/cases.jsonl")).unwrap();
        let (mut kept, mut actions, mut refused, mut nulls, mut total_candidates) = (0, 0, 0, 0, 0);
        let mut misses = vec![];
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let case: serde_json::Value = serde_json::from_str(line).unwrap();
            let cluster = clusters.iter().find(|c| c.name == case["cluster"]).unwrap();
            let stack = catalog.stack(&cluster.stack, &cluster.stack_version).unwrap();
            let r = resolve(case["request"].as_str().unwrap(), cluster, stack, &catalog);
            match case["expect"].as_object() {
                Some(e) => {
                    actions += 1;
                    let want = format!(
                        "{} {}/{}",
                        e["command"].as_str().unwrap(),
                        e["service"].as_str().unwrap(),
                        e["component"].as_str().unwrap()
                    );
                    total_candidates += r.candidates.len();
                    if r.candidates.iter().any(|c| c.label() == want) {
                        kept += 1;
                    } else {
                        misses.push(format!(
                            "{} → want {want}, got {:?} {:?}",
                            case["request"],
                            r.candidates.iter().map(Candidate::label).collect::<Vec<_>>(),
                            r.refusal
                        ));
                    }
                }
                None => {
                    nulls += 1;
                    refused += usize::from(r.refusal.is_some());
                }
            }
        }
        eprintln!(
            "kept {kept}/{actions}, mean candidates {:.1}, refused by resolution {refused}/{nulls}",
            total_candidates as f64 / actions as f64
        );
        for m in &misses {
            eprintln!("miss: {m}");
        }
        assert!(
            kept as f64 >= 0.9 * actions as f64,
            "the right action was lost for {} of {actions} cases",
            actions - kept
        );
    }

    #[test]
    fn a_disk_incident_resolves_to_the_cleanup_among_its_candidates() {
        let catalog = crate::stacks::load_embedded().unwrap();
        let clusters = clusters();
        let web = clusters.iter().find(|c| c.name == "web").unwrap();
        let stack = catalog.stack(&web.stack, &web.stack_version).unwrap();
        let incident = crate::telemetry::IncidentView {
            id: 1,
            state: "OPEN".into(),
            host_id: 1,
            host: "web-2".into(),
            cluster: Some("web".into()),
            signal: "disk_used_pct{fs=\"ext4\",mount=\"/tmp\"}".into(),
            metric: "disk_used_pct".into(),
            detector: "threshold".into(),
            summary: "disk /tmp is 96.0 % full (threshold 90 %)".into(),
            value: 96.0,
            peak: 96.0,
            threshold: Some(90.0),
            forecast: None,
            opened_at: String::new(),
            updated_at: String::new(),
            resolved_at: None,
            job_id: None,
            remediation: None,
        };
        let text = crate::telemetry::remediation::structured_request(&incident);
        let r = resolve(&text, web, stack, &catalog);
        assert!(r.refusal.is_none(), "{text}: {:?}", r.refusal);
        let labels: Vec<String> = r.candidates.iter().map(Candidate::label).collect();
        assert!(
            labels.contains(&"clean-tmp host/host".to_string()),
            "{text}: {labels:?}"
        );
        assert_eq!(r.hosts, ["web-2"], "{text}");
    }
}
