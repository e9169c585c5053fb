//! Who is calling, and whether their role allows a route.
//!
//! Every handler takes a [`Caller`] and states the least role it needs with
//! [`Caller::require`]. Today every caller is the anonymous admin (login arrives with the
//! identity issue); switching authentication on changes this file, not the handlers.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::error::ApiError;

/// Roles, each allowing what the ones before it allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Proposes jobs, chats, follows logs.
    Operator,
    /// Approves, rejects, cancels.
    Approver,
    /// Users, tokens, clusters, enrollment.
    Admin,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// User name, recorded as actor in the audit log.
    pub name: String,
    /// Their role.
    pub role: Role,
}

impl Caller {
    /// Fails with 403 unless the caller's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this needs the {role:?} role or higher").to_lowercase(),
            ))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller {
            name: "anonymous".into(),
            role: Role::Admin,
        })
    }
}
