//! What shopguard knows about one entity now: a user's profile and any entity's velocity
//! values under the live policy. Read from the engine's memory, changing nothing.
//!
//! Reading needs `decisions:read`. Values are this node's: on several nodes each counts the
//! events it decided (decision 0019).

use std::sync::Arc;

use shopguard_core::engine::VelocityValue;
use shopguard_core::features::EntityKey;
use shopguard_core::profile::ProfileSummary;
use shopguard_core::Engine;
use shopguard_storage::Scope;

use crate::actor::Principal;
use crate::error::{ServiceError, ServiceResult};

/// The entity service.
pub struct EntityService {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for EntityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntityService").finish_non_exhaustive()
    }
}

/// Longest entity value looked up.
const MAX_VALUE_BYTES: usize = 256;

impl EntityService {
    /// A service over the node's engine.
    pub fn new(engine: Arc<Engine>) -> EntityService {
        EntityService { engine }
    }

    fn check(caller: &Principal, value: &str) -> ServiceResult<()> {
        if !caller.grants(Scope::DecisionsRead) {
            return Err(ServiceError::forbidden(
                "reading an entity needs scope 'decisions:read'",
            ));
        }
        if value.is_empty() || value.len() > MAX_VALUE_BYTES {
            return Err(ServiceError::invalid(
                "value",
                format!("value: give 1 to {MAX_VALUE_BYTES} bytes"),
            ));
        }
        Ok(())
    }

    /// The profile of a user, `None` for a user this node has not seen (or has forgotten).
    pub fn profile(
        &self,
        user_id: &str,
        caller: &Principal,
    ) -> ServiceResult<Option<ProfileSummary>> {
        EntityService::check(caller, user_id)?;
        Ok(self.engine.profile_of(user_id))
    }

    /// The live policy's features grouped by `key`, with their values for `value` now.
    pub fn velocity(
        &self,
        key: EntityKey,
        value: &str,
        now_ms: i64,
        caller: &Principal,
    ) -> ServiceResult<Vec<VelocityValue>> {
        EntityService::check(caller, value)?;
        Ok(self.engine.velocity_of(key, value, now_ms))
    }
}
