//! Data keys in SQLite, wrapped by the master key.

use std::sync::Arc;

use super::{add_data_key, EmbeddedStore};
use crate::data_keys::DataKeyStore;
use crate::keyring::Keyring;
use crate::{NewAuditEntry, StoreError, StoreResult};

impl DataKeyStore for EmbeddedStore {
    fn keyring(&self) -> StoreResult<Arc<Keyring>> {
        self.keys
            .as_ref()
            .map(|(keyring, _)| keyring.clone())
            .ok_or(StoreError::Unavailable("field encryption"))
    }

    fn rotate_data_key(
        &self,
        now_ms: i64,
        audit: &dyn Fn(u32) -> NewAuditEntry,
    ) -> StoreResult<u32> {
        let (keyring, master) = self.keys.as_ref().ok_or(StoreError::Unavailable(
            "field encryption (opened for administration only)",
        ))?;
        let next = keyring.active_id() + 1;
        self.audited("rotating the data key", |transaction| {
            add_data_key(transaction, keyring, master.as_ref(), next, now_ms)?;
            Ok((next, Some(audit(next))))
        })
    }
}
