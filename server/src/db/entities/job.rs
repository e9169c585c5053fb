//! A job: a DAG of stages, proposed, approved, and run.
use sea_orm::entity::prelude::*;

/// A row of `jobs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub cluster_id: i64,
    pub state: String,
    /// Where it came from: `api`, `chat`, `anomaly`, `slack`, `telegram`.
    pub source: String,
    pub summary: String,
    /// The canonical plan, exactly what `plan_hash` covers.
    pub plan: Json,
    pub plan_hash: String,
    pub risk: String,
    pub rationale: String,
    pub sources: Json,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decision_comment: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub approved_at: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// The person accountable for the request (an API token's creator, `system` for
    /// telemetry and bots); `None` on jobs older than four-eyes by person.
    pub requester_owner: Option<String>,
    /// Approvals gathered so far on a job that needs two: `[{"by", "owner", "at"}]`.
    pub approvals: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
