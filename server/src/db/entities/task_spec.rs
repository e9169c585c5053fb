//! What a task runs, fixed at proposal time. Kept apart from `tasks`, whose rows change
//! state three times per run: a row rewritten on every change stays small this way.
use sea_orm::entity::prelude::*;

/// A row of `task_specs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "task_specs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub task_id: i64,
    pub job_id: i64,
    /// Environment for the script (a JSON object of strings).
    pub env: Json,
    /// Rendered templates for this host: a JSON array of `{path, content, mode}`.
    pub files: Json,
    /// SHA-256 of script, env, files and shared files; part of the plan hash.
    pub digest: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
