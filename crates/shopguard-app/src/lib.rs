//! shopguard's application layer: one service per aggregate, each owning its use cases.
//!
//! HTTP handlers and command-line commands translate requests into calls of these
//! services and their results into answers; they hold no rule of their own. A service
//! checks what the caller may do, decides through the core, persists through the storage
//! traits and records the audit entry, always in the order documented in [`audit`]: no
//! state change is visible or acknowledged without its audit entry.
//!
//! The services are synchronous (storage is); async callers run them on a blocking thread.
//!
//! | service | aggregate |
//! |---|---|
//! | [`DecisionService`] | decide, encode, log; read the log |
//! | [`EntityService`] | one entity now: a user's profile, velocity values |
//! | [`AlertService`] | the alert queue: acknowledge, assign, note, resolve, dismiss, reopen |
//! | [`IncidentService`] | incidents: report, promote, triage, grade, lifecycle, history |
//! | [`DirectoryService`] | the security organisation's members and external contacts, escalation |
//! | [`PlaybookService`] | response playbook versions, the active one, tasks by level |
//! | [`PolicyService`] | check, propose, approve, roll back (one serialiser, compare and set) |
//! | [`ListService`] | lists and entries, imports |
//! | [`KeyService`] | API keys, authentication |
//! | [`OperatorService`] | operators, logins and sessions, grants |
//! | [`DataKeyService`] | data keys, re-encryption |
//! | [`AuditService`] | the outbox, the audit log, unmasking |
//! | [`SituationService`] | the situation's history, per node and minute |
//! | [`TaskService`] | durable tasks: long work polled, cancelled, resumed |
//!
//! Timed work goes through one persistent [`Scheduler`].
#![warn(missing_docs)]

pub mod actor;
pub mod alerts;
pub mod audit;
pub mod clock;
pub mod config;
pub mod data_keys;
pub mod decisions;
pub mod directory;
pub mod entities;
pub mod error;
pub mod ids;
pub mod incidents;
pub mod keys;
pub mod lists;
pub mod login_limits;
pub mod node;
pub mod operators;
pub mod playbooks;
pub mod policies;
pub mod scheduler;
pub mod situation;
pub mod tasks;

pub use actor::{Actor, Principal};
pub use alerts::{AlertPage, AlertService};
pub use audit::AuditService;
pub use config::Config;
pub use data_keys::DataKeyService;
pub use decisions::{DecisionService, TopDenied, COUNT_CAP, TOP_DENIED_SAMPLE};
pub use directory::DirectoryService;
pub use entities::EntityService;
pub use error::{ServiceError, ServiceResult};
pub use incidents::{IncidentPage, IncidentService};
pub use keys::KeyService;
pub use lists::ListService;
pub use node::{App, OpenError, Opened};
pub use operators::OperatorService;
pub use playbooks::PlaybookService;
pub use policies::{PolicyService, ReplayReport, ReplayRequest};
pub use scheduler::{Scheduler, TimedJob};
pub use situation::{SituationHistory, SituationService};
pub use tasks::TaskService;
