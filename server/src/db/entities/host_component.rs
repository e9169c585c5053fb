//! A component placed on a host, with its last known state.
use sea_orm::entity::prelude::*;

/// A row of `host_components`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "host_components")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub host_id: i64,
    pub service: String,
    pub component: String,
    /// `INSTALLED`, `STARTED`, `STOPPED` or `UNKNOWN`.
    pub state: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
