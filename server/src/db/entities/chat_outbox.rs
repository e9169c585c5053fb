//! Messages waiting to be delivered to Slack or Telegram, retried until they are.
use sea_orm::entity::prelude::*;

/// A row of `chat_outbox`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub provider: String,
    /// `post` (a new message), `update` (edit a job's message) or `text` (a notice).
    pub action: String,
    /// Slack channel id, or Telegram chat id.
    pub target: String,
    /// The message an `update` edits.
    pub message_ref: Option<String>,
    /// The job a `post` or `update` shows: rendered when sent, so it shows the latest state.
    pub job_id: Option<i64>,
    /// What a `text` says, and where in a thread a `post` goes.
    pub body: Json,
    pub attempts: i32,
    pub next_at: DateTimeUtc,
    pub last_error: Option<String>,
    /// Refused for good (a channel that does not exist): kept for an operator to read.
    pub failed: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
