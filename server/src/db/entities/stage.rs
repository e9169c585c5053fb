//! A stage: one command of one component on a set of hosts.
use sea_orm::entity::prelude::*;

/// A row of `stages`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub job_id: i64,
    /// Position in the plan's `stages` array.
    pub idx: i32,
    pub name: String,
    pub service: String,
    pub component: String,
    pub command: String,
    /// Indexes of the stages this one waits for (a JSON array).
    pub depends_on: Json,
    pub state: String,
    /// The command's script, byte for byte: the same for every task of the stage.
    pub script: String,
    /// Files every task of the stage gets (the stack's lib): a JSON array of `{path, content, mode}`.
    pub shared_files: Json,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
