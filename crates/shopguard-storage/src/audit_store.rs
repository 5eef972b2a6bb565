//! The tamper-evident audit log as a trait, so that each backend keeps it in its own way
//! (files in the embedded backend, rows in PostgreSQL) under the same Merkle tree and
//! signed checkpoints.

use ed25519_dalek::VerifyingKey;
use shopguard_core::audit::{AuditEntry, Checkpoint};
use shopguard_core::audit_purge::PurgeRequest;
use shopguard_core::merkle::Hash;

use crate::audit_log::{AuditLog, AuditQuery, NewAuditEntry, VerifyReport};
use crate::StoreResult;

/// An append-only audit log with a Merkle tree over its entries and signed checkpoints.
pub trait AuditLogStore: Send + Sync {
    /// The public key that verifies this log's checkpoints.
    fn public_key(&self) -> VerifyingKey;
    /// Entries appended so far.
    fn size(&self) -> u64;
    /// Appends entries; returns their sequence numbers once they are durable.
    fn append(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<u64>>;
    /// Moves up to `limit` entries of the store's audit outbox into the log in one
    /// transaction of the log's own, when the outbox lives beside the log (PostgreSQL, one
    /// schema); returns how many, once durable. `None` when it does not: the caller then
    /// reads the outbox, appends and deletes ([`AuditOutbox`](crate::AuditOutbox)).
    fn drain_outbox(&self, limit: u32) -> StoreResult<Option<usize>> {
        let _ = limit;
        Ok(None)
    }
    /// Signs a checkpoint of the log as it is now.
    fn checkpoint(&self, now_ms: i64) -> StoreResult<Checkpoint>;
    /// Every signed checkpoint, oldest first.
    fn checkpoints(&self) -> StoreResult<Vec<Checkpoint>>;
    /// One entry.
    fn entry(&self, seq: u64) -> StoreResult<Option<AuditEntry>>;
    /// Entries matching `query`, newest first.
    fn query(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;
    /// An entry with the proof that it is in the tree of `tree_size` entries.
    fn inclusion_proof(&self, seq: u64, tree_size: u64) -> StoreResult<(AuditEntry, Vec<Hash>)>;
    /// The proof that the tree of `old_size` entries is a prefix of the one of `new_size`.
    fn consistency_proof(&self, old_size: u64, new_size: u64) -> StoreResult<Vec<Hash>>;
    /// The root of the tree of the first `size` entries.
    fn root(&self, size: u64) -> StoreResult<Hash>;
    /// Removes the content (keeping the leaf) of entries past their class's retention, after
    /// appending the purge record that names the rules, who purged and when; returns how
    /// many.
    fn purge_expired(&self, request: &PurgeRequest) -> StoreResult<u64>;
    /// Checks every entry against the tree and every checkpoint (and `extra` ones an
    /// auditor kept) against `key`.
    fn verify(&self, key: &VerifyingKey, extra: &[Checkpoint]) -> StoreResult<VerifyReport>;
}

impl AuditLogStore for AuditLog {
    fn public_key(&self) -> VerifyingKey {
        AuditLog::public_key(self)
    }
    fn size(&self) -> u64 {
        AuditLog::size(self)
    }
    fn append(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<u64>> {
        AuditLog::append(self, entries)
    }
    fn checkpoint(&self, now_ms: i64) -> StoreResult<Checkpoint> {
        AuditLog::checkpoint(self, now_ms)
    }
    fn checkpoints(&self) -> StoreResult<Vec<Checkpoint>> {
        AuditLog::checkpoints(self)
    }
    fn entry(&self, seq: u64) -> StoreResult<Option<AuditEntry>> {
        AuditLog::entry(self, seq)
    }
    fn query(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        AuditLog::query(self, query)
    }
    fn inclusion_proof(&self, seq: u64, tree_size: u64) -> StoreResult<(AuditEntry, Vec<Hash>)> {
        AuditLog::inclusion_proof(self, seq, tree_size)
    }
    fn consistency_proof(&self, old_size: u64, new_size: u64) -> StoreResult<Vec<Hash>> {
        AuditLog::consistency_proof(self, old_size, new_size)
    }
    fn root(&self, size: u64) -> StoreResult<Hash> {
        AuditLog::root(self, size)
    }
    fn purge_expired(&self, request: &PurgeRequest) -> StoreResult<u64> {
        AuditLog::purge_expired(self, request)
    }
    fn verify(&self, key: &VerifyingKey, extra: &[Checkpoint]) -> StoreResult<VerifyReport> {
        AuditLog::verify(self, key, extra)
    }
}
