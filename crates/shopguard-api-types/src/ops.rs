//! Operations: `GET /healthz`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /healthz` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Live policy version.
    pub policy_version: u64,
    /// Decisions waiting to be written.
    pub decisions_queued: u64,
}
