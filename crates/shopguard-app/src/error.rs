//! Errors of the services.
//!
//! # Error policy
//! A service returns [`ServiceError`]: what went wrong in terms of the use case (not found,
//! conflict, forbidden, invalid input), or [`ServiceError::Store`] for a storage failure,
//! which callers show as an opaque internal error and log in full. The HTTP layer maps each
//! variant to one error code; the command line prints the message.

use shopguard_storage::StoreError;

/// Why a use case did not happen. Nothing was changed when an error is returned, unless
/// the variant says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The thing named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// It conflicts with the current state (already done, done meanwhile, not pending).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this (own approval, missing role); `field` names the input
    /// that asked for it, when one did.
    #[error("{message}")]
    Forbidden {
        /// The field that asked for what is refused.
        field: Option<&'static str>,
        /// Why.
        message: String,
    },
    /// Input refused; `field` names it when there is one.
    #[error("{message}")]
    Invalid {
        /// The field at fault.
        field: Option<&'static str>,
        /// Why.
        message: String,
    },
    /// A policy does not compile or its fixtures fail.
    #[error("{0}")]
    InvalidPolicy(String),
    /// A list value does not fit its list.
    #[error("{0}")]
    InvalidListValue(String),
    /// Refused credentials (login): always the same text, whatever was wrong.
    #[error("unknown operator, wrong password or wrong code")]
    Unauthenticated,
    /// A login limit refused the attempt before the credentials were checked.
    #[error("too many login attempts; retry in {} s", .0.retry_after_seconds)]
    LoginThrottled(crate::login_limits::Throttled),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
    /// Something inside shopguard failed (a broken invariant, a stopped writer).
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    /// The caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> ServiceError {
        ServiceError::Forbidden {
            field: None,
            message: message.into(),
        }
    }

    /// Input refused, naming its field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::Invalid {
            field: Some(field),
            message: message.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ServiceError::NotFound(format!("{what} not found")),
            StoreError::Conflict(what) => ServiceError::Conflict(what),
            other => ServiceError::Store(other),
        }
    }
}

impl From<shopguard_core::PolicyError> for ServiceError {
    fn from(error: shopguard_core::PolicyError) -> Self {
        ServiceError::InvalidPolicy(error.to_string())
    }
}

/// Result of service calls.
pub type ServiceResult<T> = Result<T, ServiceError>;
