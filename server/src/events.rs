//! The event bus behind `GET /api/v1/events` and log following: published after commit.
use serde::Serialize;
use tokio::sync::broadcast;

/// Something that happened, as subscribers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A job was proposed or changed state.
    Job {
        /// Job id.
        job_id: i64,
        /// Its new state.
        state: String,
        /// Nothing more will happen to it.
        #[serde(default)]
        finished: bool,
    },
    /// A job was proposed and waits for a decision: what an approver needs to pick it up
    /// (also published as `job` with state `PROPOSED`).
    Proposal {
        /// Job id.
        job_id: i64,
        /// Cluster name.
        cluster: String,
        /// One line: what it does where.
        summary: String,
        /// `low`, `medium` or `high`.
        risk: String,
        /// Where it came from: `api`, `chat`, `anomaly`, …
        source: String,
        /// Who asked.
        requested_by: String,
        /// RFC 3339: it expires unless decided before.
        expires_at: String,
    },
    /// A task changed state.
    Task {
        /// Job id.
        job_id: i64,
        /// Task id.
        task_id: i64,
        /// Hostname.
        host: String,
        /// Its new state.
        state: String,
        /// Exit code, once finished.
        exit_code: Option<i32>,
    },
    /// A line of a task's output.
    Log {
        /// Job id.
        job_id: i64,
        /// Task id.
        task_id: i64,
        /// Position in the task's output.
        seq: i64,
        /// `stdout` or `stderr`.
        stream: String,
        /// The line.
        line: String,
    },
    /// Lines of a task's output as the bus carries them: one event per chunk, which the
    /// event streams turn into a `log` event per line (see [`Event::lines_after`]). Never sent as is.
    #[serde(skip)]
    Output {
        /// Job id.
        job_id: i64,
        /// Task id.
        task_id: i64,
        /// The position of the first line in the task's output.
        first_seq: i64,
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The lines, each ending in `\n`; shared by every subscriber.
        text: std::sync::Arc<str>,
    },
    /// An incident opened, changed (a remediation proposal was linked) or resolved.
    Incident {
        /// Incident id.
        incident_id: i64,
        /// `OPEN` or `RESOLVED`.
        state: String,
        /// Hostname.
        host: String,
        /// Cluster name, when the host is in one.
        cluster: Option<String>,
        /// The signal: metric and labels, e.g. `disk_used_pct{mount="/var"}`.
        signal: String,
        /// What is wrong (while open) or was wrong (once resolved), for people and for the
        /// knowledge index: host, cluster, signal, opened and resolved times, peak, job.
        summary: String,
        /// The worst value while open.
        peak: f64,
        /// RFC 3339.
        opened_at: String,
        /// RFC 3339, once resolved.
        resolved_at: Option<String>,
        /// The remediation proposal, when there is one.
        job_id: Option<i64>,
    },
}

impl Event {
    /// The job an event belongs to (an incident's remediation job, if it has one).
    pub fn job_id(&self) -> Option<i64> {
        match self {
            Event::Job { job_id, .. }
            | Event::Proposal { job_id, .. }
            | Event::Task { job_id, .. }
            | Event::Log { job_id, .. }
            | Event::Output { job_id, .. } => Some(*job_id),
            Event::Incident { job_id, .. } => *job_id,
        }
    }

    /// The SSE event name.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Job { .. } => "job",
            Event::Proposal { .. } => "proposal",
            Event::Task { .. } => "task",
            Event::Log { .. } | Event::Output { .. } => "log",
            Event::Incident { .. } => "incident",
        }
    }
}

impl Event {
    /// The `log` events of an output chunk whose seq is past `after`, one per line, in
    /// order; nothing for any other event. A follower passes the last seq it sent, so lines a
    /// chunk restates (a replay it has already read) are not sent twice.
    pub fn lines_after(&self, after: i64) -> impl Iterator<Item = Event> + '_ {
        let (job_id, task_id, first_seq, stream, text) = match self {
            Event::Output {
                job_id,
                task_id,
                first_seq,
                stream,
                text,
            } => (*job_id, *task_id, *first_seq, *stream, &text[..]),
            _ => (0, 0, 0, "", ""),
        };
        text.lines()
            .zip(first_seq..)
            .filter(move |(_, seq)| *seq > after)
            .map(move |(line, seq)| Event::Log {
                job_id,
                task_id,
                seq,
                stream: stream.into(),
                line: line.into(),
            })
    }
}

/// A broadcast of events; slow subscribers lag and re-read from the database.
#[derive(Debug, Clone)]
pub struct Bus {
    tx: broadcast::Sender<Event>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus {
            tx: broadcast::channel(65_536).0,
        }
    }
}

impl Bus {
    /// Publishes to whoever listens (no one listening is fine).
    pub fn publish(&self, e: Event) {
        let _ = self.tx.send(e);
    }

    /// A new subscription, starting now.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
