//! shopguard's storage: one trait per aggregate, the embedded backend, the decision-log
//! writer, the audit log and the conformance suite's subject.
//!
//! # Aggregates
//! | trait | what |
//! |---|---|
//! | [`ApiKeyStore`] | API keys (hashes only) |
//! | [`PolicyStore`] | policy versions, approvals, the live version (compare and set) |
//! | [`ListStore`] | lists and their entries |
//! | [`DecisionStore`] | the decision log and alerts |
//! | [`AlertStore`] | alert triage: status, assignee, notes (the alert queue) |
//! | [`IncidentStore`] | incidents, their field-by-field history, linked alerts, observables |
//! | [`DirectoryStore`] | the security organisation's members and external contacts (contacts encrypted) |
//! | [`PlaybookStore`] | response playbook versions and the active one (compare and set) |
//! | [`OperatorStore`] | operators, sessions, grants |
//! | [`DataKeyStore`] | data keys for field encryption |
//! | [`AuditOutbox`] | audit entries written with their change, waiting for the log |
//! | [`AuditLogStore`] | the tamper-evident audit log |
//! | [`SnapshotStore`] | the engine's velocity snapshot |
//! | [`TaskStore`] | durable tasks (long work, polled) |
//! | [`ScheduleStore`] | the schedule of timed jobs |
//!
//! [`Store`] is every relational aggregate together, which a backend implements by
//! implementing each one; [`Backend`] bundles a store with its audit log and snapshots.
//! Every change method takes the audit entry that records it and stores it in the outbox in
//! the same transaction (see [`audit_outbox`]).
//!
//! # Errors
//! See [`error`]: [`StoreError`] names no driver type, and says whether a retry may help.
//!
//! # Backends
//! [`embedded::EmbeddedStore`] is the default: SQLite (one file, WAL journal, one writer
//! connection and a few readers) for small mutable state, and append-only segment files
//! ([`decision_segments`]) for the decision log. The traits are synchronous; async callers
//! run them on a blocking thread (see `docs/decisions/0003-storage.md` and
//! `docs/decisions/0007-decision-log-segments.md`).
//!
//! [`postgres::PostgresStore`] keeps every relational aggregate, the decision log included, in
//! one schema of a PostgreSQL database that several nodes may share (see
//! `docs/decisions/0019-postgresql-backend.md`).
//!
//! The decision log ([`decision_log::DecisionLog`]) is written off the request path by one
//! thread that groups records into batches.
#![warn(missing_docs)]

pub mod alerts;
pub mod api_keys;
pub mod audit_log;
pub mod audit_outbox;
pub mod audit_store;
pub mod backup;
pub mod data_keys;
pub mod decision_log;
pub mod decision_segments;
pub mod decisions;
pub mod directory;
pub mod embedded;
pub mod error;
mod files;
pub mod frames;
pub mod incidents;
pub mod keyring;
pub mod lists;
pub mod log_batch;
pub mod operators;
pub mod playbooks;
pub mod policies;
pub mod postgres;
pub mod postgres_audit;
pub mod postgres_backup;
pub mod record_format;
pub mod schedule;
pub mod situation;
pub mod snapshot;
pub mod tasks;

use std::sync::Arc;

pub use alerts::{
    AlertChange, AlertCount, AlertDetail, AlertFilter, AlertNote, AlertStore, AlertTriage,
    AssigneeFilter, TriagedAlert,
};
pub use api_keys::{ApiKeyRecord, ApiKeyStore, GeneratedKey, Scope};
pub use audit_log::NewAuditEntry;
pub use audit_outbox::AuditOutbox;
pub use audit_store::AuditLogStore;
pub use data_keys::DataKeyStore;
pub use decisions::{AlertRecord, DecisionQuery, DecisionRecord, DecisionStore, RecordRef};
pub use directory::{
    ChangeBy, DirectoryStore, ExternalContact, ExternalContactRecord, MemberRecord,
};
pub use error::{StoreError, StoreResult};
pub use incidents::{IncidentCount, IncidentFilter, IncidentStore, IncidentWrite};
pub use lists::{ListChange, ListEntryRecord, ListRecord, ListStore};
pub use log_batch::LogBatch;
pub use operators::OperatorStore;
pub use playbooks::{ActivePlaybook, NewPlaybookVersion, PlaybookStore, PlaybookVersion};
pub use policies::{NewPolicyVersion, PolicyStore, PolicyVersion};
pub use schedule::{ScheduleStore, ScheduledJob};
pub use situation::{SituationMinute, SituationRule, SituationStore};
pub use snapshot::SnapshotStore;
pub use tasks::{Lease, TaskRecord, TaskStore};

/// Every relational aggregate of a node's durable state. A backend implements each
/// aggregate's trait; this one follows.
pub trait Store:
    ApiKeyStore
    + PolicyStore
    + ListStore
    + DecisionStore
    + AlertStore
    + IncidentStore
    + OperatorStore
    + DataKeyStore
    + AuditOutbox
    + TaskStore
    + ScheduleStore
    + SituationStore
    + DirectoryStore
    + PlaybookStore
{
}

impl<T> Store for T where
    T: ApiKeyStore
        + PolicyStore
        + ListStore
        + DecisionStore
        + AlertStore
        + IncidentStore
        + OperatorStore
        + DataKeyStore
        + AuditOutbox
        + TaskStore
        + ScheduleStore
        + SituationStore
        + DirectoryStore
        + PlaybookStore
{
}

/// A backend opened for a node: its store, its audit log and where its snapshots go.
#[derive(Clone)]
pub struct Backend {
    /// Keys, policies, lists, decisions, operators, data keys, the audit outbox, tasks,
    /// the schedule.
    pub store: Arc<dyn Store>,
    /// The tamper-evident audit log.
    pub audit: Arc<dyn AuditLogStore>,
    /// The engine snapshot.
    pub snapshots: Arc<dyn snapshot::SnapshotStore>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").finish_non_exhaustive()
    }
}
