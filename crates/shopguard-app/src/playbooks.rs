//! Response playbooks (DB33/T 978-2015 §6.5): versioned templates of the tasks each incident
//! level brings, one version active.
//!
//! - Reading needs `incidents:read`; adding and activating versions needs `directory:write`.
//! - Versions are immutable; a new version is validated ([`Playbook::validate`]) and stored
//!   inactive; activating names the version the caller saw active (compare and set: another
//!   activation meanwhile is a [`ServiceError::Conflict`]).
//! - The first read seeds the built-in playbook ([`default_playbook`]) as version 1, active,
//!   recorded as done by `system`. Seeding in the service rather than in a migration keeps the
//!   default in one place (the core) and in both backends alike.
//! - Changes are audited with class `configuration` in the same transaction.

use std::sync::Arc;

use shopguard_core::audit::RecordClass;
use shopguard_core::playbook::{
    default_playbook, tasks_for_level, LevelTask, Playbook, ResponseLevel,
};
use shopguard_storage::playbooks::MAX_PLAYBOOK_COMMENT_CHARS;
use shopguard_storage::{ActivePlaybook, NewPlaybookVersion, PlaybookVersion, Scope, Store};

use crate::actor::{Actor, Principal};
use crate::audit::AuditService;
use crate::clock::now_ms;
use crate::error::{ServiceError, ServiceResult};

/// The active playbook: the version and since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveVersion {
    /// The version.
    pub version: PlaybookVersion,
    /// When and by whom it was activated.
    pub active: ActivePlaybook,
}

/// The playbook service.
pub struct PlaybookService {
    store: Arc<dyn Store>,
    audit: Arc<AuditService>,
}

impl std::fmt::Debug for PlaybookService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybookService").finish_non_exhaustive()
    }
}

impl PlaybookService {
    /// A service over the store and the audit service.
    pub fn new(store: Arc<dyn Store>, audit: Arc<AuditService>) -> PlaybookService {
        PlaybookService { store, audit }
    }

    fn require(caller: &Principal, scope: Scope) -> ServiceResult<()> {
        if caller.grants(scope) {
            Ok(())
        } else {
            Err(ServiceError::forbidden(format!(
                "this needs scope '{scope}'"
            )))
        }
    }

    /// Seeds the built-in playbook as version 1 when there is none; the active version.
    fn ensure_active(&self) -> ServiceResult<ActivePlaybook> {
        if let Some(active) = self.store.active_playbook()? {
            return Ok(active);
        }
        let at_ms = now_ms();
        let playbook = default_playbook();
        let actor = Actor::System;
        let author = actor.to_string();
        let new = NewPlaybookVersion {
            playbook: &playbook,
            author: &author,
            at_ms,
            comment: "built-in playbook (DB33/T 978-2015 §6.5)",
        };
        let entry = AuditService::entry_at(
            at_ms,
            RecordClass::Configuration,
            &actor,
            "playbook.seed",
            "playbook:1".into(),
            serde_json::json!({ "name": playbook.name }),
        );
        if self.store.seed_playbook(&new, &entry)? {
            self.audit.settle()?;
        }
        self.store.active_playbook()?.ok_or_else(|| {
            ServiceError::Conflict(
                "there are playbook versions but none is active; activate one".into(),
            )
        })
    }

    fn load(&self, version: i64) -> ServiceResult<PlaybookVersion> {
        self.store
            .playbook_version(version)?
            .ok_or_else(|| ServiceError::NotFound(format!("playbook version {version} not found")))
    }

    /// Every version, newest first, and the active version's number. Needs `incidents:read`.
    pub fn versions(&self, caller: &Principal) -> ServiceResult<(Vec<PlaybookVersion>, i64)> {
        PlaybookService::require(caller, Scope::IncidentsRead)?;
        let active = self.ensure_active()?;
        Ok((self.store.playbook_versions()?, active.version))
    }

    /// One version. Needs `incidents:read`.
    pub fn version(&self, version: i64, caller: &Principal) -> ServiceResult<PlaybookVersion> {
        PlaybookService::require(caller, Scope::IncidentsRead)?;
        self.ensure_active()?;
        self.load(version)
    }

    /// The active version. Needs `incidents:read`.
    pub fn active(&self, caller: &Principal) -> ServiceResult<ActiveVersion> {
        PlaybookService::require(caller, Scope::IncidentsRead)?;
        self.active_version()
    }

    /// The active version, for the incident service (checks no scope).
    pub fn active_version(&self) -> ServiceResult<ActiveVersion> {
        let active = self.ensure_active()?;
        Ok(ActiveVersion {
            version: self.load(active.version)?,
            active,
        })
    }

    /// The tasks of the active playbook for an incident at `level` (cumulative). Needs
    /// `incidents:read`.
    pub fn tasks(
        &self,
        level: ResponseLevel,
        caller: &Principal,
    ) -> ServiceResult<(i64, Vec<LevelTask>)> {
        PlaybookService::require(caller, Scope::IncidentsRead)?;
        let active = self.active_version()?;
        Ok((
            active.version.version,
            tasks_for_level(&active.version.playbook, level),
        ))
    }

    /// Adds a version (not activated). Needs `directory:write`; the playbook must be valid.
    pub fn create(
        &self,
        playbook: &Playbook,
        comment: &str,
        caller: &Principal,
    ) -> ServiceResult<PlaybookVersion> {
        PlaybookService::require(caller, Scope::DirectoryWrite)?;
        playbook.validate().map_err(|error| ServiceError::Invalid {
            field: Some("playbook"),
            message: format!("playbook.{}", error.message),
        })?;
        let chars = comment.chars().count();
        let comment = comment.trim();
        if chars > MAX_PLAYBOOK_COMMENT_CHARS {
            return Err(ServiceError::invalid(
                "comment",
                format!(
                    "comment: {chars} characters; at most {MAX_PLAYBOOK_COMMENT_CHARS} are allowed"
                ),
            ));
        }
        self.ensure_active()?;
        let at_ms = now_ms();
        let author = caller.actor.to_string();
        let entry = AuditService::entry_at(
            at_ms,
            RecordClass::Configuration,
            &caller.actor,
            "playbook.create",
            "playbook".into(),
            serde_json::json!({ "name": playbook.name, "comment": comment }),
        );
        let version = self.store.insert_playbook_version(
            &NewPlaybookVersion {
                playbook,
                author: &author,
                at_ms,
                comment,
            },
            &entry,
        )?;
        self.audit.settle()?;
        self.load(version)
    }

    /// Makes `version` the active one if `expected_active` is still active. Needs
    /// `directory:write`.
    pub fn activate(
        &self,
        version: i64,
        expected_active: i64,
        caller: &Principal,
    ) -> ServiceResult<ActiveVersion> {
        PlaybookService::require(caller, Scope::DirectoryWrite)?;
        let current = self.ensure_active()?;
        self.load(version)?;
        if current.version != expected_active {
            return Err(stale(expected_active, current.version));
        }
        let at_ms = now_ms();
        let entry = AuditService::entry_at(
            at_ms,
            RecordClass::Configuration,
            &caller.actor,
            "playbook.activate",
            format!("playbook:{version}"),
            serde_json::json!({ "from": expected_active, "to": version }),
        );
        let actor = caller.actor.to_string();
        let changed = self.store.activate_playbook_version(
            version,
            Some(expected_active),
            &actor,
            at_ms,
            &entry,
        )?;
        if !changed {
            let now = self.ensure_active()?.version;
            return Err(stale(expected_active, now));
        }
        self.audit.settle()?;
        self.active_version()
    }
}

fn stale(expected_active: i64, current: i64) -> ServiceError {
    ServiceError::Conflict(format!(
        "the active playbook is version {current}, not {expected_active}: someone activated another meanwhile; reload and try again"
    ))
}
