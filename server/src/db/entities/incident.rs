//! An anomaly on one host's signal, open until the signal recovers.
use sea_orm::entity::prelude::*;

/// A row of `incidents`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub host_id: i64,
    pub cluster_id: Option<i64>,
    /// The metric and its labels, e.g. `disk_used_pct{mount="/var"}`: one open incident each.
    pub signal: String,
    pub metric: String,
    pub labels: Json,
    /// The detector that fired last: `threshold`, `zscore` or `forecast`.
    pub detector: String,
    /// `OPEN` or `RESOLVED`.
    pub state: String,
    pub summary: String,
    /// The latest value.
    pub value: f64,
    /// The worst value while open.
    pub peak: f64,
    pub threshold: Option<f64>,
    pub forecast: Option<String>,
    pub opened_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    /// The remediation proposal (a job with source `anomaly`).
    pub job_id: Option<i64>,
    /// The planner's conversation about it.
    pub conversation_id: Option<i64>,
    /// What the planner said, in particular why it proposed nothing.
    pub remediation: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
