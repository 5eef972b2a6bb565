//! The alert queue: analysts read alerts with their triage state and acknowledge, assign,
//! note, resolve, dismiss and reopen them.
//!
//! Reading needs `decisions:read`; every change needs `alerts:write`. A change names the
//! version of the alert's triage state the caller read; when someone changed the alert
//! meanwhile, the change is refused with [`ServiceError::Conflict`] (reload and decide
//! again) instead of overwriting theirs. Status moves follow the core's transition table
//! ([`shopguard_core::alerts`]).
//!
//! Order of every change: check the caller and the input, decide through the core, then
//! storage writes the change and its audit entry (class `incident`) in one transaction, the
//! audit log is settled, and the alert is read back for the answer.

use std::sync::Arc;

use shopguard_core::alerts::{check_assignable, check_transition, TriageError};
use shopguard_core::audit::RecordClass;
use shopguard_storage::alerts::{AlertStatus, MAX_ALERT_NOTE_CHARS};
use shopguard_storage::{
    AlertChange, AlertDetail, AlertFilter, AlertNote, Scope, Store, TriagedAlert,
};

use crate::actor::Principal;
use crate::audit::AuditService;
use crate::clock::now_ms;
use crate::error::{ServiceError, ServiceResult};

/// A page of the alert queue.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertPage {
    /// The alerts, newest first.
    pub alerts: Vec<TriagedAlert>,
    /// How many alerts match the filter in all (cursor and limit aside), at most 10,000.
    pub total: u64,
    /// Whether `total` stopped at 10,000 (there are at least that many).
    pub total_capped: bool,
    /// The cursor of the next page (`before_seq`), when this one was full.
    pub next_before_seq: Option<i64>,
}

/// The alert service.
pub struct AlertService {
    store: Arc<dyn Store>,
    audit: Arc<AuditService>,
}

impl std::fmt::Debug for AlertService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertService").finish_non_exhaustive()
    }
}

fn triage_conflict(error: TriageError) -> ServiceError {
    ServiceError::Conflict(error.to_string())
}

/// Checks a note's or reason's text: not blank, at most [`MAX_ALERT_NOTE_CHARS`] characters.
fn checked_text<'a>(field: &'static str, text: &'a str) -> ServiceResult<&'a str> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ServiceError::invalid(
            field,
            format!("{field}: must not be empty"),
        ));
    }
    let chars = text.chars().count();
    if chars > MAX_ALERT_NOTE_CHARS {
        return Err(ServiceError::invalid(
            field,
            format!("{field}: {chars} characters; at most {MAX_ALERT_NOTE_CHARS} are allowed"),
        ));
    }
    Ok(text)
}

impl AlertService {
    /// A service over the store and the audit service.
    pub fn new(store: Arc<dyn Store>, audit: Arc<AuditService>) -> AlertService {
        AlertService { store, audit }
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

    /// A page of the queue: alerts matching `filter`, newest first, with the total.
    /// Needs `decisions:read`; the limit must be 1 to 1,000.
    pub fn queue(&self, filter: &AlertFilter, caller: &Principal) -> ServiceResult<AlertPage> {
        AlertService::require(caller, Scope::DecisionsRead)?;
        if !(1..=1_000).contains(&filter.limit) {
            return Err(ServiceError::invalid(
                "limit",
                format!(
                    "limit: {} is out of range; the maximum is 1000 and the minimum 1",
                    filter.limit
                ),
            ));
        }
        let alerts = self.store.alert_queue(filter)?;
        let count = self.store.count_alerts(filter)?;
        let next_before_seq = (alerts.len() == filter.limit as usize)
            .then(|| alerts.last().map(|row| row.alert.seq))
            .flatten();
        Ok(AlertPage {
            alerts,
            total: count.total,
            total_capped: count.capped,
            next_before_seq,
        })
    }

    /// One alert with its triage state and notes. Needs `decisions:read`.
    pub fn get(&self, seq: i64, caller: &Principal) -> ServiceResult<AlertDetail> {
        AlertService::require(caller, Scope::DecisionsRead)?;
        self.load(seq)
    }

    fn load(&self, seq: i64) -> ServiceResult<AlertDetail> {
        self.store
            .alert(seq)?
            .ok_or_else(|| ServiceError::NotFound(format!("alert {seq} not found")))
    }

    /// Acknowledges an open alert (someone is looking at it).
    pub fn acknowledge(
        &self,
        seq: i64,
        expected_version: i64,
        caller: &Principal,
    ) -> ServiceResult<AlertDetail> {
        self.move_to(
            seq,
            expected_version,
            AlertStatus::Acknowledged,
            None,
            "alert.acknowledge",
            caller,
        )
    }

    /// Resolves an open or acknowledged alert, with an optional reason (kept as a note).
    pub fn resolve(
        &self,
        seq: i64,
        reason: Option<&str>,
        expected_version: i64,
        caller: &Principal,
    ) -> ServiceResult<AlertDetail> {
        self.move_to(
            seq,
            expected_version,
            AlertStatus::Resolved,
            reason,
            "alert.resolve",
            caller,
        )
    }

    /// Dismisses an open or acknowledged alert (a false positive, a duplicate); the reason
    /// is required and kept as a note.
    pub fn dismiss(
        &self,
        seq: i64,
        reason: &str,
        expected_version: i64,
        caller: &Principal,
    ) -> ServiceResult<AlertDetail> {
        self.move_to(
            seq,
            expected_version,
            AlertStatus::Dismissed,
            Some(reason),
            "alert.dismiss",
            caller,
        )
    }

    /// Reopens a resolved or dismissed alert, with an optional reason (kept as a note).
    pub fn reopen(
        &self,
        seq: i64,
        reason: Option<&str>,
        expected_version: i64,
        caller: &Principal,
    ) -> ServiceResult<AlertDetail> {
        self.move_to(
            seq,
            expected_version,
            AlertStatus::Open,
            reason,
            "alert.reopen",
            caller,
        )
    }

    /// Assigns an open or acknowledged alert to an existing, enabled operator, or to nobody
    /// (`None`). The status does not change.
    pub fn assign(
        &self,
        seq: i64,
        assignee: Option<&str>,
        expected_version: i64,
        caller: &Principal,
    ) -> ServiceResult<AlertDetail> {
        AlertService::require(caller, Scope::AlertsWrite)?;
        if let Some(username) = assignee {
            let operator = self.store.operator(username)?;
            match operator {
                Some(operator) if operator.disabled_at_ms.is_none() => {}
                Some(_) => {
                    return Err(ServiceError::invalid(
                        "assignee",
                        format!("assignee: operator '{username}' is disabled"),
                    ))
                }
                None => {
                    return Err(ServiceError::invalid(
                        "assignee",
                        format!("assignee: there is no operator '{username}'"),
                    ))
                }
            }
        }
        let current = self.current(seq, expected_version)?;
        check_assignable(current.triage.status).map_err(triage_conflict)?;
        let entry = self.audit.entry(
            RecordClass::Incident,
            &caller.actor,
            "alert.assign",
            format!("alert:{seq}"),
            serde_json::json!({
                "from": current.triage.assignee,
                "to": assignee,
                "version": expected_version,
            }),
        );
        self.apply(
            seq,
            expected_version,
            current.triage.status,
            assignee,
            None,
            &entry,
        )
    }

    /// Adds a note to an alert (in any status). Needs `alerts:write`.
    pub fn note(&self, seq: i64, text: &str, caller: &Principal) -> ServiceResult<AlertDetail> {
        AlertService::require(caller, Scope::AlertsWrite)?;
        let text = checked_text("text", text)?;
        // NotFound before anything is recorded.
        self.load(seq)?;
        let note = AlertNote {
            author: caller.actor.to_string(),
            at_ms: now_ms(),
            text: text.to_owned(),
            status: None,
        };
        let entry = self.audit.entry(
            RecordClass::Incident,
            &caller.actor,
            "alert.note",
            format!("alert:{seq}"),
            serde_json::json!({ "text": text }),
        );
        self.store.add_alert_note(seq, &note, &entry)?;
        self.audit.settle()?;
        self.load(seq)
    }

    /// The alert, refused with a conflict when its version is no longer `expected_version`.
    fn current(&self, seq: i64, expected_version: i64) -> ServiceResult<AlertDetail> {
        let current = self.load(seq)?;
        if current.triage.version != expected_version {
            return Err(stale(seq, expected_version, current.triage.version));
        }
        Ok(current)
    }

    /// Moves an alert to `status`, checked against the transition table.
    fn move_to(
        &self,
        seq: i64,
        expected_version: i64,
        status: AlertStatus,
        reason: Option<&str>,
        action: &str,
        caller: &Principal,
    ) -> ServiceResult<AlertDetail> {
        AlertService::require(caller, Scope::AlertsWrite)?;
        let reason = reason
            .map(|reason| checked_text("reason", reason))
            .transpose()?;
        if status == AlertStatus::Dismissed && reason.is_none() {
            return Err(ServiceError::invalid(
                "reason",
                "reason: say why the alert is dismissed",
            ));
        }
        let current = self.current(seq, expected_version)?;
        check_transition(current.triage.status, status).map_err(triage_conflict)?;
        let at_ms = now_ms();
        let note = reason.map(|reason| AlertNote {
            author: caller.actor.to_string(),
            at_ms,
            text: reason.to_owned(),
            status: Some(status),
        });
        let entry = AuditService::entry_at(
            at_ms,
            RecordClass::Incident,
            &caller.actor,
            action,
            format!("alert:{seq}"),
            serde_json::json!({
                "from": current.triage.status,
                "to": status,
                "version": expected_version,
                "reason": reason,
            }),
        );
        self.apply(
            seq,
            expected_version,
            status,
            current.triage.assignee.as_deref(),
            note.as_ref(),
            &entry,
        )
    }

    /// Stores a change with its entry (compare and set on the version), settles the audit
    /// log, and reads the alert back.
    fn apply(
        &self,
        seq: i64,
        expected_version: i64,
        status: AlertStatus,
        assignee: Option<&str>,
        note: Option<&AlertNote>,
        entry: &shopguard_storage::NewAuditEntry,
    ) -> ServiceResult<AlertDetail> {
        let change = AlertChange {
            status,
            assignee,
            by: &entry.content.actor,
            at_ms: entry.at_ms,
            note,
        };
        let stored = self
            .store
            .change_alert(seq, expected_version, &change, entry)?;
        if stored.is_none() {
            let now = self.load(seq)?.triage.version;
            return Err(stale(seq, expected_version, now));
        }
        self.audit.settle()?;
        self.load(seq)
    }
}

/// The conflict of a change based on a version that is gone.
fn stale(seq: i64, expected_version: i64, current_version: i64) -> ServiceError {
    ServiceError::Conflict(format!(
        "alert {seq} was changed by someone else (version {current_version}, not {expected_version}); reload it and try again"
    ))
}
