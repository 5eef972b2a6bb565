//! Grading an incident exactly as DB33/T 978-2015 §6.3–6.4 does.
//!
//! Two routes give a level, and the incident's level is the more severe of them:
//!
//! - **System route (§6.4 a).** The importance of the affected system (§6.3.2) × the loss
//!   it suffered (§6.3.3):
//!
//!   | importance \ loss       | particularly serious | serious | relatively large | minor |
//!   |-------------------------|----------------------|---------|------------------|-------|
//!   | particularly important  | I (§6.4.2 a)         | II (§6.4.3 a) | III (§6.4.4 a) | IV (§6.4.5) |
//!   | important               | II (§6.4.3 a)        | III (§6.4.4 a) | IV (§6.4.5)   | IV (§6.4.5) |
//!   | general                 | III (§6.4.4 a)       | IV (§6.4.5) | IV (§6.4.5)     | IV (§6.4.5) |
//!
//! - **Social route (§6.3.4, §6.4 b).** The share of the platform's users affected: at least
//!   the major share (10% by default) is major social impact, level I; at least the large
//!   share (5%) is relatively large social impact, level II; within the general share (1%)
//!   is general social impact, level III. The standard names no impact for shares between
//!   1% and 5%: by default they count as general social impact (III), and
//!   [`BandBetween::RelativelyLarge`] counts them as relatively large (II) instead
//!   (decision 0041). No affected user is no social impact.
//!
//! A route whose inputs are unknown does not contribute. With no route at all, the level is
//! IV (§6.4.5: an incident that meets no higher condition is a general one), and the
//! reasoning says which inputs were missing.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::labelled_enum;

labelled_enum!(
    /// How important the affected information system is (§6.3.2).
    SystemImportance, "system importance", {
        /// Systems that affect the platform's transactions and payments.
        ParticularlyImportant = 1, "particularly_important", "特别重要系统", "Particularly important system (transactions and payments)";
        /// Systems that record and operate on user information.
        Important = 2, "important", "重要信息系统", "Important system (user information)";
        /// Other, auxiliary management systems.
        General = 3, "general", "一般信息系统", "General system";
    }
);

labelled_enum!(
    /// How much loss the system suffered (§6.3.3).
    SystemLoss, "system loss", {
        /// Particularly serious loss: continuing loss of users' funds, or a particularly
        /// important system down over a large area for a long time.
        ParticularlySerious = 1, "particularly_serious", "特别严重的系统损失", "Particularly serious loss";
        /// Serious loss: users' funds lost, or an important system partly down.
        Serious = 2, "serious", "严重的系统损失", "Serious loss";
        /// Relatively large loss: efficiency clearly affected or important data's
        /// confidentiality, integrity or availability damaged, but recoverable.
        RelativelyLarge = 3, "relatively_large", "较大的系统损失", "Relatively large loss";
        /// Minor loss: a general system affected, recoverable.
        Minor = 4, "minor", "较小的系统损失", "Minor loss";
    }
);

labelled_enum!(
    /// The level of an incident (§6.4). Ordered by severity: `Level::I > Level::IV`.
    Level, "incident level", {
        /// I: particularly major incident (§6.4.2).
        I = 1, "i", "特别重大事件（I级）", "Particularly major incident (level I)";
        /// II: major incident (§6.4.3).
        II = 2, "ii", "重大事件（II级）", "Major incident (level II)";
        /// III: relatively major incident (§6.4.4).
        III = 3, "iii", "较大事件（III级）", "Relatively major incident (level III)";
        /// IV: general incident (§6.4.5).
        IV = 4, "iv", "一般事件（IV级）", "General incident (level IV)";
    }
);

impl Level {
    /// How severe the level is: 4 for I down to 1 for IV. The order of [`Level`] is this
    /// number, written out here rather than taken from the declaration order.
    pub fn severity(self) -> u8 {
        match self {
            Level::I => 4,
            Level::II => 3,
            Level::III => 2,
            Level::IV => 1,
        }
    }

    /// The more severe of two levels.
    pub fn more_severe(self, other: Level) -> Level {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// The roman numeral (`I` … `IV`).
    pub fn roman(self) -> &'static str {
        match self {
            Level::I => "I",
            Level::II => "II",
            Level::III => "III",
            Level::IV => "IV",
        }
    }
}

impl PartialOrd for Level {
    fn partial_cmp(&self, other: &Level) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Level {
    /// By severity: a more severe level is greater.
    fn cmp(&self, other: &Level) -> Ordering {
        self.severity().cmp(&other.severity())
    }
}

labelled_enum!(
    /// The social impact of an incident (§6.3.4 a).
    SocialImpact, "social impact", {
        /// Major social impact (level I).
        Major = 1, "major", "重大社会影响", "Major social impact";
        /// Relatively large social impact (level II).
        RelativelyLarge = 2, "relatively_large", "较大社会影响", "Relatively large social impact";
        /// General social impact (level III).
        General = 3, "general", "一般社会影响", "General social impact";
    }
);

/// How shares between the general share (1%) and the large share (5%) count, which the
/// standard leaves unnamed (decision 0041).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BandBetween {
    /// As general social impact (level III): the default.
    #[default]
    General,
    /// As relatively large social impact (level II).
    RelativelyLarge,
}

/// The social-impact thresholds of a platform (§6.3.4 a lets each platform set them), as
/// percentages of the platform's users.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, default)]
pub struct GradingConfig {
    /// At least this share is major social impact (level I). Default 10.
    pub major_share_percent: f64,
    /// At least this share is relatively large social impact (level II). Default 5.
    pub large_share_percent: f64,
    /// At most this share is general social impact (level III), as the standard's "within
    /// 1%". Default 1.
    pub general_share_percent: f64,
    /// How a share above the general share and below the large share counts.
    pub band_between: BandBetween,
}

impl Default for GradingConfig {
    fn default() -> Self {
        GradingConfig {
            major_share_percent: 10.0,
            large_share_percent: 5.0,
            general_share_percent: 1.0,
            band_between: BandBetween::General,
        }
    }
}

/// A grading configuration or input that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GradingError {
    /// A threshold is out of range or the thresholds are out of order.
    #[error("grading thresholds: {0}")]
    Config(String),
    /// The user counts do not make a share.
    #[error("{field}: {message}")]
    Input {
        /// The input at fault.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl GradingConfig {
    /// Checks every threshold is in (0, 100] and that general < large < major.
    pub fn validate(&self) -> Result<(), GradingError> {
        for (name, value) in [
            ("major_share_percent", self.major_share_percent),
            ("large_share_percent", self.large_share_percent),
            ("general_share_percent", self.general_share_percent),
        ] {
            if !value.is_finite() || value <= 0.0 || value > 100.0 {
                return Err(GradingError::Config(format!(
                    "{name} is {value}; it must be above 0 and at most 100"
                )));
            }
        }
        if self.major_share_percent <= self.large_share_percent {
            return Err(GradingError::Config(format!(
                "major_share_percent ({}) must be above large_share_percent ({})",
                self.major_share_percent, self.large_share_percent
            )));
        }
        if self.large_share_percent <= self.general_share_percent {
            return Err(GradingError::Config(format!(
                "large_share_percent ({}) must be above general_share_percent ({})",
                self.large_share_percent, self.general_share_percent
            )));
        }
        Ok(())
    }
}

/// What grading is decided from; each may be unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GradingInputs {
    /// The importance of the affected system (§6.3.2).
    pub importance: Option<SystemImportance>,
    /// The loss it suffered (§6.3.3).
    pub loss: Option<SystemLoss>,
    /// How many users the incident affects.
    pub affected_users: Option<u64>,
    /// How many users the platform has.
    pub platform_users: Option<u64>,
}

/// Which route a reason belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GradeRoute {
    /// System importance × system loss (§6.4 a).
    System,
    /// Social impact (§6.4 b).
    Social,
    /// The level taken when no route gives one (§6.4.5).
    Default,
}

/// One step of the reasoning behind a grade.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GradeReason {
    /// The route.
    pub route: GradeRoute,
    /// The clause of the standard that applied (`§6.4.3 a`).
    pub clause: String,
    /// The level this route gives, when it gives one.
    pub level: Option<Level>,
    /// The explanation in English.
    pub en: String,
    /// The explanation in Chinese.
    pub zh: String,
}

/// A computed grade: the level and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Grade {
    /// The level: the more severe of the routes that gave one, IV when none did.
    pub level: Level,
    /// The reasoning, one entry per route.
    pub reasons: Vec<GradeReason>,
}

/// The level of `importance` × `loss` (§6.4 a) and the clause that gives it.
pub fn system_level(importance: SystemImportance, loss: SystemLoss) -> (Level, &'static str) {
    use SystemImportance as Imp;
    use SystemLoss as Loss;
    match (importance, loss) {
        (Imp::ParticularlyImportant, Loss::ParticularlySerious) => (Level::I, "§6.4.2 a"),
        (Imp::ParticularlyImportant, Loss::Serious)
        | (Imp::Important, Loss::ParticularlySerious) => (Level::II, "§6.4.3 a"),
        (Imp::ParticularlyImportant, Loss::RelativelyLarge)
        | (Imp::Important, Loss::Serious)
        | (Imp::General, Loss::ParticularlySerious) => (Level::III, "§6.4.4 a"),
        (Imp::ParticularlyImportant, Loss::Minor)
        | (Imp::Important, Loss::RelativelyLarge | Loss::Minor)
        | (Imp::General, Loss::Serious | Loss::RelativelyLarge | Loss::Minor) => {
            (Level::IV, "§6.4.5")
        }
    }
}

impl SocialImpact {
    /// The level this impact gives (§6.4 b).
    pub fn level(self) -> Level {
        match self {
            SocialImpact::Major => Level::I,
            SocialImpact::RelativelyLarge => Level::II,
            SocialImpact::General => Level::III,
        }
    }

    /// The clause that gives the level.
    pub fn clause(self) -> &'static str {
        match self {
            SocialImpact::Major => "§6.4.2 b",
            SocialImpact::RelativelyLarge => "§6.4.3 b",
            SocialImpact::General => "§6.4.4 b",
        }
    }
}

/// The social impact of `affected` users out of `platform` (§6.3.4 a); `None` when no user
/// is affected. `platform` must be at least `affected` and above 0 (checked by [`grade`]).
pub fn social_impact(affected: u64, platform: u64, config: &GradingConfig) -> Option<SocialImpact> {
    if affected == 0 || platform == 0 {
        return None;
    }
    let share = share_percent(affected, platform);
    if share >= config.major_share_percent {
        Some(SocialImpact::Major)
    } else if share >= config.large_share_percent {
        Some(SocialImpact::RelativelyLarge)
    } else if share <= config.general_share_percent {
        Some(SocialImpact::General)
    } else {
        Some(match config.band_between {
            BandBetween::General => SocialImpact::General,
            BandBetween::RelativelyLarge => SocialImpact::RelativelyLarge,
        })
    }
}

/// `affected` as a percentage of `platform` (IEEE division is correctly rounded, so a share
/// that is exactly a threshold compares equal to it).
fn share_percent(affected: u64, platform: u64) -> f64 {
    affected as f64 * 100.0 / platform as f64
}

/// Grades an incident from its inputs (see the module documentation).
pub fn grade(inputs: &GradingInputs, config: &GradingConfig) -> Result<Grade, GradingError> {
    config.validate()?;
    let mut reasons = Vec::new();
    let mut levels = Vec::new();

    match (inputs.importance, inputs.loss) {
        (Some(importance), Some(loss)) => {
            let (level, clause) = system_level(importance, loss);
            levels.push(level);
            reasons.push(GradeReason {
                route: GradeRoute::System,
                clause: clause.to_owned(),
                level: Some(level),
                en: format!(
                    "{} with {}: level {}",
                    importance.label_en().to_lowercase(),
                    loss.label_en().to_lowercase(),
                    level.roman()
                ),
                zh: format!(
                    "{}遭受{}：{}",
                    importance.label_zh(),
                    loss.label_zh(),
                    level.label_zh()
                ),
            });
        }
        (importance, loss) => {
            let missing = match (importance, loss) {
                (None, None) => "system importance and system loss",
                (None, Some(_)) => "system importance",
                _ => "system loss",
            };
            let missing_zh = match (importance, loss) {
                (None, None) => "系统重要程度和系统损失",
                (None, Some(_)) => "系统重要程度",
                _ => "系统损失",
            };
            reasons.push(GradeReason {
                route: GradeRoute::System,
                clause: "§6.4 a".to_owned(),
                level: None,
                en: format!("{missing} unknown: the system route gives no level"),
                zh: format!("{missing_zh}未知：不按系统损失定级"),
            });
        }
    }

    match (inputs.affected_users, inputs.platform_users) {
        (Some(affected), Some(platform)) => {
            if platform == 0 {
                return Err(GradingError::Input {
                    field: "platform_users",
                    message: "must be above 0".to_owned(),
                });
            }
            if affected > platform {
                return Err(GradingError::Input {
                    field: "affected_users",
                    message: format!("{affected} is more than the platform's {platform} users"),
                });
            }
            let share = share_percent(affected, platform);
            match social_impact(affected, platform, config) {
                None => reasons.push(GradeReason {
                    route: GradeRoute::Social,
                    clause: "§6.3.4 a".to_owned(),
                    level: None,
                    en: "no user affected: no social impact".to_owned(),
                    zh: "未影响用户：无社会影响".to_owned(),
                }),
                Some(impact) => {
                    let level = impact.level();
                    levels.push(level);
                    let in_band =
                        share > config.general_share_percent && share < config.large_share_percent;
                    let (band_en, band_zh) = if in_band {
                        (
                            format!(
                                " (between {}% and {}%, which the standard leaves unnamed, counts as {} by this platform's setting)",
                                config.general_share_percent,
                                config.large_share_percent,
                                impact.label_en().to_lowercase()
                            ),
                            format!(
                                "（{}%至{}%之间，标准未规定，按本平台设置计为{}）",
                                config.general_share_percent,
                                config.large_share_percent,
                                impact.label_zh()
                            ),
                        )
                    } else {
                        (String::new(), String::new())
                    };
                    reasons.push(GradeReason {
                        route: GradeRoute::Social,
                        clause: impact.clause().to_owned(),
                        level: Some(level),
                        en: format!(
                            "{affected} of {platform} users affected ({share:.4}%): {}{band_en}, level {}",
                            impact.label_en().to_lowercase(),
                            level.roman()
                        ),
                        zh: format!(
                            "影响平台{platform}名用户中的{affected}名（{share:.4}%）：{}{band_zh}，{}",
                            impact.label_zh(),
                            level.label_zh()
                        ),
                    });
                }
            }
        }
        (affected, platform) => {
            let missing = match (affected, platform) {
                (None, None) => "affected users and platform users",
                (None, Some(_)) => "affected users",
                _ => "platform users",
            };
            reasons.push(GradeReason {
                route: GradeRoute::Social,
                clause: "§6.4 b".to_owned(),
                level: None,
                en: format!("{missing} unknown: the social route gives no level"),
                zh: "受影响用户比例未知：不按社会影响定级".to_owned(),
            });
        }
    }

    let level = match levels.into_iter().max() {
        Some(level) => level,
        None => {
            reasons.push(GradeReason {
                route: GradeRoute::Default,
                clause: "§6.4.5".to_owned(),
                level: Some(Level::IV),
                en: "no route gave a level (inputs missing or no impact): a general incident, level IV".to_owned(),
                zh: "无法按系统损失或社会影响定级（输入缺失或无影响）：一般事件（IV级）".to_owned(),
            });
            Level::IV
        }
    };
    Ok(Grade { level, reasons })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::StoredCode;
    use SystemImportance as Imp;
    use SystemLoss as Loss;

    /// The system route written out from the standard's text, independently of
    /// [`system_level`]: row = importance (PI, Imp, Gen), column = loss (PS, S, RL, minor),
    /// value = level code.
    const SYSTEM_TABLE: [[u8; 4]; 3] = [[1, 2, 3, 4], [2, 3, 4, 4], [3, 4, 4, 4]];

    /// Shares tested, per 1,000,000 platform users, with the expected level code for
    /// band = general and band = relatively_large (0: no social impact).
    const SHARES: [(u64, u8, u8); 9] = [
        (0, 0, 0),         // 0
        (5_000, 3, 3),     // 0.5%
        (10_000, 3, 3),    // 1%: "within 1%"
        (10_001, 3, 2),    // 1.0001%: the unnamed band
        (49_990, 3, 2),    // 4.999%
        (50_000, 2, 2),    // 5%
        (99_990, 2, 2),    // 9.999%
        (100_000, 1, 1),   // 10%
        (1_000_000, 1, 1), // 100%
    ];

    fn level_of(code: u8) -> Level {
        Level::from_code(code).unwrap()
    }

    #[test]
    fn every_combination_matches_the_expectation_table() {
        let importances = [
            Some(Imp::ParticularlyImportant),
            Some(Imp::Important),
            Some(Imp::General),
            None,
        ];
        let losses = [
            Some(Loss::ParticularlySerious),
            Some(Loss::Serious),
            Some(Loss::RelativelyLarge),
            Some(Loss::Minor),
            None,
        ];
        let mut checked = 0;
        for band in [BandBetween::General, BandBetween::RelativelyLarge] {
            let config = GradingConfig {
                band_between: band,
                ..GradingConfig::default()
            };
            for (row, importance) in importances.iter().enumerate() {
                for (column, loss) in losses.iter().enumerate() {
                    let system_expected =
                        (row < 3 && column < 4).then(|| SYSTEM_TABLE[row][column]);
                    let mut shares: Vec<Option<(u64, u8)>> = SHARES
                        .iter()
                        .map(|(affected, general, large)| {
                            Some((
                                *affected,
                                if band == BandBetween::General {
                                    *general
                                } else {
                                    *large
                                },
                            ))
                        })
                        .collect();
                    shares.push(None);
                    for share in shares {
                        let inputs = GradingInputs {
                            importance: *importance,
                            loss: *loss,
                            affected_users: share.map(|(affected, _)| affected),
                            platform_users: share.map(|_| 1_000_000),
                        };
                        let social_expected = share.map(|(_, code)| code).filter(|code| *code != 0);
                        // The more severe is the smaller code; nothing is IV.
                        let expected = match (system_expected, social_expected) {
                            (Some(a), Some(b)) => a.min(b),
                            (Some(a), None) | (None, Some(a)) => a,
                            (None, None) => 4,
                        };
                        let graded = grade(&inputs, &config).unwrap();
                        assert_eq!(
                            graded.level,
                            level_of(expected),
                            "{inputs:?} band {band:?}: {:#?}",
                            graded.reasons
                        );
                        let default_reason = graded
                            .reasons
                            .iter()
                            .any(|reason| reason.route == GradeRoute::Default);
                        assert_eq!(
                            default_reason,
                            system_expected.is_none() && social_expected.is_none()
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 2 * 4 * 5 * 10);
    }

    #[test]
    fn the_matrix_names_its_clauses() {
        let clauses = [
            (
                Imp::ParticularlyImportant,
                Loss::ParticularlySerious,
                "§6.4.2 a",
            ),
            (Imp::ParticularlyImportant, Loss::Serious, "§6.4.3 a"),
            (Imp::Important, Loss::ParticularlySerious, "§6.4.3 a"),
            (
                Imp::ParticularlyImportant,
                Loss::RelativelyLarge,
                "§6.4.4 a",
            ),
            (Imp::Important, Loss::Serious, "§6.4.4 a"),
            (Imp::General, Loss::ParticularlySerious, "§6.4.4 a"),
            (Imp::ParticularlyImportant, Loss::Minor, "§6.4.5"),
            (Imp::Important, Loss::RelativelyLarge, "§6.4.5"),
            (Imp::Important, Loss::Minor, "§6.4.5"),
            (Imp::General, Loss::Serious, "§6.4.5"),
            (Imp::General, Loss::RelativelyLarge, "§6.4.5"),
            (Imp::General, Loss::Minor, "§6.4.5"),
        ];
        assert_eq!(clauses.len(), Imp::ALL.len() * Loss::ALL.len());
        for (importance, loss, clause) in clauses {
            assert_eq!(system_level(importance, loss).1, clause);
        }
        let graded = grade(
            &GradingInputs {
                importance: Some(Imp::Important),
                loss: Some(Loss::ParticularlySerious),
                affected_users: Some(60),
                platform_users: Some(1_000),
            },
            &GradingConfig::default(),
        )
        .unwrap();
        assert_eq!(graded.level, Level::II);
        let clauses: Vec<&str> = graded.reasons.iter().map(|r| r.clause.as_str()).collect();
        assert_eq!(clauses, ["§6.4.3 a", "§6.4.3 b"]);
    }

    #[test]
    fn missing_inputs_fall_back_to_iv_and_say_so() {
        let graded = grade(&GradingInputs::default(), &GradingConfig::default()).unwrap();
        assert_eq!(graded.level, Level::IV);
        assert_eq!(graded.reasons.len(), 3);
        assert!(
            graded.reasons[0].en.contains("unknown"),
            "{:?}",
            graded.reasons
        );
        assert_eq!(graded.reasons[2].clause, "§6.4.5");
        let only_loss = grade(
            &GradingInputs {
                loss: Some(Loss::Serious),
                ..GradingInputs::default()
            },
            &GradingConfig::default(),
        )
        .unwrap();
        assert!(only_loss.reasons[0]
            .en
            .starts_with("system importance unknown"));
    }

    #[test]
    fn the_band_reason_says_it_is_a_setting() {
        let graded = grade(
            &GradingInputs {
                affected_users: Some(3),
                platform_users: Some(100),
                ..GradingInputs::default()
            },
            &GradingConfig::default(),
        )
        .unwrap();
        assert_eq!(graded.level, Level::III);
        assert!(
            graded.reasons[1].en.contains("leaves unnamed"),
            "{:?}",
            graded.reasons
        );
        assert!(graded.reasons[1].zh.contains("标准未规定"));
    }

    #[test]
    fn custom_thresholds_apply() {
        let config = GradingConfig {
            major_share_percent: 2.0,
            large_share_percent: 0.5,
            general_share_percent: 0.1,
            band_between: BandBetween::General,
        };
        let level = |affected| {
            grade(
                &GradingInputs {
                    affected_users: Some(affected),
                    platform_users: Some(1_000),
                    ..GradingInputs::default()
                },
                &config,
            )
            .unwrap()
            .level
        };
        assert_eq!(level(20), Level::I);
        assert_eq!(level(5), Level::II);
        assert_eq!(level(1), Level::III);
        assert_eq!(level(3), Level::III);
    }

    #[test]
    fn bad_config_and_inputs_are_refused() {
        let bad = [
            GradingConfig {
                major_share_percent: 0.0,
                ..GradingConfig::default()
            },
            GradingConfig {
                major_share_percent: 100.5,
                ..GradingConfig::default()
            },
            GradingConfig {
                large_share_percent: f64::NAN,
                ..GradingConfig::default()
            },
            GradingConfig {
                major_share_percent: 5.0,
                ..GradingConfig::default()
            },
            GradingConfig {
                general_share_percent: 5.0,
                ..GradingConfig::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
            assert!(grade(&GradingInputs::default(), &config).is_err());
        }
        GradingConfig {
            major_share_percent: 100.0,
            ..GradingConfig::default()
        }
        .validate()
        .unwrap();
        let inputs = |affected, platform| GradingInputs {
            affected_users: Some(affected),
            platform_users: Some(platform),
            ..GradingInputs::default()
        };
        let config = GradingConfig::default();
        assert!(matches!(
            grade(&inputs(1, 0), &config),
            Err(GradingError::Input {
                field: "platform_users",
                ..
            })
        ));
        assert!(matches!(
            grade(&inputs(11, 10), &config),
            Err(GradingError::Input {
                field: "affected_users",
                ..
            })
        ));
    }

    #[test]
    fn levels_order_by_severity_and_codes_are_pinned() {
        assert!(Level::I > Level::II && Level::II > Level::III && Level::III > Level::IV);
        assert_eq!(Level::IV.more_severe(Level::II), Level::II);
        assert_eq!(Level::I.more_severe(Level::III), Level::I);
        assert_eq!(
            Level::CODES,
            [
                (Level::I, 1),
                (Level::II, 2),
                (Level::III, 3),
                (Level::IV, 4)
            ]
        );
        assert_eq!(
            SystemImportance::CODES,
            [
                (Imp::ParticularlyImportant, 1),
                (Imp::Important, 2),
                (Imp::General, 3)
            ]
        );
        assert_eq!(
            SystemLoss::CODES,
            [
                (Loss::ParticularlySerious, 1),
                (Loss::Serious, 2),
                (Loss::RelativelyLarge, 3),
                (Loss::Minor, 4)
            ]
        );
        let names: Vec<&str> = Level::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(names, ["i", "ii", "iii", "iv"]);
        assert_eq!(
            serde_json::to_string(&BandBetween::RelativelyLarge).unwrap(),
            "\"relatively_large\""
        );
    }
}
