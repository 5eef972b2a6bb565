//! The audit service: makes audit entries, moves the outbox into the audit log, answers
//! the auditor's questions.
//!
//! # The ordering rule
//! No state change is visible, or acknowledged, without its audit entry:
//! 1. the service builds the change's entry ([`AuditService::entry`]);
//! 2. storage writes the change and the entry (into the outbox) in one transaction;
//! 3. [`AuditService::settle`] moves the outbox into the audit log and waits until it is on
//!    disk;
//! 4. only then does the service make the change visible in memory (engine, lists) and
//!    return.
//!
//! A crash after 2 leaves the entry in the outbox; the next drain (at start, or each
//! maintenance tick) moves it in. A failure in 3 fails the call, though the change is
//! stored: its entry is safe in the outbox and reaches the log with the next drain.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use shopguard_core::audit::{AuditContent, AuditEntry, Checkpoint, RecordClass};
use shopguard_core::audit_purge::PurgeRequest;
use shopguard_storage::audit_log::{AuditQuery, VerifyReport};
use shopguard_storage::{AuditLogStore, AuditOutbox, NewAuditEntry, StoreResult};

use crate::actor::Actor;
use crate::clock::now_ms;
use crate::error::{ServiceError, ServiceResult};

/// Retention of audit content by record class.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRetention {
    /// Days for every class without its own setting.
    pub default_days: u32,
    /// Days for particular classes.
    pub by_class: std::collections::BTreeMap<RecordClass, u32>,
}

impl AuditRetention {
    /// How long content of `class` is kept, in days; `None` for long-term.
    pub fn days(&self, class: RecordClass) -> Option<u32> {
        if class.kept_long_term() {
            return None;
        }
        Some(
            self.by_class
                .get(&class)
                .copied()
                .unwrap_or(self.default_days),
        )
    }
}

/// The audit service.
pub struct AuditService {
    /// The audit log; `None` for tools that run beside a node holding it (their entries stay
    /// in the outbox for the node to move).
    log: Option<Arc<dyn AuditLogStore>>,
    outbox: Arc<dyn AuditOutbox>,
    retention: AuditRetention,
    /// One drain at a time, so entries enter the log in the order they were queued.
    drain_lock: Mutex<()>,
    /// A checkpoint is signed once this many entries follow the last one.
    checkpoint_every_entries: u64,
    /// The size of the last checkpoint this node signed or found.
    signed_size: AtomicU64,
}

impl std::fmt::Debug for AuditService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditService")
            .field("has_log", &self.log.is_some())
            .finish_non_exhaustive()
    }
}

impl AuditService {
    /// A service over `log` (when this process holds it) and the store's outbox.
    pub fn new(
        log: Option<Arc<dyn AuditLogStore>>,
        outbox: Arc<dyn AuditOutbox>,
        retention: AuditRetention,
    ) -> AuditService {
        let signed = log
            .as_ref()
            .and_then(|log| log.checkpoints().ok())
            .and_then(|checkpoints| checkpoints.iter().map(|checkpoint| checkpoint.size).max())
            .unwrap_or(0);
        AuditService {
            log,
            outbox,
            retention,
            drain_lock: Mutex::new(()),
            checkpoint_every_entries: u64::MAX,
            signed_size: AtomicU64::new(signed),
        }
    }

    /// Signs a checkpoint as soon as `entries` entries follow the last one (by default only
    /// on the timer and at the stop).
    pub fn with_checkpoint_every(mut self, entries: u64) -> AuditService {
        self.checkpoint_every_entries = entries.max(1);
        self
    }

    /// An entry for a change made now.
    pub fn entry(
        &self,
        class: RecordClass,
        actor: &Actor,
        action: &str,
        object: String,
        detail: serde_json::Value,
    ) -> NewAuditEntry {
        AuditService::entry_at(now_ms(), class, actor, action, object, detail)
    }

    /// An entry for a change made at `at_ms`.
    pub fn entry_at(
        at_ms: i64,
        class: RecordClass,
        actor: &Actor,
        action: &str,
        object: String,
        detail: serde_json::Value,
    ) -> NewAuditEntry {
        NewAuditEntry {
            at_ms,
            class,
            content: AuditContent {
                actor: actor.to_string(),
                action: action.to_owned(),
                object,
                detail,
            },
        }
    }

    fn log(&self) -> ServiceResult<&Arc<dyn AuditLogStore>> {
        self.log.as_ref().ok_or_else(|| {
            ServiceError::Internal("the audit log is held by the running node".into())
        })
    }

    /// Moves every queued entry into the audit log, in order; returns how many. Does nothing
    /// for a process that does not hold the log. On PostgreSQL the log's own transaction
    /// takes, appends and deletes the rows; elsewhere they are read, appended, then deleted
    /// (a crash between the last two moves them again at the next drain).
    pub fn drain(&self) -> StoreResult<usize> {
        let Some(log) = &self.log else {
            return Ok(0);
        };
        let _one_at_a_time = self.drain_lock.lock();
        let mut moved = 0;
        // When the outbox lives beside the log, one transaction of the log's takes the rows
        // and appends them (one commit instead of three).
        while let Some(moved_now) = log.drain_outbox(1_000)? {
            if moved_now == 0 {
                return Ok(moved);
            }
            moved += moved_now;
        }
        loop {
            let queued = self.outbox.queued_audit_entries(1_000)?;
            if queued.is_empty() {
                return Ok(moved);
            }
            let (ids, entries): (Vec<i64>, Vec<NewAuditEntry>) = queued.into_iter().unzip();
            log.append(&entries)?;
            self.outbox.delete_queued_audit_entries(&ids)?;
            moved += ids.len();
            let unsigned = log
                .size()
                .saturating_sub(self.signed_size.load(Ordering::Acquire));
            if unsigned >= self.checkpoint_every_entries {
                self.sign(log.as_ref(), now_ms())?;
            }
        }
    }

    fn sign(&self, log: &dyn AuditLogStore, now_ms: i64) -> StoreResult<Checkpoint> {
        let checkpoint = log.checkpoint(now_ms)?;
        self.signed_size
            .fetch_max(checkpoint.size, Ordering::AcqRel);
        Ok(checkpoint)
    }

    /// Step 3 of the ordering rule: the entries of changes just stored are in the audit
    /// log, on disk, when this returns.
    pub fn settle(&self) -> ServiceResult<()> {
        self.drain()?;
        Ok(())
    }

    /// Records an event that changes no stored state (an unmask, a login attempt) and waits
    /// until it is durable.
    pub fn record(&self, entry: NewAuditEntry) -> ServiceResult<()> {
        self.outbox.queue_audit_entry(&entry)?;
        self.settle()
    }

    /// How long content of `class` is kept, in days; `None` for long-term.
    pub fn retention_days(&self, class: RecordClass) -> Option<u32> {
        self.retention.days(class)
    }

    /// Entries matching `query`, newest first.
    pub fn query(&self, query: &AuditQuery) -> ServiceResult<Vec<AuditEntry>> {
        Ok(self.log()?.query(query)?)
    }

    /// One entry with its inclusion proof in the tree of `tree_size` entries (default: the
    /// whole log).
    pub fn entry_with_proof(
        &self,
        seq: u64,
        tree_size: Option<u64>,
    ) -> ServiceResult<(AuditEntry, u64, Vec<shopguard_core::merkle::Hash>)> {
        let log = self.log()?;
        let size = tree_size.unwrap_or_else(|| log.size());
        let (entry, proof) = log.inclusion_proof(seq, size)?;
        Ok((entry, size, proof))
    }

    /// The proof that the tree of `from` entries is a prefix of the one of `to`.
    pub fn consistency(
        &self,
        from: u64,
        to: u64,
    ) -> ServiceResult<Vec<shopguard_core::merkle::Hash>> {
        Ok(self.log()?.consistency_proof(from, to)?)
    }

    /// Every signed checkpoint.
    pub fn checkpoints(&self) -> ServiceResult<Vec<Checkpoint>> {
        Ok(self.log()?.checkpoints()?)
    }

    /// Signs a checkpoint now (after moving in what is queued); that it was asked for, and
    /// by whom, is recorded after it.
    pub fn checkpoint(&self, actor: &Actor) -> ServiceResult<Checkpoint> {
        self.settle()?;
        let checkpoint = self.sign(self.log()?.as_ref(), now_ms())?;
        self.record(self.entry(
            RecordClass::Configuration,
            actor,
            "audit.checkpoint",
            format!("audit:{}", checkpoint.size),
            serde_json::json!({ "root": checkpoint.root }),
        ))?;
        Ok(checkpoint)
    }

    /// The root of the tree of the first `size` entries.
    pub fn root(&self, size: u64) -> ServiceResult<shopguard_core::merkle::Hash> {
        Ok(self.log()?.root(size)?)
    }

    /// Entries in the log.
    pub fn size(&self) -> u64 {
        self.log.as_ref().map_or(0, |log| log.size())
    }

    /// The key that verifies checkpoints.
    pub fn public_key(&self) -> ServiceResult<ed25519_dalek::VerifyingKey> {
        Ok(self.log()?.public_key())
    }

    /// Verifies the whole log.
    pub fn verify(&self, extra: &[Checkpoint]) -> ServiceResult<VerifyReport> {
        let log = self.log()?;
        Ok(log.verify(&log.public_key(), extra)?)
    }

    /// Removes content past retention, after the log has recorded the purge (by `actor`,
    /// with each class's retention); returns how many entries.
    pub fn purge_expired(&self, now_ms: i64, actor: &Actor) -> ServiceResult<u64> {
        self.settle()?;
        let request = PurgeRequest {
            at_ms: now_ms,
            actor: actor.to_string(),
            retention: RecordClass::ALL
                .into_iter()
                .filter_map(|class| Some((class, self.retention.days(class)?)))
                .collect(),
        };
        Ok(self.log()?.purge_expired(&request)?)
    }

    /// Signs a checkpoint when the log grew past the last one signed or found; returns its
    /// size then. The node calls it on its timer and when it stops.
    pub fn sign_tail(&self, now_ms: i64) -> ServiceResult<Option<u64>> {
        let log = self.log()?;
        if log.size() <= self.signed_size.load(Ordering::Acquire) {
            return Ok(None);
        }
        Ok(Some(self.sign(log.as_ref(), now_ms)?.size))
    }
}

impl Drop for AuditService {
    /// The last holder of the service (a stopping node, a finished command) signs the entries
    /// after the last checkpoint, so that none is left covered only by the tree files.
    fn drop(&mut self) {
        if self.log.is_none() {
            return;
        }
        if let Err(error) = self.sign_tail(now_ms()) {
            tracing::error!(error = %error, "cannot sign the audit log's last entries at the stop");
        }
    }
}

impl AuditService {
    /// Whether to show personal data unmasked: only when asked for, and only to a caller
    /// with the `pii:unmask` scope; each time is recorded before anything is shown.
    pub fn unmask_allowed(
        &self,
        requested: Option<bool>,
        caller: &crate::actor::Principal,
        object: String,
    ) -> ServiceResult<bool> {
        if requested != Some(true) {
            return Ok(false);
        }
        if !caller.grants(shopguard_storage::Scope::PiiUnmask) {
            return Err(ServiceError::Forbidden {
                field: Some("unmask"),
                message: "unmask=true needs an API key with scope 'pii:unmask'".into(),
            });
        }
        self.record(self.entry(
            RecordClass::DataAccess,
            &caller.actor,
            "pii.unmask",
            object,
            serde_json::Value::Null,
        ))?;
        Ok(true)
    }
}
