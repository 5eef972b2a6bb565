//! The server's error type.
//!
//! # Error policy
//! Handlers return [`AppError`], which carries an [`ErrorCode`] from the API contract and a
//! message meant for the client. Failures inside shopguard (storage, a panicked task) become
//! `internal`: their detail goes to the log, never to the client. Every error response is the
//! JSON [`ApiError`] shape with the code's HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use shopguard_api_types::{ApiError, ErrorCode};
use shopguard_app::login_limits::LoginLimit;
use shopguard_app::ServiceError;
use shopguard_core::PolicyError;
use shopguard_storage::StoreError;

/// An error a handler returns, with the seconds to wait before retrying when it has them
/// (answered as `Retry-After`).
#[derive(Debug)]
pub struct AppError(pub ApiError, Option<u64>);

impl AppError {
    /// An error with a code and a client-facing message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError(ApiError::new(code, message), None)
    }

    /// An internal error: logged in full, shown to the client as `internal`.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        AppError(ApiError::from_code(ErrorCode::Internal), None)
    }

    /// Names the field at fault.
    pub fn with_field(self, field: impl Into<String>) -> Self {
        AppError(self.0.with_field(field), self.1)
    }

    /// Tells the client to wait `seconds` before retrying (`Retry-After`).
    pub fn with_retry_after(self, seconds: u64) -> Self {
        AppError(self.0, Some(seconds))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.0)).into_response();
        if let Some(seconds) = self.1 {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => {
                AppError::new(ErrorCode::NotFound, format!("{what} not found"))
            }
            StoreError::Conflict(what) => AppError::new(ErrorCode::Conflict, what),
            error @ (StoreError::NotLogged | StoreError::LogClosed) => {
                tracing::error!(error = %error, "a decision was answered without its log record");
                AppError::new(
                    ErrorCode::DecisionNotLogged,
                    "the decision was made but could not be written to the decision log; it is not recorded, and sending the event again decides it anew",
                )
            }
            other => AppError::internal(other),
        }
    }
}

impl From<ServiceError> for AppError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound(message) => AppError::new(ErrorCode::NotFound, message),
            ServiceError::Conflict(message) => AppError::new(ErrorCode::Conflict, message),
            ServiceError::Forbidden { field, message } => {
                let error = AppError::new(ErrorCode::InsufficientScope, message);
                match field {
                    Some(field) => error.with_field(field),
                    None => error,
                }
            }
            ServiceError::Invalid { field, message } => {
                let error = AppError::new(ErrorCode::InvalidParameter, message);
                match field {
                    Some(field) => error.with_field(field),
                    None => error,
                }
            }
            ServiceError::InvalidPolicy(message) => {
                AppError::new(ErrorCode::InvalidPolicy, message)
            }
            ServiceError::InvalidListValue(message) => {
                AppError::new(ErrorCode::InvalidListValue, message)
            }
            ServiceError::Unauthenticated => AppError::new(
                ErrorCode::LoginFailed,
                ServiceError::Unauthenticated.to_string(),
            ),
            ServiceError::LoginThrottled(throttled) => {
                let code = match throttled.limit {
                    LoginLimit::Username => ErrorCode::RateLimited,
                    LoginLimit::Address | LoginLimit::Node => ErrorCode::LoginThrottled,
                };
                let message = match throttled.limit {
                    LoginLimit::Username => "too many login attempts for this operator",
                    LoginLimit::Address => "too many failed logins from this address",
                    LoginLimit::Node => "too many failed logins on this node",
                };
                AppError::new(
                    code,
                    format!("{message}; retry in {} s", throttled.retry_after_seconds),
                )
                .with_retry_after(throttled.retry_after_seconds)
            }
            // Storage failures are internal, except a decision the log could not take.
            ServiceError::Store(error) => AppError::from(error),
            ServiceError::Internal(detail) => AppError::internal(detail),
        }
    }
}

impl From<PolicyError> for AppError {
    fn from(error: PolicyError) -> Self {
        AppError::new(ErrorCode::InvalidPolicy, error.to_string())
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(error: tokio::task::JoinError) -> Self {
        AppError::internal(error)
    }
}

/// Result of handlers.
pub type AppResult<T> = Result<T, AppError>;
