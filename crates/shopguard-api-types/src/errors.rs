//! The error contract: the shape of every error answer and the table of error codes.
//!
//! Every error answer is an [`ApiError`]: a lowercase `message` for people, a stable `code`
//! for programs, its `type` (the class of error, for clients that only branch on that), a
//! `link` to the code's section of the error reference, and the `field` at fault when there
//! is one.
//!
//! # The table
//! Each [`ErrorCode`] is one row of the `error_codes!` macro in this module: its wire code,
//! its [`ErrorType`], its HTTP status and a short default text. The macro writes the enum,
//! its serde names and the lookup from the same rows, so a code cannot exist without its
//! row, and no `match` on a code needs a wildcard arm. The rows are pinned by a snapshot test in the server's API
//! tests; changing or removing one is a breaking change for clients.
//!
//! # Links
//! `link` is a path on the server that answered (`/docs/errors#rate_limited`): the server
//! serves the reference, `docs/errors.md` in the repository, at [`ERRORS_DOC_PATH`], with one
//! section per code whose anchor is the code itself.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where the server serves the error reference; an error's `link` is this path followed by
/// `#` and the code.
pub const ERRORS_DOC_PATH: &str = "/docs/errors";

/// Class of an error, for clients that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// The request is wrong; fix it before retrying.
    InvalidRequest,
    /// Missing, unknown or insufficient credentials.
    Auth,
    /// Too many requests; retry later.
    RateLimited,
    /// shopguard failed; retry later, and tell its operators.
    Internal,
}

impl ErrorType {
    /// The snake_case name, as serialised.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request",
            ErrorType::Auth => "auth",
            ErrorType::RateLimited => "rate_limited",
            ErrorType::Internal => "internal",
        }
    }
}

/// One row of the error table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorRow {
    /// The stable snake_case code, as serialised.
    pub code: &'static str,
    /// The class of error.
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    /// The HTTP status of answers with this code.
    pub status: u16,
    /// A short default text, lowercase without a trailing period; answers usually say more.
    pub text: &'static str,
}

/// Writes [`ErrorCode`] and its table from one list of rows:
/// `Variant = "code", ErrorType, status, "default text";`, each with its doc comment.
macro_rules! error_codes {
    ($(
        $(#[doc = $doc:literal])+
        $variant:ident = $code:tt, $error_type:ident, $status:literal, $text:literal;
    )+) => {
        /// Every error code, with its HTTP status and type.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum ErrorCode {
            $(
                $(#[doc = $doc])+
                #[serde(rename = $code)]
                $variant,
            )+
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// This code's row of the table.
            pub const fn row(self) -> ErrorRow {
                match self {
                    $(
                        ErrorCode::$variant => ErrorRow {
                            code: $code,
                            error_type: ErrorType::$error_type,
                            status: $status,
                            text: $text,
                        },
                    )+
                }
            }
        }
    };
}

error_codes! {
    /// The body is not valid JSON, or a field has the wrong type or is unknown.
    MalformedBody = "malformed_body", InvalidRequest, 400,
        "the body is not valid json, or a field has the wrong type or is unknown";
    /// An event failed validation (required field missing, bad value).
    InvalidEvent = "invalid_event", InvalidRequest, 400,
        "the event failed validation";
    /// A query parameter or other input is invalid.
    InvalidParameter = "invalid_parameter", InvalidRequest, 400,
        "a parameter is invalid";
    /// The body is larger than allowed.
    PayloadTooLarge = "payload_too_large", InvalidRequest, 413,
        "the body is larger than allowed";
    /// A batch has more events than allowed.
    BatchTooLarge = "batch_too_large", InvalidRequest, 400,
        "the batch has more events than allowed";
    /// The policy does not compile, or its fixture tests fail.
    InvalidPolicy = "invalid_policy", InvalidRequest, 422,
        "the policy does not compile, or its fixture tests fail";
    /// A list value does not fit the list's kind.
    InvalidListValue = "invalid_list_value", InvalidRequest, 400,
        "the value does not fit the list's kind";
    /// No API key was given, or it is malformed, unknown or revoked.
    MissingOrInvalidApiKey = "missing_or_invalid_api_key", Auth, 401,
        "no valid api key or session token was given";
    /// An operator login was refused (unknown name, wrong password or code, disabled).
    LoginFailed = "login_failed", Auth, 401,
        "unknown operator, wrong password or wrong code";
    /// The API key lacks the scope this route needs.
    InsufficientScope = "insufficient_scope", Auth, 403,
        "the credentials lack the scope this route needs";
    /// Rate limit exceeded for this API key.
    RateLimited = "rate_limited", RateLimited, 429,
        "too many requests; retry later";
    /// Too many failed logins from this client address, or across the node; see
    /// `Retry-After`.
    LoginThrottled = "login_throttled", RateLimited, 429,
        "too many failed logins; retry after the time in retry-after";
    /// The thing named does not exist.
    NotFound = "not_found", InvalidRequest, 404,
        "not found";
    /// The route exists but not with this method.
    MethodNotAllowed = "method_not_allowed", InvalidRequest, 405,
        "the route does not take this method";
    /// It conflicts with what exists.
    Conflict = "conflict", InvalidRequest, 409,
        "the request conflicts with what exists";
    /// No challenge is waiting under that decision id.
    ChallengeNotPending = "challenge_not_pending", InvalidRequest, 404,
        "no challenge is waiting under that decision id";
    /// Something failed inside shopguard.
    Internal = "internal", Internal, 500,
        "internal error; the detail is in shopguard's log";
    /// The decision was made, but the decision log could not write it: it is not recorded.
    DecisionNotLogged = "decision_not_logged", Internal, 503,
        "the decision could not be written to the decision log";
}

impl ErrorCode {
    /// The HTTP status for this code.
    pub const fn status(self) -> u16 {
        self.row().status
    }

    /// The class of the error.
    pub const fn error_type(self) -> ErrorType {
        self.row().error_type
    }

    /// The snake_case code.
    pub const fn as_str(self) -> &'static str {
        self.row().code
    }

    /// A short default message, for answers that have nothing more precise to say.
    pub const fn default_text(self) -> &'static str {
        self.row().text
    }

    /// Where the code is documented: [`ERRORS_DOC_PATH`], `#`, the code. The path is relative
    /// to the server that answered.
    pub fn link(self) -> String {
        format!("{ERRORS_DOC_PATH}#{}", self.as_str())
    }

    /// The code with this snake_case name.
    pub fn from_code(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|candidate| candidate.as_str() == code)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// What went wrong, for people; names the field at fault where there is one.
    pub message: String,
    /// Stable code, for programs.
    pub code: ErrorCode,
    /// Class of error.
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    /// Where the code is documented: a path on the server that answered
    /// (`/docs/errors#<code>`).
    pub link: String,
    /// The field at fault, as a path (`events[3].amount`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            message: message.into(),
            code,
            error_type: code.error_type(),
            link: code.link(),
            field: None,
        }
    }

    /// An error with this code and the code's default text as its message.
    pub fn from_code(code: ErrorCode) -> Self {
        ApiError::new(code, code.default_text())
    }

    /// The same error, naming a field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The serde name of every code is its row's code, both ways.
    #[test]
    fn serde_names_are_the_table_codes() {
        for &code in ErrorCode::ALL {
            let written = serde_json::to_value(code).unwrap();
            assert_eq!(written, serde_json::Value::from(code.as_str()));
            let read: ErrorCode = serde_json::from_value(written).unwrap();
            assert_eq!(read, code);
            assert_eq!(ErrorCode::from_code(code.as_str()), Some(code));
            let error_type = serde_json::to_value(code.error_type()).unwrap();
            assert_eq!(
                error_type,
                serde_json::Value::from(code.error_type().as_str())
            );
        }
        assert_eq!(ErrorCode::from_code("no_such_code"), None);
    }

    /// Codes are unique, snake_case, and their statuses are HTTP error statuses; default
    /// texts are lowercase without a trailing period.
    #[test]
    fn rows_are_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            let row = code.row();
            assert!(seen.insert(row.code), "{} twice", row.code);
            assert!(
                row.code
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte == b'_'),
                "{} is not snake_case",
                row.code
            );
            assert!(
                (400..600).contains(&row.status),
                "{}: {}",
                row.code,
                row.status
            );
            assert_eq!(
                row.status >= 500,
                row.error_type == ErrorType::Internal,
                "{}: only internal errors are 5xx",
                row.code
            );
            assert!(
                !row.text.is_empty() && !row.text.ends_with('.'),
                "{}",
                row.code
            );
            assert!(
                !row.text.starts_with(|c: char| c.is_uppercase()),
                "{}",
                row.code
            );
        }
    }

    #[test]
    fn errors_link_to_their_section_on_the_answering_server() {
        let error = ApiError::new(ErrorCode::RateLimited, "slow down").with_field("key");
        assert_eq!(error.link, "/docs/errors#rate_limited");
        let written = serde_json::to_value(&error).unwrap();
        assert_eq!(
            written,
            serde_json::json!({
                "message": "slow down",
                "code": "rate_limited",
                "type": "rate_limited",
                "link": "/docs/errors#rate_limited",
                "field": "key",
            })
        );
        assert_eq!(
            ApiError::from_code(ErrorCode::NotFound).message,
            ErrorCode::NotFound.default_text()
        );
    }
}
