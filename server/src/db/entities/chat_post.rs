//! A chat message that shows a job: edited in place as the job moves.
use sea_orm::entity::prelude::*;

/// A row of `chat_posts`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_posts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub provider: String,
    pub job_id: i64,
    /// Slack channel id, or Telegram chat id.
    pub target: String,
    /// Slack message `ts`, or Telegram `message_id`.
    pub message_ref: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
