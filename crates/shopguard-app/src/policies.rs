//! Policies: check, propose, approve, roll back, and keep the engine on the stored live
//! version.
//!
//! Every change runs under one lock (the serialiser): the live version is read, the new one
//! compiled, recorded live in storage by compare and set on the version read, its audit
//! entries settled, and only then swapped into the engine. Two changes in one node cannot
//! interleave; a change made meanwhile by another node makes the compare and set fail
//! (`Conflict`) instead of being overwritten; and a node whose engine runs another version
//! than the stored live one catches up in [`PolicyService::sync`].

mod replay;

pub use replay::{
    ReplayReport, ReplayRequest, REPLAY_DEFAULT_EVENTS, REPLAY_DEFAULT_HOURS, REPLAY_MAX_EVENTS,
    REPLAY_MAX_HOURS, REPLAY_MAX_SPAN_MS,
};

use std::sync::Arc;

use parking_lot::Mutex;
use shopguard_core::audit::RecordClass;
use shopguard_core::{CheckedPolicy, Engine, FixtureReport};
use shopguard_storage::{NewPolicyVersion, PolicyVersion, Store};

use crate::actor::Actor;
use crate::audit::AuditService;
use crate::clock::now_ms;
use crate::error::{ServiceError, ServiceResult};

/// What a policy check found.
#[derive(Debug)]
pub struct PolicyCheck {
    /// Rules compiled.
    pub rules: usize,
    /// Features compiled.
    pub features: usize,
    /// Fixture results.
    pub fixtures: Vec<FixtureReport>,
}

/// What became of a proposed version.
#[derive(Debug)]
pub struct Proposal {
    /// Its number.
    pub version: u64,
    /// Whether it waits for someone else's approval (it is stored, not live).
    pub pending_approval: bool,
    /// The punitive rules it adds or changes.
    pub punitive_rules: Vec<String>,
    /// What the check found.
    pub check: PolicyCheck,
}

/// The policy service.
pub struct PolicyService {
    engine: Arc<Engine>,
    store: Arc<dyn Store>,
    audit: Arc<AuditService>,
    require_approval: bool,
    serialiser: Mutex<()>,
}

impl std::fmt::Debug for PolicyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyService")
            .field("require_approval", &self.require_approval)
            .finish_non_exhaustive()
    }
}

fn check_of(checked: &CheckedPolicy) -> PolicyCheck {
    PolicyCheck {
        rules: checked.rules,
        features: checked.features,
        fixtures: checked.fixtures.clone(),
    }
}

impl PolicyService {
    /// A service over the engine, the store and the audit service. With
    /// `require_approval`, versions that add or change punitive rules wait for a second
    /// person.
    pub fn new(
        engine: Arc<Engine>,
        store: Arc<dyn Store>,
        audit: Arc<AuditService>,
        require_approval: bool,
    ) -> PolicyService {
        PolicyService {
            engine,
            store,
            audit,
            require_approval,
            serialiser: Mutex::new(()),
        }
    }

    /// The version the engine runs.
    pub fn live_version(&self) -> u64 {
        self.engine.policy().version
    }

    /// The live version with its source.
    pub fn live(&self) -> ServiceResult<PolicyVersion> {
        let live = self.live_version();
        self.store.policy_version(live)?.ok_or_else(|| {
            ServiceError::Internal(format!("live policy version {live} is not stored"))
        })
    }

    /// Every version, newest first, without sources.
    pub fn versions(&self) -> ServiceResult<Vec<PolicyVersion>> {
        Ok(self.store.policy_versions()?)
    }

    /// One stored version, or `NotFound`.
    pub fn version(&self, version: u64) -> ServiceResult<PolicyVersion> {
        self.store
            .policy_version(version)?
            .ok_or_else(|| ServiceError::NotFound(format!("policy version {version} not found")))
    }

    /// Compiles a policy and runs its fixtures, changing nothing.
    pub fn check(&self, source: &str) -> ServiceResult<PolicyCheck> {
        Ok(check_of(&shopguard_core::check_policy(source)?))
    }

    /// Stores a new version and makes it live, if it compiles and its fixtures pass; a
    /// version that adds or changes punitive rules is stored and waits for approval.
    pub fn propose(&self, source: &str, actor: &Actor, comment: &str) -> ServiceResult<Proposal> {
        let checked = shopguard_core::check_policy(source)?;
        let _one_change_at_a_time = self.serialiser.lock();
        let live = self
            .store
            .active_policy()?
            .ok_or_else(|| ServiceError::Internal("no live policy is stored".into()))?;
        let punitive_rules = shopguard_core::policy::punitive_changes(&live.source, source)?;
        let pending_approval = self.require_approval && !punitive_rules.is_empty();
        let author = actor.to_string();
        let action = if pending_approval {
            "policy.propose"
        } else {
            "policy.store"
        };
        let detail = serde_json::json!({
            "comment": comment,
            "rules": checked.rules,
            "punitive_rules": punitive_rules,
        });
        let version = self.store.insert_policy_version(
            &NewPolicyVersion {
                source,
                author: &author,
                comment,
                at_ms: now_ms(),
                pending_approval,
            },
            &|version| {
                self.audit.entry(
                    RecordClass::Configuration,
                    actor,
                    action,
                    format!("policy:{version}"),
                    detail.clone(),
                )
            },
        )?;
        if pending_approval {
            self.audit.settle()?;
            tracing::info!(version, author = %author, rules = ?punitive_rules, "policy stored; awaits approval");
        } else {
            self.make_live(&checked, version, live.version, actor)?;
            tracing::info!(version, author = %author, "policy replaced");
        }
        Ok(Proposal {
            version,
            pending_approval,
            punitive_rules,
            check: check_of(&checked),
        })
    }

    /// Approves a version waiting for approval and makes it live. Nobody approves their own.
    pub fn approve(&self, version: u64, actor: &Actor) -> ServiceResult<PolicyVersion> {
        let _one_change_at_a_time = self.serialiser.lock();
        let stored = self.version(version)?;
        if !stored.pending_approval {
            return Err(ServiceError::Conflict(format!(
                "policy version {version} does not wait for approval"
            )));
        }
        let approver = actor.to_string();
        if stored.author == approver {
            return Err(ServiceError::forbidden(
                "nobody approves their own punitive rules",
            ));
        }
        let checked = shopguard_core::check_policy(&stored.source)?;
        let live = self.live_version();
        let entry = self.audit.entry(
            RecordClass::Configuration,
            actor,
            "policy.approve",
            format!("policy:{version}"),
            serde_json::json!({ "author": stored.author }),
        );
        if !self
            .store
            .approve_policy_version(version, &approver, now_ms(), &entry)?
        {
            return Err(ServiceError::Conflict(format!(
                "policy version {version} was approved meanwhile"
            )));
        }
        self.make_live(&checked, version, live, actor)?;
        tracing::info!(version, approver = %approver, "policy approved and live");
        self.version(version)
    }

    /// Makes an earlier stored version live again.
    pub fn rollback(&self, version: u64, actor: &Actor) -> ServiceResult<PolicyVersion> {
        let _one_change_at_a_time = self.serialiser.lock();
        let stored = self.version(version)?;
        if stored.pending_approval {
            return Err(ServiceError::Conflict(format!(
                "policy version {version} waits for approval; approve it instead"
            )));
        }
        let checked = shopguard_core::check_policy(&stored.source)?;
        self.make_live(&checked, version, self.live_version(), actor)?;
        tracing::info!(version, actor = %actor, "policy rolled back");
        Ok(stored)
    }

    /// Under the serialiser: compile, record live by compare and set on `expected_live`,
    /// settle the audit entries, then swap the engine.
    fn make_live(
        &self,
        checked: &CheckedPolicy,
        version: u64,
        expected_live: u64,
        actor: &Actor,
    ) -> ServiceResult<()> {
        let compiled = self.engine.prepare_policy(checked, version)?;
        let entry = self.audit.entry(
            RecordClass::Configuration,
            actor,
            "policy.activate",
            format!("policy:{version}"),
            serde_json::json!({ "previous": expected_live }),
        );
        let activated = self.store.activate_policy_version(
            version,
            Some(expected_live),
            &actor.to_string(),
            now_ms(),
            &entry,
        )?;
        if !activated {
            self.audit.settle()?;
            return Err(ServiceError::Conflict(
                "the live policy was changed meanwhile (by another node); reload and try again"
                    .into(),
            ));
        }
        self.audit.settle()?;
        self.engine.activate_policy(compiled);
        Ok(())
    }

    /// Brings the engine to the stored live version when another node changed it; returns
    /// the version now live when it changed.
    pub fn sync(&self) -> ServiceResult<Option<u64>> {
        let _one_change_at_a_time = self.serialiser.lock();
        let Some(stored) = self.store.active_policy()? else {
            return Ok(None);
        };
        if stored.version == self.live_version() {
            return Ok(None);
        }
        let checked = shopguard_core::check_policy(&stored.source)?;
        let compiled = self.engine.prepare_policy(&checked, stored.version)?;
        self.engine.activate_policy(compiled);
        tracing::info!(
            version = stored.version,
            "policy changed by another node is live here"
        );
        Ok(Some(stored.version))
    }
}
