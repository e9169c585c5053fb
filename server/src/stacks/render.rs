//! Rendering one task: the script byte for byte, templates through Tera, values into env.
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::params::env_value;
use super::Stack;

/// What templates and scripts of one cluster may refer to.
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// The cluster's name.
    pub cluster: String,
    /// The stack's config overlaid with the cluster's.
    pub config: BTreeMap<String, Value>,
    /// service → component → sorted hostnames carrying it.
    pub topology: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// A file the agent writes into the task's working directory.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct RenderedFile {
    /// Relative path.
    pub path: String,
    /// Text content.
    pub content: String,
    /// Unix permission bits.
    pub mode: u32,
}

/// Everything the agent needs to run one command on one host.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedTask {
    /// The script, exactly as in the stack.
    pub script: String,
    /// Environment for the script.
    pub env: BTreeMap<String, String>,
    /// Rendered templates (they differ per host).
    pub files: Vec<RenderedFile>,
    /// The stack's lib files (the same for every task of the stack).
    pub shared: Vec<RenderedFile>,
    /// Seconds before the agent kills it.
    pub timeout_secs: u32,
    /// SHA-256 over script, env and files: what the plan hash binds to.
    pub digest: String,
}

impl RenderedTask {
    /// Gives the task the ids it is stored under (`STEWARD_JOB_ID`, `STEWARD_TASK_ID`) and
    /// takes its digest again, so the digest covers every variable the agent will set.
    pub fn bind(&mut self, job_id: i64, task_id: i64) {
        self.env.insert("STEWARD_JOB_ID".into(), job_id.to_string());
        self.env.insert("STEWARD_TASK_ID".into(), task_id.to_string());
        self.digest = task_digest(&self.script, &self.env, &self.files, &self.shared);
    }
}

/// SHA-256 (hex) of the canonical JSON of a rendered task: what the plan hash binds to, and
/// what the agent recomputes from the task it receives before running it (the agent's
/// `digest` module must stay byte for byte the same; both pin the same vector).
pub fn task_digest(
    script: &str,
    env: &BTreeMap<String, String>,
    files: &[RenderedFile],
    shared: &[RenderedFile],
) -> String {
    let canonical = crate::audit::canonical_json(
        &serde_json::json!({"script": script, "env": env, "files": files, "shared": shared}),
    );
    hex::encode(Sha256::digest(canonical))
}

impl Stack {
    /// Renders `service/component command` for `hostname` with already-validated `params`.
    pub fn render_task(
        &self,
        ctx: &RenderContext,
        hostname: &str,
        service: &str,
        component: &str,
        command: &str,
        params: &BTreeMap<String, Value>,
    ) -> Result<RenderedTask, String> {
        let comp = self
            .component(service, component)
            .ok_or_else(|| format!("stack {} has no component {service}/{component}", self.name))?;
        let cmd = comp
            .commands
            .get(command)
            .ok_or_else(|| format!("{service}/{component} has no command {command}"))?;
        let carriers = ctx
            .topology
            .get(service)
            .and_then(|c| c.get(component))
            .cloned()
            .unwrap_or_default();
        let ordinal = carriers.iter().position(|h| h == hostname).map_or(0, |i| i + 1);

        let mut tctx = tera::Context::new();
        tctx.insert(
            "cluster",
            &serde_json::json!({"name": ctx.cluster, "stack": self.name, "version": self.version}),
        );
        tctx.insert("config", &ctx.config);
        tctx.insert("host", &serde_json::json!({"hostname": hostname, "ordinal": ordinal}));
        tctx.insert("component", &serde_json::json!({"service": service, "name": component}));
        tctx.insert("topology", &ctx.topology);
        tctx.insert("params", params);

        let mut files = Vec::with_capacity(comp.templates.len());
        for t in &comp.templates {
            let content = self
                .tera
                .render(&t.name, &tctx)
                .map_err(|e| format!("template {}: {}", t.name, steward_llm::error_chain(&e)))?;
            files.push(RenderedFile {
                path: t.dest.clone(),
                content,
                mode: t.mode,
            });
        }
        let shared: Vec<RenderedFile> = self
            .lib
            .iter()
            .map(|(path, content)| RenderedFile {
                path: path.clone(),
                content: content.clone(),
                mode: 0o644,
            })
            .collect();

        let mut env = BTreeMap::new();
        env.insert("STEWARD_CLUSTER".into(), ctx.cluster.clone());
        env.insert("STEWARD_STACK".into(), format!("{}-{}", self.name, self.version));
        env.insert("STEWARD_HOSTNAME".into(), hostname.to_owned());
        env.insert("STEWARD_SERVICE".into(), service.to_owned());
        env.insert("STEWARD_COMPONENT".into(), component.to_owned());
        env.insert("STEWARD_COMMAND".into(), command.to_owned());
        for (k, v) in &ctx.config {
            env.insert(format!("STEWARD_CONFIG_{}", k.to_ascii_uppercase()), env_value(v));
        }
        for (name, v) in params {
            let p = &cmd.params[name];
            env.insert(p.env_name(), env_value(v));
        }
        let digest = task_digest(&cmd.script, &env, &files, &shared);
        Ok(RenderedTask {
            script: cmd.script.clone(),
            env,
            files,
            shared,
            timeout_secs: cmd.timeout_secs,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The task pinned in `proto/testdata/pinned-task.json`, which the agent's verifier test
    /// reads too: a change to how either side hashes fails one of them.
    #[test]
    fn the_task_digest_of_a_fixed_task_is_pinned() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../../proto/testdata/pinned-task.json")).unwrap();
        let text = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
        let env: BTreeMap<String, String> = v["env"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), text(v)))
            .collect();
        let files = |key: &str| -> Vec<RenderedFile> {
            let list = v[key].as_array().unwrap().iter();
            list.map(|f| RenderedFile {
                path: text(&f["path"]),
                content: text(&f["content"]),
                mode: f["mode"].as_u64().unwrap() as u32,
            })
            .collect()
        };
        let digest = task_digest(&text(&v["script"]), &env, &files("files"), &files("shared"));
        assert_eq!(digest, text(&v["digest"]));
    }
}
