//! The Steward conversation a user holds in one Slack thread or Telegram chat.
use sea_orm::entity::prelude::*;

/// A row of `chat_threads`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_threads")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub provider: String,
    /// Where: Slack `channel:thread_ts`, Telegram `chat_id`.
    pub place: String,
    pub username: String,
    pub conversation_id: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
