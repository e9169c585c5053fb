//! The one error type of the API: `{"error":{"code","message"}}` with the right status.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::auth::AuthError;
use crate::inventory::InventoryError;
use crate::jobs::{JobError, PlanError};

/// An API error: an HTTP status, a stable code, and a message for people.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

/// The JSON body of every error.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code (`not_found`, `invalid_plan` …).
    pub code: String,
    /// For people.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 401: no credentials, or unusable ones.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403: the caller's role is too low.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// This error, telling the caller when to try again (the `Retry-After` header).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500; the detail goes to the log, not to the caller.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message,
            },
        };
        let mut r = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            r.headers_mut().insert("retry-after", secs.into());
        }
        r
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated(m) => Self::unauthenticated(m),
            AuthError::Invalid(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            AuthError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            AuthError::NotFound(m) => Self::not_found(m),
            AuthError::Forbidden(m) => Self::forbidden(m),
            AuthError::Limited(ref l) => {
                let secs = l.retry_after.as_secs().max(1);
                let mut a = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string());
                a.retry_after = Some(secs);
                a
            }
            AuthError::Db(e) => Self::internal(e),
        }
    }
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::NotFound(m) => Self::not_found(m),
            JobError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            JobError::HashMismatch(m) => Self::new(StatusCode::CONFLICT, "plan_hash_mismatch", m),
            JobError::FourEyes(m) => Self::new(StatusCode::FORBIDDEN, "four_eyes", m),
            JobError::Plan(PlanError::Unknown(m)) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_name", m),
            JobError::Plan(PlanError::Invalid(m)) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_plan", m),
            JobError::Inventory(e) => e.into(),
            JobError::Db(e) => Self::internal(e),
            JobError::EngineDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "engine_down",
                "the job engine is not running",
            ),
        }
    }
}

impl From<crate::telemetry::TelemetryError> for ApiError {
    fn from(e: crate::telemetry::TelemetryError) -> Self {
        use crate::telemetry::TelemetryError;
        match e {
            TelemetryError::NotFound(m) => Self::not_found(m),
            TelemetryError::Invalid(m) => Self::new(StatusCode::BAD_REQUEST, "bad_query", m),
            TelemetryError::Db(e) => Self::internal(e),
        }
    }
}

impl From<InventoryError> for ApiError {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::UnknownCluster(_) | InventoryError::UnknownHost(_) => {
                Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            InventoryError::Invalid(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            InventoryError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            InventoryError::Db(e) => Self::internal(e),
        }
    }
}
