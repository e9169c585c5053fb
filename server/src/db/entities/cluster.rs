//! A named set of hosts running one stack.
use sea_orm::entity::prelude::*;

/// A row of `clusters`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "clusters")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub stack: String,
    pub stack_version: String,
    /// Overrides of the stack's `[config]` defaults (a JSON object).
    pub config: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
