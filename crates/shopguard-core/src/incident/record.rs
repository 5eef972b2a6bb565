//! The incident: one row of the security-event database (§8.5, §10.3, §10.6), with the
//! report form's fields, its classification, grading inputs and result, lifecycle state and
//! bookkeeping, and the limits on every field.
//!
//! The record lives in the core, not in storage: the history ([`super::history`]) is
//! computed field by field from two states of it and the lifecycle reads its facts, both pure
//! functions that the service calls before storage sees anything. Storage keeps it as one row
//! (enums as their codes, lists as JSON) plus side tables it derives from it (observables,
//! linked alerts).

use serde::{Deserialize, Serialize};

use super::category::{Category, ConsequenceTag};
use super::grading::{GradeReason, GradingInputs, Level, SystemImportance, SystemLoss};
use super::labelled_enum;
use super::lifecycle::{LifecycleFacts, Status, Verdict};

/// Most characters of a title.
pub const MAX_TITLE_CHARS: usize = 200;
/// Most characters of a description, the evidence or a review summary.
pub const MAX_LONG_TEXT_CHARS: usize = 20_000;
/// Most characters of a reason (triage, override, reopen, any change).
pub const MAX_REASON_CHARS: usize = 2_000;
/// Most observables on one incident.
pub const MAX_OBSERVABLES: usize = 100;
/// Most characters of one observable's value.
pub const MAX_OBSERVABLE_CHARS: usize = 500;
/// Most affected systems on one incident.
pub const MAX_AFFECTED_SYSTEMS: usize = 50;
/// Most characters of one affected system's name.
pub const MAX_SYSTEM_CHARS: usize = 200;
/// Most characters of an actor (reporter, assignee, reassessor, escalator).
pub const MAX_ACTOR_CHARS: usize = 200;
/// Most characters of a deduplication key.
pub const MAX_DEDUP_KEY_CHARS: usize = 200;
/// Most alerts linked to one incident.
pub const MAX_LINKED_ALERTS: usize = 10_000;
/// Most users a count may name (affected or platform).
pub const MAX_USERS: u64 = 1_000_000_000_000;

labelled_enum!(
    /// What an observable is.
    ObservableKind, "observable kind", {
        /// An IP address.
        Ip = 1, "ip", "IP地址", "IP address";
        /// A user account.
        Account = 2, "account", "账户", "Account";
        /// A device.
        Device = 3, "device", "设备", "Device";
        /// A URL.
        Url = 4, "url", "网址", "URL";
        /// A listing (商品).
        Listing = 5, "listing", "商品", "Listing";
        /// A card BIN.
        CardBin = 6, "card_bin", "卡BIN", "Card BIN";
        /// An email address.
        Email = 7, "email", "电子邮箱", "Email";
        /// Anything else.
        Other = 8, "other", "其他", "Other";
    }
);

/// Something seen in an incident (an IP, an account, …) by which incidents are found.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Observable {
    /// What it is.
    pub kind: ObservableKind,
    /// Its value, 1 to 500 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub value: String,
}

/// One incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Incident {
    /// Its number (assigned by storage, 0 before).
    pub id: i64,
    /// A short title, 1 to 200 characters.
    pub title: String,
    /// Its category (§6.2).
    pub category: Category,
    /// Its negative consequences (§8.3.3), each once.
    pub tags: Vec<ConsequenceTag>,
    /// Where it stands.
    pub status: Status,
    /// The triage verdict, once triaged.
    pub verdict: Option<Verdict>,
    /// The importance of the affected system (§6.3.2), once known.
    pub importance: Option<SystemImportance>,
    /// The system's loss (§6.3.3), once known.
    pub loss: Option<SystemLoss>,
    /// How many users it affects, once known.
    pub affected_users: Option<u64>,
    /// How many users the platform had when it was graded.
    pub platform_users: Option<u64>,
    /// The level computed from the inputs (§6.4), once graded.
    pub computed_level: Option<Level>,
    /// Why the computed level is what it is.
    pub grade_reasons: Vec<GradeReason>,
    /// A level set by hand over the computed one.
    pub override_level: Option<Level>,
    /// Why the level was set by hand.
    pub override_reason: Option<String>,
    /// Who reported it (an actor).
    pub reporter: String,
    /// When it was discovered (ms since epoch), when the reporter knows.
    pub discovered_at_ms: Option<i64>,
    /// When it was reported (ms since epoch).
    pub reported_at_ms: i64,
    /// The systems it affects, at most 50.
    pub affected_systems: Vec<String>,
    /// What happened, at most 20,000 characters.
    pub description: String,
    /// The evidence, at most 20,000 characters.
    pub evidence: String,
    /// What was seen (IPs, accounts, …), at most 100.
    pub observables: Vec<Observable>,
    /// The reporter is not sure of the level (§10.3): to be revisited.
    pub unsure_of_level: bool,
    /// Who works it.
    pub assignee: Option<String>,
    /// A key that one attack's alerts share, so they open one incident (unique among
    /// incidents not closed).
    pub dedup_key: Option<String>,
    /// Whether it belongs to a drill.
    pub is_drill: bool,
    /// When a re-assessment was recorded (§10.5).
    pub reassessed_at_ms: Option<i64>,
    /// Who recorded the re-assessment.
    pub reassessed_by: Option<String>,
    /// When the escalation to senior management was recorded (§10.4 b).
    pub escalated_at_ms: Option<i64>,
    /// Who recorded the escalation.
    pub escalated_by: Option<String>,
    /// The review's summary, once reviewed.
    pub review_summary: Option<String>,
    /// The alerts linked to it (their `seq`), ascending.
    pub alerts: Vec<i64>,
    /// When it was created (ms since epoch).
    pub created_at_ms: i64,
    /// When it last changed (ms since epoch).
    pub updated_at_ms: i64,
    /// Changes so far, starting at 1; a change names the version it read.
    pub version: i64,
}

/// A field over its limit or otherwise unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    fn new(field: &'static str, message: impl Into<String>) -> FieldError {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

/// Checks `text` has at most `max` characters (and at least one when `required`).
pub fn check_text(
    field: &'static str,
    text: &str,
    max: usize,
    required: bool,
) -> Result<(), FieldError> {
    if required && text.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(FieldError::new(
            field,
            format!("{chars} characters; at most {max} are allowed"),
        ));
    }
    Ok(())
}

fn check_optional(field: &'static str, text: Option<&str>, max: usize) -> Result<(), FieldError> {
    text.map_or(Ok(()), |text| check_text(field, text, max, true))
}

impl Incident {
    /// The level that counts: the override when there is one, else the computed level.
    pub fn effective_level(&self) -> Option<Level> {
        self.override_level.or(self.computed_level)
    }

    /// The grading inputs it holds.
    pub fn grading_inputs(&self) -> GradingInputs {
        GradingInputs {
            importance: self.importance,
            loss: self.loss,
            affected_users: self.affected_users,
            platform_users: self.platform_users,
        }
    }

    /// What the lifecycle needs to know of it.
    pub fn lifecycle_facts(&self) -> LifecycleFacts {
        LifecycleFacts {
            status: self.status,
            verdict: self.verdict,
            graded: self.computed_level.is_some(),
            effective_level: self.effective_level(),
            reassessed: self.reassessed_at_ms.is_some(),
            escalated: self.escalated_at_ms.is_some(),
        }
    }

    /// Checks every field against its limit.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_text("title", &self.title, MAX_TITLE_CHARS, true)?;
        check_text("description", &self.description, MAX_LONG_TEXT_CHARS, false)?;
        check_text("evidence", &self.evidence, MAX_LONG_TEXT_CHARS, false)?;
        check_text("reporter", &self.reporter, MAX_ACTOR_CHARS, true)?;
        check_optional("assignee", self.assignee.as_deref(), MAX_ACTOR_CHARS)?;
        check_optional("dedup_key", self.dedup_key.as_deref(), MAX_DEDUP_KEY_CHARS)?;
        check_optional(
            "override_reason",
            self.override_reason.as_deref(),
            MAX_REASON_CHARS,
        )?;
        check_optional(
            "review_summary",
            self.review_summary.as_deref(),
            MAX_LONG_TEXT_CHARS,
        )?;
        if self.override_level.is_some() != self.override_reason.is_some() {
            return Err(FieldError::new(
                "override_reason",
                "a level set by hand needs its reason, and only then",
            ));
        }
        let mut tags = self.tags.clone();
        tags.sort_by_key(|tag| tag.code());
        tags.dedup();
        if tags.len() != self.tags.len() {
            return Err(FieldError::new("tags", "each tag at most once"));
        }
        if self.affected_systems.len() > MAX_AFFECTED_SYSTEMS {
            return Err(FieldError::new(
                "affected_systems",
                format!(
                    "{} systems; at most {MAX_AFFECTED_SYSTEMS} are allowed",
                    self.affected_systems.len()
                ),
            ));
        }
        for system in &self.affected_systems {
            check_text("affected_systems", system, MAX_SYSTEM_CHARS, true)?;
        }
        if self.observables.len() > MAX_OBSERVABLES {
            return Err(FieldError::new(
                "observables",
                format!(
                    "{} observables; at most {MAX_OBSERVABLES} are allowed",
                    self.observables.len()
                ),
            ));
        }
        for observable in &self.observables {
            check_text("observables", &observable.value, MAX_OBSERVABLE_CHARS, true)?;
        }
        if self.alerts.len() > MAX_LINKED_ALERTS {
            return Err(FieldError::new(
                "alerts",
                format!("at most {MAX_LINKED_ALERTS} alerts are linked to one incident"),
            ));
        }
        for (field, count) in [
            ("affected_users", self.affected_users),
            ("platform_users", self.platform_users),
        ] {
            if count.is_some_and(|count| count > MAX_USERS) {
                return Err(FieldError::new(field, format!("at most {MAX_USERS} users")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codes::StoredCode;

    /// Test help: a freshly reported incident.
    pub(crate) fn reported() -> Incident {
        Incident {
            id: 0,
            title: "phishing page imitating our login".to_owned(),
            category: Category::PhishingTrojan,
            tags: vec![],
            status: Status::Reported,
            verdict: None,
            importance: None,
            loss: None,
            affected_users: None,
            platform_users: None,
            computed_level: None,
            grade_reasons: vec![],
            override_level: None,
            override_reason: None,
            reporter: "operator:alice".to_owned(),
            discovered_at_ms: Some(1_000),
            reported_at_ms: 2_000,
            affected_systems: vec!["login".to_owned()],
            description: String::new(),
            evidence: String::new(),
            observables: vec![Observable {
                kind: ObservableKind::Url,
                value: "http://examp1e.com/login".to_owned(),
            }],
            unsure_of_level: true,
            assignee: None,
            dedup_key: None,
            is_drill: false,
            reassessed_at_ms: None,
            reassessed_by: None,
            escalated_at_ms: None,
            escalated_by: None,
            review_summary: None,
            alerts: vec![],
            created_at_ms: 2_000,
            updated_at_ms: 2_000,
            version: 1,
        }
    }

    #[test]
    fn limits_name_the_field() {
        reported().validate().unwrap();
        type Change = Box<dyn Fn(&mut Incident)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|i| i.title = " ".into()), "title"),
            (Box::new(|i| i.title = "x".repeat(201)), "title"),
            (
                Box::new(|i| i.description = "说".repeat(20_001)),
                "description",
            ),
            (Box::new(|i| i.evidence = "x".repeat(20_001)), "evidence"),
            (
                Box::new(|i| i.affected_systems = vec!["a".into(); 51]),
                "affected_systems",
            ),
            (
                Box::new(|i| i.observables[0].value = "x".repeat(501)),
                "observables",
            ),
            (
                Box::new(|i| {
                    i.observables = vec![
                        Observable {
                            kind: ObservableKind::Ip,
                            value: "1.2.3.4".into()
                        };
                        101
                    ]
                }),
                "observables",
            ),
            (
                Box::new(|i| i.tags = vec![ConsequenceTag::Theft, ConsequenceTag::Theft]),
                "tags",
            ),
            (
                Box::new(|i| i.override_level = Some(Level::I)),
                "override_reason",
            ),
            (
                Box::new(|i| i.affected_users = Some(MAX_USERS + 1)),
                "affected_users",
            ),
        ];
        for (change, field) in cases {
            let mut incident = reported();
            change(&mut incident);
            assert_eq!(incident.validate().unwrap_err().field, field);
        }
        let mut fine = reported();
        fine.description = "说".repeat(20_000);
        fine.validate().unwrap();
    }

    #[test]
    fn the_effective_level_is_the_override_first() {
        let mut incident = reported();
        assert_eq!(incident.effective_level(), None);
        incident.computed_level = Some(Level::III);
        assert_eq!(incident.effective_level(), Some(Level::III));
        incident.override_level = Some(Level::II);
        assert_eq!(incident.effective_level(), Some(Level::II));
        assert_eq!(incident.lifecycle_facts().effective_level, Some(Level::II));
    }

    #[test]
    fn observable_kind_codes_are_pinned() {
        use ObservableKind::*;
        assert_eq!(
            ObservableKind::CODES,
            [
                (Ip, 1),
                (Account, 2),
                (Device, 3),
                (Url, 4),
                (Listing, 5),
                (CardBin, 6),
                (Email, 7),
                (Other, 8)
            ]
        );
        assert_eq!("card_bin".parse::<ObservableKind>(), Ok(CardBin));
    }
}
