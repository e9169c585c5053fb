//! Plans: what a proposal asks for, validated against the catalog and the cluster, made
//! canonical and hashed. The hash is what an approval binds to.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::inventory::ClusterView;
use crate::stacks::{Catalog, RenderedTask, Risk, Stack};

/// A proposal as a caller writes it: a full plan (`stages`) or the one-stage shorthand.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    /// Cluster name.
    pub cluster: String,
    /// The stages of a full plan. Leave out for the shorthand.
    #[serde(default)]
    pub stages: Option<Vec<StageRequest>>,
    /// Shorthand: service.
    #[serde(default)]
    pub service: Option<String>,
    /// Shorthand: component.
    #[serde(default)]
    pub component: Option<String>,
    /// Shorthand: command.
    #[serde(default)]
    pub command: Option<String>,
    /// Shorthand: hosts; every host carrying the component when left out.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    /// Shorthand: command parameters.
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// Why this job; shown to approvers.
    #[serde(default)]
    pub rationale: Option<String>,
    /// Ids of what the proposal draws on (`doc:…`, `job:…`, `incident:…`), shown to approvers.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// One stage of a requested plan.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageRequest {
    /// Unique within the plan; defaults to `service-component-command`.
    #[serde(default)]
    pub name: Option<String>,
    /// Service.
    pub service: String,
    /// Component.
    pub component: String,
    /// Command.
    pub command: String,
    /// Hosts; every host carrying the component when left out.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    /// Command parameters.
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// Names of stages that must succeed first.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// The canonical plan: what is stored, shown to approvers, and hashed.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Plan {
    /// Cluster name.
    pub cluster: String,
    /// Stack name.
    pub stack: String,
    /// Stack version.
    pub stack_version: String,
    /// Stages in plan order.
    pub stages: Vec<PlanStage>,
}

/// A canonical stage.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PlanStage {
    /// Unique name.
    pub name: String,
    /// Service.
    pub service: String,
    /// Component.
    pub component: String,
    /// Command.
    pub command: String,
    /// The command's risk.
    pub risk: Risk,
    /// Every parameter, defaults filled in.
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, Value>,
    /// Stages that must succeed first (explicit and implied by component dependencies), sorted.
    pub depends_on: Vec<String>,
    /// One task per host, sorted by host.
    pub tasks: Vec<PlanTask>,
}

/// A canonical task: which host, and the digest of exactly what it will run.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PlanTask {
    /// Hostname.
    pub host: String,
    /// SHA-256 of the rendered script, env and files.
    pub digest: String,
}

/// A plan with everything needed to store it.
#[derive(Debug)]
pub struct BuiltPlan {
    /// The canonical plan (its task digests final once [`BuiltPlan::bind`] ran).
    pub plan: Plan,
    /// The highest risk of any stage.
    pub risk: Risk,
    /// For each stage, `(host id, rendered task)` in plan order.
    pub rendered: Vec<Vec<(i64, RenderedTask)>>,
    /// Depends-on as stage indexes, per stage.
    pub deps: Vec<Vec<usize>>,
    /// One line for lists: "restart kafka/broker on an-2, an-3".
    pub summary: String,
}

impl BuiltPlan {
    /// Binds every task to the ids it is stored under (`task_ids[stage][k]` for the plan's
    /// `stages[stage].tasks[k]`), so each task digest covers the full environment the agent
    /// sets, and returns the plan hash over those digests: what an approval binds to.
    pub fn bind(&mut self, job_id: i64, task_ids: &[Vec<i64>]) -> String {
        for ((stage, rendered), ids) in self.plan.stages.iter_mut().zip(&mut self.rendered).zip(task_ids) {
            for ((task, (_, r)), id) in stage.tasks.iter_mut().zip(rendered.iter_mut()).zip(ids) {
                r.bind(job_id, *id);
                task.digest = r.digest.clone();
            }
        }
        plan_hash(&self.plan)
    }
}

/// Why a plan was refused; the message names the culprit.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Something named does not exist (cluster, service, component, command, host).
    #[error("{0}")]
    Unknown(String),
    /// The request is malformed or inconsistent.
    #[error("{0}")]
    Invalid(String),
}

const MAX_STAGES: usize = 64;
const MAX_HOSTS_PER_STAGE: usize = 10_000;

/// SHA-256 over the canonical JSON of `plan` (object keys sorted, no whitespace).
pub fn plan_hash(plan: &Plan) -> String {
    let value = serde_json::to_value(plan).expect("plan serialises");
    hex::encode(Sha256::digest(crate::audit::canonical_json(&value)))
}

/// At most this many sources are recorded with a proposal, each at most `MAX_SOURCE_LEN` bytes.
const MAX_SOURCES: usize = 32;
const MAX_SOURCE_LEN: usize = 300;

impl ProposeRequest {
    /// The cited sources, checked: bounded, non-empty, deduplicated in order.
    pub fn checked_sources(&self) -> Result<Vec<String>, PlanError> {
        if self.sources.len() > MAX_SOURCES {
            return Err(PlanError::Invalid(format!(
                "at most {MAX_SOURCES} sources may be cited"
            )));
        }
        let mut out: Vec<String> = vec![];
        for s in &self.sources {
            let s = s.trim();
            if s.is_empty() || s.len() > MAX_SOURCE_LEN || s.chars().any(char::is_control) {
                return Err(PlanError::Invalid(format!(
                    "a source id must be 1..={MAX_SOURCE_LEN} printable characters"
                )));
            }
            if !out.iter().any(|o| o == s) {
                out.push(s.to_owned());
            }
        }
        Ok(out)
    }

    /// The stages asked for, whichever form was used.
    fn stage_requests(&self) -> Result<Vec<StageRequest>, PlanError> {
        let shorthand = self.service.is_some()
            || self.component.is_some()
            || self.command.is_some()
            || self.hosts.is_some()
            || !self.params.is_empty();
        match (&self.stages, shorthand) {
            (Some(_), true) => Err(PlanError::Invalid(
                "give either `stages` or the shorthand service/component/command/hosts, not both".into(),
            )),
            (Some(stages), false) => {
                if stages.is_empty() {
                    return Err(PlanError::Invalid("a plan needs at least one stage".into()));
                }
                Ok(stages.clone())
            }
            (None, _) => {
                let field = |v: &Option<String>, name: &str| {
                    v.clone()
                        .ok_or_else(|| PlanError::Invalid(format!("missing field `{name}` (or give `stages`)")))
                };
                Ok(vec![StageRequest {
                    name: None,
                    service: field(&self.service, "service")?,
                    component: field(&self.component, "component")?,
                    command: field(&self.command, "command")?,
                    hosts: self.hosts.clone(),
                    params: self.params.clone(),
                    depends_on: vec![],
                }])
            }
        }
    }
}

/// Validates `req` against the catalog and the cluster, renders every task, and hashes.
pub fn build(catalog: &Catalog, cluster: &ClusterView, req: &ProposeRequest) -> Result<BuiltPlan, PlanError> {
    let stack = catalog.stack(&cluster.stack, &cluster.stack_version).ok_or_else(|| {
        PlanError::Invalid(format!(
            "cluster {} uses stack {} {}, which this server does not have",
            cluster.name, cluster.stack, cluster.stack_version
        ))
    })?;
    let requests = req.stage_requests()?;
    if requests.len() > MAX_STAGES {
        return Err(PlanError::Invalid(format!(
            "a plan may have at most {MAX_STAGES} stages"
        )));
    }
    let ctx = cluster.render_context(&stack.config);

    let mut names: Vec<String> = Vec::new();
    let mut stages = Vec::new();
    let mut rendered = Vec::new();
    for (i, s) in requests.iter().enumerate() {
        let name = s
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}-{}", s.service, s.component, s.command));
        if name.is_empty() || name.len() > 128 {
            return Err(PlanError::Invalid(format!(
                "stage {}: name must be 1-128 characters",
                i + 1
            )));
        }
        if names.contains(&name) {
            return Err(PlanError::Invalid(format!(
                "stage name {name:?} is used twice; give each stage a unique `name`"
            )));
        }
        let (stage, tasks) = build_stage(stack, cluster, &ctx, &name, s)?;
        names.push(name);
        stages.push(stage);
        rendered.push(tasks);
    }

    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); stages.len()];
    for (i, s) in requests.iter().enumerate() {
        for d in &s.depends_on {
            let j = names.iter().position(|n| n == d).ok_or_else(|| {
                PlanError::Unknown(format!(
                    "stage {:?} depends on {d:?}, which is not a stage of this plan",
                    names[i]
                ))
            })?;
            if j == i {
                return Err(PlanError::Invalid(format!("stage {d:?} depends on itself")));
            }
            deps[i].insert(j);
        }
    }
    add_implied_order(stack, &stages, &mut deps);
    if let Some(cycle) = find_cycle(&deps) {
        let names: Vec<&str> = cycle.iter().map(|i| names[*i].as_str()).collect();
        return Err(PlanError::Invalid(format!(
            "stages depend on each other in a cycle: {}",
            names.join(" -> ")
        )));
    }
    for (i, st) in stages.iter_mut().enumerate() {
        let mut d: Vec<String> = deps[i].iter().map(|j| names[*j].clone()).collect();
        d.sort();
        st.depends_on = d;
    }

    let risk = stages.iter().map(|s| s.risk).max().unwrap_or(Risk::Low);
    let summary = summarize(&stages);
    let plan = Plan {
        cluster: cluster.name.clone(),
        stack: stack.name.clone(),
        stack_version: stack.version.clone(),
        stages,
    };
    Ok(BuiltPlan {
        plan,
        risk,
        rendered,
        deps: deps.into_iter().map(|d| d.into_iter().collect()).collect(),
        summary,
    })
}

fn build_stage(
    stack: &Stack,
    cluster: &ClusterView,
    ctx: &crate::stacks::RenderContext,
    name: &str,
    s: &StageRequest,
) -> Result<(PlanStage, Vec<(i64, RenderedTask)>), PlanError> {
    let service = stack.services.get(&s.service).ok_or_else(|| {
        PlanError::Unknown(format!(
            "unknown service {:?} in stack {} {} (known: {})",
            s.service,
            stack.name,
            stack.version,
            stack.services.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let comp = service.components.get(&s.component).ok_or_else(|| {
        PlanError::Unknown(format!(
            "unknown component {:?} of service {} (known: {})",
            s.component,
            s.service,
            service.components.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let cmd = comp.commands.get(&s.command).ok_or_else(|| {
        PlanError::Unknown(format!(
            "unknown command {:?} for {}/{} (known: {})",
            s.command,
            s.service,
            s.component,
            comp.commands.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;

    let mut params = BTreeMap::new();
    for (k, v) in &s.params {
        let p = cmd.params.get(k).ok_or_else(|| {
            PlanError::Unknown(format!(
                "unknown parameter {k:?} for command {} (known: {})",
                s.command,
                cmd.params.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let v = p
            .validate(v)
            .map_err(|e| PlanError::Invalid(format!("parameter {k}: {e}")))?;
        params.insert(k.clone(), v);
    }
    for (k, p) in &cmd.params {
        if !params.contains_key(k) {
            let d = p
                .default
                .clone()
                .ok_or_else(|| PlanError::Invalid(format!("parameter {k:?} of command {} is required", s.command)))?;
            params.insert(k.clone(), d);
        }
    }

    let carriers = cluster.carriers(&s.service, &s.component);
    let hosts: Vec<String> = match &s.hosts {
        None => {
            if carriers.is_empty() {
                return Err(PlanError::Invalid(format!(
                    "no host of cluster {} carries {}/{}",
                    cluster.name, s.service, s.component
                )));
            }
            carriers.clone()
        }
        Some(list) => {
            if list.is_empty() {
                return Err(PlanError::Invalid(format!("stage {name:?}: `hosts` is empty")));
            }
            if list.len() > MAX_HOSTS_PER_STAGE {
                return Err(PlanError::Invalid(format!(
                    "stage {name:?}: more than {MAX_HOSTS_PER_STAGE} hosts"
                )));
            }
            let mut set = BTreeSet::new();
            for h in list {
                if cluster.host(h).is_none() {
                    return Err(PlanError::Unknown(format!(
                        "unknown host {h:?}: not a host of cluster {}",
                        cluster.name
                    )));
                }
                if !carriers.contains(h) {
                    return Err(PlanError::Invalid(format!(
                        "host {h:?} does not carry {}/{}",
                        s.service, s.component
                    )));
                }
                set.insert(h.clone());
            }
            set.into_iter().collect()
        }
    };

    let mut tasks = Vec::with_capacity(hosts.len());
    let mut plan_tasks = Vec::with_capacity(hosts.len());
    for h in &hosts {
        let host = cluster.host(h).expect("validated");
        let r = stack
            .render_task(ctx, h, &s.service, &s.component, &s.command, &params)
            .map_err(|e| {
                PlanError::Invalid(format!(
                    "cannot render {}/{} {} for {h}: {e}",
                    s.service, s.component, s.command
                ))
            })?;
        plan_tasks.push(PlanTask {
            host: h.clone(),
            digest: r.digest.clone(),
        });
        tasks.push((host.id, r));
    }
    Ok((
        PlanStage {
            name: name.to_owned(),
            service: s.service.clone(),
            component: s.component.clone(),
            command: s.command.clone(),
            risk: cmd.risk,
            params,
            depends_on: vec![],
            tasks: plan_tasks,
        },
        tasks,
    ))
}

/// Orders stages by component dependencies: starts after what they need, stops before it.
fn add_implied_order(stack: &Stack, stages: &[PlanStage], deps: &mut [BTreeSet<usize>]) {
    let needs = |a: &PlanStage, b: &PlanStage| {
        requires_transitively(stack, (&a.service, &a.component), (&b.service, &b.component))
    };
    for (i, a) in stages.iter().enumerate() {
        for (j, b) in stages.iter().enumerate() {
            if i == j {
                continue;
            }
            let starting = |s: &PlanStage| matches!(s.command.as_str(), "start" | "restart");
            if starting(a) && starting(b) && needs(a, b) {
                deps[i].insert(j); // a needs b: start b first
            }
            if a.command == "stop" && b.command == "stop" && needs(b, a) {
                deps[i].insert(j); // b needs a: stop b before a
            }
        }
    }
}

fn requires_transitively(stack: &Stack, from: (&str, &str), target: (&str, &str)) -> bool {
    let mut stack_: Vec<(String, String)> = vec![(from.0.to_owned(), from.1.to_owned())];
    let mut seen = BTreeSet::new();
    while let Some((s, c)) = stack_.pop() {
        if !seen.insert((s.clone(), c.clone())) {
            continue;
        }
        if let Some(comp) = stack.component(&s, &c) {
            for r in &comp.requires {
                if r.0 == target.0 && r.1 == target.1 {
                    return true;
                }
                stack_.push(r.clone());
            }
        }
    }
    false
}

fn find_cycle(deps: &[BTreeSet<usize>]) -> Option<Vec<usize>> {
    fn visit(n: usize, deps: &[BTreeSet<usize>], color: &mut [u8], path: &mut Vec<usize>) -> Option<Vec<usize>> {
        color[n] = 1;
        path.push(n);
        for &d in &deps[n] {
            if color[d] == 1 {
                let pos = path.iter().position(|x| *x == d).expect("on path");
                let mut c = path[pos..].to_vec();
                c.push(d);
                return Some(c);
            }
            if color[d] == 0 {
                if let Some(c) = visit(d, deps, color, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        color[n] = 2;
        None
    }
    let mut color = vec![0u8; deps.len()];
    for n in 0..deps.len() {
        if color[n] == 0 {
            if let Some(c) = visit(n, deps, &mut color, &mut vec![]) {
                return Some(c);
            }
        }
    }
    None
}

fn summarize(stages: &[PlanStage]) -> String {
    let one = |s: &PlanStage| {
        let hosts: Vec<&str> = s.tasks.iter().map(|t| t.host.as_str()).collect();
        let shown = if hosts.len() > 3 {
            format!("{} and {} more", hosts[..3].join(", "), hosts.len() - 3)
        } else {
            hosts.join(", ")
        };
        format!("{} {}/{} on {}", s.command, s.service, s.component, shown)
    };
    match stages {
        [s] => one(s),
        [s, rest @ ..] => format!("{} (+{} stages)", one(s), rest.len()),
        [] => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed plan hashes to this exact value: a change to the plan's serialisation (a field
    /// renamed, reordered or added) changes every approval's hash and fails here first.
    #[test]
    fn a_fixed_plan_has_its_pinned_hash() {
        let plan = Plan {
            cluster: "test".into(),
            stack: "testing".into(),
            stack_version: "1.0".into(),
            stages: vec![PlanStage {
                name: "echo".into(),
                service: "app".into(),
                component: "worker".into(),
                command: "echo".into(),
                risk: Risk::Low,
                params: [("lines".to_owned(), Value::from(3))].into(),
                depends_on: vec![],
                tasks: vec![PlanTask {
                    host: "h1".into(),
                    digest: "f30364f502515b43cd485748874a40850f25df8ec48c06a58cc91735cbe2db6b".into(),
                }],
            }],
        };
        assert_eq!(
            plan_hash(&plan),
            "97beb93675aaf184a6b3e0700ee29d75780462c3494f50cacd331a9314765115"
        );
    }

    #[test]
    fn hash_depends_on_content() {
        let plan = Plan {
            cluster: "c".into(),
            stack: "s".into(),
            stack_version: "1".into(),
            stages: vec![],
        };
        let h1 = plan_hash(&plan);
        assert_eq!(h1, plan_hash(&plan.clone()));
        let mut other = plan.clone();
        other.cluster = "d".into();
        assert_ne!(h1, plan_hash(&other));
    }

    #[test]
    fn cycles_are_found() {
        let deps = vec![BTreeSet::from([1]), BTreeSet::from([2]), BTreeSet::from([0])];
        assert!(find_cycle(&deps).is_some());
        let dag = vec![BTreeSet::new(), BTreeSet::from([0]), BTreeSet::from([0, 1])];
        assert!(find_cycle(&dag).is_none());
    }
}
