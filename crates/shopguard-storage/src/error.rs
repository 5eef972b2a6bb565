//! Storage errors, the same for every backend.
//!
//! # Error policy
//! Every fallible storage call returns [`StoreError`]. No variant carries a driver's type:
//! a backend turns its driver's error into [`StoreError::Backend`] with the operation that
//! failed, the driver's text, and whether trying again may succeed (a busy database, a lost
//! connection, a serialisation conflict). Callers such as the decision-log writer retry
//! only what is retryable. The server shows none of this to API clients: storage failures
//! become an opaque `internal` error, and the detail goes to the log. Missing rows are
//! `Ok(None)`, not errors.

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed an operation.
    #[error("database error while {operation}: {message}")]
    Backend {
        /// What was being done.
        operation: &'static str,
        /// The backend's own description.
        message: String,
        /// Whether the same call may succeed if tried again.
        retryable: bool,
    },
    /// A file operation failed.
    #[error("i/o error while {operation}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A stored record could not be decoded.
    #[error("corrupt record while {operation}: {detail}")]
    Corrupt {
        /// What was being done.
        operation: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A referenced item does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The item exists already, or conflicts with one that does.
    #[error("conflict: {0}")]
    Conflict(String),
    /// This store was opened without the named part.
    #[error("not available: {0}")]
    Unavailable(&'static str),
    /// The decision log's writer has stopped.
    #[error("the decision log writer has stopped")]
    LogClosed,
    /// The audit log holds fewer entries than its own head or signed checkpoint covers:
    /// entries were removed, and appending would reuse their numbers.
    #[error("the audit log {log} holds {entries} entries, but its own signed checkpoint or head covers {covered}: entries {entries}..{covered} were removed, and a node started on it would reuse their numbers; {recovery}")]
    Truncated {
        /// Where the log is.
        log: String,
        /// Entries it holds.
        entries: u64,
        /// Entries its checkpoint (or head) covers.
        covered: u64,
        /// What the operator can do.
        recovery: String,
    },
    /// The decision log's writer gave up on a batch after repeated write failures: its
    /// decisions were made but are not in the log.
    #[error("the decision log could not write the batch")]
    NotLogged,
}

impl StoreError {
    /// Whether trying the same call again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Backend { retryable, .. } => *retryable,
            StoreError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
            ),
            StoreError::Corrupt { .. }
            | StoreError::NotFound(_)
            | StoreError::Conflict(_)
            | StoreError::Unavailable(_)
            | StoreError::LogClosed
            | StoreError::Truncated { .. }
            | StoreError::NotLogged => false,
        }
    }
}

/// Result of storage calls.
pub type StoreResult<T> = Result<T, StoreError>;
