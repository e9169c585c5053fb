//! The one error type of the API: `{"error":{"code","message"}}` with the right status.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::inventory::InventoryError;
use crate::jobs::{JobError, PlanError};

/// An API error: an HTTP status, a stable code, and a message for people.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
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
        }
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
        (self.status, Json(body)).into_response()
    }
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::NotFound(m) => Self::not_found(m),
            JobError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            JobError::HashMismatch(m) => Self::new(StatusCode::CONFLICT, "plan_hash_mismatch", m),
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
