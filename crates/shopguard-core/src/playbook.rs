//! Response playbooks (DB33/T 978-2015 §6.5): what the organisation does at each incident
//! level, as task templates for the four response groups ([`ResponseGroup`]).
//!
//! The measures are **cumulative upward**: a level-II incident gets the tasks of IV, III and
//! II. Raising the level adds only the tasks of the levels passed ([`tasks_added_when_raised`]).
//!
//! | level | §6.5 measure |
//! |---|---|
//! | IV 一般 | tighten monitoring: watch measures where needed, a special analysis of the data |
//! | III 较大 | activate the business-continuity plan; tell internal departments and outside parties (the press too when there is social impact) |
//! | II 重大 | prepare a statement for the press that senior management, PR and security each approve before release |
//! | I 特别重大 | escalate to senior management for a decision |
//!
//! A playbook is data: a versioned template, edited and stored as JSON, checked by
//! [`Playbook::validate`]. [`default_playbook`] is the built-in first version.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::directory::ResponseGroup;

/// Most tasks one level of a playbook holds.
pub const MAX_TASKS_PER_LEVEL: usize = 50;
/// Most characters of a task key (lowercase letters, digits, `_`, `-`, `.`).
pub const MAX_TASK_KEY_CHARS: usize = 64;
/// Most characters of a task title.
pub const MAX_TASK_TITLE_CHARS: usize = 200;
/// Most characters of a task description.
pub const MAX_TASK_DESCRIPTION_CHARS: usize = 2_000;
/// Most characters of a playbook's name.
pub const MAX_PLAYBOOK_NAME_CHARS: usize = 100;
/// The shortest due time of a task, in minutes.
pub const MIN_DUE_MINUTES: u32 = 1;
/// The longest due time of a task, in minutes (90 days).
pub const MAX_DUE_MINUTES: u32 = 90 * 24 * 60;

/// An incident level of §6.4, from I (particularly serious, 特别重大) to IV (general, 一般).
/// The same four levels as the incident grading; on the wire `I`, `II`, `III`, `IV`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ResponseLevel {
    /// I 特别重大: particularly serious.
    #[serde(rename = "I")]
    I,
    /// II 重大: serious.
    #[serde(rename = "II")]
    II,
    /// III 较大: relatively large.
    #[serde(rename = "III")]
    III,
    /// IV 一般: general.
    #[serde(rename = "IV")]
    IV,
}

// Stored where a level is stored by code. Append only.
crate::stored_codes!(ResponseLevel, "response level", {
    I = 1,
    II = 2,
    III = 3,
    IV = 4,
});

impl ResponseLevel {
    /// Every level from the least severe (IV) to the most (I): the order tasks accumulate.
    pub const UPWARD: [ResponseLevel; 4] = [
        ResponseLevel::IV,
        ResponseLevel::III,
        ResponseLevel::II,
        ResponseLevel::I,
    ];

    /// The roman numeral.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseLevel::I => "I",
            ResponseLevel::II => "II",
            ResponseLevel::III => "III",
            ResponseLevel::IV => "IV",
        }
    }

    /// How severe: 1 for IV up to 4 for I.
    pub fn severity(self) -> u8 {
        5 - self.code()
    }

    /// Whether this level is at least as severe as `other`.
    pub fn at_least(self, other: ResponseLevel) -> bool {
        self.severity() >= other.severity()
    }
}

impl fmt::Display for ResponseLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResponseLevel {
    type Err = String;

    /// Reads `I` to `IV` (any case), or `1` to `4`.
    fn from_str(text: &str) -> Result<ResponseLevel, String> {
        match text.trim().to_ascii_uppercase().as_str() {
            "I" | "1" => Ok(ResponseLevel::I),
            "II" | "2" => Ok(ResponseLevel::II),
            "III" | "3" => Ok(ResponseLevel::III),
            "IV" | "4" => Ok(ResponseLevel::IV),
            _ => Err(format!("unknown level '{text}': use I, II, III or IV")),
        }
    }
}

/// One task a playbook lays out at a level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskTemplate {
    /// Unique in the playbook: lowercase letters, digits, `_`, `-`, `.`.
    #[cfg_attr(feature = "openapi", schema(max_length = 64, min_length = 1))]
    pub key: String,
    /// Title in Chinese.
    #[cfg_attr(feature = "openapi", schema(max_length = 200, min_length = 1))]
    pub title_zh: String,
    /// Title in English.
    #[cfg_attr(feature = "openapi", schema(max_length = 200, min_length = 1))]
    pub title_en: String,
    /// What to do, in more words.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: String,
    /// The group that owns the task.
    pub group: ResponseGroup,
    /// Minutes after the level is set by which the task is due (1 minute to 90 days).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 129600))]
    pub due_after_minutes: u32,
    /// Groups that must each approve the task's result before it is done (empty: none).
    #[serde(default)]
    pub requires_approval_by: Vec<ResponseGroup>,
}

/// A playbook: the tasks of each level (only that level's own; the levels below add theirs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// A name for people.
    #[cfg_attr(feature = "openapi", schema(max_length = 100, min_length = 1))]
    pub name: String,
    /// Tasks of level IV (general).
    #[serde(default)]
    pub level_iv: Vec<TaskTemplate>,
    /// Tasks added at level III (relatively large).
    #[serde(default)]
    pub level_iii: Vec<TaskTemplate>,
    /// Tasks added at level II (serious).
    #[serde(default)]
    pub level_ii: Vec<TaskTemplate>,
    /// Tasks added at level I (particularly serious).
    #[serde(default)]
    pub level_i: Vec<TaskTemplate>,
}

/// A task of a playbook with the level that brings it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LevelTask {
    /// The level whose measures include the task.
    pub level: ResponseLevel,
    /// The task.
    pub task: TaskTemplate,
}

/// A playbook refused, naming where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlaybookError {
    /// Where (`name`, `level_iii[2].title_en`, ...).
    pub path: String,
    /// What is wrong, starting with the path.
    pub message: String,
}

impl Playbook {
    /// The tasks of `level` itself (not those of the levels below).
    pub fn own_tasks(&self, level: ResponseLevel) -> &[TaskTemplate] {
        match level {
            ResponseLevel::IV => &self.level_iv,
            ResponseLevel::III => &self.level_iii,
            ResponseLevel::II => &self.level_ii,
            ResponseLevel::I => &self.level_i,
        }
    }

    /// Checks the playbook: a name; per level at most [`MAX_TASKS_PER_LEVEL`] tasks; keys
    /// well-formed and unique across levels; both titles given; lengths within limits; due
    /// times from [`MIN_DUE_MINUTES`] to [`MAX_DUE_MINUTES`]; approving groups not repeated.
    pub fn validate(&self) -> Result<(), PlaybookError> {
        let fail = |path: String, problem: String| {
            Err(PlaybookError {
                message: format!("{path}: {problem}"),
                path,
            })
        };
        let name_chars = self.name.chars().count();
        if self.name.trim().is_empty() {
            return fail("name".into(), "must not be empty".into());
        }
        if name_chars > MAX_PLAYBOOK_NAME_CHARS {
            return fail(
                "name".into(),
                format!("{name_chars} characters; at most {MAX_PLAYBOOK_NAME_CHARS} are allowed"),
            );
        }
        let mut keys = BTreeSet::new();
        for level in ResponseLevel::UPWARD {
            let field = format!("level_{}", level.as_str().to_ascii_lowercase());
            let tasks = self.own_tasks(level);
            if tasks.len() > MAX_TASKS_PER_LEVEL {
                return fail(
                    field,
                    format!(
                        "{} tasks; at most {MAX_TASKS_PER_LEVEL} are allowed",
                        tasks.len()
                    ),
                );
            }
            for (index, task) in tasks.iter().enumerate() {
                let at = |part: &str| format!("{field}[{index}].{part}");
                let key_ok = !task.key.is_empty()
                    && task.key.len() <= MAX_TASK_KEY_CHARS
                    && task.key.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'_' | b'-' | b'.')
                    });
                if !key_ok {
                    return fail(
                        at("key"),
                        format!(
                            "'{}' is not a key (1 to {MAX_TASK_KEY_CHARS} lowercase letters, digits, _, - or .)",
                            task.key
                        ),
                    );
                }
                if !keys.insert(task.key.as_str()) {
                    return fail(at("key"), format!("'{}' is used twice", task.key));
                }
                for (part, text, max) in [
                    ("title_zh", &task.title_zh, MAX_TASK_TITLE_CHARS),
                    ("title_en", &task.title_en, MAX_TASK_TITLE_CHARS),
                    ("description", &task.description, MAX_TASK_DESCRIPTION_CHARS),
                ] {
                    let chars = text.chars().count();
                    if text.trim().is_empty() && part != "description" {
                        return fail(at(part), "must not be empty".into());
                    }
                    if chars > max {
                        return fail(
                            at(part),
                            format!("{chars} characters; at most {max} are allowed"),
                        );
                    }
                }
                if !(MIN_DUE_MINUTES..=MAX_DUE_MINUTES).contains(&task.due_after_minutes) {
                    return fail(
                        at("due_after_minutes"),
                        format!(
                            "{} is out of range; from {MIN_DUE_MINUTES} minute to {MAX_DUE_MINUTES} (90 days)",
                            task.due_after_minutes
                        ),
                    );
                }
                let approvers: BTreeSet<ResponseGroup> =
                    task.requires_approval_by.iter().copied().collect();
                if approvers.len() != task.requires_approval_by.len() {
                    return fail(at("requires_approval_by"), "names a group twice".into());
                }
            }
        }
        Ok(())
    }
}

/// Every task an incident at `level` gets: those of IV, then III, ... up to `level`
/// (cumulative upward), in that order.
pub fn tasks_for_level(playbook: &Playbook, level: ResponseLevel) -> Vec<LevelTask> {
    ResponseLevel::UPWARD
        .into_iter()
        .filter(|step| level.at_least(*step))
        .flat_map(|step| {
            playbook.own_tasks(step).iter().map(move |task| LevelTask {
                level: step,
                task: task.clone(),
            })
        })
        .collect()
}

/// The tasks an incident gets when its level is raised from `from` to `to`: those of the
/// levels above `from` up to `to`. Nothing when `to` is not more severe than `from` (a
/// lowered level keeps the tasks it has).
pub fn tasks_added_when_raised(
    playbook: &Playbook,
    from: ResponseLevel,
    to: ResponseLevel,
) -> Vec<LevelTask> {
    tasks_for_level(playbook, to)
        .into_iter()
        .filter(|task| !from.at_least(task.level))
        .collect()
}

fn task(
    key: &str,
    title_zh: &str,
    title_en: &str,
    description: &str,
    group: ResponseGroup,
    due_after_minutes: u32,
    requires_approval_by: &[ResponseGroup],
) -> TaskTemplate {
    TaskTemplate {
        key: key.into(),
        title_zh: title_zh.into(),
        title_en: title_en.into(),
        description: description.into(),
        group,
        due_after_minutes,
        requires_approval_by: requires_approval_by.to_vec(),
    }
}

/// The built-in playbook (version 1 of every installation), written from §6.5 of the
/// standard and the groups and steps of the response plan.
pub fn default_playbook() -> Playbook {
    use ResponseGroup::*;
    Playbook {
        name: "DB33/T 978-2015 §6.5 default".into(),
        level_iv: vec![
            task(
                "assess",
                "初步评估事件影响范围与严重程度",
                "Assess the scope and severity",
                "Confirm what happened, which systems and users are affected, and whether the grading inputs hold.",
                Response,
                60,
                &[],
            ),
            task(
                "watch",
                "加强业务系统监控，增加监视措施",
                "Tighten monitoring of the affected systems",
                "Add watch rules or list entries where the symptoms could show again, in shadow or enforcing mode, to be removed when the incident closes.",
                Response,
                120,
                &[],
            ),
            task(
                "analyse",
                "开展专项数据分析，查找其他受影响系统",
                "Run a special analysis of the data",
                "Look through decisions, alerts and logs for unusual or suspicious activity with the same signs, to find what else is affected.",
                Response,
                24 * 60,
                &[],
            ),
            task(
                "preserve_evidence",
                "收集并保全证据",
                "Collect and preserve evidence",
                "Keep logs, samples and records needed later for the review or for law enforcement, with their hashes.",
                Response,
                24 * 60,
                &[],
            ),
        ],
        level_iii: vec![
            task(
                "continuity",
                "启动业务连续性计划中的相应措施",
                "Activate the business-continuity plan",
                "Start the plan's measures for the affected business functions: keep the critical ones running and prepare their recovery.",
                Leadership,
                60,
                &[],
            ),
            task(
                "notify_internal",
                "通知相关内部部门",
                "Notify the internal departments concerned",
                "Tell the departments outside the usual security contacts what they need to know and do.",
                Leadership,
                4 * 60,
                &[],
            ),
            task(
                "notify_external",
                "通知外部相关方（有社会影响时包括新闻界）",
                "Notify the outside parties concerned (the press when there is social impact)",
                "Once the incident is confirmed, tell partners, regulators and, when the public is affected, the press, through the directory's external contacts.",
                UserCommunication,
                24 * 60,
                &[],
            ),
            task(
                "legal_risk",
                "评估法律风险与合规义务",
                "Assess legal risk and reporting duties",
                "Which laws and contracts apply, who must be told by when, what the complaints and disputes may be.",
                Legal,
                24 * 60,
                &[],
            ),
            task(
                "inform_users",
                "向受影响用户通报情况",
                "Tell the affected users",
                "Explain what happened, what the platform is doing and what users should do; collect their questions and complaints.",
                UserCommunication,
                48 * 60,
                &[],
            ),
        ],
        level_ii: vec![task(
            "press_statement",
            "准备新闻发布材料，经高级管理层、公关与信息安全人员审核后发布",
            "Prepare a press statement, approved by senior management, PR and security before release",
            "Draft the statement following the organisation's PR policy; senior management (leadership group), PR (user communication group) and security (response group) each approve it before it is released.",
            UserCommunication,
            12 * 60,
            &[Leadership, UserCommunication, Response],
        )],
        level_i: vec![task(
            "escalate_senior_management",
            "上报高级管理层决策",
            "Escalate to senior management for a decision",
            "Report to senior management with the recommended actions, so that they decide and order any further assessment.",
            Leadership,
            30,
            &[],
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::StoredCode;

    fn keys(tasks: &[LevelTask]) -> Vec<&str> {
        tasks.iter().map(|task| task.task.key.as_str()).collect()
    }

    #[test]
    fn level_codes_are_pinned_and_names_read_back() {
        assert_eq!(
            ResponseLevel::CODES,
            [
                (ResponseLevel::I, 1),
                (ResponseLevel::II, 2),
                (ResponseLevel::III, 3),
                (ResponseLevel::IV, 4),
            ]
        );
        for level in ResponseLevel::UPWARD {
            assert_eq!(level.as_str().parse::<ResponseLevel>(), Ok(level));
            assert_eq!(
                level.as_str().to_lowercase().parse::<ResponseLevel>(),
                Ok(level)
            );
            assert_eq!(serde_json::to_value(level).unwrap(), level.as_str());
        }
        assert!("V".parse::<ResponseLevel>().is_err());
        assert!(ResponseLevel::I.at_least(ResponseLevel::IV));
        assert!(!ResponseLevel::IV.at_least(ResponseLevel::III));
    }

    #[test]
    fn the_default_playbook_is_valid_and_follows_section_6_5() {
        let playbook = default_playbook();
        playbook.validate().unwrap();
        assert!(keys(&tasks_for_level(&playbook, ResponseLevel::IV)).contains(&"watch"));
        let press = playbook
            .level_ii
            .iter()
            .find(|task| task.key == "press_statement")
            .unwrap();
        assert_eq!(press.requires_approval_by.len(), 3);
        assert_eq!(playbook.level_i[0].group, ResponseGroup::Leadership);
        // It round-trips through its stored JSON.
        let json = serde_json::to_string(&playbook).unwrap();
        assert_eq!(serde_json::from_str::<Playbook>(&json).unwrap(), playbook);
    }

    #[test]
    fn tasks_accumulate_upward_at_every_level() {
        let playbook = default_playbook();
        let own = |level| playbook.own_tasks(level).len();
        let mut expected = 0;
        for level in ResponseLevel::UPWARD {
            expected += own(level);
            let tasks = tasks_for_level(&playbook, level);
            assert_eq!(tasks.len(), expected, "{level}");
            // Each task's level is at or below the incident's, ordered IV first.
            assert!(tasks.iter().all(|task| level.at_least(task.level)));
            assert!(tasks
                .windows(2)
                .all(|pair| pair[0].level.severity() <= pair[1].level.severity()));
        }
        assert_eq!(
            keys(&tasks_for_level(&playbook, ResponseLevel::I)).len(),
            own(ResponseLevel::IV)
                + own(ResponseLevel::III)
                + own(ResponseLevel::II)
                + own(ResponseLevel::I)
        );
    }

    #[test]
    fn raising_adds_only_the_levels_passed_for_every_pair() {
        let playbook = default_playbook();
        for from in ResponseLevel::UPWARD {
            for to in ResponseLevel::UPWARD {
                let added = tasks_added_when_raised(&playbook, from, to);
                if to.severity() <= from.severity() {
                    assert!(added.is_empty(), "{from} -> {to}");
                    continue;
                }
                let before = tasks_for_level(&playbook, from);
                let after = tasks_for_level(&playbook, to);
                // What was there plus what is added is exactly the new level's set.
                let mut union = keys(&before);
                union.extend(keys(&added));
                assert_eq!(union, keys(&after), "{from} -> {to}");
                assert!(added
                    .iter()
                    .all(|task| !from.at_least(task.level) && to.at_least(task.level)));
            }
        }
        assert_eq!(
            keys(&tasks_added_when_raised(
                &playbook,
                ResponseLevel::III,
                ResponseLevel::II
            )),
            ["press_statement"]
        );
    }

    #[test]
    fn invalid_playbooks_are_refused_with_the_place_named() {
        let check = |change: &dyn Fn(&mut Playbook)| {
            let mut playbook = default_playbook();
            change(&mut playbook);
            playbook.validate().map_err(|error| error.message)
        };
        assert_eq!(
            check(&|p| p.name = " ".into()),
            Err("name: must not be empty".into())
        );
        assert_eq!(
            check(&|p| p.level_iii[1].key = "assess".into()),
            Err("level_iii[1].key: 'assess' is used twice".into())
        );
        assert!(check(&|p| p.level_iv[0].key = "Has Space".into())
            .unwrap_err()
            .starts_with("level_iv[0].key"));
        assert_eq!(
            check(&|p| p.level_ii[0].title_en = "".into()),
            Err("level_ii[0].title_en: must not be empty".into())
        );
        assert_eq!(
            check(&|p| p.level_i[0].due_after_minutes = 0),
            Err("level_i[0].due_after_minutes: 0 is out of range; from 1 minute to 129600 (90 days)".into())
        );
        assert!(check(&|p| p.level_i[0].due_after_minutes = MAX_DUE_MINUTES).is_ok());
        assert!(check(&|p| p.level_i[0].due_after_minutes = MAX_DUE_MINUTES + 1).is_err());
        assert!(check(&|p| p.level_ii[0]
            .requires_approval_by
            .push(ResponseGroup::Leadership))
        .is_err());
        assert!(check(&|p| p.level_iv[0].title_zh = "长".repeat(201)).is_err());
        assert!(check(&|p| {
            let template = p.level_iv[0].clone();
            p.level_iv = (0..51)
                .map(|n| TaskTemplate {
                    key: format!("t{n}"),
                    ..template.clone()
                })
                .collect();
            p.level_iii.clear();
            p.level_ii.clear();
            p.level_i.clear();
        })
        .unwrap_err()
        .starts_with("level_iv: 51 tasks"));
        let empty = Playbook {
            name: "empty".into(),
            level_iv: vec![],
            level_iii: vec![],
            level_ii: vec![],
            level_i: vec![],
        };
        assert!(empty.validate().is_ok());
        assert!(tasks_for_level(&empty, ResponseLevel::I).is_empty());
        assert!(serde_json::from_str::<Playbook>(r#"{"name":"x","extra":1}"#).is_err());
    }
}
