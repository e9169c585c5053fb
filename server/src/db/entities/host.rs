//! One machine with at most one agent.
use sea_orm::entity::prelude::*;

/// A row of `hosts`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "hosts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub hostname: String,
    pub cluster_id: Option<i64>,
    /// `ONLINE` or `OFFLINE`.
    pub state: String,
    pub labels: Json,
    pub facts: Json,
    pub agent_version: Option<String>,
    pub last_heartbeat: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
