//! Schema migrations, portable across SQLite and PostgreSQL (nothing backend-specific).
use sea_orm_migration::prelude::*;

/// Every migration, oldest first.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001JobPath),
            Box::new(M0002Chat),
            Box::new(M0003Auth),
            // m0004 is the knowledge index's.
            Box::new(M0005Telemetry),
            Box::new(M0006Console),
            Box::new(M0007FourEyes),
            Box::new(M0008ChatOps),
            Box::new(M0009TaskOutput),
            Box::new(M0010TaskStageIndex),
            Box::new(M0011TaskSpecs),
        ]
    }
}

/// Clusters, hosts, jobs, stages, tasks, logs and the audit log.
struct M0001JobPath;

impl MigrationName for M0001JobPath {
    fn name(&self) -> &str {
        "m0001_job_path"
    }
}

fn id<T: Iden + 'static>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn text<T: Iden + 'static>(col: T) -> ColumnDef {
    ColumnDef::new(col).text().not_null().to_owned()
}

fn json<T: Iden + 'static>(col: T) -> ColumnDef {
    ColumnDef::new(col).json().not_null().to_owned()
}

fn time<T: Iden + 'static>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().not_null().to_owned()
}

fn time_opt<T: Iden + 'static>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().null().to_owned()
}

fn index(name: &str, table: impl Iden + 'static, cols: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table);
    for c in cols {
        idx.col(Alias::new(*c));
    }
    if unique {
        idx.unique();
    }
    idx.to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0001JobPath {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Clusters::Table)
                .col(id(Clusters::Id))
                .col(text(Clusters::Name).unique_key())
                .col(text(Clusters::Stack))
                .col(text(Clusters::StackVersion))
                .col(json(Clusters::Config))
                .col(time(Clusters::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Hosts::Table)
                .col(id(Hosts::Id))
                .col(text(Hosts::Hostname).unique_key())
                .col(ColumnDef::new(Hosts::ClusterId).big_integer().null())
                .col(text(Hosts::State))
                .col(json(Hosts::Labels))
                .col(json(Hosts::Facts))
                .col(ColumnDef::new(Hosts::AgentVersion).text().null())
                .col(time_opt(Hosts::LastHeartbeat))
                .col(time(Hosts::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(HostComponents::Table)
                .col(id(HostComponents::Id))
                .col(ColumnDef::new(HostComponents::HostId).big_integer().not_null())
                .col(text(HostComponents::Service))
                .col(text(HostComponents::Component))
                .col(text(HostComponents::State))
                .col(time(HostComponents::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ux_host_components",
            HostComponents::Table,
            &["host_id", "service", "component"],
            true,
        ))
        .await?;
        m.create_table(
            Table::create()
                .table(Jobs::Table)
                .col(id(Jobs::Id))
                .col(ColumnDef::new(Jobs::ClusterId).big_integer().not_null())
                .col(text(Jobs::State))
                .col(text(Jobs::Source))
                .col(text(Jobs::Summary))
                .col(json(Jobs::Plan))
                .col(text(Jobs::PlanHash))
                .col(text(Jobs::Risk))
                .col(text(Jobs::Rationale))
                .col(json(Jobs::Sources))
                .col(text(Jobs::RequestedBy))
                .col(ColumnDef::new(Jobs::DecidedBy).text().null())
                .col(ColumnDef::new(Jobs::DecisionComment).text().null())
                .col(ColumnDef::new(Jobs::Error).text().null())
                .col(time(Jobs::CreatedAt))
                .col(time(Jobs::ExpiresAt))
                .col(time_opt(Jobs::ApprovedAt))
                .col(time_opt(Jobs::StartedAt))
                .col(time_opt(Jobs::FinishedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_jobs_state", Jobs::Table, &["state", "id"], false))
            .await?;
        m.create_table(
            Table::create()
                .table(Stages::Table)
                .col(id(Stages::Id))
                .col(ColumnDef::new(Stages::JobId).big_integer().not_null())
                .col(ColumnDef::new(Stages::Idx).integer().not_null())
                .col(text(Stages::Name))
                .col(text(Stages::Service))
                .col(text(Stages::Component))
                .col(text(Stages::Command))
                .col(json(Stages::DependsOn))
                .col(text(Stages::State))
                .col(text(Stages::Script))
                .col(json(Stages::SharedFiles))
                .col(time_opt(Stages::StartedAt))
                .col(time_opt(Stages::FinishedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_stages_job", Stages::Table, &["job_id", "idx"], true))
            .await?;
        m.create_table(
            Table::create()
                .table(Tasks::Table)
                .col(id(Tasks::Id))
                .col(ColumnDef::new(Tasks::JobId).big_integer().not_null())
                .col(ColumnDef::new(Tasks::StageId).big_integer().not_null())
                .col(ColumnDef::new(Tasks::HostId).big_integer().not_null())
                .col(text(Tasks::Hostname))
                .col(text(Tasks::State))
                .col(ColumnDef::new(Tasks::Attempt).integer().not_null())
                .col(json(Tasks::Env))
                .col(json(Tasks::Files))
                .col(text(Tasks::Digest))
                .col(ColumnDef::new(Tasks::TimeoutSecs).integer().not_null())
                .col(ColumnDef::new(Tasks::ExitCode).integer().null())
                .col(ColumnDef::new(Tasks::Error).text().null())
                .col(time_opt(Tasks::DispatchedAt))
                .col(time_opt(Tasks::StartedAt))
                .col(time_opt(Tasks::FinishedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_tasks_job", Tasks::Table, &["job_id"], false))
            .await?;
        m.create_index(index("ix_tasks_host_state", Tasks::Table, &["host_id", "state"], false))
            .await?;
        create_task_logs(m).await?;
        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(id(AuditEvents::Id))
                .col(time(AuditEvents::At))
                .col(text(AuditEvents::Actor))
                .col(text(AuditEvents::Action))
                .col(text(AuditEvents::Target))
                .col(json(AuditEvents::Details))
                .col(text(AuditEvents::PrevHash))
                .col(text(AuditEvents::Hash))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Alias::new("audit_events"),
            Alias::new("task_logs"),
            Alias::new("tasks"),
            Alias::new("stages"),
            Alias::new("jobs"),
            Alias::new("host_components"),
            Alias::new("hosts"),
            Alias::new("clusters"),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Clusters {
    Table,
    Id,
    Name,
    Stack,
    StackVersion,
    Config,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Hosts {
    Table,
    Id,
    Hostname,
    ClusterId,
    State,
    Labels,
    Facts,
    AgentVersion,
    LastHeartbeat,
    CreatedAt,
}

#[derive(DeriveIden)]
enum HostComponents {
    Table,
    Id,
    HostId,
    Service,
    Component,
    State,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    ClusterId,
    State,
    Source,
    Summary,
    Plan,
    PlanHash,
    Risk,
    Rationale,
    Sources,
    RequestedBy,
    DecidedBy,
    DecisionComment,
    Error,
    CreatedAt,
    ExpiresAt,
    ApprovedAt,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum Stages {
    Table,
    Id,
    JobId,
    Idx,
    Name,
    Service,
    Component,
    Command,
    DependsOn,
    State,
    Script,
    SharedFiles,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    JobId,
    StageId,
    HostId,
    Hostname,
    State,
    Attempt,
    Env,
    Files,
    Digest,
    TimeoutSecs,
    ExitCode,
    Error,
    DispatchedAt,
    StartedAt,
    FinishedAt,
}

/// The line-per-row output table of m0001, which m0009 replaced (and its `down` restores).
async fn create_task_logs(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table(TaskLogs::Table)
            .col(id(TaskLogs::Id))
            .col(ColumnDef::new(TaskLogs::TaskId).big_integer().not_null())
            .col(ColumnDef::new(TaskLogs::Seq).big_integer().not_null())
            .col(text(TaskLogs::Stream))
            .col(text(TaskLogs::Line))
            .col(time(TaskLogs::At))
            .to_owned(),
    )
    .await?;
    m.create_index(index("ux_task_logs", TaskLogs::Table, &["task_id", "seq"], true))
        .await
}

#[derive(DeriveIden)]
enum TaskLogs {
    Table,
    Id,
    TaskId,
    Seq,
    Stream,
    Line,
    At,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    Actor,
    Action,
    Target,
    Details,
    PrevHash,
    Hash,
}

/// Conversations and their messages.
struct M0002Chat;

impl MigrationName for M0002Chat {
    fn name(&self) -> &str {
        "m0002_chat"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0002Chat {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Conversations::Table)
                .col(id(Conversations::Id))
                .col(text(Conversations::User))
                .col(text(Conversations::Channel))
                .col(time(Conversations::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ChatMessages::Table)
                .col(id(ChatMessages::Id))
                .col(ColumnDef::new(ChatMessages::ConversationId).big_integer().not_null())
                .col(text(ChatMessages::Role))
                .col(text(ChatMessages::Content))
                .col(json(ChatMessages::ToolCalls))
                .col(ColumnDef::new(ChatMessages::ToolCallId).text().null())
                .col(json(ChatMessages::Proposals))
                .col(time(ChatMessages::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_chat_messages_conv",
            ChatMessages::Table,
            &["conversation_id", "id"],
            false,
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("chat_messages")).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Alias::new("conversations")).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    User,
    Channel,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ChatMessages {
    Table,
    Id,
    ConversationId,
    Role,
    Content,
    ToolCalls,
    ToolCallId,
    Proposals,
    CreatedAt,
}

/// Users, session and API tokens, agent enrollment tokens and per-host agent credentials.
struct M0003Auth;

impl MigrationName for M0003Auth {
    fn name(&self) -> &str {
        "m0003_auth"
    }
}

fn text_opt<T: Iden + 'static>(col: T) -> ColumnDef {
    ColumnDef::new(col).text().null().to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0003Auth {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(id(Users::Id))
                .col(text(Users::Username))
                .col(text(Users::PasswordHash))
                .col(text(Users::Role))
                .col(time(Users::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ux_users_username", Users::Table, &["username"], true))
            .await?;
        m.create_table(
            Table::create()
                .table(AuthTokens::Table)
                .col(id(AuthTokens::Id))
                .col(text(AuthTokens::Kind))
                .col(text(AuthTokens::Name))
                .col(text(AuthTokens::Username))
                .col(text(AuthTokens::Role))
                .col(text(AuthTokens::TokenHash))
                .col(text(AuthTokens::CreatedBy))
                .col(time(AuthTokens::CreatedAt))
                .col(time_opt(AuthTokens::ExpiresAt))
                .col(time_opt(AuthTokens::RevokedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ux_auth_tokens_hash", AuthTokens::Table, &["token_hash"], true))
            .await?;
        m.create_table(
            Table::create()
                .table(Enrollments::Table)
                .col(id(Enrollments::Id))
                .col(text(Enrollments::TokenHash))
                .col(text_opt(Enrollments::Hostname))
                .col(text_opt(Enrollments::Cluster))
                .col(text(Enrollments::CreatedBy))
                .col(time(Enrollments::CreatedAt))
                .col(time(Enrollments::ExpiresAt))
                .col(time_opt(Enrollments::UsedAt))
                .col(text_opt(Enrollments::UsedBy))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ux_enrollments_hash", Enrollments::Table, &["token_hash"], true))
            .await?;
        m.create_table(
            Table::create()
                .table(AgentCredentials::Table)
                .col(id(AgentCredentials::Id))
                .col(text(AgentCredentials::Hostname))
                .col(text(AgentCredentials::TokenHash))
                .col(ColumnDef::new(AgentCredentials::EnrollmentId).big_integer().not_null())
                .col(time(AgentCredentials::CreatedAt))
                .col(time_opt(AgentCredentials::RevokedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ux_agent_credentials_hash",
            AgentCredentials::Table,
            &["token_hash"],
            true,
        ))
        .await?;
        m.create_index(index(
            "ix_audit_events_actor",
            Alias::new("audit_events"),
            &["actor", "id"],
            false,
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["agent_credentials", "enrollments", "auth_tokens", "users"] {
            m.drop_table(Table::drop().table(Alias::new(t)).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuthTokens {
    Table,
    Id,
    Kind,
    Name,
    Username,
    Role,
    TokenHash,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Enrollments {
    Table,
    Id,
    TokenHash,
    Hostname,
    Cluster,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    UsedBy,
}

#[derive(DeriveIden)]
enum AgentCredentials {
    Table,
    Id,
    Hostname,
    TokenHash,
    EnrollmentId,
    CreatedAt,
    RevokedAt,
}

/// Metric series, raw samples, rollups and incidents.
struct M0005Telemetry;

impl MigrationName for M0005Telemetry {
    fn name(&self) -> &str {
        "m0005_telemetry"
    }
}

fn double<T: Iden + 'static>(col: T) -> ColumnDef {
    ColumnDef::new(col).double().not_null().to_owned()
}

fn bigint<T: Iden + 'static>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0005Telemetry {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(MetricSeries::Table)
                .col(id(MetricSeries::Id))
                .col(bigint(MetricSeries::HostId))
                .col(text(MetricSeries::Name))
                .col(text(MetricSeries::Labels))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ux_metric_series",
            MetricSeries::Table,
            &["host_id", "name", "labels"],
            true,
        ))
        .await?;
        // One row per sample: (series, time) is the key, so a batch sent twice is stored once.
        m.create_table(
            Table::create()
                .table(MetricSamples::Table)
                .col(bigint(MetricSamples::SeriesId))
                .col(bigint(MetricSamples::AtMs))
                .col(double(MetricSamples::Value))
                .primary_key(Index::create().col(MetricSamples::SeriesId).col(MetricSamples::AtMs))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_metric_samples_at", MetricSamples::Table, &["at_ms"], false))
            .await?;
        m.create_table(
            Table::create()
                .table(MetricRollups::Table)
                .col(bigint(MetricRollups::SeriesId))
                .col(bigint(MetricRollups::StepSecs))
                .col(bigint(MetricRollups::AtMs))
                .col(double(MetricRollups::Min))
                .col(double(MetricRollups::Max))
                .col(double(MetricRollups::Avg))
                .col(bigint(MetricRollups::Count))
                .primary_key(
                    Index::create()
                        .col(MetricRollups::SeriesId)
                        .col(MetricRollups::StepSecs)
                        .col(MetricRollups::AtMs),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_metric_rollups_at",
            MetricRollups::Table,
            &["step_secs", "at_ms"],
            false,
        ))
        .await?;
        m.create_table(
            Table::create()
                .table(Incidents::Table)
                .col(id(Incidents::Id))
                .col(bigint(Incidents::HostId))
                .col(ColumnDef::new(Incidents::ClusterId).big_integer().null())
                .col(text(Incidents::Signal))
                .col(text(Incidents::Metric))
                .col(json(Incidents::Labels))
                .col(text(Incidents::Detector))
                .col(text(Incidents::State))
                .col(text(Incidents::Summary))
                .col(double(Incidents::Value))
                .col(double(Incidents::Peak))
                .col(ColumnDef::new(Incidents::Threshold).double().null())
                .col(text_opt(Incidents::Forecast))
                .col(time(Incidents::OpenedAt))
                .col(time(Incidents::UpdatedAt))
                .col(time_opt(Incidents::ResolvedAt))
                .col(ColumnDef::new(Incidents::JobId).big_integer().null())
                .col(ColumnDef::new(Incidents::ConversationId).big_integer().null())
                .col(text_opt(Incidents::Remediation))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_incidents_host_signal",
            Incidents::Table,
            &["host_id", "signal", "state"],
            false,
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["incidents", "metric_rollups", "metric_samples", "metric_series"] {
            m.drop_table(Table::drop().table(Alias::new(t)).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum MetricSeries {
    Table,
    Id,
    HostId,
    Name,
    Labels,
}

#[derive(DeriveIden)]
enum MetricSamples {
    Table,
    SeriesId,
    AtMs,
    Value,
}

#[derive(DeriveIden)]
enum MetricRollups {
    Table,
    SeriesId,
    StepSecs,
    AtMs,
    Min,
    Max,
    Avg,
    Count,
}

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
    HostId,
    ClusterId,
    Signal,
    Metric,
    Labels,
    Detector,
    State,
    Summary,
    Value,
    Peak,
    Threshold,
    Forecast,
    OpenedAt,
    UpdatedAt,
    ResolvedAt,
    JobId,
    ConversationId,
    Remediation,
}

/// What the web console needs: a conversation's title and last activity, a reply's tool
/// calls and citations (to redraw it), and disabled users.
struct M0006Console;

impl MigrationName for M0006Console {
    fn name(&self) -> &str {
        "m0006_console"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0006Console {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite adds one at a time. New columns are nullable (or have a
        // default) so existing rows need no rewrite; the backfills below fill them.
        let add = |table: Alias, col: ColumnDef| Table::alter().table(table).add_column(col).to_owned();
        m.alter_table(add(Alias::new("conversations"), text_opt(Alias::new("title"))))
            .await?;
        m.alter_table(add(Alias::new("conversations"), time_opt(Alias::new("updated_at"))))
            .await?;
        m.alter_table(add(
            Alias::new("chat_messages"),
            ColumnDef::new(Alias::new("tool_traces")).json().null().to_owned(),
        ))
        .await?;
        m.alter_table(add(
            Alias::new("chat_messages"),
            ColumnDef::new(Alias::new("citations")).json().null().to_owned(),
        ))
        .await?;
        m.alter_table(add(
            Alias::new("users"),
            ColumnDef::new(Alias::new("disabled"))
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ))
        .await?;
        // Conversations made before this migration: the first user message as title, the
        // last message as last activity (both portable SQL: substr counts characters).
        let db = m.get_connection();
        db.execute_unprepared(
            "UPDATE conversations SET \
             title = (SELECT rtrim(substr(ltrim(m.content), 1, 80)) FROM chat_messages m \
                      WHERE m.conversation_id = conversations.id AND m.role = 'user' ORDER BY m.id LIMIT 1), \
             updated_at = COALESCE((SELECT MAX(m.created_at) FROM chat_messages m \
                      WHERE m.conversation_id = conversations.id), created_at)",
        )
        .await?;
        m.create_index(index(
            "ix_conversations_user_updated",
            Alias::new("conversations"),
            &["user", "updated_at"],
            false,
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_conversations_user_updated")
                .table(Alias::new("conversations"))
                .to_owned(),
        )
        .await?;
        for (table, col) in [
            ("users", "disabled"),
            ("chat_messages", "citations"),
            ("chat_messages", "tool_traces"),
            ("conversations", "updated_at"),
            ("conversations", "title"),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .drop_column(Alias::new(col))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

/// Four-eyes by person: the person (or `system`) each job was requested for, and the
/// approvals a job has gathered before the last one it needs. Named m0007: m0006 is the web
/// console's.
struct M0007FourEyes;

impl MigrationName for M0007FourEyes {
    fn name(&self) -> &str {
        "m0007_four_eyes"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0007FourEyes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Nullable, so existing rows need no rewrite: a job without an owner was requested
        // for its `requested_by`, as before.
        m.alter_table(
            Table::alter()
                .table(Jobs::Table)
                .add_column(text_opt(Alias::new("requester_owner")))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Jobs::Table)
                .add_column(ColumnDef::new(Alias::new("approvals")).json().null().to_owned())
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in ["approvals", "requester_owner"] {
            m.alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .drop_column(Alias::new(col))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

/// Slack and Telegram: who a chat account is, one-time link codes, the conversation of each
/// thread, the messages that show a job (updated as it moves), and the outbox that delivers
/// them (retried until delivered, so a channel that is down never blocks a job).
struct M0008ChatOps;

impl MigrationName for M0008ChatOps {
    fn name(&self) -> &str {
        "m0008_chatops"
    }
}

/// The chat-ops tables, newest last; `down` drops them in reverse.
const CHATOPS_TABLES: [&str; 5] = [
    "chat_identities",
    "chat_link_codes",
    "chat_threads",
    "chat_posts",
    "chat_outbox",
];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0008ChatOps {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let a = |name: &str| Alias::new(name.to_owned());
        let big = |c: &str| ColumnDef::new(a(c)).big_integer().not_null().to_owned();
        let big_opt = |c: &str| ColumnDef::new(a(c)).big_integer().null().to_owned();
        let table = |name: &str, cols: Vec<ColumnDef>| {
            let mut t = Table::create();
            t.table(a(name)).col(id(a("id")));
            for mut c in cols {
                t.col(&mut c);
            }
            t.to_owned()
        };
        let [identities, codes, threads, posts, outbox] = CHATOPS_TABLES;
        m.create_table(table(
            identities,
            vec![
                text(a("provider")),
                text(a("external_id")),
                text(a("username")),
                text(a("created_by")),
                time(a("created_at")),
            ],
        ))
        .await?;
        m.create_index(index(
            "ux_chat_identities_external",
            a(identities),
            &["provider", "external_id"],
            true,
        ))
        .await?;
        m.create_table(table(
            codes,
            vec![
                text(a("code_hash")),
                text(a("username")),
                time(a("created_at")),
                time(a("expires_at")),
                time_opt(a("used_at")),
            ],
        ))
        .await?;
        m.create_index(index("ux_chat_link_codes_hash", a(codes), &["code_hash"], true))
            .await?;
        m.create_table(table(
            threads,
            vec![
                text(a("provider")),
                text(a("place")),
                text(a("username")),
                big("conversation_id"),
                time(a("created_at")),
            ],
        ))
        .await?;
        m.create_index(index(
            "ux_chat_threads_place",
            a(threads),
            &["provider", "place", "username"],
            true,
        ))
        .await?;
        m.create_table(table(
            posts,
            vec![
                text(a("provider")),
                big("job_id"),
                text(a("target")),
                text(a("message_ref")),
                time(a("created_at")),
            ],
        ))
        .await?;
        m.create_index(index("ix_chat_posts_job", a(posts), &["job_id"], false))
            .await?;
        m.create_table(table(
            outbox,
            vec![
                text(a("provider")),
                text(a("action")),
                text(a("target")),
                text_opt(a("message_ref")),
                big_opt("job_id"),
                json(a("body")),
                ColumnDef::new(a("attempts")).integer().not_null().default(0).to_owned(),
                time(a("next_at")),
                text_opt(a("last_error")),
                ColumnDef::new(a("failed"))
                    .boolean()
                    .not_null()
                    .default(false)
                    .to_owned(),
                time(a("created_at")),
            ],
        ))
        .await?;
        m.create_index(index("ix_chat_outbox_due", a(outbox), &["failed", "next_at"], false))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in CHATOPS_TABLES.iter().rev() {
            m.drop_table(Table::drop().table(Alias::new(*t)).to_owned()).await?;
        }
        Ok(())
    }
}

/// Task output in compressed chunks (`task_output`) instead of a row per line (`task_logs`).
struct M0009TaskOutput;

impl MigrationName for M0009TaskOutput {
    fn name(&self) -> &str {
        "m0009_task_output"
    }
}

#[derive(DeriveIden)]
enum TaskOutput {
    Table,
    Id,
    TaskId,
    FirstSeq,
    LastSeq,
    Stream,
    Data,
    At,
}

/// Lines of `task_logs` moved per query.
const MOVE_PAGE: u64 = 10_000;
/// A moved chunk ends once it holds this many bytes.
const MOVE_CHUNK_BYTES: usize = 64 * 1024;

/// A chunk being assembled from `task_logs` rows.
struct Moving {
    task_id: i64,
    first_seq: i64,
    last_seq: i64,
    stream: String,
    text: String,
    at: chrono::DateTime<chrono::Utc>,
}

impl M0009TaskOutput {
    /// Moves every stored line into chunks: consecutive lines of one task and stream.
    async fn move_lines(&self, m: &SchemaManager<'_>) -> Result<(), DbErr> {
        let db = m.get_connection();
        let backend = m.get_database_backend();
        let mut after = (0i64, 0i64);
        let mut open: Option<Moving> = None;
        loop {
            let page = Query::select()
                .columns([
                    TaskLogs::TaskId,
                    TaskLogs::Seq,
                    TaskLogs::Stream,
                    TaskLogs::Line,
                    TaskLogs::At,
                ])
                .from(TaskLogs::Table)
                .cond_where(
                    Cond::any().add(Expr::col(TaskLogs::TaskId).gt(after.0)).add(
                        Expr::col(TaskLogs::TaskId)
                            .eq(after.0)
                            .and(Expr::col(TaskLogs::Seq).gt(after.1)),
                    ),
                )
                .order_by(TaskLogs::TaskId, Order::Asc)
                .order_by(TaskLogs::Seq, Order::Asc)
                .limit(MOVE_PAGE)
                .to_owned();
            let rows = db.query_all(backend.build(&page)).await?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let task_id: i64 = row.try_get("", "task_id")?;
                let seq: i64 = row.try_get("", "seq")?;
                let stream: String = row.try_get("", "stream")?;
                let line: String = row.try_get("", "line")?;
                let at: chrono::DateTime<chrono::Utc> = row.try_get("", "at")?;
                after = (task_id, seq);
                let joins = open.as_ref().is_some_and(|c| {
                    c.task_id == task_id
                        && c.stream == stream
                        && c.last_seq + 1 == seq
                        && c.text.len() < MOVE_CHUNK_BYTES
                });
                if !joins {
                    if let Some(done) = open.take() {
                        insert_chunk(m, done).await?;
                    }
                    open = Some(Moving {
                        task_id,
                        first_seq: seq,
                        last_seq: seq - 1,
                        stream,
                        text: String::new(),
                        at,
                    });
                }
                let c = open.as_mut().expect("opened above");
                c.last_seq = seq;
                c.text.push_str(&line);
                c.text.push('\n');
                c.at = at;
            }
        }
        if let Some(done) = open {
            insert_chunk(m, done).await?;
        }
        Ok(())
    }
}

async fn insert_chunk(m: &SchemaManager<'_>, c: Moving) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(TaskOutput::Table)
        .columns([
            TaskOutput::TaskId,
            TaskOutput::FirstSeq,
            TaskOutput::LastSeq,
            TaskOutput::Stream,
            TaskOutput::Data,
            TaskOutput::At,
        ])
        .values_panic([
            c.task_id.into(),
            c.first_seq.into(),
            c.last_seq.into(),
            c.stream.into(),
            crate::db::output::compress(&c.text).into(),
            c.at.into(),
        ])
        .to_owned();
    m.get_connection()
        .execute(m.get_database_backend().build(&insert))
        .await?;
    Ok(())
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0009TaskOutput {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(TaskOutput::Table)
                .col(id(TaskOutput::Id))
                .col(ColumnDef::new(TaskOutput::TaskId).big_integer().not_null())
                .col(ColumnDef::new(TaskOutput::FirstSeq).big_integer().not_null())
                .col(ColumnDef::new(TaskOutput::LastSeq).big_integer().not_null())
                .col(text(TaskOutput::Stream))
                .col(ColumnDef::new(TaskOutput::Data).blob().not_null())
                .col(time(TaskOutput::At))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ux_task_output",
            TaskOutput::Table,
            &["task_id", "first_seq"],
            true,
        ))
        .await?;
        self.move_lines(m).await?;
        m.drop_table(Table::drop().table(TaskLogs::Table).to_owned()).await
    }

    /// The old table comes back empty: output stored in chunks is not split back into rows.
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_task_logs(m).await?;
        m.drop_table(Table::drop().table(TaskOutput::Table).to_owned()).await
    }
}

/// Tasks found by their stage: a proposal reads back the ids of the rows it just inserted,
/// which without this index scanned every task ever stored, holding the writer lock.
struct M0010TaskStageIndex;

impl MigrationName for M0010TaskStageIndex {
    fn name(&self) -> &str {
        "m0010_task_stage_index"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0010TaskStageIndex {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index("ix_tasks_stage", Tasks::Table, &["stage_id"], false))
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_tasks_stage").table(Tasks::Table).to_owned())
            .await
    }
}

/// A task's environment, files and digest move to `task_specs`: they never change after the
/// proposal, while the task row is rewritten at dispatch, start and end, and each rewrite
/// copied them (rows of 870 bytes on average, four to a page).
struct M0011TaskSpecs;

impl MigrationName for M0011TaskSpecs {
    fn name(&self) -> &str {
        "m0011_task_specs"
    }
}

#[derive(DeriveIden)]
enum TaskSpecs {
    Table,
    TaskId,
    JobId,
    Env,
    Files,
    Digest,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0011TaskSpecs {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(TaskSpecs::Table)
                .col(ColumnDef::new(TaskSpecs::TaskId).big_integer().not_null().primary_key())
                .col(ColumnDef::new(TaskSpecs::JobId).big_integer().not_null())
                .col(json(TaskSpecs::Env))
                .col(json(TaskSpecs::Files))
                .col(text(TaskSpecs::Digest))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_task_specs_job", TaskSpecs::Table, &["job_id"], false))
            .await?;
        let copy = Query::insert()
            .into_table(TaskSpecs::Table)
            .columns([
                TaskSpecs::TaskId,
                TaskSpecs::JobId,
                TaskSpecs::Env,
                TaskSpecs::Files,
                TaskSpecs::Digest,
            ])
            .select_from(
                Query::select()
                    .columns([Tasks::Id, Tasks::JobId, Tasks::Env, Tasks::Files, Tasks::Digest])
                    .from(Tasks::Table)
                    .to_owned(),
            )
            .map_err(|e| DbErr::Migration(e.to_string()))?
            .to_owned();
        m.get_connection()
            .execute(m.get_database_backend().build(&copy))
            .await?;
        // One column per statement: SQLite alters one thing at a time.
        for col in [Tasks::Env, Tasks::Files, Tasks::Digest] {
            m.alter_table(Table::alter().table(Tasks::Table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            ColumnDef::new(Tasks::Env).json().not_null().default("{}").to_owned(),
            ColumnDef::new(Tasks::Files).json().not_null().default("[]").to_owned(),
            ColumnDef::new(Tasks::Digest).text().not_null().default("").to_owned(),
        ] {
            m.alter_table(Table::alter().table(Tasks::Table).add_column(col).to_owned())
                .await?;
        }
        for (to, from) in [
            (Tasks::Env, TaskSpecs::Env),
            (Tasks::Files, TaskSpecs::Files),
            (Tasks::Digest, TaskSpecs::Digest),
        ] {
            let back = Query::update()
                .table(Tasks::Table)
                .value(
                    to,
                    SimpleExpr::SubQuery(
                        None,
                        Box::new(
                            Query::select()
                                .column(from)
                                .from(TaskSpecs::Table)
                                .and_where(
                                    Expr::col((TaskSpecs::Table, TaskSpecs::TaskId)).equals((Tasks::Table, Tasks::Id)),
                                )
                                .to_owned()
                                .into_sub_query_statement(),
                        ),
                    ),
                )
                .to_owned();
            m.get_connection()
                .execute(m.get_database_backend().build(&back))
                .await?;
        }
        m.drop_table(Table::drop().table(TaskSpecs::Table).to_owned()).await
    }
}
