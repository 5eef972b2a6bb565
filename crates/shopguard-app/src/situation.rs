//! The situation's history: each node stores its minutes once they are over, and any node
//! reads everyone's, so the situation page's longer ranges hold across restarts and nodes
//! (decision 0047). Counters, not state people change: storing them records no audit entry.

use std::sync::Arc;

use shopguard_storage::situation::SITUATION_DAYS_KEPT;
use shopguard_storage::{Scope, SituationMinute, SituationRule, Store};

use crate::actor::Principal;
use crate::error::{ServiceError, ServiceResult};

/// Rules a history read returns.
pub const HISTORY_TOP_RULES: u32 = 10;

/// The situation's history over a range, summed over nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SituationHistory {
    /// The minutes, oldest first; minutes nobody recorded are absent.
    pub minutes: Vec<SituationMinute>,
    /// The rules that matched most.
    pub top_rules: Vec<SituationRule>,
}

/// The situation service.
pub struct SituationService {
    store: Arc<dyn Store>,
    node: String,
}

impl std::fmt::Debug for SituationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SituationService")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl SituationService {
    /// A service storing this node's minutes under `node`.
    pub fn new(store: Arc<dyn Store>, node: String) -> SituationService {
        SituationService { store, node }
    }

    /// Stores one of this node's minutes, once it is over (again: replaced).
    pub fn record_minute(&self, minute: &SituationMinute) -> ServiceResult<()> {
        Ok(self.store.record_situation_minute(&self.node, minute)?)
    }

    /// Every node's minutes from `from_minute` until `to_minute` (exclusive), summed, with the
    /// rules that matched most. Needs `decisions:read`.
    pub fn history(
        &self,
        from_minute: i64,
        to_minute: i64,
        caller: &Principal,
    ) -> ServiceResult<SituationHistory> {
        if !caller.grants(Scope::DecisionsRead) {
            return Err(ServiceError::forbidden(
                "the situation needs scope 'decisions:read'",
            ));
        }
        Ok(SituationHistory {
            minutes: self.store.situation_minutes(from_minute, to_minute)?,
            top_rules: self
                .store
                .situation_top_rules(from_minute, to_minute, HISTORY_TOP_RULES)?,
        })
    }

    /// Removes every node's history older than [`SITUATION_DAYS_KEPT`] days before `now_ms`.
    pub fn purge(&self, now_ms: i64) -> ServiceResult<usize> {
        let cutoff = now_ms.div_euclid(60_000) - SITUATION_DAYS_KEPT * 24 * 60;
        Ok(self.store.purge_situation_before(cutoff)?)
    }
}
