//! Slack and Telegram: channels of the chat core where the team already talks.
//!
//! A message to a bot becomes a turn of the same chat service the web panel and the CLI use,
//! held in one conversation per thread (Slack) or chat (Telegram) and person. A bot acts only
//! for a chat account linked to a Steward user (`auth::identities`), with that user's role, so
//! it never bypasses approval, roles or four-eyes: an Approve button is `Jobs::approve` as that
//! user, audited with the channel it came through.
//!
//! Everything the bots send goes through a durable outbox (`chat_outbox`): a post is rendered
//! when it is delivered (so it shows the job as it is then), retried with backoff while the
//! service is away, and never waited for by the job path. The messages that show a job
//! (`chat_posts`) are edited in place as the job moves.
//!
//! Inbound requests are verified before anything else (Slack's signing secret, Telegram's
//! secret token) and answered at once; the turn runs after the answer, so Slack's 3-second
//! window holds however long the model takes.
pub mod config;
mod outbox;
mod slack;
mod telegram;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use steward_integrations::ProposalCard;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

pub use config::{SlackConfig, TelegramConfig, TelegramMode};
pub use slack::Signed as SlackSignature;

use crate::auth::{Auth, Provider, Role};
use crate::chat::Chat;
use crate::db::entities::chat_thread;
use crate::db::Store;
use crate::events::{Bus, Event};
use crate::jobs::{plan_host_names, JobView, Jobs};

/// The shortest plan-hash prefix a button may carry (64 bits).
const MIN_HASH_PREFIX: usize = 16;

/// What a bot request could not be taken for; nothing was done.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    /// The bot is not configured on this server.
    #[error("{0} is not configured on this server")]
    NotConfigured(&'static str),
    /// The request is not from the service (bad or missing signature, replayed, stale).
    #[error("{0}")]
    Unauthorized(String),
    /// The request is from the service but not understood.
    #[error("{0}")]
    Invalid(String),
}

/// What the bots need from the rest of the server.
#[derive(Clone)]
pub struct Deps {
    /// The database.
    pub store: Store,
    /// Who a chat account is, and what they may do.
    pub auth: Auth,
    /// Proposals and decisions.
    pub jobs: Jobs,
    /// The chat core; None when no language model is configured.
    pub chat: Option<Chat>,
    /// Job and incident events, to keep the channels current.
    pub bus: Bus,
}

/// The Slack and Telegram bots.
#[derive(Clone)]
pub struct Integrations {
    inner: Arc<Inner>,
}

struct Inner {
    deps: Deps,
    public_url: Option<String>,
    slack: Option<slack::Slack>,
    telegram: Option<telegram::Telegram>,
    /// Wakes the outbox's sender when something is queued.
    wake: Notify,
}

/// A message to Steward from a chat account.
#[derive(Debug, Clone)]
pub(crate) struct Inbound {
    provider: Provider,
    /// The provider's id of the sender.
    sender: String,
    text: String,
    place: Place,
}

/// Where a turn's answers go.
#[derive(Debug, Clone)]
pub(crate) enum Place {
    /// A Slack thread, in a channel or a direct message.
    SlackThread { channel: String, thread_ts: String },
    /// A Slack slash command or button press: answered through its `response_url` when it
    /// has one (it works where the bot is not a member), refusals to its user alone.
    SlackCommand {
        channel: String,
        response_url: Option<String>,
    },
    /// A Telegram chat, replying to the message.
    Telegram { chat_id: i64, reply_to: Option<i64> },
}

impl Place {
    /// The key a conversation is kept under (with the provider and the user).
    fn key(&self) -> String {
        match self {
            Place::SlackThread { channel, thread_ts } => format!("{channel}:{thread_ts}"),
            Place::SlackCommand { channel, .. } => format!("{channel}:command"),
            Place::Telegram { chat_id, .. } => chat_id.to_string(),
        }
    }
}

/// Event ids a provider delivered lately: Slack redelivers an event it thinks was missed.
struct Seen {
    ids: Mutex<VecDeque<String>>,
}

impl Seen {
    const CAPACITY: usize = 4096;

    fn new() -> Self {
        Seen {
            ids: Mutex::new(VecDeque::new()),
        }
    }

    /// Whether `id` is new (and remembers it).
    fn first(&self, id: &str) -> bool {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        if ids.iter().any(|s| s == id) {
            return false;
        }
        if ids.len() == Self::CAPACITY {
            ids.pop_front();
        }
        ids.push_back(id.to_owned());
        true
    }
}

/// Runs `source` (a connection that sends what arrives into a channel until the future it is
/// given completes) and hands each item to `handle`, until `stop` turns true.
fn bridge<T, S, F>(stop: watch::Receiver<bool>, source: S, handle: impl Fn(T) + Send + 'static) -> JoinHandle<()>
where
    T: Send + 'static,
    S: FnOnce(mpsc::Sender<T>, Pin<Box<dyn Future<Output = ()> + Send>>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel(64);
    let mut until = stop.clone();
    let shutdown = Box::pin(async move {
        let _ = until.wait_for(|v| *v).await;
    });
    let connection = tokio::spawn(source(tx, shutdown));
    let mut stop = stop;
    tokio::spawn(async move {
        let mut open = true;
        loop {
            tokio::select! {
                _ = stop.wait_for(|v| *v) => break,
                item = rx.recv(), if open => match item {
                    Some(item) => handle(item),
                    // The connection gave up (and said why): the rest of the server goes on.
                    None => open = false,
                },
            }
        }
        let _ = connection.await;
    })
}

/// What an unlinked account is told.
fn not_linked(provider: Provider) -> String {
    format!(
        "This {} account is not linked to a Steward user, so I cannot act for it. In the web console, \
         open *Chat accounts* and create a link code, then send me `link <code>`; or ask an admin to link it.",
        provider.as_str()
    )
}

/// `text` without a leading `/steward` (Telegram may add `@BotName`) or Slack mention.
fn strip_addressing(text: &str) -> &str {
    let mut t = text.trim();
    loop {
        if let Some(rest) = t.strip_prefix("<@") {
            if let Some(end) = rest.find('>') {
                t = rest[end + 1..].trim_start();
                continue;
            }
        }
        if let Some(rest) = t.strip_prefix("/steward") {
            let rest = match rest.strip_prefix('@') {
                Some(r) => r.split_once(char::is_whitespace).map_or("", |(_, r)| r),
                None if rest.is_empty() || rest.starts_with(char::is_whitespace) => rest,
                None => return t,
            };
            t = rest.trim_start();
            continue;
        }
        return t;
    }
}

/// The code in `link CODE`, if that is what `text` says.
fn link_code(text: &str) -> Option<&str> {
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(w), Some(code), None) if w.eq_ignore_ascii_case("link") => Some(code),
        _ => None,
    }
}

impl Integrations {
    /// The bots `slack` and `telegram` configure (either, both or neither); links in their
    /// messages point below `public_url`. A configuration that cannot work is an error here,
    /// not a bot that fails later.
    pub fn new(
        deps: Deps,
        slack: &SlackConfig,
        telegram: &TelegramConfig,
        public_url: Option<&str>,
    ) -> Result<Self, String> {
        let slack = slack::Slack::new(slack)?;
        let telegram = telegram::Telegram::new(telegram)?;
        Ok(Integrations {
            inner: Arc::new(Inner {
                deps,
                public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
                slack,
                telegram,
                wake: Notify::new(),
            }),
        })
    }

    /// Which bots are on, for the startup line.
    pub fn describe(&self) -> Option<String> {
        let mut on = vec![];
        if let Some(s) = &self.inner.slack {
            on.push(s.describe());
        }
        if let Some(t) = &self.inner.telegram {
            on.push(t.describe());
        }
        (!on.is_empty()).then(|| on.join("; "))
    }

    /// Starts the outbox's sender, the listener that keeps channels current, Socket Mode and
    /// Telegram polling, as configured; each ends when `stop` turns true.
    pub fn start(&self, stop: watch::Receiver<bool>) -> Vec<(&'static str, JoinHandle<()>)> {
        if self.inner.slack.is_none() && self.inner.telegram.is_none() {
            return vec![];
        }
        let mut tasks = vec![
            ("chat outbox", tokio::spawn(outbox::run(self.clone(), stop.clone()))),
            ("chat notifier", tokio::spawn(self.clone().follow_events(stop.clone()))),
        ];
        if let Some(task) = slack::start_socket_mode(self, stop.clone()) {
            tasks.push(("slack socket mode", task));
        }
        if let Some(task) = telegram::start_polling(self, stop) {
            tasks.push(("telegram polling", task));
        }
        tasks
    }

    fn slack(&self) -> Result<&slack::Slack, IntegrationError> {
        self.inner
            .slack
            .as_ref()
            .ok_or(IntegrationError::NotConfigured("Slack"))
    }

    fn telegram(&self) -> Result<&telegram::Telegram, IntegrationError> {
        self.inner
            .telegram
            .as_ref()
            .ok_or(IntegrationError::NotConfigured("Telegram"))
    }

    /// Runs `inbound` after the request that carried it was answered.
    fn spawn_turn(&self, inbound: Inbound) {
        let this = self.clone();
        tokio::spawn(async move { this.turn(inbound).await });
    }

    /// One message to Steward: link the account, or answer it as its user.
    async fn turn(&self, m: Inbound) {
        let text = strip_addressing(&m.text).to_owned();
        let auth = &self.inner.deps.auth;
        if let Some(code) = link_code(&text) {
            let reply = match auth.redeem_link_code(m.provider, &m.sender, code).await {
                Ok(link) => format!(
                    "Linked: this {} account now acts as Steward user {}.",
                    m.provider.as_str(),
                    link.username
                ),
                Err(e) => format!("Not linked: {e}"),
            };
            return self.answer_privately(&m, &reply).await;
        }
        let user = match auth.identity_user(m.provider, &m.sender).await {
            Ok(Some(u)) => u,
            Ok(None) => return self.answer_privately(&m, &not_linked(m.provider)).await,
            Err(e) => {
                return self
                    .answer_privately(&m, &format!("Steward could not check who you are: {e}"))
                    .await
            }
        };
        if user.role < Role::Operator {
            let reply = format!(
                "Your Steward role ({}) may read but not chat or propose; ask an admin for the operator role.",
                user.role.as_str()
            );
            return self.answer_privately(&m, &reply).await;
        }
        if text.is_empty() {
            let reply = "Ask me about your hosts, incidents and jobs, or to run a stack command; \
                         I propose jobs and nothing runs until someone approves.";
            return self.answer_privately(&m, reply).await;
        }
        let Some(chat) = self.inner.deps.chat.clone() else {
            let reply = "This Steward server has no language model configured, so it cannot chat; \
                         approvals still work here.";
            return self.answer_privately(&m, reply).await;
        };
        if let Err(e) = auth.chat_allowed(&user.username) {
            return self.answer_privately(&m, &e.to_string()).await;
        }
        let conversation = match self.conversation(&chat, &m, &user.username).await {
            Ok(id) => id,
            Err(e) => {
                return self
                    .answer_privately(&m, &format!("Steward could not start a conversation: {e}"))
                    .await
            }
        };
        let source = m.provider.as_str();
        match chat
            .send(conversation, &user.username, source, &text, None, vec![])
            .await
        {
            Ok(reply) => {
                self.answer(&m, &reply.reply).await;
                for job in &reply.proposals {
                    self.show_job(&m.place, job.job.id).await;
                }
            }
            Err(e) => {
                self.answer_privately(&m, &format!("Steward could not answer: {e}"))
                    .await
            }
        }
    }

    /// The conversation `user` holds at `m`'s place, started on first use.
    async fn conversation(&self, chat: &Chat, m: &Inbound, user: &str) -> Result<i64, crate::chat::ChatError> {
        let store = &self.inner.deps.store;
        let provider = m.provider.as_str();
        let key = m.place.key();
        let existing = chat_thread::Entity::find()
            .filter(chat_thread::Column::Provider.eq(provider))
            .filter(chat_thread::Column::Place.eq(&key))
            .filter(chat_thread::Column::Username.eq(user))
            .one(store.read())
            .await?;
        if let Some(t) = existing {
            return Ok(t.conversation_id);
        }
        let id = chat.create(user, provider).await?;
        let txn = store.begin_write().await?;
        let row = chat_thread::ActiveModel {
            provider: Set(provider.into()),
            place: Set(key),
            username: Set(user.into()),
            conversation_id: Set(id),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        };
        row.insert(&*txn).await?;
        txn.commit().await?;
        Ok(id)
    }

    /// Says `text` where `m` came from, for everyone there.
    async fn answer(&self, m: &Inbound, text: &str) {
        self.queue_text(&m.place, text, None).await;
    }

    /// Says `text` to `m`'s sender alone where the service allows it (a Slack ephemeral
    /// message; Telegram has none, so there it is a reply).
    async fn answer_privately(&self, m: &Inbound, text: &str) {
        self.queue_text(&m.place, text, Some(&m.sender)).await;
    }

    /// A press of Approve or Reject on job `job_id`'s card, whose plan hash starts with
    /// `hash`, by account `sender`: the decision as its user, or why not. Nothing changes on
    /// a refusal.
    async fn decide(
        &self,
        provider: Provider,
        sender: &str,
        job_id: i64,
        hash: &str,
        approve: bool,
    ) -> Result<String, String> {
        let auth = &self.inner.deps.auth;
        let user = match auth.identity_user(provider, sender).await {
            Ok(Some(u)) => u,
            Ok(None) => return Err(not_linked(provider)),
            Err(e) => return Err(format!("Steward could not check who you are: {e}")),
        };
        if user.role < Role::Approver {
            return Err(format!(
                "Your Steward role ({}) may not approve or reject jobs; nothing was changed.",
                user.role.as_str()
            ));
        }
        let jobs = &self.inner.deps.jobs;
        let job = jobs.get(job_id).await.map_err(|e| e.to_string())?;
        // A card carries the plan hash (Telegram's buttons a prefix, for their 64-byte limit):
        // a press approves the plan the card showed, or nothing.
        if hash.len() < MIN_HASH_PREFIX || !job.plan_hash.starts_with(hash) {
            return Err(format!(
                "This card shows an older plan of job {job_id}; nothing was changed. Review the job again."
            ));
        }
        let via = provider.as_str();
        let decided = if approve {
            jobs.approve(job_id, &user.username, &job.plan_hash, None, via).await
        } else {
            jobs.reject(job_id, &user.username, None, via).await
        };
        match decided {
            Ok(j) if j.job.state == "PROPOSED" => Ok(format!(
                "Your approval of job {job_id} is recorded; it needs another approver."
            )),
            Ok(j) => Ok(format!(
                "Job {job_id} is {} by {}.",
                j.job.state.to_lowercase(),
                user.username
            )),
            Err(e) => Err(format!("Job {job_id} was not changed: {e}")),
        }
    }

    /// What a card shows of `job`.
    fn card(&self, job: &JobView) -> ProposalCard {
        let hosts = plan_host_names(&job.plan).into_iter().map(str::to_owned).collect();
        let outcome = job.job.finished_at.as_ref().map(|_| outcome(job));
        let decided_by = match job.approvals.as_slice() {
            [] => job.decided_by.clone(),
            first => Some(
                first
                    .iter()
                    .chain(job.decided_by.as_ref())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" and "),
            ),
        };
        ProposalCard {
            job_id: job.job.id,
            summary: job.job.summary.clone(),
            cluster: job.job.cluster.clone(),
            hosts,
            risk: job.job.risk.clone(),
            plan_hash: job.plan_hash.clone(),
            link: self
                .inner
                .public_url
                .as_ref()
                .map(|u| format!("{u}/jobs/{}", job.job.id)),
            state: job.job.state.clone(),
            decided_by,
            outcome,
            actionable: job.job.state == "PROPOSED",
        }
    }

    /// Keeps the channels current: new proposals and incidents are posted, the messages that
    /// show a job are edited as it moves. A lagging listener catches up on every job shown.
    async fn follow_events(self, mut stop: watch::Receiver<bool>) {
        let mut events = self.inner.deps.bus.subscribe();
        let mut open = OpenIncidents::default();
        loop {
            let event = tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                e = events.recv() => e,
            };
            match event {
                Ok(Event::Proposal { job_id, .. }) => {
                    for place in self.announcement_places() {
                        self.show_job(&place, job_id).await;
                    }
                }
                Ok(Event::Job { job_id, .. }) => self.refresh_job(Some(job_id)).await,
                // Once per incident: it is published again when a remediation is linked.
                Ok(Event::Incident {
                    incident_id,
                    state,
                    summary,
                    ..
                }) if open.first_news(incident_id, &state) => {
                    let link = self.inner.public_url.as_ref();
                    let text = match link.map(|u| format!("{u}/incidents/{incident_id}")) {
                        Some(url) => format!("{summary} {url}"),
                        None => summary,
                    };
                    for place in self.announcement_places() {
                        self.queue_text(&place, &text, None).await;
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the chat notifier fell behind; refreshing every job shown");
                    self.refresh_job(None).await;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// The channels proposals and incidents are announced in.
    fn announcement_places(&self) -> Vec<Place> {
        let mut places = vec![];
        if let Some(channel) = self.inner.slack.as_ref().and_then(|s| s.channel.clone()) {
            places.push(Place::SlackThread {
                channel,
                thread_ts: String::new(),
            });
        }
        if let Some(chat_id) = self.inner.telegram.as_ref().and_then(|t| t.chats.first().copied()) {
            places.push(Place::Telegram {
                chat_id,
                reply_to: None,
            });
        }
        places
    }

    /// Queues `text` to be said at `place`, to `private_to` alone where the service allows it.
    async fn queue_text(&self, place: &Place, text: &str, private_to: Option<&str>) {
        let body = json!({"text": text, "private": private_to.is_some(), "user": private_to});
        if let Err(e) = outbox::queue(self, place, outbox::Action::Text, None, body).await {
            tracing::error!(error = %e, "cannot queue a chat message");
        }
    }

    /// Queues a card for job `job_id` at `place`.
    async fn show_job(&self, place: &Place, job_id: i64) {
        if let Err(e) = outbox::queue(self, place, outbox::Action::Post, Some(job_id), json!({})).await {
            tracing::error!(error = %e, job_id, "cannot queue a job's card");
        }
    }

    /// Queues an edit of every message that shows job `job_id` (every job's, for `None`).
    async fn refresh_job(&self, job_id: Option<i64>) {
        if let Err(e) = outbox::queue_updates(self, job_id).await {
            tracing::error!(error = %e, ?job_id, "cannot queue edits of a job's cards");
        }
    }
}

/// One paragraph on how a finished job went: its state, the tasks by state, the first error.
fn outcome(job: &JobView) -> String {
    let tasks: Vec<_> = job.stages.iter().flat_map(|s| &s.tasks).collect();
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for t in &tasks {
        *counts.entry(t.state.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = counts
        .iter()
        .map(|(state, n)| format!("{n} {}", state.to_lowercase()))
        .collect();
    let mut text = format!(
        "{} — {} task{}: {}.",
        job.job.state,
        tasks.len(),
        if tasks.len() == 1 { "" } else { "s" },
        counts.join(", ")
    );
    let failed = tasks
        .iter()
        .find(|t| t.error.is_some() || t.exit_code.is_some_and(|c| c != 0));
    if let Some(t) = failed {
        let why = t
            .error
            .clone()
            .unwrap_or_else(|| format!("exit {}", t.exit_code.unwrap_or_default()));
        text.push_str(&format!(" On {}: {why}.", t.host));
    } else if let Some(e) = &job.error {
        text.push_str(&format!(" {e}"));
    }
    text
}

/// The incidents announced and not yet resolved: what makes each announced once, and no more
/// than the incidents open at a time (a resolved one is forgotten; it is not opened again).
#[derive(Debug, Default)]
struct OpenIncidents(std::collections::HashSet<i64>);

impl OpenIncidents {
    /// Whether an incident event in `state` is news to announce: the first `OPEN` of it.
    fn first_news(&mut self, incident_id: i64, state: &str) -> bool {
        match state {
            "OPEN" => self.0.insert(incident_id),
            _ => {
                self.0.remove(&incident_id);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incident_is_news_once_and_forgotten_when_resolved() {
        let mut open = OpenIncidents::default();
        assert!(open.first_news(7, "OPEN"));
        assert!(
            !open.first_news(7, "OPEN"),
            "published again when a remediation is linked"
        );
        assert!(open.first_news(8, "OPEN"));
        assert!(!open.first_news(7, "RESOLVED"));
        assert_eq!(open.0.len(), 1, "only incident 8 is still held");
    }

    #[test]
    fn addressing_is_stripped_from_what_is_asked() {
        assert_eq!(strip_addressing("<@U0BOT> restart nginx"), "restart nginx");
        assert_eq!(strip_addressing("/steward restart nginx"), "restart nginx");
        assert_eq!(strip_addressing("/steward@StewardBot   disk on web-1"), "disk on web-1");
        assert_eq!(strip_addressing("/stewardship"), "/stewardship");
        assert_eq!(strip_addressing("  hello "), "hello");
    }

    #[test]
    fn a_link_command_is_two_words() {
        assert_eq!(link_code("link ABCD2345EF"), Some("ABCD2345EF"));
        assert_eq!(link_code("LINK abcd"), Some("abcd"));
        assert_eq!(link_code("link"), None);
        assert_eq!(link_code("link the two clusters"), None);
        assert_eq!(link_code("please link X"), None);
    }

    #[test]
    fn seen_ids_are_new_once() {
        let seen = Seen::new();
        assert!(seen.first("Ev1"));
        assert!(!seen.first("Ev1"));
        assert!(seen.first("Ev2"));
    }
}
