//! Bearer tokens: login sessions and API tokens, stored as SHA-256 digests only.
use sea_orm::entity::prelude::*;

/// A row of `auth_tokens`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `session` or `api`.
    pub kind: String,
    pub name: String,
    /// The user a session belongs to, or the API token's principal (`token:<name>`).
    pub username: String,
    pub role: String,
    pub token_hash: String,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
