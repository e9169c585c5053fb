//! The structured planner: for models without tool calling (the small local default).
//!
//! Deterministic code resolves the cluster, the hosts and the candidate actions
//! (`resolve.rs`); the model only chooses one candidate or "none", decoding under a JSON
//! Schema whose enum is exactly those candidates, so it cannot name anything else. The
//! proposal then goes through the same `propose_job` tool as every other path.
use serde_json::json;
use steward_llm::{ChatRequest, Message, ToolCall};

use super::answer;
use super::resolve::{params_in, resolve, Candidate};
use super::tools;
use super::{Chat, ChatError};
use crate::inventory::ClusterView;
use crate::knowledge::{Citation, Filter, SearchMode, SearchRequest};

/// What a structured turn decided.
pub struct Decision {
    /// Text for the operator (before the server's closing statement).
    pub text: String,
    /// The tool outcome, when a proposal was attempted.
    pub outcome: Option<(ToolCall, tools::Outcome)>,
    /// What an answer drew on.
    pub citations: Vec<Citation>,
}

/// Picks the cluster a request is about: `[cluster X]`, a named cluster, the cluster of a named
/// host, or the only cluster.
fn pick_cluster<'a>(text: &str, clusters: &'a [ClusterView]) -> Result<&'a ClusterView, String> {
    let lower = text.to_lowercase();
    if let Some(rest) = lower.trim_start().strip_prefix("[cluster ") {
        let name = rest.split(']').next().unwrap_or("").trim();
        return clusters
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| format!("there is no cluster {name:?}"));
    }
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .collect();
    let named: Vec<&ClusterView> = clusters.iter().filter(|c| words.contains(&c.name.as_str())).collect();
    if let [one] = named.as_slice() {
        return Ok(one);
    }
    let by_host: Vec<&ClusterView> = clusters
        .iter()
        .filter(|c| c.hosts.iter().any(|h| words.contains(&h.hostname.as_str())))
        .collect();
    if let [one] = by_host.as_slice() {
        return Ok(one);
    }
    match clusters {
        [one] => Ok(one),
        [] => Err("there are no clusters yet".into()),
        _ => Err(format!(
            "say which cluster you mean ({})",
            clusters.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

impl Chat {
    /// One structured turn; see the module documentation.
    pub(super) async fn structured_turn(
        &self,
        user: &str,
        source: &str,
        text: &str,
        clusters: &[ClusterView],
        cited: &[String],
    ) -> Result<Decision, ChatError> {
        let refuse = |why: String| {
            Ok(Decision {
                text: format!("I cannot propose anything for that: {why}."),
                outcome: None,
                citations: vec![],
            })
        };
        let request = text
            .trim_start()
            .strip_prefix('[')
            .and_then(|t| t.split_once(']'))
            .map_or(text, |(_, r)| r)
            .trim();
        if answer::is_question(request) {
            return self.question_turn(user, source, text, request, clusters, cited).await;
        }
        let cluster = match pick_cluster(text, clusters) {
            Ok(c) => c,
            Err(why) => return refuse(why),
        };
        let Some(stack) = self.catalog.stack(&cluster.stack, &cluster.stack_version) else {
            return refuse(format!(
                "cluster {} uses a stack this server does not have",
                cluster.name
            ));
        };
        let r = resolve(request, cluster, stack, &self.catalog);
        // "mem on web-1", "could you tell me the CPU of an-1": no command, a question about
        // what Steward measures.
        if !r.command_named && answer::asks_about(request) && super::resolve::injection(request).is_none() {
            return self.question_turn(user, source, text, request, clusters, cited).await;
        }
        if let Some(why) = r.refusal {
            return refuse(why);
        }
        let labels: Vec<String> = r.candidates.iter().map(Candidate::label).collect();
        let prompt = self
            .prompts
            .render("planner.tera", &json!({"request": request, "actions": labels}))?;
        let mut choices = labels.clone();
        choices.push("none".into());
        let req = ChatRequest {
            messages: vec![Message::user(prompt)],
            tools: vec![],
            temperature: Some(0.0),
            max_tokens: Some(64),
            response_schema: Some(json!({
                "type": "object",
                "properties": {"action": {"type": "string", "enum": choices}},
                "required": ["action"],
                "additionalProperties": false
            })),
        };
        let resp = self.model.chat(&req).await?;
        let chosen = serde_json::from_str::<serde_json::Value>(resp.message.content.trim())
            .ok()
            .and_then(|v| v["action"].as_str().map(str::to_owned));
        let Some(candidate) = chosen.and_then(|c| r.candidates.iter().find(|x| x.label() == c)) else {
            return Ok(Decision {
                text: "That does not call for one of the catalog's actions, so I propose nothing.".into(),
                outcome: None,
                citations: vec![],
            });
        };
        let mut args = json!({
            "cluster": cluster.name, "service": candidate.service, "component": candidate.component,
            "command": candidate.command, "rationale": format!("Requested in chat: \"{request}\"")
        });
        if !r.hosts.is_empty() {
            args["hosts"] = json!(r.hosts);
        }
        if let Some(cmd) = stack
            .component(&candidate.service, &candidate.component)
            .and_then(|c| c.commands.get(&candidate.command))
        {
            let params = params_in(request, cmd);
            if !params.is_empty() {
                args["params"] = json!(params);
            }
        }
        // The small model reads no evidence, but the proposal still cites what the index holds
        // on this action: the operator approving it sees past runs and the docs.
        let evidence = self.evidence(request, &cluster.name, &candidate.service).await;
        if !evidence.is_empty() {
            let titles: Vec<&str> = evidence.iter().map(|c| c.title.as_str()).collect();
            args["rationale"] = json!(format!(
                "Requested in chat: \"{request}\". Related: {}",
                titles.join("; ")
            ));
        }
        // What the request already drew on (an incident), then the evidence.
        let mut cited = cited.to_vec();
        for c in &evidence {
            if !cited.contains(&c.source) {
                cited.push(c.source.clone());
            }
        }
        let call = ToolCall {
            id: "structured-1".into(),
            name: "propose_job".into(),
            arguments: args.to_string(),
        };
        let mut out = tools::call(self, user, source, &call, &cited).await;
        if !out.error {
            out.citations = evidence;
        }
        let text = if out.error {
            format!("I chose {} but it was refused: {}", candidate.label(), out.result)
        } else {
            format!(
                "You asked: \"{request}\". The matching action is {}.",
                candidate.label()
            )
        };
        Ok(Decision {
            text,
            outcome: Some((call, out)),
            citations: vec![],
        })
    }

    /// A question: answered from Steward's data by code; a read-only command that would tell
    /// more (one the answer found, or one the question names) is proposed with it.
    async fn question_turn(
        &self,
        user: &str,
        source: &str,
        text: &str,
        request: &str,
        clusters: &[ClusterView],
        cited: &[String],
    ) -> Result<Decision, ChatError> {
        let scope = pick_cluster(text, clusters).ok();
        let mut ans = self.answer(request, clusters, scope).await?;
        if ans.investigate.is_none() {
            ans.investigate = scope.and_then(|c| self.named_read_only(request, c));
        }
        let mut text = ans.text.trim_end().to_owned();
        // A question that carries an injection attempt gets facts, never a job.
        if let Some(p) = super::resolve::injection(request) {
            ans.investigate = None;
            text.push_str(&format!(
                "\n\n(The question contains {:?}; nothing is proposed for it.)",
                p.trim()
            ));
        }
        let Some(inv) = ans.investigate else {
            return Ok(Decision {
                text,
                outcome: None,
                citations: ans.citations,
            });
        };
        let mut args = json!({
            "cluster": inv.cluster, "service": inv.service, "component": inv.component,
            "command": inv.command, "rationale": inv.rationale, "params": inv.params,
        });
        if !inv.hosts.is_empty() {
            args["hosts"] = json!(inv.hosts);
        }
        let mut cited = cited.to_vec();
        for c in &ans.citations {
            if !cited.contains(&c.source) {
                cited.push(c.source.clone());
            }
        }
        let call = ToolCall {
            id: "answer-1".into(),
            name: "propose_job".into(),
            arguments: args.to_string(),
        };
        let out = tools::call(self, user, source, &call, &cited).await;
        let label = format!("{} {}/{}", inv.command, inv.service, inv.component);
        if out.error {
            text.push_str(&format!(
                "\n\nTo know more I would run {label}, but it was refused: {}",
                out.result
            ));
        } else {
            text.push_str(&format!(
                "\n\nTo know more, {label} on {} would tell (read-only: it changes nothing).",
                if inv.hosts.is_empty() {
                    "every host that carries it".to_owned()
                } else {
                    inv.hosts.join(", ")
                }
            ));
        }
        Ok(Decision {
            text,
            outcome: Some((call, out)),
            citations: ans.citations,
        })
    }

    /// The one read-only command a question names ("is nginx's config valid on web-1?" names
    /// test-config), when it names exactly one.
    fn named_read_only(&self, request: &str, cluster: &ClusterView) -> Option<answer::Investigation> {
        let stack = self.catalog.stack(&cluster.stack, &cluster.stack_version)?;
        let r = resolve(request, cluster, stack, &self.catalog);
        if r.refusal.is_some() || !r.command_named {
            return None;
        }
        let [c] = r.candidates.as_slice() else { return None };
        let cmd = stack.component(&c.service, &c.component)?.commands.get(&c.command)?;
        if !cmd.read_only {
            return None;
        }
        Some(answer::Investigation {
            cluster: cluster.name.clone(),
            service: c.service.clone(),
            component: c.component.clone(),
            command: c.command.clone(),
            hosts: r.hosts.clone(),
            params: serde_json::Map::new(),
            rationale: format!("Asked in chat: \"{request}\"; {} only reads.", c.label()),
        })
    }

    /// The three chunks of the knowledge index closest to `request` about `service` (its docs,
    /// and the cluster's past runs); none when the index is off or fails (logged).
    async fn evidence(&self, request: &str, cluster: &str, service: &str) -> Vec<Citation> {
        let Some(k) = &self.knowledge else {
            return vec![];
        };
        let req = SearchRequest {
            query: request.chars().take(500).collect(),
            limit: 3,
            mode: SearchMode::Hybrid,
            filter: Filter {
                service: Some(service.to_owned()),
                ..Filter::all()
            },
        };
        match k.search_in_cluster(&req, cluster).await {
            // Several chunks of one source cite it once.
            Ok(hits) => {
                let mut seen = std::collections::BTreeSet::new();
                hits.iter()
                    .filter(|h| seen.insert(h.source.clone()))
                    .map(|h| h.citation())
                    .collect()
            }
            Err(e) => {
                tracing::warn!(error = %e, "knowledge search for a structured proposal failed");
                vec![]
            }
        }
    }
}
