//! The bots' durable outbox: every message to Slack or Telegram is a row first, delivered by
//! one sender, retried with backoff while the service is away, and kept (marked failed) when
//! the service refuses it for good. The job path only ever inserts a row.
use std::time::Duration;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use tokio::sync::watch;

use super::{slack, telegram, Integrations, Place};
use crate::auth::Provider;
use crate::db::entities::{chat_outbox, chat_post};

/// Rows delivered per pass.
const BATCH: u64 = 50;
/// Longest wait between attempts at one message.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often the sender looks for due rows when nothing wakes it.
const IDLE: Duration = Duration::from_secs(5);

/// What a row asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// A new message showing a job (its card, rendered when sent).
    Post,
    /// An edit of a message showing a job.
    Update,
    /// A text.
    Text,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Post => "post",
            Action::Update => "update",
            Action::Text => "text",
        }
    }

    /// The action a stored row names; `None` for a name this version does not know.
    fn parse(name: &str) -> Option<Action> {
        [Action::Post, Action::Update, Action::Text]
            .into_iter()
            .find(|a| a.as_str() == name)
    }
}

/// Why a delivery did not happen.
#[derive(Debug)]
pub(super) enum Failure {
    /// Try again: after `after` when the service said so, else after the row's backoff.
    Retry { error: String, after: Option<Duration> },
    /// The service will never take it (a channel that does not exist, a revoked token).
    Permanent(String),
}

impl Failure {
    /// A service's refusal: retried (after the wait it asked for, if any) when it may pass.
    pub fn of(error: impl std::fmt::Display, retryable: bool, asked_wait: Option<Duration>) -> Failure {
        let error = error.to_string();
        if retryable {
            Failure::Retry {
                error,
                after: asked_wait,
            }
        } else {
            Failure::Permanent(error)
        }
    }
}

/// A row's destination and what it is about, as the providers deliver it.
pub(super) struct Outgoing<'a> {
    pub action: Action,
    pub target: &'a str,
    pub message_ref: Option<&'a str>,
    pub job_id: Option<i64>,
    pub body: &'a Value,
}

impl Outgoing<'_> {
    /// The card of the job a post or edit shows, as the job is now.
    pub async fn card(&self, ix: &Integrations) -> Result<steward_integrations::ProposalCard, Failure> {
        let job_id = self
            .job_id
            .ok_or_else(|| Failure::Permanent("a card without a job".into()))?;
        let job = ix.inner.deps.jobs.get(job_id).await.map_err(|e| Failure::Retry {
            error: e.to_string(),
            after: None,
        })?;
        Ok(ix.card(&job))
    }
}

/// Queues `action` at `place` and wakes the sender.
pub(super) async fn queue(
    ix: &Integrations,
    place: &Place,
    action: Action,
    job_id: Option<i64>,
    mut body: Value,
) -> Result<(), DbErr> {
    let (provider, target) = match place {
        Place::SlackThread { channel, thread_ts } => {
            if !thread_ts.is_empty() {
                body["thread_ts"] = thread_ts.clone().into();
            }
            (Provider::Slack, channel.clone())
        }
        Place::SlackCommand { channel, response_url } => {
            if let Some(url) = response_url {
                body["response_url"] = url.clone().into();
            }
            (Provider::Slack, channel.clone())
        }
        Place::Telegram { chat_id, reply_to } => {
            if let Some(id) = reply_to {
                body["reply_to"] = (*id).into();
            }
            (Provider::Telegram, chat_id.to_string())
        }
    };
    insert(ix, provider.as_str(), action, &target, None, job_id, body).await
}

async fn insert(
    ix: &Integrations,
    provider: &str,
    action: Action,
    target: &str,
    message_ref: Option<&str>,
    job_id: Option<i64>,
    body: Value,
) -> Result<(), DbErr> {
    let store = &ix.inner.deps.store;
    let now = Utc::now();
    let txn = store.begin_write().await?;
    let row = chat_outbox::ActiveModel {
        provider: Set(provider.into()),
        action: Set(action.as_str().into()),
        target: Set(target.into()),
        message_ref: Set(message_ref.map(str::to_owned)),
        job_id: Set(job_id),
        body: Set(body),
        attempts: Set(0),
        next_at: Set(now),
        last_error: Set(None),
        failed: Set(false),
        created_at: Set(now),
        ..Default::default()
    };
    row.insert(&*txn).await?;
    txn.commit().await?;
    ix.inner.wake.notify_one();
    Ok(())
}

/// Queues an edit of every message showing job `job_id` (of every job, for `None`). Edits are
/// not merged: one already queued may be rendering the job's previous state as this is
/// queued, and the last edit must show the last state.
pub(super) async fn queue_updates(ix: &Integrations, job_id: Option<i64>) -> Result<(), DbErr> {
    let mut posts = chat_post::Entity::find();
    if let Some(id) = job_id {
        posts = posts.filter(chat_post::Column::JobId.eq(id));
    }
    for post in posts.all(ix.inner.deps.store.read()).await? {
        let body = Value::Object(Default::default());
        let (provider, target, message_ref) = (&post.provider, &post.target, Some(post.message_ref.as_str()));
        insert(
            ix,
            provider,
            Action::Update,
            target,
            message_ref,
            Some(post.job_id),
            body,
        )
        .await?;
    }
    Ok(())
}

/// Delivers due rows until `stop` turns true.
pub(super) async fn run(ix: Integrations, mut stop: watch::Receiver<bool>) {
    loop {
        match pass(&ix).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "the chat outbox cannot read its queue; retrying"),
        }
        tokio::select! {
            _ = stop.wait_for(|v| *v) => return,
            _ = ix.inner.wake.notified() => {}
            _ = tokio::time::sleep(IDLE) => {}
        }
    }
}

/// Delivers the due rows, oldest first; whether a whole batch was due (look again at once).
async fn pass(ix: &Integrations) -> Result<bool, DbErr> {
    let store = &ix.inner.deps.store;
    let due = chat_outbox::Entity::find()
        .filter(
            Condition::all()
                .add(chat_outbox::Column::Failed.eq(false))
                .add(chat_outbox::Column::NextAt.lte(Utc::now())),
        )
        .order_by_asc(chat_outbox::Column::Id)
        .limit(BATCH)
        .all(store.read())
        .await?;
    let full = due.len() as u64 == BATCH;
    for row in due {
        let action = Action::parse(&row.action);
        let delivered = match action {
            // Never guessed as another action: a row written by a newer version stays for it.
            None => Err(Failure::Permanent(format!("unknown action {:?}", row.action))),
            Some(action) => {
                let out = Outgoing {
                    action,
                    target: &row.target,
                    message_ref: row.message_ref.as_deref(),
                    job_id: row.job_id,
                    body: &row.body,
                };
                match row.provider.as_str() {
                    "slack" => slack::deliver(ix, &out).await,
                    "telegram" => telegram::deliver(ix, &out).await,
                    other => Err(Failure::Permanent(format!("unknown provider {other:?}"))),
                }
            }
        };
        let txn = store.begin_write().await?;
        match delivered {
            Ok(posted) => {
                if let (Some(Action::Post), Some(job_id), Some(message_ref)) = (action, row.job_id, posted) {
                    let post = chat_post::ActiveModel {
                        provider: Set(row.provider.clone()),
                        job_id: Set(job_id),
                        target: Set(row.target.clone()),
                        message_ref: Set(message_ref),
                        created_at: Set(Utc::now()),
                        ..Default::default()
                    };
                    post.insert(&*txn).await?;
                }
                chat_outbox::Entity::delete_by_id(row.id).exec(&*txn).await?;
            }
            Err(Failure::Retry { error, after }) => {
                let attempts = row.attempts + 1;
                let wait = after.unwrap_or_else(|| backoff(attempts));
                tracing::warn!(provider = %row.provider, target = %row.target, attempts, %error, retry_in = ?wait, "chat message not delivered yet");
                let mut r: chat_outbox::ActiveModel = row.into();
                r.attempts = Set(attempts);
                r.next_at = Set(Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default());
                r.last_error = Set(Some(error));
                r.update(&*txn).await?;
            }
            Err(Failure::Permanent(error)) => {
                tracing::error!(provider = %row.provider, target = %row.target, %error, "chat message refused for good; kept in chat_outbox");
                let mut r: chat_outbox::ActiveModel = row.into();
                r.failed = Set(true);
                r.last_error = Set(Some(error));
                r.update(&*txn).await?;
            }
        }
        txn.commit().await?;
    }
    Ok(full)
}

/// The wait before attempt `attempts + 1`: doubling from 2 s, at most [`MAX_BACKOFF`].
fn backoff(attempts: i32) -> Duration {
    let secs = 2u64.saturating_pow(attempts.clamp(1, 16) as u32);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_action_reads_back_and_an_unknown_one_is_not_guessed() {
        for a in [Action::Post, Action::Update, Action::Text] {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("delete"), None);
        assert_eq!(Action::parse(""), None);
    }

    #[test]
    fn backoff_doubles_then_holds() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
