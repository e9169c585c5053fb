//! Per-host agent credentials issued at enrollment; revocable.
use sea_orm::entity::prelude::*;

/// A row of `agent_credentials`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_credentials")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The only hostname this credential may claim.
    pub hostname: String,
    pub token_hash: String,
    pub enrollment_id: i64,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
