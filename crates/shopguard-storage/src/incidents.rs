//! Incidents as stored: the security-event database of DB33/T 978-2015 §8.5 and §10.6.
//!
//! - `incidents`: one row per incident ([`Incident`]); enums as their stored codes (never the
//!   declaration order), lists as JSON text (tags and observables with codes too), the
//!   effective level kept in its own column for filtering.
//! - `incident_history`: append-only, one row per changed field per version
//!   ([`HistoryEntry`]), read by `(incident_id, version)`.
//! - `incident_alerts`: which alert belongs to which incident; an alert belongs to at most
//!   one (its `seq` is the key). No foreign key to `alerts`: an incident outlives the
//!   retention of the alerts that opened it, and keeps their numbers as evidence.
//! - `incident_observables`: the observables again, one row each, indexed by
//!   `(kind, value)`, to find the incidents that saw an IP or an account.
//!
//! Every write is one transaction with its history rows and its audit entry. A change is
//! compare and set on the version the caller read; a write that is refused (stale version,
//! an alert linked elsewhere, a deduplication key taken) writes nothing and says why
//! ([`IncidentWrite`]).

use serde::{Deserialize, Serialize};
pub use shopguard_core::incident::record::{Incident, Observable, ObservableKind};
pub use shopguard_core::incident::{
    Category, ConsequenceTag, GradeReason, HistoryEntry, Level, Status, SystemImportance,
    SystemLoss, Verdict,
};

use crate::alerts::AssigneeFilter;
use crate::audit_log::NewAuditEntry;
use crate::{StoreError, StoreResult};

/// Most incidents [`IncidentStore::count_incidents`] counts before it stops and says so.
pub const INCIDENT_COUNT_CAP: u64 = 10_000;

/// Which incidents a list shows; every given field must match. Newest (highest id) first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFilter {
    /// Only incidents in this status.
    pub status: Option<Status>,
    /// Only incidents whose effective level is this one.
    pub level: Option<Level>,
    /// Only this category.
    pub category: Option<Category>,
    /// Only incidents of this assignee, or only unassigned ones.
    pub assignee: Option<AssigneeFilter>,
    /// Only drills (`true`) or only real incidents (`false`).
    pub drill: Option<bool>,
    /// Reported at or after this time (ms since epoch).
    pub reported_from_ms: Option<i64>,
    /// Reported before this time (ms since epoch).
    pub reported_to_ms: Option<i64>,
    /// Only incidents with this observable (kind and exact value).
    pub observable: Option<Observable>,
    /// Only incidents with a smaller id (the cursor: the last id of the previous page).
    pub before_id: Option<i64>,
    /// At most this many (1 to 1,000; other values are brought into that range).
    pub limit: u32,
}

impl Default for IncidentFilter {
    fn default() -> Self {
        IncidentFilter {
            status: None,
            level: None,
            category: None,
            assignee: None,
            drill: None,
            reported_from_ms: None,
            reported_to_ms: None,
            observable: None,
            before_id: None,
            limit: 100,
        }
    }
}

impl IncidentFilter {
    /// The limit brought into 1 to 1,000.
    pub fn bounded_limit(&self) -> u32 {
        self.limit.clamp(1, 1_000)
    }

    /// The assignee filter as the backends' queries take it: a mode (0 any, 1 unassigned,
    /// 2 this name) and the name.
    pub(crate) fn assignee_mode(&self) -> (i32, Option<&str>) {
        match &self.assignee {
            None => (0, None),
            Some(AssigneeFilter::Unassigned) => (1, None),
            Some(AssigneeFilter::Is(name)) => (2, Some(name.as_str())),
        }
    }
}

/// How many incidents match a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentCount {
    /// The number, at most [`INCIDENT_COUNT_CAP`].
    pub total: u64,
    /// Whether counting stopped at [`INCIDENT_COUNT_CAP`].
    pub capped: bool,
}

impl IncidentCount {
    /// The count of `counted` rows, where the backend counted at most one past the cap.
    pub(crate) fn of(counted: u64) -> IncidentCount {
        IncidentCount {
            total: counted.min(INCIDENT_COUNT_CAP),
            capped: counted > INCIDENT_COUNT_CAP,
        }
    }
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncidentWrite {
    /// Written: the new incident's id (create) or its new version (update).
    Done(i64),
    /// Nothing written: the incident is no longer at the version the change read.
    Stale,
    /// Nothing written: this alert belongs to another incident already.
    AlertLinked {
        /// The alert.
        seq: i64,
        /// The incident it belongs to.
        incident_id: i64,
    },
    /// Nothing written: an incident that is not closed holds this deduplication key.
    DedupTaken {
        /// That incident.
        incident_id: i64,
    },
}

/// The security-event database.
pub trait IncidentStore: Send + Sync {
    /// Stores a new incident (its `id` and `version` are ignored: the store numbers it, at
    /// version 1) with its linked alerts, its observables, the history rows of its creation
    /// (version 1) and the audit entry `audit` makes from its id, in one transaction.
    /// `NotFound` when a linked alert does not exist.
    fn create_incident(
        &self,
        incident: &Incident,
        history: &[HistoryEntry],
        audit: &dyn Fn(i64) -> NewAuditEntry,
    ) -> StoreResult<IncidentWrite>;
    /// One incident with its linked alerts; `None` when there is no such incident.
    fn incident(&self, id: i64) -> StoreResult<Option<Incident>>;
    /// Replaces incident `incident.id` with `incident` if it is still at `expected_version`
    /// (its version becomes `expected_version + 1`), appending `history` and recording
    /// `audit` in one transaction. Alerts in `incident.alerts` not yet linked are linked
    /// (links are never removed); observables are replaced. `NotFound` when there is no such
    /// incident or a newly linked alert does not exist.
    fn update_incident(
        &self,
        incident: &Incident,
        expected_version: i64,
        history: &[HistoryEntry],
        audit: &NewAuditEntry,
    ) -> StoreResult<IncidentWrite>;
    /// Incidents matching `filter`, newest (highest id) first, at most its limit.
    fn list_incidents(&self, filter: &IncidentFilter) -> StoreResult<Vec<Incident>>;
    /// How many incidents match `filter` regardless of its cursor and limit, counting up to
    /// [`INCIDENT_COUNT_CAP`].
    fn count_incidents(&self, filter: &IncidentFilter) -> StoreResult<IncidentCount>;
    /// The history of incident `id`, in the order it was written (by version).
    fn incident_history(&self, id: i64) -> StoreResult<Vec<HistoryEntry>>;
    /// The incident that is not closed and holds `dedup_key`, if any.
    fn open_incident_by_dedup_key(&self, dedup_key: &str) -> StoreResult<Option<Incident>>;
    /// The incident alert `seq` belongs to, if any.
    fn incident_of_alert(&self, seq: i64) -> StoreResult<Option<i64>>;
}

/// An incident as one row of plain values, which both backends read and write.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct IncidentRow {
    pub id: i64,
    pub title: String,
    pub category: i16,
    pub tags: String,
    pub status: i16,
    pub verdict: Option<i16>,
    pub importance: Option<i16>,
    pub loss: Option<i16>,
    pub affected_users: Option<i64>,
    pub platform_users: Option<i64>,
    pub computed_level: Option<i16>,
    pub grade_reasons: String,
    pub override_level: Option<i16>,
    pub override_reason: Option<String>,
    pub effective_level: Option<i16>,
    pub reporter: String,
    pub discovered_at_ms: Option<i64>,
    pub reported_at_ms: i64,
    pub affected_systems: String,
    pub description: String,
    pub evidence: String,
    pub observables: String,
    pub unsure_of_level: bool,
    pub assignee: Option<String>,
    pub dedup_key: Option<String>,
    pub is_drill: bool,
    pub reassessed_at_ms: Option<i64>,
    pub reassessed_by: Option<String>,
    pub escalated_at_ms: Option<i64>,
    pub escalated_by: Option<String>,
    pub review_summary: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub version: i64,
}

/// The columns of [`IncidentRow`], in its order (the id first).
pub(crate) const INCIDENT_COLUMNS: &str = "id, title, category, tags, status, verdict, importance, loss, \
     affected_users, platform_users, computed_level, grade_reasons, override_level, override_reason, \
     effective_level, reporter, discovered_at_ms, reported_at_ms, affected_systems, description, \
     evidence, observables, unsure_of_level, assignee, dedup_key, is_drill, reassessed_at_ms, \
     reassessed_by, escalated_at_ms, escalated_by, review_summary, created_at_ms, updated_at_ms, version";

fn code16(code: u8) -> i16 {
    i16::from(code)
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Plain data (codes, strings, structs of them) always serialises.
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

fn users(count: Option<u64>) -> Option<i64> {
    count.map(|count| i64::try_from(count).unwrap_or(i64::MAX))
}

impl IncidentRow {
    /// The row of `incident`.
    pub(crate) fn of(incident: &Incident) -> IncidentRow {
        let tags: Vec<u8> = incident.tags.iter().map(|tag| tag.code()).collect();
        let observables: Vec<(u8, &str)> = incident
            .observables
            .iter()
            .map(|observable| (observable.kind.code(), observable.value.as_str()))
            .collect();
        IncidentRow {
            id: incident.id,
            title: incident.title.clone(),
            category: code16(incident.category.code()),
            tags: to_json(&tags),
            status: code16(incident.status.code()),
            verdict: incident.verdict.map(|v| code16(v.code())),
            importance: incident.importance.map(|v| code16(v.code())),
            loss: incident.loss.map(|v| code16(v.code())),
            affected_users: users(incident.affected_users),
            platform_users: users(incident.platform_users),
            computed_level: incident.computed_level.map(|v| code16(v.code())),
            grade_reasons: to_json(&incident.grade_reasons),
            override_level: incident.override_level.map(|v| code16(v.code())),
            override_reason: incident.override_reason.clone(),
            effective_level: incident.effective_level().map(|v| code16(v.code())),
            reporter: incident.reporter.clone(),
            discovered_at_ms: incident.discovered_at_ms,
            reported_at_ms: incident.reported_at_ms,
            affected_systems: to_json(&incident.affected_systems),
            description: incident.description.clone(),
            evidence: incident.evidence.clone(),
            observables: to_json(&observables),
            unsure_of_level: incident.unsure_of_level,
            assignee: incident.assignee.clone(),
            dedup_key: incident.dedup_key.clone(),
            is_drill: incident.is_drill,
            reassessed_at_ms: incident.reassessed_at_ms,
            reassessed_by: incident.reassessed_by.clone(),
            escalated_at_ms: incident.escalated_at_ms,
            escalated_by: incident.escalated_by.clone(),
            review_summary: incident.review_summary.clone(),
            created_at_ms: incident.created_at_ms,
            updated_at_ms: incident.updated_at_ms,
            version: incident.version,
        }
    }

    /// The incident of this row, with `alerts` linked; an unknown code or bad JSON is
    /// corruption.
    pub(crate) fn into_incident(
        self,
        alerts: Vec<i64>,
        operation: &'static str,
    ) -> StoreResult<Incident> {
        let id = self.id;
        let corrupt = |detail: String| StoreError::Corrupt {
            operation,
            detail: format!("incident {id}: {detail}"),
        };
        fn decode<T: shopguard_core::codes::StoredCode>(code: i16) -> Option<T> {
            u8::try_from(code).ok().and_then(T::from_code)
        }
        macro_rules! coded {
            ($value:expr, $what:literal) => {
                match decode($value) {
                    Some(value) => value,
                    None => return Err(corrupt(format!("unknown {} code {}", $what, $value))),
                }
            };
        }
        macro_rules! maybe {
            ($value:expr, $what:literal) => {
                match $value {
                    None => None,
                    Some(code) => Some(coded!(code, $what)),
                }
            };
        }
        let json = |text: &str, what: &str| -> StoreResult<serde_json::Value> {
            serde_json::from_str(text).map_err(|error| corrupt(format!("{what}: {error}")))
        };
        let tag_codes: Vec<i16> = serde_json::from_value(json(&self.tags, "tags")?)
            .map_err(|error| corrupt(format!("tags: {error}")))?;
        let mut tags = Vec::with_capacity(tag_codes.len());
        for code in tag_codes {
            tags.push(coded!(code, "consequence tag"));
        }
        let observable_rows: Vec<(i16, String)> =
            serde_json::from_value(json(&self.observables, "observables")?)
                .map_err(|error| corrupt(format!("observables: {error}")))?;
        let mut observables = Vec::with_capacity(observable_rows.len());
        for (code, value) in observable_rows {
            observables.push(Observable {
                kind: coded!(code, "observable kind"),
                value,
            });
        }
        let grade_reasons: Vec<GradeReason> =
            serde_json::from_value(json(&self.grade_reasons, "grade reasons")?)
                .map_err(|error| corrupt(format!("grade reasons: {error}")))?;
        let affected_systems: Vec<String> =
            serde_json::from_value(json(&self.affected_systems, "affected systems")?)
                .map_err(|error| corrupt(format!("affected systems: {error}")))?;
        Ok(Incident {
            id,
            title: self.title,
            category: coded!(self.category, "category"),
            tags,
            status: coded!(self.status, "status"),
            verdict: maybe!(self.verdict, "verdict"),
            importance: maybe!(self.importance, "importance"),
            loss: maybe!(self.loss, "loss"),
            affected_users: self.affected_users.map(|n| u64::try_from(n).unwrap_or(0)),
            platform_users: self.platform_users.map(|n| u64::try_from(n).unwrap_or(0)),
            computed_level: maybe!(self.computed_level, "level"),
            grade_reasons,
            override_level: maybe!(self.override_level, "level"),
            override_reason: self.override_reason,
            reporter: self.reporter,
            discovered_at_ms: self.discovered_at_ms,
            reported_at_ms: self.reported_at_ms,
            affected_systems,
            description: self.description,
            evidence: self.evidence,
            observables,
            unsure_of_level: self.unsure_of_level,
            assignee: self.assignee,
            dedup_key: self.dedup_key,
            is_drill: self.is_drill,
            reassessed_at_ms: self.reassessed_at_ms,
            reassessed_by: self.reassessed_by,
            escalated_at_ms: self.escalated_at_ms,
            escalated_by: self.escalated_by,
            review_summary: self.review_summary,
            alerts,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
            version: self.version,
        })
    }
}

/// A history entry's values as stored: old and new as JSON text.
pub(crate) fn history_json(entry: &HistoryEntry) -> (String, String) {
    (entry.old.to_string(), entry.new.to_string())
}

/// Reads stored JSON text of a history entry back; bad text is corruption.
pub(crate) fn history_value(
    text: &str,
    incident_id: i64,
    operation: &'static str,
) -> StoreResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt {
        operation,
        detail: format!("incident {incident_id} history: {error}"),
    })
}

/// The status codes of closed incidents (closed, reviewed), for the deduplication index.
pub(crate) const CLOSED_STATUS_MIN: i16 = 6;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closed_codes_are_the_last_two() {
        assert_eq!(i16::from(Status::Closed.code()), CLOSED_STATUS_MIN);
        assert_eq!(Status::Reviewed.code(), 7);
        assert!(Status::ALL
            .iter()
            .all(|status| status.is_closed() == (i16::from(status.code()) >= CLOSED_STATUS_MIN)));
    }
}
