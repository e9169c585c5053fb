//! Configuration: defaults, then `steward.toml`, then `STEWARD_*` environment, then flags.
//!
//! Each subsystem owns its typed table (`auth::AuthConfig`, `telemetry::TelemetryConfig`,
//! `knowledge::KnowledgeConfig`) and gets that table alone; this module assembles them.
//! Every key is declared once in [`KEYS`]: its place in the file, its environment variable,
//! how its text is read and what it means. Loading, `steward config show` and the reference
//! in the README all come from that table, and a test keeps it equal to the typed structs.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::auth::AuthConfig;
pub use crate::integrations::{SlackConfig, TelegramConfig, TelegramMode};
pub use crate::knowledge::KnowledgeConfig;
pub use crate::telemetry::{TelemetryConfig, ThresholdRule};

/// Everything the server can be told.
#[derive(Clone, Deserialize, Serialize)]
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
    /// The address people reach this server at, for links in chat messages.
    pub public_url: Option<String>,
    /// The Slack bot.
    pub slack: SlackConfig,
    /// The Telegram bot.
    pub telegram: TelegramConfig,
}

/// The language model the planner uses.
#[derive(Clone, Deserialize, Serialize, Default)]
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
            .field("database_url", &self.database_url.as_deref().map(crate::db::redact))
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
            .field("public_url", &self.public_url)
            .field("slack", &self.slack)
            .field("telegram", &self.telegram)
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
            public_url: None,
            slack: SlackConfig::default(),
            telegram: TelegramConfig::default(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// How a key's text from the environment or a flag is read, and what a file value must be.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Text,
    /// Text never shown.
    Secret,
    /// A URL that may carry a password (shown without it).
    Url,
    Path,
    Addr,
    Int,
    Float,
    Bool,
    /// Comma-separated in the environment; a list of strings in the file.
    List,
    /// `STEWARD_DETECT_THRESHOLDS`'s `metric>above:clear;…` in the environment.
    Thresholds,
}

/// One configuration key.
#[derive(Debug)]
pub struct Key {
    /// Its dotted place in `steward.toml` (`auth.session_ttl_secs`).
    pub path: &'static str,
    /// The environment variable that overrides it.
    pub env: &'static str,
    kind: Kind,
    /// What it means.
    pub doc: &'static str,
}

const fn key(path: &'static str, env: &'static str, kind: Kind, doc: &'static str) -> Key {
    Key { path, env, kind, doc }
}

/// Every key the server reads, in the order the reference lists them.
pub const KEYS: &[Key] = &[
    key("data_dir", "STEWARD_DATA_DIR", Kind::Path, "Where the database, agent token, models and local agent state live."),
    key("database_url", "STEWARD_DATABASE_URL", Kind::Url, "`sqlite://…` or `postgres://…`; SQLite under `data_dir` when unset."),
    key("http", "STEWARD_HTTP", Kind::Addr, "HTTP listen address (API, console, docs)."),
    key("grpc", "STEWARD_GRPC", Kind::Addr, "gRPC listen address for agents."),
    key("agent_token", "STEWARD_AGENT_TOKEN", Kind::Secret, "A shared token any agent may present (tests and labs; enroll agents instead)."),
    key("stacks_dir", "STEWARD_STACKS_DIR", Kind::Path, "A stacks directory; the stacks built into the binary when unset."),
    key("prompts_dir", "STEWARD_PROMPTS_DIR", Kind::Path, "A prompts directory; the prompts built into the binary when unset."),
    key("proposal_ttl_secs", "STEWARD_PROPOSAL_TTL_SECS", Kind::Int, "Seconds a proposal waits for a decision before it expires."),
    key("heartbeat_interval_ms", "STEWARD_HEARTBEAT_INTERVAL_MS", Kind::Int, "Milliseconds between agent heartbeats (at least 100)."),
    key("offline_grace_secs", "STEWARD_OFFLINE_GRACE_SECS", Kind::Int, "Seconds a task waits for its offline host before it fails."),
    key("result_grace_secs", "STEWARD_RESULT_GRACE_SECS", Kind::Int, "Seconds after a task's timeout the server waits for its result."),
    key("task_log_max_bytes", "STEWARD_TASK_LOG_MAX_BYTES", Kind::Int, "Bytes of one task's output stored at most (at least 4096): the first and last halves are kept, the cut is marked."),
    key("max_concurrent_jobs", "STEWARD_MAX_CONCURRENT_JOBS", Kind::Int, "Approved jobs running at once."),
    key("max_body_bytes", "STEWARD_MAX_BODY_BYTES", Kind::Int, "Largest request body, in bytes."),
    key("tls_cert", "STEWARD_TLS_CERT", Kind::Path, "PEM certificate chain (leaf first) both listeners serve; TLS is on when this and `tls_key` are set."),
    key("tls_key", "STEWARD_TLS_KEY", Kind::Path, "PEM private key of `tls_cert`."),
    key("llm.provider", "STEWARD_LLM_PROVIDER", Kind::Text, "`local` (default), `openai`, or `none` (chat off)."),
    key("llm.base_url", "STEWARD_LLM_BASE_URL", Kind::Text, "OpenAI-compatible base URL."),
    key("llm.api_key", "STEWARD_LLM_API_KEY", Kind::Secret, "API key of the OpenAI-compatible provider."),
    key("llm.model", "STEWARD_LLM_MODEL", Kind::Text, "Model name at the provider."),
    key("llm.timeout_secs", "STEWARD_LLM_TIMEOUT_SECS", Kind::Int, "Seconds one model request may take."),
    key("llm.model_path", "STEWARD_LLM_MODEL_PATH", Kind::Path, "The local provider's GGUF file (default: under `data_dir/models`)."),
    key("llm.planner", "STEWARD_LLM_PLANNER", Kind::Text, "`tools` (the model calls tools) or `structured` (names resolved by code); `tools` when the model can call tools."),
    key("auth.admin_password", "STEWARD_ADMIN_PASSWORD", Kind::Secret, "The first admin's password (at least 12 characters); generated and printed once when unset."),
    key("auth.session_ttl_secs", "STEWARD_SESSION_TTL_SECS", Kind::Int, "Seconds a login session lasts."),
    key("auth.login_max_failures", "STEWARD_LOGIN_MAX_FAILURES", Kind::Int, "Consecutive failed logins that hold back one (username, address) pair."),
    key("auth.lockout_secs", "STEWARD_LOCKOUT_SECS", Kind::Int, "Seconds a held-back pair waits."),
    key("auth.login_attempts_per_minute", "STEWARD_LOGIN_ATTEMPTS_PER_MINUTE", Kind::Int, "Login attempts one address may make per minute."),
    key("auth.proposals_per_minute", "STEWARD_PROPOSALS_PER_MINUTE", Kind::Int, "Proposals one user may make per minute."),
    key("auth.chat_messages_per_minute", "STEWARD_CHAT_MESSAGES_PER_MINUTE", Kind::Int, "Chat messages one user may send per minute."),
    key("auth.four_eyes_hosts", "STEWARD_FOUR_EYES_HOSTS", Kind::Int, "A plan touching more hosts than this needs an approver other than its requester."),
    key("auth.allow_self_approval", "STEWARD_ALLOW_SELF_APPROVAL", Kind::Bool, "Whether a requester may approve their own low-risk job."),
    key("auth.enrollment_ttl_secs", "STEWARD_ENROLLMENT_TTL_SECS", Kind::Int, "Seconds an enrollment token is valid when the request gives no expiry."),
    key("knowledge.embedder", "STEWARD_EMBEDDER", Kind::Text, "`local` (all-MiniLM-L6-v2 in-process, the default), `openai`, or `none` (no index)."),
    key("knowledge.embed_model_dir", "STEWARD_EMBED_MODEL_DIR", Kind::Path, "The local embedder's model directory (default `data_dir/models/all-minilm-l6-v2`)."),
    key("knowledge.embed_base_url", "STEWARD_EMBED_BASE_URL", Kind::Text, "The `openai` embedder's base URL (default: `llm.base_url`)."),
    key("knowledge.embed_api_key", "STEWARD_EMBED_API_KEY", Kind::Secret, "The `openai` embedder's API key (default: `llm.api_key`)."),
    key("knowledge.embed_model", "STEWARD_EMBED_MODEL", Kind::Text, "The `openai` embedder's model, e.g. `text-embedding-3-small`."),
    key("knowledge.qdrant_url", "STEWARD_QDRANT_URL", Kind::Text, "A Qdrant server's gRPC URL; unset: the embedded index under `data_dir/knowledge`."),
    key("knowledge.qdrant_api_key", "STEWARD_QDRANT_API_KEY", Kind::Secret, "The Qdrant server's API key."),
    key("knowledge.qdrant_collection", "STEWARD_QDRANT_COLLECTION", Kind::Text, "The Qdrant collection (default `steward_<embedding model>`)."),
    key("telemetry.metrics_interval_ms", "STEWARD_METRICS_INTERVAL_MS", Kind::Int, "Milliseconds between agent samples (at least 200), sent to agents when they connect."),
    key("telemetry.raw_retention_secs", "STEWARD_METRICS_RAW_RETENTION_SECS", Kind::Int, "Seconds raw samples are kept (at least 2 h)."),
    key("telemetry.minute_retention_secs", "STEWARD_METRICS_MINUTE_RETENTION_SECS", Kind::Int, "Seconds 1-minute rollups are kept (at least the raw retention)."),
    key("telemetry.hour_retention_secs", "STEWARD_METRICS_HOUR_RETENTION_SECS", Kind::Int, "Seconds 1-hour rollups are kept (at least the minute retention)."),
    key("telemetry.rollup_interval_secs", "STEWARD_METRICS_ROLLUP_INTERVAL_SECS", Kind::Int, "Seconds between rollup and retention passes."),
    key("telemetry.max_series_per_host", "STEWARD_METRICS_MAX_SERIES_PER_HOST", Kind::Int, "Distinct series one host may report since the server started; further new series are refused and counted."),
    key("telemetry.detect_for_secs", "STEWARD_DETECT_FOR_SECS", Kind::Int, "Seconds a condition must hold before it opens an incident (Prometheus's `for:`)."),
    key("telemetry.detect_keep_firing_secs", "STEWARD_DETECT_KEEP_FIRING_SECS", Kind::Int, "Seconds a condition must stay clear before its incident resolves."),
    key("telemetry.thresholds", "STEWARD_DETECT_THRESHOLDS", Kind::Thresholds, "Static thresholds, `metric{label=value}>above:clear` separated by `;` (in the file: a list of `{metric, labels, above, clear}`)."),
    key("telemetry.zscore_metrics", "STEWARD_DETECT_ZSCORE_METRICS", Kind::List, "Metrics watched by the robust z-score detector (comma-separated)."),
    key("telemetry.zscore_limit", "STEWARD_DETECT_ZSCORE_LIMIT", Kind::Float, "|z| above which a value is anomalous."),
    key("telemetry.forecast_metrics", "STEWARD_DETECT_FORECAST_METRICS", Kind::List, "Percentage metrics watched by the rate-of-change forecast (comma-separated)."),
    key("telemetry.forecast_horizon_secs", "STEWARD_DETECT_FORECAST_HORIZON_SECS", Kind::Int, "Seconds: a metric forecast to reach 100 % within this fires."),
    key("telemetry.remediate", "STEWARD_REMEDIATE", Kind::Bool, "Whether a new incident asks the planner for a remediation proposal."),
    key("public_url", "STEWARD_PUBLIC_URL", Kind::Url, "The address people reach this server at (`https://steward.example.com`): chat messages link to job pages below it."),
    key("slack.signing_secret", "STEWARD_SLACK_SIGNING_SECRET", Kind::Secret, "The Slack app's signing secret: every request from Slack is verified with it."),
    key("slack.bot_token", "STEWARD_SLACK_BOT_TOKEN", Kind::Secret, "The Slack app's bot token (`xoxb-…`); the Slack bot is on when it is set."),
    key("slack.app_token", "STEWARD_SLACK_APP_TOKEN", Kind::Secret, "An app-level token (`xapp-…`, scope `connections:write`): Socket Mode, so Slack never has to reach this server."),
    key("slack.channel", "STEWARD_SLACK_CHANNEL", Kind::Text, "Channel id (`C…`) new proposals and incidents are posted to."),
    key("slack.api_url", "STEWARD_SLACK_API_URL", Kind::Url, "The Slack Web API's base URL."),
    key("telegram.bot_token", "STEWARD_TELEGRAM_BOT_TOKEN", Kind::Secret, "The Telegram bot's token (from @BotFather); the Telegram bot is on when it is set."),
    key("telegram.secret_token", "STEWARD_TELEGRAM_SECRET_TOKEN", Kind::Secret, "The webhook's secret: Telegram sends it in `X-Telegram-Bot-Api-Secret-Token` (required in webhook mode)."),
    key("telegram.chat_id", "STEWARD_TELEGRAM_CHAT_ID", Kind::Text, "Group chats the bot serves (comma-separated ids); the first gets proposals and incidents. Private chats are always served."),
    key("telegram.api_url", "STEWARD_TELEGRAM_API_URL", Kind::Url, "The Telegram Bot API's base URL."),
    key("telegram.mode", "STEWARD_TELEGRAM_MODE", Kind::Text, "`webhook` (Telegram POSTs to `/integrations/telegram/webhook`) or `poll` (long polling, for servers Telegram cannot reach)."),
];

/// Where a key's effective value came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The configuration file.
    File(PathBuf),
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(v) => write!(f, "env {v}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A loaded configuration and where each of its values came from.
#[derive(Debug)]
pub struct Loaded {
    /// The effective configuration.
    pub config: Config,
    values: Value,
    sources: BTreeMap<&'static str, Source>,
}

/// A command-line override: the key's path, the flag as typed, and its text.
pub type Flag<'a> = (&'a str, &'a str, String);

impl Config {
    /// Reads `file` (if any), then applies `STEWARD_*` environment overrides.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Ok(load(file, &[])?.config)
    }

    /// Refuses values no subsystem can run with, naming the key.
    fn validate(&self) -> Result<(), ConfigError> {
        self.tls_files()?;
        if self.heartbeat_interval_ms < 100 {
            return Err(ConfigError("heartbeat_interval_ms must be at least 100".into()));
        }
        if self.task_log_max_bytes < 4096 {
            return Err(ConfigError("task_log_max_bytes must be at least 4096".into()));
        }
        self.auth.validate().map_err(ConfigError)?;
        self.telegram.chats().map_err(ConfigError)?;
        self.telemetry.validate().map_err(ConfigError)
    }

    /// The knowledge index's table, its `openai` embedder defaulting to the LLM's endpoint.
    pub fn knowledge(&self) -> KnowledgeConfig {
        let mut k = self.knowledge.clone();
        k.embed_base_url = k.embed_base_url.or_else(|| self.llm.base_url.clone());
        k.embed_api_key = k.embed_api_key.or_else(|| self.llm.api_key.clone());
        k
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

    /// What `serve` must say when a listener is reachable beyond this machine in clear text.
    pub fn plaintext_warnings(&self) -> Vec<String> {
        if matches!(self.tls_files(), Ok(Some(_))) {
            return Vec::new();
        }
        let beyond = |addr: &SocketAddr| !addr.ip().is_loopback();
        let mut warnings = Vec::new();
        if beyond(&self.http) {
            warnings.push(format!(
                "HTTP listens on {} beyond loopback WITHOUT TLS: passwords, API tokens and approvals \
                 cross the network in clear text; set tls_cert and tls_key (STEWARD_TLS_CERT, STEWARD_TLS_KEY)",
                self.http
            ));
        }
        if beyond(&self.grpc) {
            warnings.push(format!(
                "gRPC listens on {} beyond loopback WITHOUT TLS: agent credentials and the scripts sent \
                 to hosts cross the network in clear text and can be altered; set tls_cert and tls_key \
                 (STEWARD_TLS_CERT, STEWARD_TLS_KEY)",
                self.grpc
            ));
        }
        warnings
    }
}

/// Loads the configuration: defaults, then `file`, then the environment, then `flags`.
pub fn load(file: Option<&Path>, flags: &[Flag]) -> Result<Loaded, ConfigError> {
    let text = match file {
        Some(p) => Some((
            p,
            std::fs::read_to_string(p).map_err(|e| ConfigError(format!("{}: {e}", p.display())))?,
        )),
        None => None,
    };
    load_with(text.as_ref().map(|(p, t)| (*p, t.as_str())), flags, |k| {
        std::env::var(k).ok()
    })
}

fn load_with(
    file: Option<(&Path, &str)>,
    flags: &[Flag],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let mut values = serde_json::to_value(Config::default()).expect("the defaults serialise");
    let mut sources: BTreeMap<&'static str, Source> = KEYS.iter().map(|k| (k.path, Source::Default)).collect();
    if let Some((path, text)) = file {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        let table = serde_json::to_value(table).expect("TOML is JSON-shaped");
        let mut found = Vec::new();
        file_values("", &table, &mut found).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        for (k, v) in found {
            set(&mut values, k.path, v);
            sources.insert(k.path, Source::File(path.to_owned()));
        }
    }
    for k in KEYS {
        if let Some(text) = env(k.env).filter(|v| !v.is_empty()) {
            let v = read(k, &text).map_err(|e| ConfigError(format!("{}={text:?}: {e}", k.env)))?;
            set(&mut values, k.path, v);
            sources.insert(k.path, Source::Env(k.env));
        }
    }
    for (path, flag, text) in flags {
        let k = find(path).ok_or_else(|| ConfigError(format!("{flag}: no configuration key {path:?}")))?;
        let v = read(k, text).map_err(|e| ConfigError(format!("{flag} {text:?}: {e}")))?;
        set(&mut values, k.path, v);
        sources.insert(k.path, Source::Flag(flag.to_string()));
    }
    let config: Config = serde_json::from_value(values.clone()).map_err(|e| ConfigError(e.to_string()))?;
    config.validate()?;
    Ok(Loaded {
        config,
        values,
        sources,
    })
}

fn find(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.path == path)
}

/// The known key nearest to `path` (by edit distance), for "did you mean".
fn closest(path: &str) -> &'static str {
    KEYS.iter()
        .min_by_key(|k| strsim::levenshtein(path, k.path))
        .map(|k| k.path)
        .expect("there are keys")
}

/// The file's leaf values by key; an unknown key is an error naming the closest known one.
fn file_values(prefix: &str, table: &Value, out: &mut Vec<(&'static Key, Value)>) -> Result<(), String> {
    for (name, v) in table.as_object().into_iter().flatten() {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if let Some(k) = find(&path) {
            check(k, v)?;
            out.push((k, v.clone()));
        } else if v.is_object() && KEYS.iter().any(|k| k.path.starts_with(&format!("{path}."))) {
            file_values(&path, v, out)?;
        } else {
            return Err(format!("unknown key `{path}`; did you mean `{}`?", closest(&path)));
        }
    }
    Ok(())
}

/// Whether a file value has the key's type.
fn check(k: &Key, v: &Value) -> Result<(), String> {
    let ok = match k.kind {
        Kind::Text | Kind::Secret | Kind::Url | Kind::Path => v.is_string(),
        Kind::Addr => v.as_str().is_some_and(|s| s.parse::<SocketAddr>().is_ok()),
        Kind::Int => v.is_u64(),
        Kind::Float => v.as_f64().is_some_and(f64::is_finite),
        Kind::Bool => v.is_boolean(),
        Kind::List => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        Kind::Thresholds => {
            return serde_json::from_value::<Vec<ThresholdRule>>(v.clone())
                .map(|_| ())
                .map_err(|e| format!("`{}`: {e}", k.path))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{}` must be {}, not {v}", k.path, expected(k.kind)))
    }
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Text | Kind::Secret | Kind::Url | Kind::Path => "a string",
        Kind::Addr => "an address such as \"127.0.0.1:8080\"",
        Kind::Int => "a whole number of at least 0",
        Kind::Float => "a number",
        Kind::Bool => "true or false",
        Kind::List => "a list of strings",
        Kind::Thresholds => "a list of thresholds",
    }
}

/// A key's value from text (the environment or a flag).
fn read(k: &Key, text: &str) -> Result<Value, String> {
    let bad = || expected(k.kind).to_owned();
    Ok(match k.kind {
        Kind::Text | Kind::Secret | Kind::Url | Kind::Path => Value::from(text),
        Kind::Addr => {
            text.parse::<SocketAddr>().map_err(|_| bad())?;
            Value::from(text)
        }
        Kind::Int => Value::from(text.trim().parse::<u64>().map_err(|_| bad())?),
        Kind::Float => Value::from(
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(bad)?,
        ),
        Kind::Bool => Value::from(text.trim().parse::<bool>().map_err(|_| bad())?),
        Kind::List => Value::from(
            text.split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .collect::<Vec<_>>(),
        ),
        Kind::Thresholds => serde_json::to_value(TelemetryConfig::parse_thresholds(text)?).expect("rules serialise"),
    })
}

fn set(values: &mut Value, path: &str, v: Value) {
    let mut at = values;
    for part in path.split('.') {
        at = &mut at[part];
    }
    *at = v;
}

fn get<'a>(values: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(values, |at, part| &at[part])
}

/// A value as the reference and `config show` print it; secrets masked.
fn display(k: &Key, v: &Value) -> String {
    match (k.kind, v) {
        (_, Value::Null) => "(unset)".into(),
        (Kind::Secret, _) => "***".into(),
        (Kind::Url, Value::String(s)) => crate::db::redact(s),
        (Kind::List, Value::Array(a)) if a.is_empty() => "(none)".into(),
        (Kind::List, Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
        (Kind::Thresholds, _) => serde_json::from_value::<Vec<ThresholdRule>>(v.clone())
            .map(|rules| {
                rules
                    .iter()
                    .map(|r| {
                        let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        let labels = if labels.is_empty() {
                            String::new()
                        } else {
                            format!("{{{}}}", labels.join(","))
                        };
                        format!("{}{labels}>{}:{}", r.metric, r.above, r.clear)
                    })
                    .collect::<Vec<_>>()
                    .join(";")
            })
            .unwrap_or_else(|_| v.to_string()),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

impl Loaded {
    /// Every key with its effective value (secrets masked) and where it came from: what
    /// `steward config show` prints.
    pub fn show(&self) -> String {
        let rows: Vec<(String, String, String)> = KEYS
            .iter()
            .map(|k| {
                (
                    k.path.to_owned(),
                    display(k, get(&self.values, k.path)),
                    self.sources[k.path].to_string(),
                )
            })
            .collect();
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0).min(60);
        let mut out = format!("{:w0$}  {:w1$}  FROM\n", "KEY", "VALUE");
        for (k, v, from) in rows {
            out.push_str(&format!("{k:w0$}  {v:w1$}  {from}\n"));
        }
        out
    }

    /// Where key `path` got its value.
    pub fn source(&self, path: &str) -> Option<&Source> {
        self.sources.get(path)
    }
}

/// The configuration reference (Markdown), generated from [`KEYS`]; the README carries it.
pub fn reference() -> String {
    let defaults = serde_json::to_value(Config::default()).expect("the defaults serialise");
    let mut out = String::from("| Key (`steward.toml`) | Environment | Default | Meaning |\n|---|---|---|---|\n");
    for k in KEYS {
        let default = display(k, get(&defaults, k.path)).replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | `{}` | `{default}` | {} |\n",
            k.path,
            k.env,
            k.doc.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    fn from_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        load_with(None, &[], env_of(vars)).map(|l| l.config)
    }

    #[test]
    fn no_secret_reaches_the_debug_output_or_the_listing_of_any_config() {
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
        let loaded = load_with(None, &[], env_of(&secrets)).unwrap();
        let c = &loaded.config;
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
            format!("{:?}", c.knowledge()),
            loaded.show(),
        ] {
            assert!(!shown.contains("SECRET"), "{shown}");
        }
        let shown = format!("{c:?}");
        assert!(
            shown.contains("db.example") && shown.contains("agent_token: Some(\"<redacted>\")"),
            "{shown}"
        );
        let listing = loaded.show();
        let line = listing.lines().find(|l| l.starts_with("llm.api_key ")).unwrap();
        assert!(
            line.contains("***") && line.ends_with("env STEWARD_LLM_API_KEY"),
            "{line}"
        );
    }

    #[test]
    fn env_overrides_and_rejects_bad_values() {
        let c = from_env(&[("STEWARD_HTTP", "127.0.0.1:9999")]).unwrap();
        assert_eq!(c.http.port(), 9999);
        let e = from_env(&[("STEWARD_GRPC", "nope")]).unwrap_err();
        assert!(e.to_string().contains("STEWARD_GRPC"), "{e}");
        let e = from_env(&[("STEWARD_TASK_LOG_MAX_BYTES", "100")]).unwrap_err();
        assert!(e.to_string().contains("task_log_max_bytes"), "{e}");
        let e = from_env(&[("STEWARD_ADMIN_PASSWORD", "short")]).unwrap_err();
        assert!(e.to_string().contains("at least 12"), "{e}");
    }

    #[test]
    fn tls_needs_both_the_certificate_and_the_key() {
        let e = from_env(&[("STEWARD_TLS_CERT", "/etc/steward/cert.pem")]).unwrap_err();
        assert!(e.to_string().contains("STEWARD_TLS_KEY"), "{e}");
        let c = from_env(&[("STEWARD_TLS_CERT", "cert.pem"), ("STEWARD_TLS_KEY", "key.pem")]).unwrap();
        assert_eq!(
            c.tls_files().unwrap(),
            Some((Path::new("cert.pem"), Path::new("key.pem")))
        );
    }

    #[test]
    fn telemetry_settings_come_from_the_environment_and_bad_ones_are_refused() {
        let c = from_env(&[
            (
                "STEWARD_DETECT_THRESHOLDS",
                "disk_used_pct>80:70, mem_used_pct>97:92;disk_used_pct{mount=/data*,fs=xfs}>70:60",
            ),
            ("STEWARD_DETECT_ZSCORE_METRICS", " , "),
            ("STEWARD_METRICS_INTERVAL_MS", "1000"),
        ])
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
            ("STEWARD_REMEDIATE", "yes"),
            ("STEWARD_DETECT_ZSCORE_LIMIT", "NaN"),
        ] {
            let e = from_env(&[(k, v)]).unwrap_err();
            assert!(!e.to_string().is_empty(), "{k}={v}");
        }
    }

    #[test]
    fn an_unknown_key_in_the_file_is_refused_naming_the_closest_known_one() {
        let file = Path::new("steward.toml");
        for (text, closest) in [
            ("htp = \"x\"", "`http`"),
            ("[auth]\nsesion_ttl_secs = 5", "`auth.session_ttl_secs`"),
            ("[telemetry]\nremediation = false", "`telemetry.remediate`"),
            ("[slak]\nchannel = \"ops\"", "did you mean"),
        ] {
            let e = load_with(Some((file, text)), &[], |_| None).unwrap_err().to_string();
            assert!(
                e.starts_with("steward.toml: unknown key") && e.contains(closest),
                "{text}: {e}"
            );
        }
        let e = load_with(Some((file, "[auth]\nsession_ttl_secs = \"long\"")), &[], |_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`auth.session_ttl_secs` must be a whole number"), "{e}");
        let c = load_with(Some((file, "proposal_ttl_secs = 60")), &[], |_| None)
            .unwrap()
            .config;
        assert_eq!(c.proposal_ttl_secs, 60);
    }

    #[test]
    fn each_value_says_where_it_came_from_and_later_sources_win() {
        let file = Path::new("/etc/steward.toml");
        let text = "proposal_ttl_secs = 60\nhttp = \"127.0.0.1:1000\"\n[telemetry]\nremediate = false\n";
        let loaded = load_with(
            Some((file, text)),
            &[("http", "--http", "127.0.0.1:3000".into())],
            env_of(&[("STEWARD_HTTP", "127.0.0.1:2000"), ("STEWARD_PROPOSAL_TTL_SECS", "")]),
        )
        .unwrap();
        assert_eq!(loaded.config.http.port(), 3000);
        assert_eq!(loaded.source("http"), Some(&Source::Flag("--http".into())));
        // An empty variable is unset: the file's value stands.
        assert_eq!(loaded.config.proposal_ttl_secs, 60);
        assert_eq!(loaded.source("proposal_ttl_secs"), Some(&Source::File(file.into())));
        assert!(!loaded.config.telemetry.remediate);
        assert_eq!(loaded.source("grpc"), Some(&Source::Default));
        let listing = loaded.show();
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with("http ") && l.contains("127.0.0.1:3000") && l.ends_with("flag --http")),
            "{listing}"
        );
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with("telemetry.remediate ") && l.ends_with("file /etc/steward.toml")),
            "{listing}"
        );
    }

    /// The key table and the typed structs cannot drift: every leaf of the defaults is a key,
    /// every key is a leaf, and each key's environment variable is its own.
    #[test]
    fn the_key_table_is_exactly_the_typed_configuration() {
        fn leaves(prefix: &str, v: &Value, out: &mut Vec<String>) {
            match v.as_object() {
                Some(o) => {
                    for (k, v) in o {
                        let path = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        leaves(&path, v, out);
                    }
                }
                None => out.push(prefix.to_owned()),
            }
        }
        let mut typed = Vec::new();
        leaves("", &serde_json::to_value(Config::default()).unwrap(), &mut typed);
        typed.sort();
        let mut table: Vec<String> = KEYS.iter().map(|k| k.path.to_owned()).collect();
        table.sort();
        assert_eq!(typed, table);
        let mut envs: Vec<&str> = KEYS.iter().map(|k| k.env).collect();
        envs.sort();
        envs.dedup();
        assert_eq!(envs.len(), KEYS.len(), "two keys share an environment variable");
        // Each key reads its own environment variable.
        for k in KEYS {
            let text = match k.kind {
                Kind::Int => "4242",
                Kind::Bool => "false",
                Kind::Float => "4.5",
                Kind::Addr => "127.0.0.1:4242",
                Kind::Thresholds => "m>2:1",
                _ => "some-value-4242",
            };
            let loaded = load_with(None, &[], |v| (v == k.env).then(|| text.to_owned()));
            // Some values cannot stand alone (a certificate without its key); the source is
            // what this checks, so read it before validation when it fails.
            if let Ok(l) = loaded {
                assert_eq!(l.source(k.path), Some(&Source::Env(k.env)), "{}", k.path);
            } else {
                let mut values = serde_json::to_value(Config::default()).unwrap();
                set(&mut values, k.path, read(k, text).unwrap());
                assert_ne!(
                    get(&values, k.path),
                    get(&serde_json::to_value(Config::default()).unwrap(), k.path)
                );
            }
        }
    }

    /// The README's configuration reference is the generated one.
    #[test]
    fn the_readme_carries_the_generated_reference() {
        let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
        let start = "<!-- config-reference:start (generated by `steward config reference`) -->\n";
        let end = "<!-- config-reference:end -->";
        let at = readme.find(start).expect("the README has the reference's start marker") + start.len();
        let to = readme[at..]
            .find(end)
            .expect("the README has the reference's end marker")
            + at;
        assert_eq!(
            &readme[at..to],
            reference(),
            "regenerate with: steward config reference, between the markers in README.md"
        );
    }

    #[test]
    fn only_listeners_beyond_loopback_without_tls_are_warned_about() {
        let mut c = Config::default();
        assert!(c.plaintext_warnings().is_empty());
        c.http = "0.0.0.0:8080".parse().unwrap();
        let w = c.plaintext_warnings();
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("HTTP listens on 0.0.0.0:8080"), "{w:?}");
        c.grpc = "[::]:9090".parse().unwrap();
        assert_eq!(c.plaintext_warnings().len(), 2);
        c.tls_cert = Some("cert.pem".into());
        c.tls_key = Some("key.pem".into());
        assert!(c.plaintext_warnings().is_empty());
    }
}
