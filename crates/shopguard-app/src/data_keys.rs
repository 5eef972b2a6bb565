//! Data keys: rotation, and re-encryption of logged personal data.

use std::sync::Arc;

use shopguard_core::audit::RecordClass;
use shopguard_storage::Store;

use crate::actor::Actor;
use crate::audit::AuditService;
use crate::clock::now_ms;
use crate::error::ServiceResult;

/// The data-key service.
pub struct DataKeyService {
    store: Arc<dyn Store>,
    audit: Arc<AuditService>,
}

impl std::fmt::Debug for DataKeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKeyService").finish_non_exhaustive()
    }
}

impl DataKeyService {
    /// A service over the store and the audit service.
    pub fn new(store: Arc<dyn Store>, audit: Arc<AuditService>) -> DataKeyService {
        DataKeyService { store, audit }
    }

    /// Makes a new data key the one that encrypts personal fields; returns its id.
    pub fn rotate(&self, actor: &Actor) -> ServiceResult<u32> {
        let active = self.store.rotate_data_key(now_ms(), &|id| {
            self.audit.entry(
                RecordClass::AccessControl,
                actor,
                "data_key.rotate",
                format!("data_key:{id}"),
                serde_json::Value::Null,
            )
        })?;
        self.audit.settle()?;
        Ok(active)
    }

    /// Picks up data keys that other nodes on the same database rotated in; returns the
    /// active key's id when it changed. Called every second by the maintenance tick, so a
    /// rotation anywhere seals new values everywhere within about a second.
    pub fn sync(&self) -> ServiceResult<Option<u32>> {
        let changed = self.store.sync_data_keys()?;
        if let Some(active) = changed {
            tracing::info!(active, "data key rotated by another node is active here");
        }
        Ok(changed)
    }

    /// Re-encrypts the personal fields of every logged decision with the active data key;
    /// returns how many records changed. `progress` hears (done, total).
    pub fn reencrypt(
        &self,
        actor: &Actor,
        progress: &mut dyn FnMut(usize, usize),
    ) -> ServiceResult<u64> {
        let (changed, _) = self.reencrypt_until(actor, &mut |done, total| {
            progress(done, total);
            true
        })?;
        Ok(changed)
    }

    /// [`DataKeyService::reencrypt`] that stops at the first point where `progress(done,
    /// total)` answers `false` (between segments for the embedded backend); returns how
    /// many records changed and whether it stopped early. Running it again changes only
    /// what is left.
    pub fn reencrypt_until(
        &self,
        actor: &Actor,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> ServiceResult<(u64, bool)> {
        let mut stopped = false;
        let changed = self.store.reencrypt_decisions_until(&mut |done, total| {
            let go_on = progress(done, total);
            stopped |= !go_on && done < total;
            go_on
        })?;
        let mut detail = serde_json::json!({ "records_changed": changed });
        if stopped {
            detail["stopped_early"] = serde_json::Value::Bool(true);
        }
        // The records are re-sealed in place, each readable before and after; what is
        // recorded is that it was done, and by whom.
        self.audit.record(self.audit.entry(
            RecordClass::AccessControl,
            actor,
            "data_key.reencrypt",
            "decisions".to_owned(),
            detail,
        ))?;
        Ok((changed, stopped))
    }
}
