//! A chunk of a task's output: consecutive lines of one stream, compressed
//! ([`crate::db::output`]), unique by (task, first line) so replays apply once.
use sea_orm::entity::prelude::*;

/// A row of `task_output`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "task_output")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub task_id: i64,
    /// The seq of its first line.
    pub first_seq: i64,
    /// The seq of its last line; a truncation marker (one line) stands for all it replaced.
    pub last_seq: i64,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The lines, each ending in `\n`, compressed.
    pub data: Vec<u8>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
