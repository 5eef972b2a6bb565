//! The security organisation's directory (DB33/T 978-2015 §5.1.4, §5.2.2): the members of
//! the four response groups with their roles and backups, and the external contacts the
//! organisation keeps a channel to.
//!
//! - **Groups** are the four of the response plan: the leadership group (数据安全应急领导小组),
//!   the response group (应急响应小组), legal support (法务支持小组) and user communication
//!   (用户沟通小组). A member belongs to one group with one role: leader, deputy or member.
//!   A group has at most one active leader and one active deputy ([`check_roles`]).
//! - **Backups** (§5.2.2: members *and their backups* are registered): a member's backup is
//!   another member who exists and is active ([`check_backup`]). Two members backing each
//!   other up is allowed; a member cannot be their own backup.
//! - **Who answers for a group** ([`responsible_for`]): its active leader, else its active
//!   deputy, else the active backup of its leader or deputy. **Escalation**
//!   ([`escalation_chain`]): the group's leader, then its deputy, then the leadership group's
//!   leader, each only when active, without repeats.
//! - **External contacts** have a type from §5.1.4 a–g. Users (§5.1.4 h) are not entries:
//!   they are an audience of notices, reached through the platform's own channels.
//! - **Contacts** (email, phone, IM handle) are personal data of level *confidential*
//!   ([`crate::privacy`]): storage encrypts them, views mask them ([`Contacts::masked`]).
//!
//! Every stored enum has an explicit code table ([`crate::codes`]); wire names are snake_case.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::privacy::DataClass;

/// Most characters of a display name, an organisation or a person's name.
pub const MAX_NAME_CHARS: usize = 100;
/// Most characters of an email address (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Most characters of a phone number.
pub const MAX_PHONE_CHARS: usize = 32;
/// Most characters of an IM handle.
pub const MAX_IM_CHARS: usize = 100;
/// Most characters of notes on an external contact.
pub const MAX_NOTES_CHARS: usize = 2_000;
/// Most characters of an operator name linked to a member.
pub const MAX_OPERATOR_CHARS: usize = 64;

/// One of the four response groups of the response plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ResponseGroup {
    /// 数据安全应急领导小组: organises the response, decides, reports to senior management.
    Leadership,
    /// 应急响应小组: handles the incident on the spot (analysis, containment, recovery).
    Response,
    /// 法务支持小组: legal risk, complaints, compliance.
    Legal,
    /// 用户沟通小组: tells users what happened, answers their questions.
    UserCommunication,
}

// Stored in `directory_members.group_code`. Append only.
crate::stored_codes!(ResponseGroup, "response group", {
    Leadership = 1,
    Response = 2,
    Legal = 3,
    UserCommunication = 4,
});

impl ResponseGroup {
    /// Every group, in code order.
    pub const ALL: [ResponseGroup; 4] = [
        ResponseGroup::Leadership,
        ResponseGroup::Response,
        ResponseGroup::Legal,
        ResponseGroup::UserCommunication,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseGroup::Leadership => "leadership",
            ResponseGroup::Response => "response",
            ResponseGroup::Legal => "legal",
            ResponseGroup::UserCommunication => "user_communication",
        }
    }

    /// The group's name in Chinese, as the response plan writes it.
    pub fn label_zh(self) -> &'static str {
        match self {
            ResponseGroup::Leadership => "数据安全应急领导小组",
            ResponseGroup::Response => "应急响应小组",
            ResponseGroup::Legal => "法务支持小组",
            ResponseGroup::UserCommunication => "用户沟通小组",
        }
    }

    /// The group's name in English.
    pub fn label_en(self) -> &'static str {
        match self {
            ResponseGroup::Leadership => "Incident leadership group",
            ResponseGroup::Response => "Incident response group",
            ResponseGroup::Legal => "Legal support group",
            ResponseGroup::UserCommunication => "User communication group",
        }
    }
}

/// A member's role in their group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupRole {
    /// 组长: leads the group.
    Leader,
    /// 副组长: stands in for the leader.
    Deputy,
    /// 成员: a member.
    Member,
}

// Stored in `directory_members.role_code`. Append only.
crate::stored_codes!(GroupRole, "group role", {
    Leader = 1,
    Deputy = 2,
    Member = 3,
});

impl GroupRole {
    /// Every role, in code order.
    pub const ALL: [GroupRole; 3] = [GroupRole::Leader, GroupRole::Deputy, GroupRole::Member];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupRole::Leader => "leader",
            GroupRole::Deputy => "deputy",
            GroupRole::Member => "member",
        }
    }
}

/// Kinds of outside organisations the security organisation keeps a channel to (§5.1.4 a–g;
/// users, h, are an audience of notices and not directory entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExternalContactType {
    /// a) 签订合同的外部支持人员: contracted outside support.
    ContractedSupport,
    /// b) 外部组织的相关安全运营管理机构或小组: another organisation's security team.
    PeerSecurityTeam,
    /// c) 执法机关: law enforcement.
    LawEnforcement,
    /// d) 其他应急处理机构: other emergency-response organisations (CERTs).
    EmergencyResponseOrg,
    /// e) 相关的政府部门: the government departments concerned (regulators).
    Regulator,
    /// f) 公共关系官员和/或媒体记者: public-relations officers and the press.
    PublicRelationsMedia,
    /// g) 安全业务伙伴: security business partners.
    SecurityPartner,
}

// Stored in `directory_contacts.type_code`. Append only.
crate::stored_codes!(ExternalContactType, "external contact type", {
    ContractedSupport = 1,
    PeerSecurityTeam = 2,
    LawEnforcement = 3,
    EmergencyResponseOrg = 4,
    Regulator = 5,
    PublicRelationsMedia = 6,
    SecurityPartner = 7,
});

impl ExternalContactType {
    /// Every type, in code order.
    pub const ALL: [ExternalContactType; 7] = [
        ExternalContactType::ContractedSupport,
        ExternalContactType::PeerSecurityTeam,
        ExternalContactType::LawEnforcement,
        ExternalContactType::EmergencyResponseOrg,
        ExternalContactType::Regulator,
        ExternalContactType::PublicRelationsMedia,
        ExternalContactType::SecurityPartner,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExternalContactType::ContractedSupport => "contracted_support",
            ExternalContactType::PeerSecurityTeam => "peer_security_team",
            ExternalContactType::LawEnforcement => "law_enforcement",
            ExternalContactType::EmergencyResponseOrg => "emergency_response_org",
            ExternalContactType::Regulator => "regulator",
            ExternalContactType::PublicRelationsMedia => "public_relations_media",
            ExternalContactType::SecurityPartner => "security_partner",
        }
    }

    /// The type's name in Chinese, as §5.1.4 writes it.
    pub fn label_zh(self) -> &'static str {
        match self {
            ExternalContactType::ContractedSupport => "签订合同的外部支持人员",
            ExternalContactType::PeerSecurityTeam => "外部组织的安全运营管理机构或小组",
            ExternalContactType::LawEnforcement => "执法机关",
            ExternalContactType::EmergencyResponseOrg => "其他应急处理机构",
            ExternalContactType::Regulator => "相关的政府部门",
            ExternalContactType::PublicRelationsMedia => "公共关系官员和/或媒体记者",
            ExternalContactType::SecurityPartner => "安全业务伙伴",
        }
    }
}

macro_rules! named {
    ($enum:ident, $what:literal) => {
        impl fmt::Display for $enum {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $enum {
            type Err = String;

            fn from_str(text: &str) -> Result<$enum, String> {
                $enum::ALL
                    .into_iter()
                    .find(|value| value.as_str() == text)
                    .ok_or_else(|| {
                        let names: Vec<&str> =
                            $enum::ALL.iter().map(|value| value.as_str()).collect();
                        format!(
                            "unknown {} '{text}': use one of {}",
                            $what,
                            names.join(", ")
                        )
                    })
            }
        }
    };
}

named!(ResponseGroup, "group");
named!(GroupRole, "role");
named!(ExternalContactType, "contact type");

/// Refused directory input, naming the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DirectoryError {
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong, starting with the field's name.
    pub message: String,
}

impl DirectoryError {
    fn new(field: &'static str, message: impl Into<String>) -> DirectoryError {
        DirectoryError {
            field,
            message: message.into(),
        }
    }
}

/// Checks a required text: not blank, at most `max` characters (counted as given, blanks
/// around it included, as the API's schema counts them). Returns it trimmed.
pub fn checked_text(field: &'static str, text: &str, max: usize) -> Result<String, DirectoryError> {
    let checked = checked_optional_text(field, text, max)?;
    if checked.is_empty() {
        return Err(DirectoryError::new(
            field,
            format!("{field}: must not be empty"),
        ));
    }
    Ok(checked)
}

/// Checks an optional text: at most `max` characters (counted as given) and no control
/// characters other than line breaks and tabs. Returns it trimmed.
pub fn checked_optional_text(
    field: &'static str,
    text: &str,
    max: usize,
) -> Result<String, DirectoryError> {
    let trimmed = text.trim();
    let chars = text.chars().count();
    if chars > max {
        return Err(DirectoryError::new(
            field,
            format!("{field}: {chars} characters; at most {max} are allowed"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(DirectoryError::new(
            field,
            format!("{field}: must not contain control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// How to reach a person: personal data (confidential), encrypted at rest, masked in views.
/// Read only from a JSON object (never from an array, which serde would otherwise take for
/// the fields in order).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contacts {
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 254))]
    pub email: Option<String>,
    /// Phone number: digits, with an optional leading `+`, spaces, dashes and parentheses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 32))]
    pub phone: Option<String>,
    /// Instant-messaging handle (WeChat, DingTalk, Slack, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub im: Option<String>,
}

impl<'de> Deserialize<'de> for Contacts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Contacts, D::Error> {
        let fields =
            std::collections::BTreeMap::<String, Option<String>>::deserialize(deserializer)?;
        let mut contacts = Contacts::default();
        for (name, value) in fields {
            match name.as_str() {
                "email" => contacts.email = value,
                "phone" => contacts.phone = value,
                "im" => contacts.im = value,
                _ => {}
            }
        }
        Ok(contacts)
    }
}

impl Contacts {
    /// Whether no contact is given.
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.phone.is_none() && self.im.is_none()
    }

    /// The contacts checked and normalised: blank values dropped, text trimmed, each format
    /// and length checked.
    pub fn checked(&self) -> Result<Contacts, DirectoryError> {
        for (field, value, max) in [
            ("contacts.email", &self.email, MAX_EMAIL_CHARS),
            ("contacts.phone", &self.phone, MAX_PHONE_CHARS),
            ("contacts.im", &self.im, MAX_IM_CHARS),
        ] {
            let chars = value.as_deref().map_or(0, |text| text.chars().count());
            if chars > max {
                return Err(DirectoryError::new(
                    field,
                    format!("{field}: {chars} characters; at most {max} are allowed"),
                ));
            }
        }
        let present = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        let email = present(&self.email)
            .map(|email| check_email(&email).map(|()| email))
            .transpose()?;
        let phone = present(&self.phone)
            .map(|phone| check_phone(&phone).map(|()| phone))
            .transpose()?;
        let im = present(&self.im)
            .map(|im| checked_optional_text("contacts.im", &im, MAX_IM_CHARS))
            .transpose()?;
        Ok(Contacts { email, phone, im })
    }

    /// The contacts as views show them: enough to recognise, never enough to use.
    pub fn masked(&self) -> Contacts {
        Contacts {
            email: self
                .email
                .as_deref()
                .map(|email| DataClass::Email.mask(email)),
            phone: self
                .phone
                .as_deref()
                .map(|phone| DataClass::Phone.mask(phone)),
            im: self.im.as_deref().map(|im| DataClass::RealName.mask(im)),
        }
    }
}

/// Checks an email address's shape: one `@`, a non-empty local part of at most 64
/// characters, a domain with a dot, no spaces or control characters, at most
/// [`MAX_EMAIL_CHARS`] characters.
pub fn check_email(email: &str) -> Result<(), DirectoryError> {
    let field = "contacts.email";
    let chars = email.chars().count();
    if chars > MAX_EMAIL_CHARS {
        return Err(DirectoryError::new(
            field,
            format!("{field}: {chars} characters; at most {MAX_EMAIL_CHARS} are allowed"),
        ));
    }
    let invalid =
        || DirectoryError::new(field, format!("{field}: '{email}' is not an email address"));
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(invalid());
    };
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
    if local.is_empty() || local.chars().count() > 64 || !domain_ok {
        return Err(invalid());
    }
    Ok(())
}

/// Checks a phone number: 5 to 20 digits, an optional leading `+`, and spaces, dashes or
/// parentheses between them; at most [`MAX_PHONE_CHARS`] characters.
pub fn check_phone(phone: &str) -> Result<(), DirectoryError> {
    let field = "contacts.phone";
    let chars = phone.chars().count();
    if chars > MAX_PHONE_CHARS {
        return Err(DirectoryError::new(
            field,
            format!("{field}: {chars} characters; at most {MAX_PHONE_CHARS} are allowed"),
        ));
    }
    let body = phone.strip_prefix('+').unwrap_or(phone);
    let shape_ok = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')'));
    let digits = body.chars().filter(char::is_ascii_digit).count();
    if !shape_ok || !(5..=20).contains(&digits) {
        return Err(DirectoryError::new(
            field,
            format!(
                "{field}: '{phone}' is not a phone number (5 to 20 digits, an optional leading +)"
            ),
        ));
    }
    Ok(())
}

/// A member of the security organisation as the rules see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Stable id.
    pub id: String,
    /// The name shown.
    pub display_name: String,
    /// The operator account of this person, when they have one.
    pub operator: Option<String>,
    /// Their group.
    pub group: ResponseGroup,
    /// Their role in it.
    pub role: GroupRole,
    /// Who stands in for them.
    pub backup: Option<String>,
    /// How to reach them (plain; storage encrypts, views mask).
    pub contacts: Contacts,
    /// False once offboarded (kept for history).
    pub active: bool,
}

/// Checks a member's backup against the directory: not the member, an existing member, and
/// active. `members` is the directory (the member itself may be in it or not).
pub fn check_backup(
    member_id: &str,
    backup: Option<&str>,
    members: &[Member],
) -> Result<(), DirectoryError> {
    let Some(backup) = backup else {
        return Ok(());
    };
    let field = "backup";
    if backup == member_id {
        return Err(DirectoryError::new(
            field,
            "backup: a member cannot be their own backup",
        ));
    }
    match members.iter().find(|member| member.id == backup) {
        None => Err(DirectoryError::new(
            field,
            format!("backup: there is no member '{backup}'"),
        )),
        Some(member) if !member.active => Err(DirectoryError::new(
            field,
            format!("backup: member '{backup}' is not active"),
        )),
        Some(_) => Ok(()),
    }
}

/// Checks that `candidate` (new or changed, active or not) leaves its group with at most one
/// active leader and one active deputy. `members` is the directory before the change.
pub fn check_roles(candidate: &Member, members: &[Member]) -> Result<(), DirectoryError> {
    if !candidate.active || candidate.role == GroupRole::Member {
        return Ok(());
    }
    let taken = members.iter().find(|member| {
        member.id != candidate.id
            && member.active
            && member.group == candidate.group
            && member.role == candidate.role
    });
    match taken {
        Some(holder) => Err(DirectoryError::new(
            "role",
            format!(
                "role: the {} group already has an active {} ('{}'); change theirs first",
                candidate.group, candidate.role, holder.id
            ),
        )),
        None => Ok(()),
    }
}

/// Checks that deactivating `member_id` leaves nobody active with it as their backup.
pub fn check_deactivation(member_id: &str, members: &[Member]) -> Result<(), DirectoryError> {
    match members
        .iter()
        .find(|member| member.active && member.id != member_id && member.backup.as_deref() == Some(member_id))
    {
        Some(dependent) => Err(DirectoryError::new(
            "active",
            format!(
                "active: member '{}' has '{member_id}' as their backup; give them another backup first",
                dependent.id
            ),
        )),
        None => Ok(()),
    }
}

fn active_holder(group: ResponseGroup, role: GroupRole, members: &[Member]) -> Option<&Member> {
    members
        .iter()
        .find(|member| member.active && member.group == group && member.role == role)
}

fn holder(group: ResponseGroup, role: GroupRole, members: &[Member]) -> Option<&Member> {
    // The active holder first; else the most recent inactive one (its backup may stand in).
    active_holder(group, role, members).or_else(|| {
        members
            .iter()
            .rev()
            .find(|member| member.group == group && member.role == role)
    })
}

/// Who answers for `group`: its active leader, else its active deputy, else the active
/// backup of its leader, else that of its deputy; `None` when nobody does.
pub fn responsible_for(group: ResponseGroup, members: &[Member]) -> Option<&Member> {
    if let Some(leader) = active_holder(group, GroupRole::Leader, members) {
        return Some(leader);
    }
    if let Some(deputy) = active_holder(group, GroupRole::Deputy, members) {
        return Some(deputy);
    }
    [GroupRole::Leader, GroupRole::Deputy]
        .into_iter()
        .filter_map(|role| holder(group, role, members))
        .filter_map(|absent| absent.backup.as_deref())
        .find_map(|backup| {
            members
                .iter()
                .find(|member| member.id == backup && member.active)
        })
}

/// Whom to escalate to for `group`, in order: its leader, its deputy, then the leadership
/// group's leader; only active members, each once. Overdue notices walk it.
pub fn escalation_chain(group: ResponseGroup, members: &[Member]) -> Vec<&Member> {
    let mut chain: Vec<&Member> = Vec::with_capacity(3);
    for (step_group, role) in [
        (group, GroupRole::Leader),
        (group, GroupRole::Deputy),
        (ResponseGroup::Leadership, GroupRole::Leader),
    ] {
        if let Some(member) = active_holder(step_group, role, members) {
            if !chain.iter().any(|seen| seen.id == member.id) {
                chain.push(member);
            }
        }
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::StoredCode;

    fn member(id: &str, group: ResponseGroup, role: GroupRole, active: bool) -> Member {
        Member {
            id: id.into(),
            display_name: id.to_uppercase(),
            operator: None,
            group,
            role,
            backup: None,
            contacts: Contacts::default(),
            active,
        }
    }

    fn ids(members: &[&Member]) -> Vec<String> {
        members.iter().map(|member| member.id.clone()).collect()
    }

    #[test]
    fn codes_are_pinned() {
        assert_eq!(
            ResponseGroup::CODES,
            [
                (ResponseGroup::Leadership, 1),
                (ResponseGroup::Response, 2),
                (ResponseGroup::Legal, 3),
                (ResponseGroup::UserCommunication, 4),
            ]
        );
        assert_eq!(
            GroupRole::CODES,
            [
                (GroupRole::Leader, 1),
                (GroupRole::Deputy, 2),
                (GroupRole::Member, 3)
            ]
        );
        assert_eq!(
            ExternalContactType::CODES,
            [
                (ExternalContactType::ContractedSupport, 1),
                (ExternalContactType::PeerSecurityTeam, 2),
                (ExternalContactType::LawEnforcement, 3),
                (ExternalContactType::EmergencyResponseOrg, 4),
                (ExternalContactType::Regulator, 5),
                (ExternalContactType::PublicRelationsMedia, 6),
                (ExternalContactType::SecurityPartner, 7),
            ]
        );
        assert_eq!(ResponseGroup::from_code(0), None);
        assert_eq!(GroupRole::from_code(4), None);
        assert_eq!(ExternalContactType::from_code(8), None);
    }

    #[test]
    fn names_read_back_and_match_serde() {
        for group in ResponseGroup::ALL {
            assert_eq!(group.as_str().parse::<ResponseGroup>(), Ok(group));
            assert_eq!(serde_json::to_value(group).unwrap(), group.as_str());
            assert!(!group.label_zh().is_empty() && !group.label_en().is_empty());
        }
        for role in GroupRole::ALL {
            assert_eq!(role.as_str().parse::<GroupRole>(), Ok(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        for kind in ExternalContactType::ALL {
            assert_eq!(kind.as_str().parse::<ExternalContactType>(), Ok(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(
            "users".parse::<ExternalContactType>().unwrap_err(),
            "unknown contact type 'users': use one of contracted_support, peer_security_team, \
             law_enforcement, emergency_response_org, regulator, public_relations_media, security_partner"
        );
    }

    #[test]
    fn emails_and_phones_are_checked() {
        for good in ["a@example.com", "li.lei+sec@mail.shop.cn"] {
            assert!(check_email(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@example.com",
            "a@@example.com",
            "a b@example.com",
            "a@.com",
            "a@example.",
            "a@-x.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_email(&format!("{}@example.com", "a".repeat(65))).is_err());
        assert!(check_email(&format!("a@{}.com", "b".repeat(260))).is_err());
        for good in [
            "13812341234",
            "+86 138-1234-1234",
            "(0571) 8888 1234",
            "110",
        ] {
            assert_eq!(check_phone(good).is_ok(), good != "110", "{good}");
        }
        for bad in [
            "phone",
            "+",
            "++8613812341234",
            "138\n1234",
            &"1".repeat(21),
        ] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn contacts_are_read_only_from_an_object() {
        let contacts: Contacts =
            serde_json::from_str(r#"{"email": "a@example.com", "phone": null}"#).unwrap();
        assert_eq!(contacts.email.as_deref(), Some("a@example.com"));
        assert!(serde_json::from_str::<Contacts>("[null, null]").is_err());
        assert!(serde_json::from_str::<Contacts>(r#"{"email": 3}"#).is_err());
    }

    #[test]
    fn contacts_are_normalised_and_masked() {
        let given = Contacts {
            email: Some("  li.lei@example.com ".into()),
            phone: Some("".into()),
            im: Some("wx_lilei".into()),
        };
        let checked = given.checked().unwrap();
        assert_eq!(checked.email.as_deref(), Some("li.lei@example.com"));
        assert_eq!(checked.phone, None);
        let masked = Contacts {
            phone: Some("+86 13812341234".into()),
            ..checked
        }
        .masked();
        assert_eq!(masked.email.as_deref(), Some("l***@example.com"));
        assert_eq!(masked.phone.as_deref(), Some("+86 138****1234"));
        assert_eq!(masked.im.as_deref(), Some("w*******"));
        let error = Contacts {
            phone: Some("call me".into()),
            ..Contacts::default()
        }
        .checked()
        .unwrap_err();
        assert_eq!(error.field, "contacts.phone");
        assert!(Contacts {
            im: Some("x".repeat(101)),
            ..Contacts::default()
        }
        .checked()
        .is_err());
    }

    #[test]
    fn texts_are_checked_with_the_field_named() {
        assert_eq!(
            checked_text("display_name", "  Li Lei ", 10).unwrap(),
            "Li Lei"
        );
        assert_eq!(
            checked_text("display_name", "  ", 10).unwrap_err().message,
            "display_name: must not be empty"
        );
        assert_eq!(
            checked_text("display_name", "李雷李雷李雷", 5)
                .unwrap_err()
                .message,
            "display_name: 6 characters; at most 5 are allowed"
        );
        assert!(checked_text("display_name", "a\u{0}b", 5).is_err());
        // Blanks count: the API's schema counts them too.
        assert!(checked_text("display_name", &format!("a{}", " ".repeat(10)), 10).is_err());
        assert!(Contacts {
            email: Some(format!("a@example.com{}", " ".repeat(250))),
            ..Contacts::default()
        }
        .checked()
        .is_err());
        assert!(checked_optional_text("notes", "line\nline", 20).is_ok());
    }

    #[test]
    fn a_backup_is_another_active_existing_member() {
        use GroupRole::*;
        use ResponseGroup::*;
        let members = vec![
            member("a", Response, Leader, true),
            member("b", Response, Member, true),
            member("c", Response, Member, false),
        ];
        assert!(check_backup("a", None, &members).is_ok());
        assert!(check_backup("a", Some("b"), &members).is_ok());
        assert_eq!(
            check_backup("a", Some("a"), &members).unwrap_err().message,
            "backup: a member cannot be their own backup"
        );
        assert_eq!(
            check_backup("a", Some("z"), &members).unwrap_err().message,
            "backup: there is no member 'z'"
        );
        assert_eq!(
            check_backup("a", Some("c"), &members).unwrap_err().message,
            "backup: member 'c' is not active"
        );
        // A new member (not yet in the directory) may name any active one.
        assert!(check_backup("new", Some("a"), &members).is_ok());
    }

    #[test]
    fn one_active_leader_and_deputy_per_group() {
        use GroupRole::*;
        use ResponseGroup::*;
        let members = vec![
            member("a", Response, Leader, true),
            member("b", Response, Deputy, false),
            member("c", Legal, Leader, true),
        ];
        assert!(check_roles(&member("x", Response, Leader, true), &members).is_err());
        assert!(
            check_roles(&member("a", Response, Leader, true), &members).is_ok(),
            "itself"
        );
        assert!(check_roles(&member("x", Response, Leader, false), &members).is_ok());
        assert!(
            check_roles(&member("x", Response, Deputy, true), &members).is_ok(),
            "b is inactive"
        );
        assert!(check_roles(&member("x", Response, Member, true), &members).is_ok());
        assert!(check_roles(&member("x", Leadership, Leader, true), &members).is_ok());
        let mut with_backup = members.clone();
        with_backup[2].backup = Some("a".into());
        assert!(check_deactivation("a", &with_backup).is_err());
        assert!(check_deactivation("c", &with_backup).is_ok());
    }

    #[test]
    fn responsibility_falls_from_leader_to_deputy_to_backup() {
        use GroupRole::*;
        use ResponseGroup::*;
        let mut members = vec![
            member("lead", Legal, Leader, true),
            member("dep", Legal, Deputy, true),
            member("spare", Legal, Member, true),
        ];
        members[0].backup = Some("spare".into());
        assert_eq!(responsible_for(Legal, &members).unwrap().id, "lead");
        members[0].active = false;
        assert_eq!(responsible_for(Legal, &members).unwrap().id, "dep");
        members[1].active = false;
        assert_eq!(responsible_for(Legal, &members).unwrap().id, "spare");
        members[2].active = false;
        assert_eq!(responsible_for(Legal, &members), None);
        assert_eq!(responsible_for(Response, &members), None);
    }

    #[test]
    fn escalation_goes_leader_deputy_then_the_leadership_leader() {
        use GroupRole::*;
        use ResponseGroup::*;
        let members = vec![
            member("cio", Leadership, Leader, true),
            member("ciso", Leadership, Deputy, true),
            member("sec", Response, Leader, true),
            member("tech", Response, Deputy, true),
            member("eng", Response, Member, true),
        ];
        assert_eq!(
            ids(&escalation_chain(Response, &members)),
            ["sec", "tech", "cio"]
        );
        assert_eq!(
            ids(&escalation_chain(Leadership, &members)),
            ["cio", "ciso"],
            "no repeat"
        );
        assert_eq!(ids(&escalation_chain(Legal, &members)), ["cio"]);
        let mut without_leader = members.clone();
        without_leader[2].active = false;
        assert_eq!(
            ids(&escalation_chain(Response, &without_leader)),
            ["tech", "cio"]
        );
        assert!(escalation_chain(Legal, &[]).is_empty());
    }
}
