//! The audit outbox: audit entries written in the same transaction as the change they
//! record, waiting to be moved into the audit log.
//!
//! This is how shopguard keeps its rule that no state change is visible without its audit
//! entry: a service hands each change its entry, the backend stores both atomically, and the
//! service moves the outbox into the audit log (synced to disk) before it acknowledges the
//! change or makes it visible in the engine. After a crash between the two steps, the next
//! drain (at start, or by any node) moves the entry in. Tools that run beside a node which
//! holds the audit log write only to the outbox; the node drains it within seconds.

use crate::audit_log::NewAuditEntry;
use crate::StoreResult;

/// Audit entries waiting to enter the audit log.
pub trait AuditOutbox: Send + Sync {
    /// Queues an entry on its own (no change attached: an access that is only recorded).
    fn queue_audit_entry(&self, entry: &NewAuditEntry) -> StoreResult<()>;
    /// The oldest queued entries, oldest first, with their queue ids.
    fn queued_audit_entries(&self, limit: u32) -> StoreResult<Vec<(i64, NewAuditEntry)>>;
    /// Removes queued entries once they are in the audit log.
    fn delete_queued_audit_entries(&self, ids: &[i64]) -> StoreResult<()>;
}
