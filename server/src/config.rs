//! Configuration: defaults, then `steward.toml`, then `STEWARD_*` environment, then flags.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Everything the server can be told.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the database, agent token and local agent state live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; SQLite under `data_dir` when unset.
    pub database_url: Option<String>,
    /// HTTP listen address (API, UI, docs).
    pub http: SocketAddr,
    /// gRPC listen address for agents.
    pub grpc: SocketAddr,
    /// The token agents present; generated into `data_dir/agent-token` when unset.
    pub agent_token: Option<String>,
    /// A stacks directory; the stacks built into the binary when unset.
    pub stacks_dir: Option<PathBuf>,
    /// A prompts directory; the prompts built into the binary when unset.
    pub prompts_dir: Option<PathBuf>,
    /// Seconds a proposal waits for a decision before it expires.
    pub proposal_ttl_secs: u64,
    /// Milliseconds between agent heartbeats.
    pub heartbeat_interval_ms: u64,
    /// Seconds a task waits for its offline host before it fails.
    pub offline_grace_secs: u64,
    /// Seconds after a task's timeout the server waits for its result.
    pub result_grace_secs: u64,
    /// Bytes of one task's output stored at most: the first half and the last half are kept,
    /// the middle is cut and marked.
    pub task_log_max_bytes: usize,
    /// Approved jobs running at once.
    pub max_concurrent_jobs: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// LLM settings (used by the chat planner).
    pub llm: LlmConfig,
    /// PEM certificate chain (leaf first) both listeners serve; TLS is on when this and
    /// `tls_key` are set.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Sessions, approvals and abuse limits.
    pub auth: AuthConfig,
    /// The knowledge index: embedder and vector store.
    pub knowledge: KnowledgeConfig,
    /// Metric collection, storage, detectors and incidents.
    pub telemetry: TelemetryConfig,
}

/// The knowledge index (retrieval context for the planner).
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// `local` (default: all-MiniLM-L6-v2 in-process), `openai`, or `none` (no index).
    pub embedder: Option<String>,
    /// The local embedder's model directory (default `<data_dir>/models/all-minilm-l6-v2`).
    pub embed_model_dir: Option<PathBuf>,
    /// The `openai` embedder's base URL (default: the LLM's).
    pub embed_base_url: Option<String>,
    /// The `openai` embedder's API key (default: the LLM's).
    pub embed_api_key: Option<String>,
    /// The `openai` embedder's model, e.g. `text-embedding-3-small`.
    pub embed_model: Option<String>,
    /// A Qdrant server's gRPC URL; unset: the embedded index under `data_dir/knowledge`.
    pub qdrant_url: Option<String>,
    /// The Qdrant server's API key.
    pub qdrant_api_key: Option<String>,
    /// The Qdrant collection (default `steward_<embedding model>`).
    pub qdrant_collection: Option<String>,
}

impl std::fmt::Debug for KnowledgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &Option<String>| s.as_ref().map(|_| "<set>");
        f.debug_struct("KnowledgeConfig")
            .field("embedder", &self.embedder)
            .field("embed_model_dir", &self.embed_model_dir)
            .field("embed_base_url", &self.embed_base_url)
            .field("embed_api_key", &secret(&self.embed_api_key))
            .field("embed_model", &self.embed_model)
            .field("qdrant_url", &self.qdrant_url)
            .field("qdrant_api_key", &secret(&self.qdrant_api_key))
            .field("qdrant_collection", &self.qdrant_collection)
            .finish()
    }
}

/// Telemetry: how often agents sample, how long each tier is kept, and the detectors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Milliseconds between agent samples, sent to agents in the welcome.
    pub metrics_interval_ms: u64,
    /// Seconds raw samples are kept.
    pub raw_retention_secs: u64,
    /// Seconds 1-minute rollups are kept.
    pub minute_retention_secs: u64,
    /// Seconds 1-hour rollups are kept.
    pub hour_retention_secs: u64,
    /// Seconds between rollup and retention passes.
    pub rollup_interval_secs: u64,
    /// Seconds a condition must hold before it opens an incident (Prometheus's `for:`).
    pub detect_for_secs: u64,
    /// Seconds a condition must stay clear before its incident resolves (`keep_firing_for`).
    pub detect_keep_firing_secs: u64,
    /// Static thresholds: fire above `above`, clear below `clear`.
    pub thresholds: Vec<ThresholdRule>,
    /// Metrics watched by the robust z-score detector.
    pub zscore_metrics: Vec<String>,
    /// |z| above which a value is anomalous.
    pub zscore_limit: f64,
    /// Metrics (percentages) watched by the rate-of-change forecast.
    pub forecast_metrics: Vec<String>,
    /// Seconds: a metric forecast to reach 100 % within this fires.
    pub forecast_horizon_secs: u64,
    /// Whether a new incident asks the planner for a remediation proposal.
    pub remediate: bool,
    /// Distinct series one host may report (since the server started); samples of further
    /// new series are refused and counted.
    pub max_series_per_host: u64,
}

/// One static threshold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRule {
    /// Metric name, e.g. `disk_used_pct`.
    pub metric: String,
    /// Only series whose labels match all of these (a value ending in `*` matches by prefix).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Fires when the value is above this.
    pub above: f64,
    /// Clears when the value is back below this (hysteresis).
    pub clear: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        let rule = |metric: &str, above, clear| ThresholdRule {
            metric: metric.into(),
            labels: Default::default(),
            above,
            clear,
        };
        TelemetryConfig {
            metrics_interval_ms: 5000,
            raw_retention_secs: 2 * 24 * 3600,
            minute_retention_secs: 30 * 24 * 3600,
            hour_retention_secs: 400 * 24 * 3600,
            rollup_interval_secs: 60,
            detect_for_secs: 60,
            detect_keep_firing_secs: 120,
            thresholds: vec![
                rule("disk_used_pct", 90.0, 85.0),
                rule("disk_inodes_used_pct", 90.0, 85.0),
                rule("mem_used_pct", 95.0, 90.0),
                rule("swap_used_pct", 90.0, 80.0),
            ],
            zscore_metrics: vec!["cpu_used_pct".into(), "load1".into()],
            zscore_limit: 8.0,
            forecast_metrics: vec!["disk_used_pct".into()],
            forecast_horizon_secs: 6 * 3600,
            remediate: true,
            max_series_per_host: 10_000,
        }
    }
}

impl TelemetryConfig {
    /// Thresholds written as `metric>above:clear;…`, the metric optionally with labels to
    /// match, `disk_used_pct{mount=/data*}>80:75` (`STEWARD_DETECT_THRESHOLDS`).
    pub fn parse_thresholds(text: &str) -> Result<Vec<ThresholdRule>, String> {
        text.split(';')
            .flat_map(|r| {
                // Commas separate rules too, except inside a label set.
                let mut out = vec![];
                let (mut depth, mut start) = (0, 0);
                for (i, c) in r.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.push(&r[start..i]);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                out.push(&r[start..]);
                out
            })
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| {
                let bad = || format!("{r:?} is not metric{{label=value,…}}>above:clear");
                let (metric, rest) = r.rsplit_once('>').ok_or_else(bad)?;
                let (metric, labels) = match metric.split_once('{') {
                    Some((m, l)) => {
                        let l = l.strip_suffix('}').ok_or_else(bad)?;
                        let labels = l
                            .split(',')
                            .map(|kv| {
                                kv.split_once('=')
                                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                            })
                            .collect::<Option<std::collections::BTreeMap<_, _>>>()
                            .ok_or_else(bad)?;
                        (m, labels)
                    }
                    None => (metric, Default::default()),
                };
                let (above, clear) = rest.split_once(':').ok_or_else(bad)?;
                let above: f64 = above.trim().parse().map_err(|_| bad())?;
                let clear: f64 = clear.trim().parse().map_err(|_| bad())?;
                if clear > above || !above.is_finite() || !clear.is_finite() {
                    return Err(format!("{r:?}: clear must be a number at most above"));
                }
                Ok(ThresholdRule {
                    metric: metric.trim().to_owned(),
                    labels,
                    above,
                    clear,
                })
            })
            .collect()
    }
}

/// Identity and approval policy.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The first admin's password (`STEWARD_ADMIN_PASSWORD`); generated and printed once when unset.
    pub admin_password: Option<String>,
    /// Seconds a login session lasts.
    pub session_ttl_secs: u64,
    /// Consecutive failed logins that lock a username.
    pub login_max_failures: u32,
    /// Seconds a locked username stays locked.
    pub lockout_secs: u64,
    /// Login attempts one address may make per minute.
    pub login_attempts_per_minute: u32,
    /// Proposals one user may make per minute.
    pub proposals_per_minute: u32,
    /// Chat messages one user may send per minute.
    pub chat_messages_per_minute: u32,
    /// A plan touching more hosts than this needs an approver other than its requester.
    pub four_eyes_hosts: usize,
    /// Whether a requester may approve their own low-risk job.
    pub allow_self_approval: bool,
    /// Seconds an enrollment token is valid when the request gives no expiry.
    pub enrollment_ttl_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            admin_password: None,
            session_ttl_secs: 12 * 3600,
            login_max_failures: 5,
            lockout_secs: 15 * 60,
            login_attempts_per_minute: 30,
            proposals_per_minute: 30,
            chat_messages_per_minute: 20,
            four_eyes_hosts: 10,
            allow_self_approval: true,
            enrollment_ttl_secs: 3600,
        }
    }
}

// By hand, so the admin password never reaches a log through `{:?}`.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("admin_password", &self.admin_password.as_ref().map(|_| "***"))
            .field("session_ttl_secs", &self.session_ttl_secs)
            .field("login_max_failures", &self.login_max_failures)
            .field("lockout_secs", &self.lockout_secs)
            .field("four_eyes_hosts", &self.four_eyes_hosts)
            .field("allow_self_approval", &self.allow_self_approval)
            .finish_non_exhaustive()
    }
}

/// The language model the planner uses.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// `local` (default), `openai`, or `none` (chat off).
    pub provider: Option<String>,
    /// OpenAI-compatible base URL.
    pub base_url: Option<String>,
    /// API key.
    pub api_key: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Seconds one request may take.
    pub timeout_secs: Option<u64>,
    /// The local provider's GGUF file (default: `scripts/fetch-model.sh`'s destination).
    pub model_path: Option<PathBuf>,
    /// `tools` (the model calls tools) or `structured` (names resolved by code, the model
    /// picks among candidates); by default `tools` when the model can call tools.
    pub planner: Option<String>,
}

/// Whether a secret is set, never the secret: what `Debug` shows for every secret field.
fn secret(s: &Option<String>) -> Option<&'static str> {
    s.as_ref().map(|_| "<redacted>")
}

// By hand, so the agent token and the database password never reach a log through `{:?}`.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(crate::server::redact))
            .field("http", &self.http)
            .field("grpc", &self.grpc)
            .field("agent_token", &secret(&self.agent_token))
            .field("stacks_dir", &self.stacks_dir)
            .field("prompts_dir", &self.prompts_dir)
            .field("proposal_ttl_secs", &self.proposal_ttl_secs)
            .field("heartbeat_interval_ms", &self.heartbeat_interval_ms)
            .field("offline_grace_secs", &self.offline_grace_secs)
            .field("result_grace_secs", &self.result_grace_secs)
            .field("task_log_max_bytes", &self.task_log_max_bytes)
            .field("max_concurrent_jobs", &self.max_concurrent_jobs)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("llm", &self.llm)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("auth", &self.auth)
            .field("knowledge", &self.knowledge)
            .field("telemetry", &self.telemetry)
            .finish()
    }
}

// By hand, so the API key never reaches a log through `{:?}`.
impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("api_key", &secret(&self.api_key))
            .field("model", &self.model)
            .field("timeout_secs", &self.timeout_secs)
            .field("model_path", &self.model_path)
            .field("planner", &self.planner)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            database_url: None,
            http: "127.0.0.1:8080".parse().expect("valid"),
            grpc: "127.0.0.1:9090".parse().expect("valid"),
            agent_token: None,
            stacks_dir: None,
            prompts_dir: None,
            proposal_ttl_secs: 24 * 3600,
            heartbeat_interval_ms: 5000,
            offline_grace_secs: 60,
            result_grace_secs: 30,
            task_log_max_bytes: 8 * 1024 * 1024,
            max_concurrent_jobs: 64,
            max_body_bytes: 1024 * 1024,
            llm: LlmConfig::default(),
            tls_cert: None,
            tls_key: None,
            auth: AuthConfig::default(),
            knowledge: KnowledgeConfig::default(),
            telemetry: TelemetryConfig::default(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Config {
    /// Reads `file` (if any), then applies `STEWARD_*` environment overrides.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut c = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError(format!("{}: {e}", p.display())))?;
                toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", p.display())))?
            }
            None => Config::default(),
        };
        c.apply_env(|k| std::env::var(k).ok())?;
        Ok(c)
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(key: &str, v: String) -> Result<T, ConfigError> {
            v.parse().map_err(|_| ConfigError(format!("{key}={v:?} is not valid")))
        }
        if let Some(v) = get("STEWARD_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("STEWARD_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = get("STEWARD_HTTP") {
            self.http = parse("STEWARD_HTTP", v)?;
        }
        if let Some(v) = get("STEWARD_GRPC") {
            self.grpc = parse("STEWARD_GRPC", v)?;
        }
        if let Some(v) = get("STEWARD_AGENT_TOKEN") {
            self.agent_token = Some(v);
        }
        if let Some(v) = get("STEWARD_STACKS_DIR") {
            self.stacks_dir = Some(v.into());
        }
        if let Some(v) = get("STEWARD_PROMPTS_DIR") {
            self.prompts_dir = Some(v.into());
        }
        if let Some(v) = get("STEWARD_PROPOSAL_TTL_SECS") {
            self.proposal_ttl_secs = parse("STEWARD_PROPOSAL_TTL_SECS", v)?;
        }
        if let Some(v) = get("STEWARD_HEARTBEAT_INTERVAL_MS") {
            self.heartbeat_interval_ms = parse("STEWARD_HEARTBEAT_INTERVAL_MS", v)?;
        }
        if let Some(v) = get("STEWARD_OFFLINE_GRACE_SECS") {
            self.offline_grace_secs = parse("STEWARD_OFFLINE_GRACE_SECS", v)?;
        }
        if let Some(v) = get("STEWARD_RESULT_GRACE_SECS") {
            self.result_grace_secs = parse("STEWARD_RESULT_GRACE_SECS", v)?;
        }
        if let Some(v) = get("STEWARD_TASK_LOG_MAX_BYTES") {
            self.task_log_max_bytes = parse("STEWARD_TASK_LOG_MAX_BYTES", v)?;
        }
        if let Some(v) = get("STEWARD_LLM_PROVIDER") {
            self.llm.provider = Some(v);
        }
        if let Some(v) = get("STEWARD_LLM_BASE_URL") {
            self.llm.base_url = Some(v);
        }
        if let Some(v) = get("STEWARD_LLM_API_KEY") {
            self.llm.api_key = Some(v);
        }
        if let Some(v) = get("STEWARD_LLM_MODEL") {
            self.llm.model = Some(v);
        }
        if let Some(v) = get("STEWARD_LLM_MODEL_PATH") {
            self.llm.model_path = Some(v.into());
        }
        if let Some(v) = get("STEWARD_LLM_PLANNER") {
            self.llm.planner = Some(v);
        }
        if let Some(v) = get("STEWARD_LLM_TIMEOUT_SECS") {
            self.llm.timeout_secs = Some(parse("STEWARD_LLM_TIMEOUT_SECS", v)?);
        }
        self.apply_auth_env(&get)?;
        let k = &mut self.knowledge;
        for (key, field) in [
            ("STEWARD_EMBEDDER", &mut k.embedder),
            ("STEWARD_EMBED_BASE_URL", &mut k.embed_base_url),
            ("STEWARD_EMBED_API_KEY", &mut k.embed_api_key),
            ("STEWARD_EMBED_MODEL", &mut k.embed_model),
            ("STEWARD_QDRANT_URL", &mut k.qdrant_url),
            ("STEWARD_QDRANT_API_KEY", &mut k.qdrant_api_key),
            ("STEWARD_QDRANT_COLLECTION", &mut k.qdrant_collection),
        ] {
            if let Some(v) = get(key).filter(|v| !v.is_empty()) {
                *field = Some(v);
            }
        }
        if let Some(v) = get("STEWARD_EMBED_MODEL_DIR").filter(|v| !v.is_empty()) {
            k.embed_model_dir = Some(v.into());
        }
        self.apply_telemetry_env(&get)?;
        if let Some(v) = get("STEWARD_TLS_CERT") {
            self.tls_cert = Some(v.into());
        }
        if let Some(v) = get("STEWARD_TLS_KEY") {
            self.tls_key = Some(v.into());
        }
        self.tls_files()?;
        if self.heartbeat_interval_ms < 100 {
            return Err(ConfigError("heartbeat_interval_ms must be at least 100".into()));
        }
        if self.task_log_max_bytes < 4096 {
            return Err(ConfigError("task_log_max_bytes must be at least 4096".into()));
        }
        Ok(())
    }

    fn apply_auth_env(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(key: &str, v: String) -> Result<T, ConfigError> {
            v.parse().map_err(|_| ConfigError(format!("{key}={v:?} is not valid")))
        }
        let a = &mut self.auth;
        if let Some(v) = get("STEWARD_ADMIN_PASSWORD").filter(|v| !v.is_empty()) {
            a.admin_password = Some(v);
        }
        if let Some(v) = get("STEWARD_SESSION_TTL_SECS") {
            a.session_ttl_secs = parse("STEWARD_SESSION_TTL_SECS", v)?;
        }
        if let Some(v) = get("STEWARD_LOGIN_MAX_FAILURES") {
            a.login_max_failures = parse("STEWARD_LOGIN_MAX_FAILURES", v)?;
        }
        if let Some(v) = get("STEWARD_LOCKOUT_SECS") {
            a.lockout_secs = parse("STEWARD_LOCKOUT_SECS", v)?;
        }
        if let Some(v) = get("STEWARD_LOGIN_ATTEMPTS_PER_MINUTE") {
            a.login_attempts_per_minute = parse("STEWARD_LOGIN_ATTEMPTS_PER_MINUTE", v)?;
        }
        if let Some(v) = get("STEWARD_PROPOSALS_PER_MINUTE") {
            a.proposals_per_minute = parse("STEWARD_PROPOSALS_PER_MINUTE", v)?;
        }
        if let Some(v) = get("STEWARD_CHAT_MESSAGES_PER_MINUTE") {
            a.chat_messages_per_minute = parse("STEWARD_CHAT_MESSAGES_PER_MINUTE", v)?;
        }
        if let Some(v) = get("STEWARD_FOUR_EYES_HOSTS") {
            a.four_eyes_hosts = parse("STEWARD_FOUR_EYES_HOSTS", v)?;
        }
        if let Some(v) = get("STEWARD_ALLOW_SELF_APPROVAL") {
            a.allow_self_approval = parse("STEWARD_ALLOW_SELF_APPROVAL", v)?;
        }
        if let Some(p) = &a.admin_password {
            if p.len() < crate::auth::MIN_PASSWORD_LEN {
                return Err(ConfigError(format!(
                    "STEWARD_ADMIN_PASSWORD must be at least {} characters",
                    crate::auth::MIN_PASSWORD_LEN
                )));
            }
        }
        Ok(())
    }

    fn apply_telemetry_env(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(key: &str, v: String) -> Result<T, ConfigError> {
            v.parse().map_err(|_| ConfigError(format!("{key}={v:?} is not valid")))
        }
        fn list(v: &str) -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect()
        }
        let t = &mut self.telemetry;
        for (key, field) in [
            ("STEWARD_METRICS_INTERVAL_MS", &mut t.metrics_interval_ms),
            ("STEWARD_METRICS_RAW_RETENTION_SECS", &mut t.raw_retention_secs),
            ("STEWARD_METRICS_MINUTE_RETENTION_SECS", &mut t.minute_retention_secs),
            ("STEWARD_METRICS_HOUR_RETENTION_SECS", &mut t.hour_retention_secs),
            ("STEWARD_METRICS_ROLLUP_INTERVAL_SECS", &mut t.rollup_interval_secs),
            ("STEWARD_METRICS_MAX_SERIES_PER_HOST", &mut t.max_series_per_host),
            ("STEWARD_DETECT_FOR_SECS", &mut t.detect_for_secs),
            ("STEWARD_DETECT_KEEP_FIRING_SECS", &mut t.detect_keep_firing_secs),
            ("STEWARD_DETECT_FORECAST_HORIZON_SECS", &mut t.forecast_horizon_secs),
        ] {
            if let Some(v) = get(key) {
                *field = parse(key, v)?;
            }
        }
        if let Some(v) = get("STEWARD_DETECT_THRESHOLDS") {
            t.thresholds = TelemetryConfig::parse_thresholds(&v)
                .map_err(|e| ConfigError(format!("STEWARD_DETECT_THRESHOLDS: {e}")))?;
        }
        if let Some(v) = get("STEWARD_DETECT_ZSCORE_METRICS") {
            t.zscore_metrics = list(&v);
        }
        if let Some(v) = get("STEWARD_DETECT_ZSCORE_LIMIT") {
            t.zscore_limit = parse("STEWARD_DETECT_ZSCORE_LIMIT", v)?;
        }
        if let Some(v) = get("STEWARD_DETECT_FORECAST_METRICS") {
            t.forecast_metrics = list(&v);
        }
        if let Some(v) = get("STEWARD_REMEDIATE") {
            t.remediate = parse("STEWARD_REMEDIATE", v)?;
        }
        if t.metrics_interval_ms < 200 {
            return Err(ConfigError("metrics_interval_ms must be at least 200".into()));
        }
        if t.rollup_interval_secs == 0 {
            return Err(ConfigError("rollup_interval_secs must be at least 1".into()));
        }
        if t.raw_retention_secs < 2 * 3600
            || t.minute_retention_secs < t.raw_retention_secs
            || t.hour_retention_secs < t.minute_retention_secs
        {
            return Err(ConfigError(
                "retention must grow from tier to tier: raw (at least 2 h) <= minute <= hour".into(),
            ));
        }
        Ok(())
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| crate::db::sqlite_url(&self.data_dir))
    }

    /// The certificate and key to serve TLS with, or `None` for plain text; one without the
    /// other is an error rather than a silent fallback to plain text.
    pub fn tls_files(&self) -> Result<Option<(&Path, &Path)>, ConfigError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some((cert, key))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError(
                "tls_cert (STEWARD_TLS_CERT) is set but tls_key (STEWARD_TLS_KEY) is not: TLS needs both".into(),
            )),
            (None, Some(_)) => Err(ConfigError(
                "tls_key (STEWARD_TLS_KEY) is set but tls_cert (STEWARD_TLS_CERT) is not: TLS needs both".into(),
            )),
        }
    }

    /// Heartbeat interval.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_secret_reaches_the_debug_output_of_any_config() {
        let secrets = [
            ("STEWARD_AGENT_TOKEN", "agent-token-SECRET-1"),
            ("STEWARD_LLM_API_KEY", "sk-SECRET-2"),
            ("STEWARD_ADMIN_PASSWORD", "admin-password-SECRET-3"),
            ("STEWARD_EMBED_API_KEY", "embed-SECRET-4"),
            ("STEWARD_QDRANT_API_KEY", "qdrant-SECRET-5"),
            (
                "STEWARD_DATABASE_URL",
                "postgres://steward:db-SECRET-6@db.example/steward",
            ),
        ];
        let mut c = Config::default();
        c.apply_env(|k| secrets.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
            .unwrap();
        // They were loaded, so a missing field cannot make this pass.
        assert_eq!(c.agent_token.as_deref(), Some("agent-token-SECRET-1"));
        assert_eq!(c.llm.api_key.as_deref(), Some("sk-SECRET-2"));
        assert_eq!(c.auth.admin_password.as_deref(), Some("admin-password-SECRET-3"));
        assert_eq!(c.knowledge.qdrant_api_key.as_deref(), Some("qdrant-SECRET-5"));
        for shown in [
            format!("{c:?}"),
            format!("{c:#?}"),
            format!("{:?}", c.llm),
            format!("{:?}", c.auth),
            format!("{:?}", c.knowledge),
        ] {
            assert!(!shown.contains("SECRET"), "{shown}");
        }
        let shown = format!("{c:?}");
        assert!(
            shown.contains("db.example") && shown.contains("agent_token: Some(\"<redacted>\")"),
            "{shown}"
        );
    }

    #[test]
    fn env_overrides_and_rejects_bad_values() {
        let mut c = Config::default();
        c.apply_env(|k| (k == "STEWARD_HTTP").then(|| "127.0.0.1:9999".to_string()))
            .unwrap();
        assert_eq!(c.http.port(), 9999);
        let e = c
            .apply_env(|k| (k == "STEWARD_GRPC").then(|| "nope".to_string()))
            .unwrap_err();
        assert!(e.to_string().contains("STEWARD_GRPC"));
    }

    #[test]
    fn tls_needs_both_the_certificate_and_the_key() {
        let mut c = Config::default();
        let e = c
            .apply_env(|k| (k == "STEWARD_TLS_CERT").then(|| "/etc/steward/cert.pem".to_string()))
            .unwrap_err();
        assert!(e.to_string().contains("STEWARD_TLS_KEY"), "{e}");
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "STEWARD_TLS_CERT" => Some("cert.pem".into()),
            "STEWARD_TLS_KEY" => Some("key.pem".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            c.tls_files().unwrap(),
            Some((Path::new("cert.pem"), Path::new("key.pem")))
        );
    }

    #[test]
    fn telemetry_settings_come_from_the_environment_and_bad_ones_are_refused() {
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "STEWARD_DETECT_THRESHOLDS" => {
                Some("disk_used_pct>80:70, mem_used_pct>97:92;disk_used_pct{mount=/data*,fs=xfs}>70:60".into())
            }
            "STEWARD_DETECT_ZSCORE_METRICS" => Some("".into()),
            "STEWARD_METRICS_INTERVAL_MS" => Some("1000".into()),
            _ => None,
        })
        .unwrap();
        let t = &c.telemetry;
        assert_eq!(t.metrics_interval_ms, 1000);
        assert!(t.zscore_metrics.is_empty());
        assert_eq!(t.thresholds.len(), 3);
        assert_eq!(t.thresholds[0].metric, "disk_used_pct");
        assert_eq!((t.thresholds[0].above, t.thresholds[0].clear), (80.0, 70.0));
        assert!(t.thresholds[0].labels.is_empty());
        assert_eq!(t.thresholds[2].labels["mount"], "/data*");
        assert_eq!(t.thresholds[2].labels["fs"], "xfs");
        for (k, v) in [
            ("STEWARD_DETECT_THRESHOLDS", "disk_used_pct>80"),
            ("STEWARD_DETECT_THRESHOLDS", "disk_used_pct>80:90"),
            ("STEWARD_DETECT_THRESHOLDS", "disk_used_pct{mount}>80:70"),
            ("STEWARD_METRICS_INTERVAL_MS", "10"),
            ("STEWARD_METRICS_RAW_RETENTION_SECS", "60"),
        ] {
            let e = Config::default()
                .apply_env(|key| (key == k).then(|| v.to_string()))
                .unwrap_err();
            assert!(!e.to_string().is_empty(), "{k}={v}");
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        assert!(toml::from_str::<Config>("htp = \"x\"").is_err());
        let c: Config = toml::from_str("proposal_ttl_secs = 60").unwrap();
        assert_eq!(c.proposal_ttl_secs, 60);
    }
}
