//! A Slack or Telegram account linked to a Steward user: what a bot acts as.
use sea_orm::entity::prelude::*;

/// A row of `chat_identities`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_identities")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `slack` or `telegram`.
    pub provider: String,
    /// The provider's user id (Slack `U…`, Telegram's numeric id).
    pub external_id: String,
    /// The Steward user it acts as.
    pub username: String,
    /// Who linked it: an admin, or the user with a link code.
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
