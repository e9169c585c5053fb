//! People who use Steward, with their role.
use sea_orm::entity::prelude::*;

/// A row of `users`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub username: String,
    /// Argon2id PHC string; never leaves the server.
    pub password_hash: String,
    pub role: String,
    pub created_at: DateTimeUtc,
    /// A disabled user cannot log in, and their sessions and API tokens stop working.
    pub disabled: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
