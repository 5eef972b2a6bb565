//! Data keys: the keys that encrypt personal fields at rest, wrapped by the master key.

use std::sync::Arc;

use crate::audit_log::NewAuditEntry;
use crate::keyring::Keyring;
use crate::StoreResult;

/// Data keys. The backend loads them at open (making the first on first start) and hands
/// out the keyring that seals and opens personal fields.
pub trait DataKeyStore: Send + Sync {
    /// The keyring: every data key, the newest active; `Unavailable` when the store was
    /// opened without field encryption.
    fn keyring(&self) -> StoreResult<Arc<Keyring>>;
    /// Makes a new data key the one that encrypts personal fields; returns its id. Values
    /// sealed under older keys stay readable.
    fn rotate_data_key(
        &self,
        now_ms: i64,
        audit: &dyn Fn(u32) -> NewAuditEntry,
    ) -> StoreResult<u32>;
    /// Adds to the keyring the data keys another node stored since it was loaded (the
    /// newest becomes active); returns the active key's id when it changed. A backend
    /// that only one node opens has none to add.
    fn sync_data_keys(&self) -> StoreResult<Option<u32>> {
        Ok(None)
    }
}
