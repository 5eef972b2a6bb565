//! The lifecycle of an incident (§10.4–10.6) as one pure transition function.
//!
//! ```text
//! reported ──triage──► triaged ──(true positive, graded)──► assessed ──► responding ──► recovered ──► closed ──► reviewed
//!                         │                                                  ▲                          │
//!                         └──(false positive, duplicate, benign)──► closed   └────── reopen (reason) ───┘
//! ```
//!
//! - Triage (§10.5 b) names a verdict and a reason.
//! - Only a true positive is assessed, and only once it has a grade; any other verdict
//!   closes the incident.
//! - An incident whose effective level is II or above cannot close until a re-assessment
//!   (§10.5) and an escalation to senior management (§10.4 b) are recorded on it.
//! - A closed incident is reviewed (with a summary) or reopened into responding (with a
//!   reason). A reviewed incident is final.

use super::grading::Level;
use super::labelled_enum;

labelled_enum!(
    /// Where an incident stands.
    Status, "incident status", {
        /// Reported, not yet triaged.
        Reported = 1, "reported", "已报告", "Reported";
        /// Triaged: a verdict is given.
        Triaged = 2, "triaged", "已研判", "Triaged";
        /// Assessed: graded and confirmed (§10.5 c).
        Assessed = 3, "assessed", "已评估", "Assessed";
        /// Being responded to.
        Responding = 4, "responding", "响应中", "Responding";
        /// Recovered: the service is restored.
        Recovered = 5, "recovered", "已恢复", "Recovered";
        /// Closed.
        Closed = 6, "closed", "已关闭", "Closed";
        /// Reviewed after closing (§11).
        Reviewed = 7, "reviewed", "已复盘", "Reviewed";
    }
);

labelled_enum!(
    /// The verdict of triage (§10.5 b).
    Verdict, "triage verdict", {
        /// A real incident.
        TruePositive = 1, "true_positive", "属实", "True positive";
        /// A false report (误报).
        FalsePositive = 2, "false_positive", "误报", "False positive";
        /// The same incident as another one.
        Duplicate = 3, "duplicate", "重复", "Duplicate";
        /// Real, but harmless.
        Benign = 4, "benign", "无害", "Benign";
    }
);

impl Status {
    /// Whether the incident is over (closed or reviewed): it counts as not open, its
    /// deduplication key is free again, and it takes no more grades.
    pub fn is_closed(self) -> bool {
        matches!(self, Status::Closed | Status::Reviewed)
    }
}

/// What the transition function needs to know of an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifecycleFacts {
    /// Its status.
    pub status: Status,
    /// Its triage verdict, once triaged.
    pub verdict: Option<Verdict>,
    /// Whether it has a grade.
    pub graded: bool,
    /// Its effective level (the override when there is one, else the computed one).
    pub effective_level: Option<Level>,
    /// Whether a re-assessment is recorded (§10.5).
    pub reassessed: bool,
    /// Whether an escalation to senior management is recorded (§10.4 b).
    pub escalated: bool,
}

/// What comes with a move.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MoveInput<'a> {
    /// The verdict (triage only).
    pub verdict: Option<Verdict>,
    /// The reason (required by triage and reopening).
    pub reason: Option<&'a str>,
    /// The review summary (required to become reviewed).
    pub summary: Option<&'a str>,
}

/// A move the lifecycle refuses, saying what is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// There is no such move from this status.
    #[error("an incident that is {from} cannot become {to}")]
    NotAllowed {
        /// Where it is.
        from: Status,
        /// Where it was asked to go.
        to: Status,
    },
    /// Triage needs a verdict.
    #[error("triage needs a verdict: true_positive, false_positive, duplicate or benign")]
    VerdictNeeded,
    /// The move needs a reason.
    #[error("becoming {to} needs a reason")]
    ReasonNeeded {
        /// Where it was asked to go.
        to: Status,
    },
    /// Only a true positive is assessed; the others are closed.
    #[error("a triaged incident with verdict {verdict} is closed, not assessed")]
    NotTruePositive {
        /// Its verdict.
        verdict: Verdict,
    },
    /// A true positive is assessed and responded to, not closed after triage.
    #[error("a true positive is assessed before it closes")]
    TruePositiveCannotClose,
    /// Assessing needs a grade.
    #[error("an incident is graded before it is assessed")]
    GradeNeeded,
    /// Level II and above need a re-assessment before closing (§10.5).
    #[error("a level {} incident needs a re-assessment (§10.5) recorded before it closes", .level.roman())]
    ReassessmentNeeded {
        /// Its effective level.
        level: Level,
    },
    /// Level II and above need an escalation to senior management before closing (§10.4 b).
    #[error("a level {} incident needs its escalation to senior management (§10.4 b) recorded before it closes", .level.roman())]
    EscalationNeeded {
        /// Its effective level.
        level: Level,
    },
    /// A review needs a summary.
    #[error("a review needs a summary")]
    SummaryNeeded,
    /// The incident is closed or reviewed: it takes no more of this change.
    #[error("an incident that is {0} cannot be changed this way")]
    Finished(Status),
}

fn given(text: Option<&str>) -> bool {
    text.is_some_and(|text| !text.trim().is_empty())
}

/// Checks a move of an incident described by `facts` to `to` with `input`.
pub fn check_transition(
    facts: &LifecycleFacts,
    to: Status,
    input: &MoveInput<'_>,
) -> Result<(), LifecycleError> {
    use Status::*;
    let from = facts.status;
    match (from, to) {
        (Reported, Triaged) => {
            if input.verdict.is_none() {
                return Err(LifecycleError::VerdictNeeded);
            }
            if !given(input.reason) {
                return Err(LifecycleError::ReasonNeeded { to });
            }
            Ok(())
        }
        (Triaged, Assessed) => match facts.verdict {
            Some(Verdict::TruePositive) if facts.graded => Ok(()),
            Some(Verdict::TruePositive) => Err(LifecycleError::GradeNeeded),
            Some(verdict) => Err(LifecycleError::NotTruePositive { verdict }),
            None => Err(LifecycleError::VerdictNeeded),
        },
        (Triaged, Closed) => match facts.verdict {
            Some(Verdict::TruePositive) => Err(LifecycleError::TruePositiveCannotClose),
            Some(_) => Ok(()),
            None => Err(LifecycleError::VerdictNeeded),
        },
        (Assessed, Responding) | (Responding, Recovered) => Ok(()),
        (Recovered, Closed) => match facts.effective_level {
            Some(level) if level >= Level::II && !facts.reassessed => {
                Err(LifecycleError::ReassessmentNeeded { level })
            }
            Some(level) if level >= Level::II && !facts.escalated => {
                Err(LifecycleError::EscalationNeeded { level })
            }
            _ => Ok(()),
        },
        (Closed, Reviewed) => {
            if given(input.summary) {
                Ok(())
            } else {
                Err(LifecycleError::SummaryNeeded)
            }
        }
        (Closed, Responding) => {
            if given(input.reason) {
                Ok(())
            } else {
                Err(LifecycleError::ReasonNeeded { to })
            }
        }
        _ => Err(LifecycleError::NotAllowed { from, to }),
    }
}

/// Checks that an incident in `status` may still be graded, re-assessed, escalated or
/// assigned: not once it is closed or reviewed.
pub fn check_open(status: Status) -> Result<(), LifecycleError> {
    if status.is_closed() {
        Err(LifecycleError::Finished(status))
    } else {
        Ok(())
    }
}

/// Checks that an incident in `status` may still be edited: anything but reviewed (a
/// closed incident's record may still be completed before its review).
pub fn check_editable(status: Status) -> Result<(), LifecycleError> {
    if status == Status::Reviewed {
        Err(LifecycleError::Finished(status))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::StoredCode;
    use Status::*;

    fn facts(status: Status) -> LifecycleFacts {
        LifecycleFacts {
            status,
            verdict: Some(Verdict::TruePositive),
            graded: true,
            effective_level: Some(Level::IV),
            reassessed: false,
            escalated: false,
        }
    }

    const FULL: MoveInput<'static> = MoveInput {
        verdict: Some(Verdict::TruePositive),
        reason: Some("seen in the logs"),
        summary: Some("what happened"),
    };

    #[test]
    fn the_table_is_exactly_as_documented() {
        let allowed = [
            (Reported, Triaged),
            (Triaged, Assessed),
            (Assessed, Responding),
            (Responding, Recovered),
            (Recovered, Closed),
            (Closed, Reviewed),
            (Closed, Responding),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                let result = check_transition(&facts(*from), *to, &FULL);
                assert_eq!(
                    result.is_ok(),
                    allowed.contains(&(*from, *to)),
                    "{from} -> {to}: {result:?}"
                );
            }
        }
        let false_positive = LifecycleFacts {
            verdict: Some(Verdict::FalsePositive),
            ..facts(Triaged)
        };
        assert!(check_transition(&false_positive, Closed, &MoveInput::default()).is_ok());
        assert_eq!(
            check_transition(&false_positive, Assessed, &MoveInput::default()),
            Err(LifecycleError::NotTruePositive {
                verdict: Verdict::FalsePositive
            })
        );
        assert_eq!(
            check_transition(&facts(Triaged), Closed, &MoveInput::default()),
            Err(LifecycleError::TruePositiveCannotClose)
        );
    }

    #[test]
    fn what_is_missing_is_named() {
        assert_eq!(
            check_transition(
                &facts(Reported),
                Triaged,
                &MoveInput {
                    reason: Some("x"),
                    ..MoveInput::default()
                }
            ),
            Err(LifecycleError::VerdictNeeded)
        );
        assert_eq!(
            check_transition(
                &facts(Reported),
                Triaged,
                &MoveInput {
                    verdict: Some(Verdict::Benign),
                    reason: Some("  "),
                    summary: None
                }
            ),
            Err(LifecycleError::ReasonNeeded { to: Triaged })
        );
        let ungraded = LifecycleFacts {
            graded: false,
            ..facts(Triaged)
        };
        assert_eq!(
            check_transition(&ungraded, Assessed, &MoveInput::default()),
            Err(LifecycleError::GradeNeeded)
        );
        assert_eq!(
            check_transition(&facts(Closed), Reviewed, &MoveInput::default()),
            Err(LifecycleError::SummaryNeeded)
        );
        assert_eq!(
            check_transition(&facts(Closed), Responding, &MoveInput::default()),
            Err(LifecycleError::ReasonNeeded { to: Responding })
        );
        assert_eq!(
            check_transition(&facts(Reported), Closed, &FULL)
                .unwrap_err()
                .to_string(),
            "an incident that is reported cannot become closed"
        );
    }

    #[test]
    fn level_ii_and_above_close_only_after_reassessment_and_escalation() {
        for level in [Level::I, Level::II] {
            let mut state = LifecycleFacts {
                effective_level: Some(level),
                ..facts(Recovered)
            };
            assert_eq!(
                check_transition(&state, Closed, &MoveInput::default()),
                Err(LifecycleError::ReassessmentNeeded { level })
            );
            state.reassessed = true;
            let refused = check_transition(&state, Closed, &MoveInput::default()).unwrap_err();
            assert_eq!(refused, LifecycleError::EscalationNeeded { level });
            assert!(refused.to_string().contains("§10.4 b"), "{refused}");
            state.escalated = true;
            assert!(check_transition(&state, Closed, &MoveInput::default()).is_ok());
        }
        for level in [Level::III, Level::IV] {
            let state = LifecycleFacts {
                effective_level: Some(level),
                ..facts(Recovered)
            };
            assert!(check_transition(&state, Closed, &MoveInput::default()).is_ok());
        }
    }

    #[test]
    fn closed_incidents_take_no_grades_and_reviewed_ones_no_edits() {
        assert!(check_open(Responding).is_ok());
        assert_eq!(check_open(Closed), Err(LifecycleError::Finished(Closed)));
        assert!(check_editable(Closed).is_ok());
        assert!(check_editable(Reviewed).is_err());
    }

    #[test]
    fn codes_are_pinned() {
        assert_eq!(
            Status::CODES,
            [
                (Reported, 1),
                (Triaged, 2),
                (Assessed, 3),
                (Responding, 4),
                (Recovered, 5),
                (Closed, 6),
                (Reviewed, 7)
            ]
        );
        assert_eq!(
            Verdict::CODES,
            [
                (Verdict::TruePositive, 1),
                (Verdict::FalsePositive, 2),
                (Verdict::Duplicate, 3),
                (Verdict::Benign, 4)
            ]
        );
        let names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "reported",
                "triaged",
                "assessed",
                "responding",
                "recovered",
                "closed",
                "reviewed"
            ]
        );
    }
}
