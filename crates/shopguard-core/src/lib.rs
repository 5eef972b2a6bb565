//! shopguard's engine core: events, CEL rules compiled to closures, velocity features, lists,
//! profiles and decisions.
//!
//! This crate does no I/O: no files, sockets, clocks or threads. Time comes in with each event,
//! state goes out as bytes ([`engine::Engine::snapshot`]), so the engine can be benchmarked,
//! backtested, fuzzed and embedded. Storage, HTTP and the command line live in other crates.
//!
//! Start at [`engine::Engine`].
#![warn(missing_docs)]

pub mod alerts;
pub mod audit;
pub mod audit_purge;
pub mod cel;
pub mod codes;
pub mod credentials;
pub mod decision;
pub mod directory;
pub mod engine;
pub mod event;
pub mod features;
pub mod identifier;
pub mod incident;
pub mod json;
pub mod lists;
pub mod merkle;
pub mod playbook;
pub mod policy;
pub mod privacy;
pub mod probe_table;
pub mod profile;
pub mod rbac;
pub mod replay;
pub mod sharded;
pub mod snapshot;
pub mod top_entities;
pub mod whole_number;

pub use decision::{ActionTaken, ChallengeKind, Decision, MatchedRule, Outcome};
pub use engine::{check_policy, CheckedPolicy, Engine, FixtureReport};
pub use event::{Channel, Event, EventError, EventInput, EventKind};
pub use lists::{ListKind, ListRegistry};
pub use policy::{CompiledPolicy, ParsedPolicy, PolicyError};
