//! The keys that encrypt personal data at rest: `POST /v1/data-keys/rotate` and
//! `POST /v1/data-keys/reencrypt`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/data-keys/rotate` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DataKeyRotation {
    /// The data key that now encrypts personal fields.
    pub active_key: u32,
}
