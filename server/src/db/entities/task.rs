//! A task: one command of one component on one host; what it runs is its `task_specs` row.
use sea_orm::entity::prelude::*;

/// A row of `tasks`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub job_id: i64,
    pub stage_id: i64,
    pub host_id: i64,
    pub hostname: String,
    pub state: String,
    pub attempt: i32,
    pub timeout_secs: i32,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub dispatched_at: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
