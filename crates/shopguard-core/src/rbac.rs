//! Who may do what: scopes (what a credential grants), operator roles (bundles of scopes,
//! least privilege), and the separation of duties between them (DB33/T 978-2015 §8.3.4:
//! no one gains or uses rights beyond their duties; temporary rights are explained and
//! approved).
//!
//! | role | scopes | for |
//! |---|---|---|
//! | viewer | decisions:read | looking at decisions (personal data masked) |
//! | analyst | decisions:read, lists:write, alerts:write | investigating, working the alert queue, listing bad actors |
//! | responder | decisions:read, lists:write, alerts:write, pii:unmask | acting on incidents, contacting users |
//! | rule_author | decisions:read, policy:write | writing rules |
//! | approver | decisions:read, policy:approve | approving punitive rules written by others |
//! | administrator | admin | operators, keys, data keys, everything |
//! | auditor | audit:read | reading the audit log, and nothing else |
//!
//! Separation of duties: an auditor holds no other role, even temporarily, so that no one
//! audits what they can change. Approvals (of grants, of punitive rules) always come from
//! someone other than the requester.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a credential may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Send events and challenge results.
    #[serde(rename = "events:write")]
    EventsWrite,
    /// Read decisions and alerts.
    #[serde(rename = "decisions:read")]
    DecisionsRead,
    /// Read the audit log, its proofs and checkpoints, and the retention report; nothing
    /// else (an auditor cannot change what they audit).
    #[serde(rename = "audit:read")]
    AuditRead,
    /// See personal data unmasked (with `unmask=true`); every use is audited.
    #[serde(rename = "pii:unmask")]
    PiiUnmask,
    /// Read, create and change lists and their entries.
    #[serde(rename = "lists:write")]
    ListsWrite,
    /// Check, replace and roll back policies.
    #[serde(rename = "policy:write")]
    PolicyWrite,
    /// Approve a policy version that adds or changes punitive rules (never one's own).
    #[serde(rename = "policy:approve")]
    PolicyApprove,
    /// Work the alert queue: acknowledge, assign, note, resolve, dismiss, reopen.
    #[serde(rename = "alerts:write")]
    AlertsWrite,
    /// Read incidents, their history, tasks, notices, reviews, trends and the directory
    /// (contacts masked).
    #[serde(rename = "incidents:read")]
    IncidentsRead,
    /// Report an incident by hand (any employee may: DB33/T 978-2015 §10.3).
    #[serde(rename = "incidents:report")]
    IncidentsReport,
    /// Work incidents: promote alerts, triage, grade, move through the lifecycle, assign,
    /// edit, draft notices, finish tasks, write reviews.
    #[serde(rename = "incidents:write")]
    IncidentsWrite,
    /// Approve what the standard wants approved before release: press statements and notices
    /// to the public and regulators, and the senior-management escalation of levels I and II.
    #[serde(rename = "incidents:approve")]
    IncidentsApprove,
    /// Edit the security organisation's directory, playbooks and notice templates.
    #[serde(rename = "directory:write")]
    DirectoryWrite,
    /// Everything, including policies, lists, keys and operators.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 14] = [
        Scope::EventsWrite,
        Scope::DecisionsRead,
        Scope::AuditRead,
        Scope::PiiUnmask,
        Scope::ListsWrite,
        Scope::PolicyWrite,
        Scope::PolicyApprove,
        Scope::AlertsWrite,
        Scope::IncidentsRead,
        Scope::IncidentsReport,
        Scope::IncidentsWrite,
        Scope::IncidentsApprove,
        Scope::DirectoryWrite,
        Scope::Admin,
    ];

    /// The name used on the command line and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EventsWrite => "events:write",
            Scope::DecisionsRead => "decisions:read",
            Scope::AuditRead => "audit:read",
            Scope::PiiUnmask => "pii:unmask",
            Scope::ListsWrite => "lists:write",
            Scope::PolicyWrite => "policy:write",
            Scope::PolicyApprove => "policy:approve",
            Scope::AlertsWrite => "alerts:write",
            Scope::IncidentsRead => "incidents:read",
            Scope::IncidentsReport => "incidents:report",
            Scope::IncidentsWrite => "incidents:write",
            Scope::IncidentsApprove => "incidents:approve",
            Scope::DirectoryWrite => "directory:write",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| {
                format!("unknown scope '{text}': use events:write, decisions:read, audit:read, pii:unmask, lists:write, policy:write, policy:approve, alerts:write, incidents:read, incidents:report, incidents:write, incidents:approve, directory:write or admin")
            })
    }
}

/// Whether `held` grants `wanted` (admin grants every scope).
pub fn grants(held: &[Scope], wanted: Scope) -> bool {
    held.contains(&wanted) || held.contains(&Scope::Admin)
}

/// An operator role: a bundle of scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Looks at decisions.
    Viewer,
    /// Investigates and lists bad actors.
    Analyst,
    /// Acts on incidents; may unmask personal data.
    Responder,
    /// Writes rules.
    RuleAuthor,
    /// Approves punitive rules written by others.
    Approver,
    /// Manages operators, keys and data keys.
    Administrator,
    /// Reads the audit log, and nothing else.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 7] = [
        Role::Viewer,
        Role::Analyst,
        Role::Responder,
        Role::RuleAuthor,
        Role::Approver,
        Role::Administrator,
        Role::Auditor,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Responder => "responder",
            Role::RuleAuthor => "rule_author",
            Role::Approver => "approver",
            Role::Administrator => "administrator",
            Role::Auditor => "auditor",
        }
    }

    /// The scopes the role grants.
    pub fn scopes(self) -> &'static [Scope] {
        match self {
            Role::Viewer => &[
                Scope::DecisionsRead,
                Scope::IncidentsRead,
                Scope::IncidentsReport,
            ],
            Role::Approver => &[
                Scope::DecisionsRead,
                Scope::PolicyApprove,
                Scope::IncidentsRead,
                Scope::IncidentsReport,
                Scope::IncidentsApprove,
            ],
            Role::Analyst => &[
                Scope::DecisionsRead,
                Scope::ListsWrite,
                Scope::AlertsWrite,
                Scope::IncidentsRead,
                Scope::IncidentsReport,
                Scope::IncidentsWrite,
            ],
            Role::Responder => &[
                Scope::DecisionsRead,
                Scope::ListsWrite,
                Scope::AlertsWrite,
                Scope::PiiUnmask,
                Scope::IncidentsRead,
                Scope::IncidentsReport,
                Scope::IncidentsWrite,
            ],
            Role::RuleAuthor => &[
                Scope::DecisionsRead,
                Scope::PolicyWrite,
                Scope::IncidentsRead,
                Scope::IncidentsReport,
            ],
            Role::Administrator => &[Scope::Admin],
            Role::Auditor => &[Scope::AuditRead, Scope::IncidentsRead],
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| {
                format!("unknown role '{text}': use viewer, analyst, responder, rule_author, approver, administrator or auditor")
            })
    }
}

/// The scopes a set of roles grants, without repeats.
pub fn scopes_of(roles: &[Role]) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = roles
        .iter()
        .flat_map(|role| role.scopes().iter().copied())
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

/// Checks separation of duties on the roles one operator would hold (standing and
/// temporary together): an auditor holds no other role.
pub fn check_separation(roles: &[Role]) -> Result<(), String> {
    if roles.contains(&Role::Auditor) && roles.iter().any(|role| *role != Role::Auditor) {
        return Err("an auditor holds no other role: no one may audit what they can change".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_least_privilege_and_auditors_stand_alone() {
        assert_eq!(
            scopes_of(&[Role::Viewer]),
            vec![
                Scope::DecisionsRead,
                Scope::IncidentsRead,
                Scope::IncidentsReport
            ]
        );
        assert!(!grants(&scopes_of(&[Role::Viewer]), Scope::PiiUnmask));
        // Working the alert queue: analysts, responders and admins; not viewers or auditors.
        assert!(!grants(&scopes_of(&[Role::Viewer]), Scope::AlertsWrite));
        assert!(grants(&scopes_of(&[Role::Analyst]), Scope::AlertsWrite));
        assert!(grants(&scopes_of(&[Role::Responder]), Scope::AlertsWrite));
        assert!(grants(
            &scopes_of(&[Role::Administrator]),
            Scope::AlertsWrite
        ));
        assert!(!grants(&scopes_of(&[Role::Auditor]), Scope::AlertsWrite));
        assert!(!grants(&scopes_of(&[Role::RuleAuthor]), Scope::AlertsWrite));
        assert_eq!("alerts:write".parse::<Scope>(), Ok(Scope::AlertsWrite));
        assert!("alerts:read"
            .parse::<Scope>()
            .unwrap_err()
            .contains("alerts:write"));
        assert!(grants(&scopes_of(&[Role::Responder]), Scope::PiiUnmask));
        assert!(grants(&scopes_of(&[Role::Administrator]), Scope::AuditRead));
        assert!(!grants(&scopes_of(&[Role::Auditor]), Scope::DecisionsRead));
        // Incidents: everyone but the auditor reports; analysts and responders work them;
        // approvers approve; the auditor reads and changes nothing.
        for role in Role::ALL {
            assert_eq!(
                grants(&scopes_of(&[role]), Scope::IncidentsReport),
                role != Role::Auditor,
                "{role:?}"
            );
            assert!(
                grants(&scopes_of(&[role]), Scope::IncidentsRead),
                "{role:?}"
            );
        }
        assert!(grants(&scopes_of(&[Role::Analyst]), Scope::IncidentsWrite));
        assert!(grants(
            &scopes_of(&[Role::Responder]),
            Scope::IncidentsWrite
        ));
        assert!(!grants(&scopes_of(&[Role::Viewer]), Scope::IncidentsWrite));
        assert!(!grants(&scopes_of(&[Role::Auditor]), Scope::IncidentsWrite));
        assert!(grants(
            &scopes_of(&[Role::Approver]),
            Scope::IncidentsApprove
        ));
        assert!(!grants(
            &scopes_of(&[Role::Responder]),
            Scope::IncidentsApprove
        ));
        assert!(!grants(
            &scopes_of(&[Role::Responder]),
            Scope::DirectoryWrite
        ));
        assert!(grants(
            &scopes_of(&[Role::Administrator]),
            Scope::DirectoryWrite
        ));
        assert!(check_separation(&[Role::Auditor]).is_ok());
        assert!(check_separation(&[Role::Analyst, Role::Responder]).is_ok());
        assert!(check_separation(&[Role::Auditor, Role::Viewer]).is_err());
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
