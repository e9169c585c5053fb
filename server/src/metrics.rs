//! The server's own Prometheus metrics, served at `/metrics`.
use std::sync::LazyLock;

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// Every metric of this process.
pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

fn register<T: prometheus::core::Collector + Clone + 'static>(m: T) -> T {
    REGISTRY.register(Box::new(m.clone())).expect("metric registers once");
    m
}

/// Tasks sent to agents.
pub static TASKS_DISPATCHED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(IntCounter::new("steward_tasks_dispatched_total", "Tasks sent to agents").expect("valid"))
});
/// Tasks finished, by final state.
pub static TASKS_FINISHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new("steward_tasks_finished_total", "Tasks finished, by state"),
            &["state"],
        )
        .expect("valid"),
    )
});
/// Jobs finished, by final state.
pub static JOBS_FINISHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new("steward_jobs_finished_total", "Jobs finished, by state"),
            &["state"],
        )
        .expect("valid"),
    )
});
/// Task events received from agents.
pub static AGENT_EVENTS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(IntCounter::new("steward_agent_task_events_total", "Task events received from agents").expect("valid"))
});
/// Task events ignored as duplicates, stale or foreign.
pub static EVENTS_IGNORED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "steward_agent_task_events_ignored_total",
            "Task events ignored (replayed, stale or for another host)",
        )
        .expect("valid"),
    )
});
/// Agent sessions open now.
pub static AGENTS_CONNECTED: LazyLock<IntGauge> =
    LazyLock::new(|| register(IntGauge::new("steward_agents_connected", "Agent sessions open now").expect("valid")));
/// Agent connections refused.
pub static AGENTS_REFUSED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(IntCounter::new("steward_agent_sessions_refused_total", "Agent sessions refused").expect("valid"))
});
/// Login attempts, by outcome (`ok`, `failed`, `limited`).
pub static LOGINS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new("steward_logins_total", "Login attempts, by outcome"),
            &["outcome"],
        )
        .expect("valid"),
    )
});
/// API requests refused, by status (401, 403, 429).
pub static API_REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new("steward_api_refused_total", "API requests refused, by status"),
            &["status"],
        )
        .expect("valid"),
    )
});
/// Time to commit one engine batch.
pub static ENGINE_COMMIT: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new("steward_engine_commit_seconds", "Time to commit one engine batch")
                .buckets(vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0]),
        )
        .expect("valid"),
    )
});

/// Metric samples stored from agents.
pub static SAMPLES_STORED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "steward_metric_samples_stored_total",
            "Metric samples received from agents and stored",
        )
        .expect("valid"),
    )
});
/// Metric samples refused, by reason.
pub static SAMPLES_REJECTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "steward_metric_samples_rejected_total",
                "Metric samples refused, by reason",
            ),
            &["reason"],
        )
        .expect("valid"),
    )
});
/// Metric samples agents report having dropped from their full buffers (latest report, summed).
pub static SAMPLES_DROPPED_BY_AGENTS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "steward_metric_samples_dropped_by_agents_total",
            "Metric samples agents dropped because their buffer was full while the server was away",
        )
        .expect("valid"),
    )
});
/// Incidents opened.
pub static INCIDENTS_OPENED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(IntCounter::new("steward_incidents_opened_total", "Incidents opened by the detectors").expect("valid"))
});

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    // Touch the lazies so every metric shows even before its first event.
    let _ = (
        &*TASKS_DISPATCHED,
        &*TASKS_FINISHED,
        &*JOBS_FINISHED,
        &*AGENT_EVENTS,
        &*EVENTS_IGNORED,
        &*AGENTS_CONNECTED,
        &*AGENTS_REFUSED,
        &*ENGINE_COMMIT,
        &*LOGINS,
        &*API_REFUSED,
        &*SAMPLES_STORED,
        &*SAMPLES_REJECTED,
        &*SAMPLES_DROPPED_BY_AGENTS,
        &*INCIDENTS_OPENED,
    );
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&REGISTRY.gather(), &mut buf)
        .expect("encodes");
    String::from_utf8(buf).expect("utf-8")
}
