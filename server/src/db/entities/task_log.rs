//! One line of a task's output, unique by (task, seq) so replays apply once.
use sea_orm::entity::prelude::*;

/// A row of `task_logs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "task_logs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub task_id: i64,
    pub seq: i64,
    /// `stdout` or `stderr`.
    pub stream: String,
    pub line: String,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
