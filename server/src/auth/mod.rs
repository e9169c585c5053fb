//! Identity: users and roles, login sessions and API tokens, agent enrollment and
//! credentials, the chat accounts bots act for, and the abuse limits around them.
//!
//! Owns the `users`, `auth_tokens`, `enrollments`, `agent_credentials`, `chat_identities` and
//! `chat_link_codes` tables. Secrets
//! (passwords, tokens, credentials) are stored only as argon2 hashes or SHA-256 digests and
//! are shown exactly once, to whoever created them; nothing here logs or audits a secret.
mod config;
mod enrollment;
mod identities;
mod limits;
mod passwords;
mod secrets;
mod tokens;
mod users;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::db::Store;
pub use config::AuthConfig;

pub use enrollment::{CredentialView, EnrolledAgent, EnrollmentView, NewEnrollment};
pub use identities::{ChatIdentityView, LinkCode, NewChatIdentity, Provider};
pub use limits::Limited;
pub use passwords::MIN_LEN as MIN_PASSWORD_LEN;
pub use tokens::{owner_of, NewToken, Session, TokenView, SYSTEM};
pub use users::{UserUpdate, UserView};

/// Roles, each allowing what the ones before it allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads clusters, hosts, jobs and stacks.
    Viewer,
    /// Also chats, proposes jobs and reads logs.
    Operator,
    /// Also approves, rejects and cancels jobs.
    Approver,
    /// Also manages users, tokens, clusters, enrollment and reads the audit log.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Approver, Role::Admin];

    /// The name used in JSON, SQL and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored or typed role name.
    pub fn parse(s: &str) -> Result<Role, AuthError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| AuthError::Invalid(format!("{s:?} is not a role (viewer, operator, approver, admin)")))
    }
}

/// Who a bearer token stands for.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The user name, or `token:<name>` for an API token; recorded as actor.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// The session or API token used (a session can log itself out).
    pub token_id: i64,
}

/// What can go wrong with identity.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or wrong, expired or revoked ones.
    #[error("{0}")]
    Unauthenticated(String),
    /// Malformed request (weak password, unknown role, bad name).
    #[error("{0}")]
    Invalid(String),
    /// Already exists, or already used.
    #[error("{0}")]
    Conflict(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// Authenticated, but this is not allowed (re-enrolling a host with an unbound token).
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts; retry later.
    #[error("too many {}; retry in {} s", .0.what, .0.retry_after.as_secs().max(1))]
    Limited(Limited),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

impl From<Limited> for AuthError {
    fn from(l: Limited) -> Self {
        AuthError::Limited(l)
    }
}

/// The identity service.
#[derive(Clone)]
pub struct Auth {
    store: Store,
    config: Arc<AuthConfig>,
    limits: Arc<limits::Limits>,
    revoked: tokio::sync::broadcast::Sender<i64>,
}

impl Auth {
    /// The service over `store` with `config`'s policy.
    pub fn new(store: Store, config: AuthConfig) -> Self {
        let limits = Arc::new(limits::Limits::new(&config));
        let (revoked, _) = tokio::sync::broadcast::channel(64);
        Auth {
            store,
            config: Arc::new(config),
            limits,
            revoked,
        }
    }

    /// The policy in force.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Counts one proposal by `user` against their rate.
    pub fn proposal_allowed(&self, user: &str) -> Result<(), AuthError> {
        Ok(self.limits.proposal(user)?)
    }

    /// Counts one chat message by `user` against their rate.
    pub fn chat_allowed(&self, user: &str) -> Result<(), AuthError> {
        Ok(self.limits.chat_message(user)?)
    }

    /// How long a login session lasts.
    fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.config.session_ttl_secs)
    }
}

/// A name for a user, token or host: 1–64 characters of letters, digits, `.`, `_`, `-`, `@`.
pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "{kind} {name:?} must be 1-64 letters, digits, '.', '_', '-' or '@'"
        )))
    }
}
