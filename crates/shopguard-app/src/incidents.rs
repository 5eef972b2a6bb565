//! Incident management (issue 19, DB33/T 978-2015): report, promote alerts, open
//! automatically with deduplication, triage, grade, override, move through the lifecycle,
//! re-assess, escalate, assign, edit; read one, a page, the history and the diff between two
//! versions.
//!
//! Scopes: reading needs `incidents:read`; reporting by hand `incidents:report` (any
//! employee, §10.3); escalating to senior management `incidents:approve` (the approver
//! records that senior management was told, §10.4 b); everything else `incidents:write`.
//!
//! Order of every change: check the caller's scope and the input's limits, read the incident
//! and refuse a stale version, decide through the core (lifecycle, grading, field limits),
//! compute the field-by-field history, then storage writes the new state, its history rows
//! and its audit entry (class `incident`, object `incident:<id>`) in one transaction, the
//! audit log is settled, and the incident is read back for the answer.
//!
//! Promoting alerts (decision 0042): the incident is created with the alerts linked in one
//! transaction; right after, each linked alert that is still open or acknowledged is
//! resolved through the alert store with the note "promoted to incident N" (its own audit
//! entry). The link is what counts: an alert that could not be resolved (someone changed it
//! at that moment, three times over) stays linked and is logged.

use std::sync::Arc;

use shopguard_core::audit::RecordClass;
use shopguard_core::incident::grading::{grade, GradingConfig, GradingInputs};
use shopguard_core::incident::history::{diff_versions, field_changes, ALERTS_LINKED_FIELD};
use shopguard_core::incident::lifecycle::{
    check_editable, check_open, check_transition, LifecycleError, MoveInput,
};
use shopguard_core::incident::record::{
    check_text, FieldError, Incident, Observable, ObservableKind, MAX_LONG_TEXT_CHARS,
    MAX_REASON_CHARS,
};
use shopguard_core::incident::{
    Category, ConsequenceTag, FieldDiff, HistoryEntry, Level, Status, Verdict,
};
use shopguard_storage::alerts::AlertStatus;
use shopguard_storage::{
    AlertChange, AlertNote, IncidentFilter, IncidentWrite, NewAuditEntry, Scope, Store,
};

use crate::actor::Principal;
use crate::audit::AuditService;
use crate::clock::now_ms;
use crate::error::{ServiceError, ServiceResult};

/// Most alerts promoted or linked in one call.
pub const MAX_ALERTS_PER_CALL: usize = 1_000;

/// A page of incidents.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentPage {
    /// The incidents, newest first.
    pub incidents: Vec<Incident>,
    /// How many match the filter in all (cursor and limit aside), at most 10,000.
    pub total: u64,
    /// Whether `total` stopped at 10,000.
    pub total_capped: bool,
    /// The cursor of the next page (`before_id`), when this one was full.
    pub next_before_id: Option<i64>,
}

/// An incident reported by hand: the report form (报告单, §10.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentReport {
    /// A short title.
    pub title: String,
    /// Its category (§6.2).
    pub category: Category,
    /// Its negative consequences (§8.3.3).
    pub tags: Vec<ConsequenceTag>,
    /// When it was discovered (ms since epoch), when known.
    pub discovered_at_ms: Option<i64>,
    /// The systems it affects.
    pub affected_systems: Vec<String>,
    /// What happened.
    pub description: String,
    /// The evidence.
    pub evidence: String,
    /// What was seen.
    pub observables: Vec<Observable>,
    /// The reporter is not sure of the level (§10.3).
    pub unsure_of_level: bool,
    /// Whether it belongs to a drill.
    pub is_drill: bool,
}

/// An incident opened from alerts, by an analyst or by a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FromAlerts {
    /// The alerts (their `seq`), at least one.
    pub alerts: Vec<i64>,
    /// A short title.
    pub title: String,
    /// Its category (§6.2).
    pub category: Category,
    /// What happened (optional).
    pub description: String,
    /// Whether it belongs to a drill.
    pub is_drill: bool,
}

/// Changes to an incident's report fields; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentEdit {
    /// A new title.
    pub title: Option<String>,
    /// A new category.
    pub category: Option<Category>,
    /// New consequence tags.
    pub tags: Option<Vec<ConsequenceTag>>,
    /// A new description.
    pub description: Option<String>,
    /// New evidence.
    pub evidence: Option<String>,
    /// New affected systems.
    pub affected_systems: Option<Vec<String>>,
    /// New observables.
    pub observables: Option<Vec<Observable>>,
    /// A new "not sure of the level" flag.
    pub unsure_of_level: Option<bool>,
}

/// The incident service.
pub struct IncidentService {
    store: Arc<dyn Store>,
    audit: Arc<AuditService>,
    grading: GradingConfig,
}

impl std::fmt::Debug for IncidentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncidentService")
            .field("grading", &self.grading)
            .finish_non_exhaustive()
    }
}

fn field_error(error: FieldError) -> ServiceError {
    ServiceError::invalid(error.field, error.to_string())
}

fn lifecycle_conflict(error: LifecycleError) -> ServiceError {
    ServiceError::Conflict(error.to_string())
}

/// A reason: trimmed, not blank when `required`, at most [`MAX_REASON_CHARS`] characters.
fn checked_reason(
    field: &'static str,
    reason: Option<&str>,
    required: bool,
) -> ServiceResult<Option<String>> {
    let reason = reason.map(str::trim).filter(|reason| !reason.is_empty());
    match reason {
        None if required => Err(ServiceError::invalid(
            field,
            format!("{field}: must not be empty"),
        )),
        None => Ok(None),
        Some(reason) => {
            check_text(field, reason, MAX_REASON_CHARS, true).map_err(field_error)?;
            Ok(Some(reason.to_owned()))
        }
    }
}

fn trimmed_list(items: Vec<String>) -> Vec<String> {
    items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .collect()
}

fn trimmed_observables(observables: Vec<Observable>) -> Vec<Observable> {
    let mut seen: Vec<Observable> = Vec::with_capacity(observables.len());
    for observable in observables {
        let observable = Observable {
            kind: observable.kind,
            value: observable.value.trim().to_owned(),
        };
        if !seen.contains(&observable) {
            seen.push(observable);
        }
    }
    seen
}

impl IncidentService {
    /// A service over the store and the audit service, grading with `grading` (checked by
    /// [`crate::Config::validate`]; grading refuses a configuration that is not valid).
    pub fn new(
        store: Arc<dyn Store>,
        audit: Arc<AuditService>,
        grading: GradingConfig,
    ) -> IncidentService {
        IncidentService {
            store,
            audit,
            grading,
        }
    }

    /// The social-impact thresholds this node grades with.
    pub fn grading_config(&self) -> GradingConfig {
        self.grading
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

    fn load(&self, id: i64) -> ServiceResult<Incident> {
        self.store
            .incident(id)?
            .ok_or_else(|| ServiceError::NotFound(format!("incident {id} not found")))
    }

    /// One incident. Needs `incidents:read`.
    pub fn get(&self, id: i64, caller: &Principal) -> ServiceResult<Incident> {
        IncidentService::require(caller, Scope::IncidentsRead)?;
        self.load(id)
    }

    /// A page of incidents matching `filter`, newest first, with the total. Needs
    /// `incidents:read`; the limit must be 1 to 1,000.
    pub fn list(&self, filter: &IncidentFilter, caller: &Principal) -> ServiceResult<IncidentPage> {
        IncidentService::require(caller, Scope::IncidentsRead)?;
        if !(1..=1_000).contains(&filter.limit) {
            return Err(ServiceError::invalid(
                "limit",
                format!(
                    "limit: {} is out of range; the maximum is 1000 and the minimum 1",
                    filter.limit
                ),
            ));
        }
        let incidents = self.store.list_incidents(filter)?;
        let count = self.store.count_incidents(filter)?;
        let next_before_id = (incidents.len() == filter.limit as usize)
            .then(|| incidents.last().map(|incident| incident.id))
            .flatten();
        Ok(IncidentPage {
            incidents,
            total: count.total,
            total_capped: count.capped,
            next_before_id,
        })
    }

    /// The history of an incident, oldest first. Needs `incidents:read`.
    pub fn history(&self, id: i64, caller: &Principal) -> ServiceResult<Vec<HistoryEntry>> {
        IncidentService::require(caller, Scope::IncidentsRead)?;
        self.load(id)?;
        Ok(self.store.incident_history(id)?)
    }

    /// The fields that differ between versions `from` and `to` (0 ≤ from ≤ to ≤ the
    /// current version; version 0 is "before it existed"; no `to` is the current version),
    /// with the `to` used. Needs `incidents:read`.
    pub fn diff(
        &self,
        id: i64,
        from: i64,
        to: Option<i64>,
        caller: &Principal,
    ) -> ServiceResult<(i64, Vec<FieldDiff>)> {
        IncidentService::require(caller, Scope::IncidentsRead)?;
        let current = self.load(id)?;
        let to = to.unwrap_or(current.version);
        if from < 0 || from > to {
            return Err(ServiceError::invalid(
                "from",
                format!("from: {from} must be at least 0 and at most to ({to})"),
            ));
        }
        if to > current.version {
            return Err(ServiceError::invalid(
                "to",
                format!(
                    "to: {to} is past the incident's current version {}",
                    current.version
                ),
            ));
        }
        Ok((
            to,
            diff_versions(&self.store.incident_history(id)?, from, to),
        ))
    }

    /// Reports an incident by hand (§10.3). Needs `incidents:report`.
    pub fn report(&self, report: IncidentReport, caller: &Principal) -> ServiceResult<Incident> {
        IncidentService::require(caller, Scope::IncidentsReport)?;
        let now = now_ms();
        let mut incident = blank(caller, now, report.title, report.category);
        incident.tags = report.tags;
        incident.discovered_at_ms = report.discovered_at_ms;
        incident.affected_systems = trimmed_list(report.affected_systems);
        incident.description = report.description;
        incident.evidence = report.evidence;
        incident.observables = trimmed_observables(report.observables);
        incident.unsure_of_level = report.unsure_of_level;
        incident.is_drill = report.is_drill;
        self.create(incident, "incident.report", caller)
    }

    /// Opens an incident from alerts, links them, takes the alerts' users and IPs as
    /// observables, and resolves each alert with a note naming the incident. Needs
    /// `incidents:write`. An alert already linked to an incident is a conflict.
    pub fn promote_from_alerts(
        &self,
        input: FromAlerts,
        caller: &Principal,
    ) -> ServiceResult<Incident> {
        IncidentService::require(caller, Scope::IncidentsWrite)?;
        let seqs = checked_seqs(&input.alerts)?;
        let mut incident = blank(caller, now_ms(), input.title, input.category);
        incident.description = input.description;
        incident.is_drill = input.is_drill;
        incident.observables = self.observables_of(&seqs)?;
        incident.alerts = seqs;
        let created = self.create(incident, "incident.promote", caller)?;
        self.resolve_alerts(&created.alerts, created.id, caller);
        self.load(created.id)
    }

    /// Opens an incident for a rule (the system actor), or, when an open incident already
    /// holds `dedup_key`, links the alerts to it instead: one attack's alert storm opens one
    /// incident. Alerts linked elsewhere already are left where they are. Answers the
    /// incident and whether it was opened by this call. Needs `incidents:write`.
    pub fn open_automatic(
        &self,
        dedup_key: &str,
        input: FromAlerts,
        caller: &Principal,
    ) -> ServiceResult<(Incident, bool)> {
        IncidentService::require(caller, Scope::IncidentsWrite)?;
        let dedup_key = dedup_key.trim();
        check_text(
            "dedup_key",
            dedup_key,
            shopguard_core::incident::record::MAX_DEDUP_KEY_CHARS,
            true,
        )
        .map_err(field_error)?;
        let seqs = checked_seqs(&input.alerts)?;
        // A few rounds: another node may open or change the incident meanwhile.
        for _ in 0..8 {
            let mut free = Vec::new();
            for seq in &seqs {
                if self.store.incident_of_alert(*seq)?.is_none() {
                    free.push(*seq);
                }
            }
            if let Some(open) = self.store.open_incident_by_dedup_key(dedup_key)? {
                if free.is_empty() {
                    return Ok((open, false));
                }
                let version = open.version;
                match self.change(
                    open.id,
                    version,
                    caller,
                    "incident.link_alerts",
                    None,
                    |incident| {
                        incident.alerts.extend(free.iter().copied());
                        Ok(())
                    },
                ) {
                    Ok(linked) => {
                        self.resolve_alerts(&free, linked.id, caller);
                        return Ok((self.load(linked.id)?, false));
                    }
                    Err(ServiceError::Conflict(_)) => continue,
                    Err(error) => return Err(error),
                }
            }
            if free.is_empty() {
                return Err(ServiceError::Conflict(
                    "every alert belongs to an incident already".to_owned(),
                ));
            }
            let mut incident = blank(caller, now_ms(), input.title.clone(), input.category);
            incident.description = input.description.clone();
            incident.is_drill = input.is_drill;
            incident.dedup_key = Some(dedup_key.to_owned());
            incident.observables = self.observables_of(&free)?;
            incident.alerts = free.clone();
            match self.create(incident, "incident.open", caller) {
                Ok(created) => {
                    self.resolve_alerts(&free, created.id, caller);
                    return Ok((self.load(created.id)?, true));
                }
                Err(ServiceError::Conflict(_)) => continue,
                Err(error) => return Err(error),
            }
        }
        Err(ServiceError::Conflict(format!(
            "the incident of '{dedup_key}' kept changing; try again"
        )))
    }

    /// Triages a reported incident: a verdict and its reason (§10.5 b). Needs
    /// `incidents:write`.
    pub fn triage(
        &self,
        id: i64,
        expected_version: i64,
        verdict: Verdict,
        reason: &str,
        caller: &Principal,
    ) -> ServiceResult<Incident> {
        IncidentService::require(caller, Scope::IncidentsWrite)?;
        let reason = checked_reason("reason", Some(reason), true)?;
        self.change(
            id,
            expected_version,
            caller,
            "incident.triage",
            reason.clone(),
            |incident| {
                check_transition(
                    &incident.lifecycle_facts(),
                    Status::Triaged,
                    &MoveInput {
                        verdict: Some(verdict),
                        reason: reason.as_deref(),
                        summary: None,
                    },
                )
                .map_err(lifecycle_conflict)?;
                incident.status = Status::Triaged;
                incident.verdict = Some(verdict);
                Ok(())
            },
        )
    }

    /// Grades an incident from `inputs` by §6.3–6.4 and keeps the inputs, the level and
    /// the reasons. Needs `incidents:write`; not once it is closed.
    pub fn grade(
        &self,
        id: i64,
        expected_version: i64,
        inputs: GradingInputs,
        caller: &Principal,
    ) -> ServiceResult<Incident> {
        IncidentService::require(caller, Scope::IncidentsWrite)?;
        let graded = grade(&inputs, &self.grading).map_err(|error| match error {
            shopguard_core::incident::GradingError::Input { field, .. } => {
                ServiceError::invalid(field, error.to_string())
            }
            other => ServiceError::Internal(other.to_string()),
        })?;
        self.change(
            id,
            expected_version,
            caller,
            "incident.grade",
            None,
            |incident| {
                check_open(incident.status).map_err(lifecycle_conflict)?;
                incident.importance = inputs.importance;
                incident.loss = inputs.loss;
                incident.affected_users = inputs.affected_users;
                incident.platform_users = inputs.platform_users;
                incident.computed_level = Some(graded.level);
                incident.grade_reasons = graded.reasons;
                Ok(())
            },
        )
    }

    /// Sets the level by hand with a reason, or clears the override (`None`; the reason is
    /// still required). Needs `incidents:write`; not once it is closed.
    pub fn override_level(
        &self,
        id: i64,
        expected_version: i64,
        level: Option<Level>,
        reason: &str,
        caller: &Principal,
    ) -> ServiceResult<Incident> {
        IncidentService::require(caller, Scope::IncidentsWrite)?;
        let reason = checked_reason("reason", Some(reason), true)?;
        self.change(
            id,
            expected_version,
            caller,
            "incident.override",
            reason.clone(),
            |incident| {
                check_open(incident.status).map_err(lifecycle_conflict)?;
                incident.override_level = level;
                incident.override_reason = level.and(reason.clone());
                Ok(())
            },
        )
    }

    /// Moves an incident to `to` (assessed, responding, recovered, closed, reviewed, or
    /// responding again to reopen), checked against the lifecycle. Reopening needs a
    /// reason; reviewing needs a summary. Triage goes through [`IncidentService::triage`].
    /// Needs `incidents:write`.
    pub fn transition(
        &self,
        id: i64,
        expected_version: i64,
        to: Status,
        reason: Option<&str>,
        summary: Option<&str>,
        caller: &Principal,
    ) -> ServiceResult<Incident> {
        IncidentService::require(caller, Scope::IncidentsWrite)?;
        if to == Status::Triaged {
            return Err(ServiceError::invalid(
                "to",
                "to: an incident is triaged with a verdict (POST …/triage), not by a transition",
            ));
        }
        let reason = checked_reason("reason", reason, false)?;
        let summary = match summary.map(str::trim).filter(|text| !text.is_empty()) {
            Some(text) => {
                check_text("summary", text, MAX_LONG_TEXT_CHARS, true).map_err(field_error)?;
                Some(text.to_owned())
            }
            None => None,
        };
        let action = "incident.transition";
        self.change(
            id,
            expected_version,
            caller,
            action,
            reason.clone(),
            |incident| {
                check_transition(
                    &incident.lifecycle_facts(),
                    to,
                    &MoveInput {
                        verdict: None,
                        reason: reason.as_deref(),
                        summary: summary.as_deref(),
                    },
                )
                .map_err(lifecycle_conflict)?;
                incident.status = to;
                if to == Status::Reviewed {
                    incident.review_summary = summary.clone();
                }
                Ok(())
            },
        )
    }

    /// Records that the incident was re-assessed (§10.5), by the caller, now. Needs
    /// `incidents:write`; not once it is closed.
    pub fn reassess(
        &self,
        id: i64,
        expected_version: i64,
        reason: Option<&str>,
        caller: &Principal,
    ) -> ServiceResult<Incident> {
        IncidentService::require(caller, Scope::IncidentsWrite)?;
        let reason = checked_reason("reason", reason, false)?;
        let at = now_ms();
        let by = caller.actor.to_string();
        self.change(
            id,
            expected_version,
            caller,
            "incident.reassess",
            reason,
            |incident| {
                check_open(incident.status).map_err(lifecycle_conflict)?;
                incident.reassessed_at_ms = Some(at);
                incident.reassessed_by = Some(by.clone());
                Ok(())
            },
        )
    }

    /// Records that the incident was escalated to senior management (§10.4 b), by the
    /// caller, now. Needs `incidents:approve`; not once it is closed.
    pub fn escalate(
        &self,
        id: i64,
        expected_version: i64,
        reason: Option<&str>,
        caller: &Principal,
    ) -> ServiceResult<Incident> {
        IncidentService::require(caller, Scope::IncidentsApprove)?;
        let reason = checked_reason("reason", reason, false)?;
        let at = now_ms();
        let by = caller.actor.to_string();
        self.change(
            id,
            expected_version,
            caller,
            "incident.escalate",
            reason,
            |incident| {
                check_open(incident.status).map_err(lifecycle_conflict)?;
                incident.escalated_at_ms = Some(at);
                incident.escalated_by = Some(by.clone());
                Ok(())
            },
        )
    }

    /// Assigns an incident to an existing, enabled operator, or to nobody (`None`). Needs
    /// `incidents:write`; not once it is closed.
    pub fn assign(
        &self,
        id: i64,
        expected_version: i64,
        assignee: Option<&str>,
        caller: &Principal,
    ) -> ServiceResult<Incident> {
        IncidentService::require(caller, Scope::IncidentsWrite)?;
        if let Some(username) = assignee {
            match self.store.operator(username)? {
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
        self.change(
            id,
            expected_version,
            caller,
            "incident.assign",
            None,
            |incident| {
                check_open(incident.status).map_err(lifecycle_conflict)?;
                incident.assignee = assignee.map(str::to_owned);
                Ok(())
            },
        )
    }

    /// Edits the report fields, with an optional reason. Needs `incidents:write`; not once
    /// it is reviewed.
    pub fn edit(
        &self,
        id: i64,
        expected_version: i64,
        edit: IncidentEdit,
        reason: Option<&str>,
        caller: &Principal,
    ) -> ServiceResult<Incident> {
        IncidentService::require(caller, Scope::IncidentsWrite)?;
        let reason = checked_reason("reason", reason, false)?;
        self.change(
            id,
            expected_version,
            caller,
            "incident.edit",
            reason,
            |incident| {
                check_editable(incident.status).map_err(lifecycle_conflict)?;
                if let Some(title) = edit.title {
                    incident.title = title.trim().to_owned();
                }
                if let Some(category) = edit.category {
                    incident.category = category;
                }
                if let Some(tags) = edit.tags {
                    incident.tags = tags;
                }
                if let Some(description) = edit.description {
                    incident.description = description;
                }
                if let Some(evidence) = edit.evidence {
                    incident.evidence = evidence;
                }
                if let Some(systems) = edit.affected_systems {
                    incident.affected_systems = trimmed_list(systems);
                }
                if let Some(observables) = edit.observables {
                    incident.observables = trimmed_observables(observables);
                }
                if let Some(unsure) = edit.unsure_of_level {
                    incident.unsure_of_level = unsure;
                }
                Ok(())
            },
        )
    }

    /// The observables of alerts: their users (accounts) and IPs, each once, at most 100.
    fn observables_of(&self, seqs: &[i64]) -> ServiceResult<Vec<Observable>> {
        let mut observables: Vec<Observable> = Vec::new();
        for seq in seqs {
            let alert = self
                .store
                .alert(*seq)?
                .ok_or_else(|| ServiceError::NotFound(format!("alert {seq} not found")))?
                .alert;
            let mut found = vec![Observable {
                kind: ObservableKind::Account,
                value: alert.user_id.clone(),
            }];
            if let Some(ip) = alert.ip {
                found.push(Observable {
                    kind: ObservableKind::Ip,
                    value: ip,
                });
            }
            for observable in found {
                let fits = !observable.value.trim().is_empty()
                    && observable.value.chars().count()
                        <= shopguard_core::incident::record::MAX_OBSERVABLE_CHARS;
                if fits
                    && observables.len() < shopguard_core::incident::record::MAX_OBSERVABLES
                    && !observables.contains(&observable)
                {
                    observables.push(observable);
                }
            }
        }
        Ok(observables)
    }

    /// Resolves each alert that is open or acknowledged with a note naming the incident
    /// (right after the link is stored; see the module documentation).
    fn resolve_alerts(&self, seqs: &[i64], incident_id: i64, caller: &Principal) {
        for seq in seqs {
            if let Err(error) = self.resolve_alert(*seq, incident_id, caller) {
                tracing::warn!(seq, incident_id, %error, "a promoted alert was not resolved");
            }
        }
    }

    fn resolve_alert(&self, seq: i64, incident_id: i64, caller: &Principal) -> ServiceResult<()> {
        for _ in 0..3 {
            let Some(detail) = self.store.alert(seq)? else {
                return Ok(());
            };
            if !matches!(
                detail.triage.status,
                AlertStatus::Open | AlertStatus::Acknowledged
            ) {
                return Ok(());
            }
            let at_ms = now_ms();
            let text = format!("promoted to incident {incident_id}");
            let note = AlertNote {
                author: caller.actor.to_string(),
                at_ms,
                text: text.clone(),
                status: Some(AlertStatus::Resolved),
            };
            let entry = AuditService::entry_at(
                at_ms,
                RecordClass::Incident,
                &caller.actor,
                "alert.resolve",
                format!("alert:{seq}"),
                serde_json::json!({
                    "from": detail.triage.status,
                    "to": AlertStatus::Resolved,
                    "version": detail.triage.version,
                    "reason": text,
                    "incident": incident_id,
                }),
            );
            let change = AlertChange {
                status: AlertStatus::Resolved,
                assignee: detail.triage.assignee.as_deref(),
                by: &entry.content.actor,
                at_ms,
                note: Some(&note),
            };
            if self
                .store
                .change_alert(seq, detail.triage.version, &change, &entry)?
                .is_some()
            {
                self.audit.settle()?;
                return Ok(());
            }
        }
        Err(ServiceError::Conflict(format!(
            "alert {seq} kept changing while it was being resolved"
        )))
    }

    /// Stores a new incident with the history of its creation and its audit entry.
    fn create(
        &self,
        incident: Incident,
        action: &str,
        caller: &Principal,
    ) -> ServiceResult<Incident> {
        incident.validate().map_err(field_error)?;
        let mut history: Vec<HistoryEntry> = field_changes(None, &incident)
            .into_iter()
            .map(|change| HistoryEntry {
                version: 1,
                at_ms: incident.created_at_ms,
                actor: caller.actor.to_string(),
                action: action.to_owned(),
                field: change.field,
                old: change.old,
                new: change.new,
                reason: None,
            })
            .collect();
        if !incident.alerts.is_empty() {
            history.push(link_entry(
                &incident.alerts,
                1,
                incident.created_at_ms,
                caller,
                action,
            ));
        }
        let at_ms = incident.created_at_ms;
        let audit = |id: i64| -> NewAuditEntry {
            AuditService::entry_at(
                at_ms,
                RecordClass::Incident,
                &caller.actor,
                action,
                format!("incident:{id}"),
                serde_json::json!({
                    "version": 1,
                    "changes": history.iter().map(|entry| serde_json::json!({
                        "field": entry.field, "new": entry.new
                    })).collect::<Vec<_>>(),
                }),
            )
        };
        let written = self.store.create_incident(&incident, &history, &audit)?;
        let id = self.outcome(written, None)?;
        self.audit.settle()?;
        self.load(id)
    }

    /// Reads incident `id`, refuses a stale version, applies `mutate`, checks the limits,
    /// and stores the change with its history and audit entry. A change that changes
    /// nothing stores nothing and answers the incident as it is.
    fn change(
        &self,
        id: i64,
        expected_version: i64,
        caller: &Principal,
        action: &str,
        reason: Option<String>,
        mutate: impl FnOnce(&mut Incident) -> ServiceResult<()>,
    ) -> ServiceResult<Incident> {
        let before = self.load(id)?;
        if before.version != expected_version {
            return Err(stale(id, expected_version, before.version));
        }
        let mut after = before.clone();
        mutate(&mut after)?;
        after.validate().map_err(field_error)?;
        let at_ms = now_ms();
        let version = expected_version.saturating_add(1);
        let actor = caller.actor.to_string();
        let mut history: Vec<HistoryEntry> = field_changes(Some(&before), &after)
            .into_iter()
            .map(|change| HistoryEntry {
                version,
                at_ms,
                actor: actor.clone(),
                action: action.to_owned(),
                field: change.field,
                old: change.old,
                new: change.new,
                reason: reason.clone(),
            })
            .collect();
        let added: Vec<i64> = after
            .alerts
            .iter()
            .filter(|seq| !before.alerts.contains(seq))
            .copied()
            .collect();
        if !added.is_empty() {
            history.push(link_entry(&added, version, at_ms, caller, action));
        }
        if history.is_empty() {
            return Ok(before);
        }
        after.version = version;
        after.updated_at_ms = at_ms;
        let entry = AuditService::entry_at(
            at_ms,
            RecordClass::Incident,
            &caller.actor,
            action,
            format!("incident:{id}"),
            serde_json::json!({
                "version": expected_version,
                "reason": reason,
                "changes": history.iter().map(|entry| serde_json::json!({
                    "field": entry.field, "old": entry.old, "new": entry.new
                })).collect::<Vec<_>>(),
            }),
        );
        let written = self
            .store
            .update_incident(&after, expected_version, &history, &entry)?;
        self.outcome(written, Some((id, expected_version)))?;
        self.audit.settle()?;
        self.load(id)
    }

    /// The id or version a write answered, or the conflict that refused it.
    fn outcome(&self, written: IncidentWrite, change: Option<(i64, i64)>) -> ServiceResult<i64> {
        match written {
            IncidentWrite::Done(value) => Ok(value),
            IncidentWrite::Stale => {
                let (id, expected) = change.unwrap_or((0, 0));
                let now = self.load(id).map(|incident| incident.version).unwrap_or(0);
                Err(stale(id, expected, now))
            }
            IncidentWrite::AlertLinked { seq, incident_id } => Err(ServiceError::Conflict(
                format!("alert {seq} belongs to incident {incident_id} already"),
            )),
            IncidentWrite::DedupTaken { incident_id } => Err(ServiceError::Conflict(format!(
                "incident {incident_id} is open with the same deduplication key"
            ))),
        }
    }
}

/// A new incident as reported now by `caller`.
fn blank(caller: &Principal, now: i64, title: String, category: Category) -> Incident {
    Incident {
        id: 0,
        title: title.trim().to_owned(),
        category,
        tags: Vec::new(),
        status: Status::Reported,
        verdict: None,
        importance: None,
        loss: None,
        affected_users: None,
        platform_users: None,
        computed_level: None,
        grade_reasons: Vec::new(),
        override_level: None,
        override_reason: None,
        reporter: caller.actor.to_string(),
        discovered_at_ms: None,
        reported_at_ms: now,
        affected_systems: Vec::new(),
        description: String::new(),
        evidence: String::new(),
        observables: Vec::new(),
        unsure_of_level: false,
        assignee: None,
        dedup_key: None,
        is_drill: false,
        reassessed_at_ms: None,
        reassessed_by: None,
        escalated_at_ms: None,
        escalated_by: None,
        review_summary: None,
        alerts: Vec::new(),
        created_at_ms: now,
        updated_at_ms: now,
        version: 1,
    }
}

/// The history entry of linking `seqs` in `version`.
fn link_entry(
    seqs: &[i64],
    version: i64,
    at_ms: i64,
    caller: &Principal,
    action: &str,
) -> HistoryEntry {
    HistoryEntry {
        version,
        at_ms,
        actor: caller.actor.to_string(),
        action: action.to_owned(),
        field: ALERTS_LINKED_FIELD.to_owned(),
        old: serde_json::Value::Null,
        new: serde_json::json!(seqs),
        reason: None,
    }
}

/// The alerts of a call: at least one, at most [`MAX_ALERTS_PER_CALL`], each once.
fn checked_seqs(seqs: &[i64]) -> ServiceResult<Vec<i64>> {
    if seqs.is_empty() {
        return Err(ServiceError::invalid(
            "alerts",
            "alerts: name at least one alert",
        ));
    }
    if seqs.len() > MAX_ALERTS_PER_CALL {
        return Err(ServiceError::invalid(
            "alerts",
            format!("alerts: at most {MAX_ALERTS_PER_CALL} in one call"),
        ));
    }
    let mut unique: Vec<i64> = Vec::with_capacity(seqs.len());
    for seq in seqs {
        if !unique.contains(seq) {
            unique.push(*seq);
        }
    }
    Ok(unique)
}

/// The conflict of a change based on a version that is gone.
fn stale(id: i64, expected_version: i64, current_version: i64) -> ServiceError {
    ServiceError::Conflict(format!(
        "incident {id} was changed by someone else (version {current_version}, not {expected_version}); reload it and try again"
    ))
}
