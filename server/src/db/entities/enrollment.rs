//! One-time enrollment tokens an agent exchanges for its per-host credential.
use sea_orm::entity::prelude::*;

/// A row of `enrollments`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "enrollments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub token_hash: String,
    /// Only this hostname may use it, when set.
    pub hostname: Option<String>,
    /// The host joins this cluster, when set.
    pub cluster: Option<String>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    /// The hostname that used it.
    pub used_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
