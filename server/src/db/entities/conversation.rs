//! A conversation of one user on one channel.
use sea_orm::entity::prelude::*;

/// A row of `conversations`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user: String,
    /// `web`, `api`, `cli`, `slack`, `telegram`.
    pub channel: String,
    pub created_at: DateTimeUtc,
    /// The first user message, cut to 80 characters.
    pub title: Option<String>,
    /// When its last message was stored (`created_at` until then).
    pub updated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
