//! Policies: versioned sets of lists, velocity features and CEL rules, written in TOML.
//!
//! ```toml
//! [policy]
//! name = "marketplace"
//!
//! [scoring]            # optional: escalate on the summed score of matched rules
//! review_at = 60
//! deny_at = 90
//!
//! [[lists]]
//! name = "ip_block"
//! kind = "ip"           # ip, device, email, email_domain, phone, card_bin, domain, user, text
//!
//! [[features]]
//! name = "login_failed_user_10m"
//! aggregate = "count"   # count, sum (of event.amount) or distinct
//! of = ["login_failed"] # event kinds counted; all kinds when empty
//! by = "user"           # user, ip, ip_prefix, device, card, card_bin, counterparty, email, ...
//! window = "10m"        # s, m, h, d
//! # field = "ip"        # distinct: the entity whose distinct values are counted
//! # where = "event.failure_reason == 'bad_password'"   # optional CEL filter
//!
//! [[rules]]
//! id = "brute_force_captcha"
//! when = "event.kind == 'login_failed' && features.login_failed_user_10m >= 5"
//! outcome = "challenge" # allow (exempts), challenge, review, deny
//! challenge = "captcha" # captcha, sms, totp
//! score = 30
//! mode = "enforce"      # or "shadow": recorded, never acted on
//! reason = "five failed logins on this account within ten minutes"
//! actions = [{ add_to_list = "ip_watch", entity = "ip", ttl = "1h" }, { alert = "medium" }]
//!
//! [[tests]]             # fixtures: must pass before the policy is accepted
//! name = "fifth failure gets a captcha"
//! events = [{ kind = "login_failed", user_id = "u1", ip = "192.0.2.1" }, ...]
//! expect = [{ event = 4, outcome = "challenge", rules = ["brute_force_captcha"] }]
//! ```
//!
//! Rules are evaluated only for the event kinds they can match: `on = [...]` when given, else
//! the kinds named by a top-level `event.kind == '...'` or `event.kind in [...]` conjunct.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cel::{
    compile_parsed_bool, parse_expr, CompileError, CompiledExpr, Environment, FeatureDecl,
    ParsedExpr,
};
use crate::decision::{AlertSeverity, ChallengeKind, Outcome, RuleMode};
use crate::event::{EventInput, EventKind};
use crate::features::{Aggregation, EntityKey, FeatureState, FeatureStates, WindowShape};
use crate::lists::{ListError, ListKind, ListRegistry};

/// Most rules in one policy.
pub const MAX_RULES: usize = 2_000;
/// Most features in one policy.
pub const MAX_FEATURES: usize = 256;

/// Why a policy was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// The TOML does not parse or does not fit the schema.
    #[error("policy document: {0}")]
    Document(String),
    /// A rule's expression does not compile.
    #[error("rule '{rule_id}': {error}")]
    Rule {
        /// The rule.
        rule_id: String,
        /// Where and why.
        error: CompileError,
    },
    /// A feature's filter does not compile.
    #[error("feature '{feature}' filter: {error}")]
    FeatureFilter {
        /// The feature.
        feature: String,
        /// Where and why.
        error: CompileError,
    },
    /// Any other invalid content; the message names the item.
    #[error("{0}")]
    Invalid(String),
    /// A list declaration conflicts with an existing list.
    #[error("list: {0}")]
    List(#[from] ListError),
    /// Fixture tests failed.
    #[error("{} fixture test(s) failed: {}", .0.len(), .0.join("; "))]
    FixturesFailed(Vec<String>),
}

/// The `[policy]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyMeta {
    /// Name of the policy.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
}

/// Score thresholds that escalate a decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    /// At this score or more, the outcome is at least `review`.
    pub review_at: Option<u32>,
    /// At this score or more, the outcome is `deny`.
    pub deny_at: Option<u32>,
}

/// A `[[lists]]` declaration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListDecl {
    /// List name, used in `in_list(name, ...)`.
    pub name: String,
    /// How values match.
    pub kind: ListKind,
    /// What it holds.
    #[serde(default)]
    pub description: String,
}

/// A `[[features]]` declaration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDoc {
    /// Name, used as `features.<name>`.
    pub name: String,
    /// `count`, `sum` or `distinct`.
    pub aggregate: String,
    /// Event kinds counted; every kind when empty.
    #[serde(default)]
    pub of: Vec<EventKind>,
    /// Entity grouped by.
    pub by: String,
    /// Window length: `30s`, `10m`, `1h`, `7d`.
    pub window: String,
    /// For `distinct`: the entity counted; for `sum`: `amount` (the default).
    pub field: Option<String>,
    /// Optional CEL filter over `event` and `profile`.
    #[serde(rename = "where")]
    pub filter: Option<String>,
}

/// One action of a rule: exactly one of `add_to_list` or `alert`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionDoc {
    /// List to add the event's entity to.
    pub add_to_list: Option<String>,
    /// Which entity: ip, user, device, email, email_domain, phone, card_bin.
    pub entity: Option<String>,
    /// How long the entry lasts; forever when absent.
    pub ttl: Option<String>,
    /// Raise an alert of this severity.
    pub alert: Option<AlertSeverity>,
}

/// A `[[rules]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDoc {
    /// Unique id.
    pub id: String,
    /// Longer explanation for analysts.
    #[serde(default)]
    pub description: String,
    /// CEL condition.
    pub when: String,
    /// Outcome when it matches.
    pub outcome: Outcome,
    /// Challenge kind, for `challenge` outcomes (captcha when absent).
    pub challenge: Option<ChallengeKind>,
    /// Points added to the score.
    #[serde(default)]
    pub score: u32,
    /// Enforce or shadow.
    #[serde(default)]
    pub mode: RuleMode,
    /// Reason shown with the decision.
    pub reason: String,
    /// Actions when it matches (enforced rules only).
    #[serde(default)]
    pub actions: Vec<ActionDoc>,
    /// Event kinds it applies to; inferred from the condition when absent.
    pub on: Option<Vec<EventKind>>,
}

impl RuleDoc {
    /// Whether the rule punishes on its own: enforced, and denying or listing the entity.
    pub fn is_punitive(&self) -> bool {
        self.mode == RuleMode::Enforce
            && (self.outcome == Outcome::Deny
                || self
                    .actions
                    .iter()
                    .any(|action| action.add_to_list.is_some()))
    }
}

/// The punitive rules that `proposed` adds or changes compared with `live`: what needs the
/// approval of someone other than its author before going live.
pub fn punitive_changes(live: &str, proposed: &str) -> Result<Vec<String>, PolicyError> {
    let live = PolicyDocument::parse(live)?;
    let proposed = PolicyDocument::parse(proposed)?;
    Ok(proposed
        .rules
        .iter()
        .filter(|rule| rule.is_punitive())
        .filter(|rule| !live.rules.iter().any(|existing| existing == *rule))
        .map(|rule| rule.id.clone())
        .collect())
}

/// An expectation of a fixture test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectDoc {
    /// Index of the event in the fixture, from 0.
    pub event: usize,
    /// Expected outcome.
    pub outcome: Outcome,
    /// Rules that must be among the matched (enforced or shadow).
    #[serde(default)]
    pub rules: Vec<String>,
}

/// A list entry present before a fixture's events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureEntry {
    /// The list.
    pub list: String,
    /// The value.
    pub value: String,
}

/// A `[[tests]]` fixture: events in order and the decisions expected.
///
/// Event times: `occurred_at_ms`, when given, counts from the fixture's start; otherwise the
/// events are `spacing_seconds` apart (1 s by default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureDoc {
    /// Name shown in reports.
    pub name: String,
    /// Seconds between events without a time.
    #[serde(default = "default_spacing")]
    pub spacing_seconds: i64,
    /// List entries present at the start.
    #[serde(default)]
    pub lists: Vec<FixtureEntry>,
    /// The events.
    pub events: Vec<EventInput>,
    /// What is expected.
    pub expect: Vec<ExpectDoc>,
}

fn default_spacing() -> i64 {
    1
}

/// A policy as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// Name and description.
    pub policy: PolicyMeta,
    /// Score thresholds.
    #[serde(default)]
    pub scoring: Scoring,
    /// Lists the rules use.
    #[serde(default)]
    pub lists: Vec<ListDecl>,
    /// Velocity features.
    #[serde(default)]
    pub features: Vec<FeatureDoc>,
    /// Rules, in evaluation and reporting order.
    #[serde(default)]
    pub rules: Vec<RuleDoc>,
    /// Fixture tests.
    #[serde(default)]
    pub tests: Vec<FixtureDoc>,
}

impl PolicyDocument {
    /// Parses a TOML policy.
    pub fn parse(source: &str) -> Result<PolicyDocument, PolicyError> {
        toml::from_str(source)
            .map_err(|error| PolicyError::Document(error.to_string().trim().to_owned()))
    }
}

/// Parses `30s`, `10m`, `2h`, `7d` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    number.checked_mul(unit_ms).filter(|ms| *ms > 0)
}

/// A compiled feature.
pub struct CompiledFeature {
    /// Name.
    pub name: String,
    /// Aggregation, key and window.
    pub shape: WindowShape,
    /// Filter, if any.
    pub filter: Option<CompiledExpr>,
    /// Live state.
    pub state: Arc<FeatureState>,
    /// An earlier feature of the same shape, whose state this one shares: an event is added
    /// once, to that feature, and this one takes its value.
    pub shares_state_with: Option<usize>,
}

/// The entity a list action adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionEntity {
    /// `event.ip`.
    Ip,
    /// `event.user_id`.
    User,
    /// `event.device_id`.
    Device,
    /// `event.email`.
    Email,
    /// The domain of `event.email`.
    EmailDomain,
    /// `event.phone`.
    Phone,
    /// `event.card_bin`.
    CardBin,
}

impl ActionEntity {
    fn parse(name: &str) -> Option<ActionEntity> {
        Some(match name {
            "ip" => ActionEntity::Ip,
            "user" => ActionEntity::User,
            "device" => ActionEntity::Device,
            "email" => ActionEntity::Email,
            "email_domain" => ActionEntity::EmailDomain,
            "phone" => ActionEntity::Phone,
            "card_bin" => ActionEntity::CardBin,
            _ => return None,
        })
    }
}

/// A compiled rule action.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleAction {
    /// Add an entity of the event to a list.
    AddToList {
        /// List name.
        list: String,
        /// Which entity.
        entity: ActionEntity,
        /// Lifetime of the entry.
        ttl_ms: Option<i64>,
    },
    /// Raise an alert.
    Alert(AlertSeverity),
}

/// A compiled rule.
pub struct CompiledRule {
    /// Id.
    pub id: String,
    /// Reason text.
    pub reason: String,
    /// Condition.
    pub condition: CompiledExpr,
    /// Outcome.
    pub outcome: Outcome,
    /// Challenge kind for challenge outcomes.
    pub challenge: Option<ChallengeKind>,
    /// Score points.
    pub score: u32,
    /// Enforce or shadow.
    pub mode: RuleMode,
    /// Actions.
    pub actions: Vec<RuleAction>,
}

/// A policy ready to decide: rules and features compiled, dispatch tables built.
pub struct CompiledPolicy {
    /// Version number given by the store (0 for a policy not stored).
    pub version: u64,
    /// The TOML it came from.
    pub source: String,
    /// The parsed document.
    pub document: PolicyDocument,
    /// Features in declaration order (their index is their id in rules).
    pub features: Vec<CompiledFeature>,
    /// Features to update per event kind.
    pub features_by_kind: Vec<Vec<usize>>,
    /// Features the rules of each event kind may read without that kind updating them (by
    /// the index of the feature whose state they read), for [`crate::Engine::prefetch`].
    pub features_read_by_kind: Vec<Vec<usize>>,
    /// Rules in declaration order.
    pub rules: Vec<CompiledRule>,
    /// Rules to evaluate per event kind.
    pub rules_by_kind: Vec<Vec<usize>>,
}

impl std::fmt::Debug for CompiledPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPolicy")
            .field("version", &self.version)
            .field("name", &self.document.policy.name)
            .field("rules", &self.rules.len())
            .field("features", &self.features.len())
            .finish()
    }
}

fn compile_feature(
    doc: &FeatureDoc,
    parsed_filter: Option<&Result<ParsedExpr, CompileError>>,
    lists: &ListRegistry,
    states: &FeatureStates,
) -> Result<(CompiledFeature, Vec<EventKind>), PolicyError> {
    let invalid =
        |message: String| PolicyError::Invalid(format!("feature '{}': {message}", doc.name));
    let group_by = EntityKey::parse(&doc.by)
        .ok_or_else(|| invalid(format!("unknown entity '{}' in `by`", doc.by)))?;
    let window_ms = parse_duration_ms(&doc.window).ok_or_else(|| {
        invalid(format!(
            "window '{}' is not like 30s, 10m, 1h or 7d",
            doc.window
        ))
    })?;
    if window_ms > 366 * 86_400_000 {
        return Err(invalid(
            "windows longer than a year are not supported".into(),
        ));
    }
    let aggregation = match (doc.aggregate.as_str(), doc.field.as_deref()) {
        ("count", None) => Aggregation::Count,
        ("sum", None | Some("amount")) => Aggregation::SumAmount,
        ("distinct", Some(field)) => Aggregation::Distinct(
            EntityKey::parse(field)
                .ok_or_else(|| invalid(format!("unknown entity '{field}' in `field`")))?,
        ),
        ("distinct", None) => {
            return Err(invalid(
                "distinct needs `field`, the entity whose distinct values are counted".into(),
            ))
        }
        ("count", Some(_)) => return Err(invalid("count takes no `field`".into())),
        ("sum", Some(other)) => return Err(invalid(format!("sum adds `amount`, not '{other}'"))),
        (other, _) => {
            return Err(invalid(format!(
                "aggregate '{other}' is not count, sum or distinct"
            )))
        }
    };
    let filter = match parsed_filter {
        Some(parsed) => Some(
            parsed
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|parsed| {
                    compile_parsed_bool(
                        parsed,
                        Environment {
                            features: &[],
                            lists,
                        },
                    )
                })
                .map_err(|error| PolicyError::FeatureFilter {
                    feature: doc.name.clone(),
                    error,
                })?,
        ),
        None => None,
    };
    let mut kinds = if doc.of.is_empty() {
        EventKind::ALL.to_vec()
    } else {
        doc.of.clone()
    };
    kinds.sort();
    kinds.dedup();
    let shape = WindowShape {
        aggregation,
        group_by,
        window_ms,
        kinds: kinds.clone(),
        filter: doc.filter.as_ref().map(|source| source.trim().to_owned()),
    };
    let state = states.state_for(&shape);
    Ok((
        CompiledFeature {
            name: doc.name.clone(),
            shape,
            filter,
            state,
            shares_state_with: None,
        },
        kinds,
    ))
}

fn compile_action(
    rule_id: &str,
    doc: &ActionDoc,
    lists: &ListRegistry,
) -> Result<RuleAction, PolicyError> {
    let invalid =
        |message: String| PolicyError::Invalid(format!("rule '{rule_id}' action: {message}"));
    match (&doc.add_to_list, doc.alert) {
        (Some(list), None) => {
            if lists.get(list).is_none() {
                return Err(invalid(format!(
                    "no list named '{list}': declare it in [[lists]]"
                )));
            }
            let entity_name = doc
                .entity
                .as_deref()
                .ok_or_else(|| invalid("add_to_list needs `entity`".into()))?;
            let entity = ActionEntity::parse(entity_name)
                .ok_or_else(|| invalid(format!("unknown entity '{entity_name}'")))?;
            let ttl_ms = match &doc.ttl {
                Some(ttl) => Some(parse_duration_ms(ttl).ok_or_else(|| {
                    invalid(format!("ttl '{ttl}' is not like 30s, 10m, 1h or 7d"))
                })?),
                None => None,
            };
            Ok(RuleAction::AddToList {
                list: list.clone(),
                entity,
                ttl_ms,
            })
        }
        (None, Some(severity)) if doc.entity.is_none() && doc.ttl.is_none() => {
            Ok(RuleAction::Alert(severity))
        }
        _ => Err(invalid(
            "give exactly one of add_to_list (with entity, ttl) or alert".into(),
        )),
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 96
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// A policy parsed once: its TOML document, and the syntax tree of every rule condition and
/// feature filter (or the error parsing it gave). Parsing is what costs in compiling a policy;
/// [`CompiledPolicy::bind`] turns a parsed policy into a compiled one for a given list
/// registry and feature state without parsing anything again, so checking a policy (one
/// compilation, one per fixture) and making it live parse it once (decision 0038).
///
/// Binding reports every error compiling the source would, at the same point and with the
/// same position: an expression that does not parse is kept as its error and reported when
/// binding reaches it, after the errors of the items before it.
pub struct ParsedPolicy {
    source: String,
    document: PolicyDocument,
    /// Per feature, in declaration order: its parsed filter, if it has one.
    filters: Vec<Option<Result<ParsedExpr, CompileError>>>,
    /// Per rule, in declaration order: its parsed condition.
    conditions: Vec<Result<ParsedExpr, CompileError>>,
}

impl std::fmt::Debug for ParsedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedPolicy")
            .field("name", &self.document.policy.name)
            .field("rules", &self.conditions.len())
            .field("features", &self.filters.len())
            .finish_non_exhaustive()
    }
}

/// Two parsed policies are equal when their sources are: the rest follows from the source.
impl PartialEq for ParsedPolicy {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl ParsedPolicy {
    /// Parses a TOML policy and every expression in it. Fails on what compiling would refuse
    /// before looking at any item: a document that does not parse or fit the schema, or more
    /// rules or features than the limits.
    pub fn parse(source: &str) -> Result<ParsedPolicy, PolicyError> {
        let document = PolicyDocument::parse(source)?;
        if document.rules.len() > MAX_RULES {
            return Err(PolicyError::Invalid(format!(
                "{} rules; the limit is {MAX_RULES}",
                document.rules.len()
            )));
        }
        if document.features.len() > MAX_FEATURES {
            return Err(PolicyError::Invalid(format!(
                "{} features; the limit is {MAX_FEATURES}",
                document.features.len()
            )));
        }
        let filters = document
            .features
            .iter()
            .map(|feature| feature.filter.as_deref().map(parse_expr))
            .collect();
        let conditions = document
            .rules
            .iter()
            .map(|rule| parse_expr(&rule.when))
            .collect();
        Ok(ParsedPolicy {
            source: source.to_owned(),
            document,
            filters,
            conditions,
        })
    }

    /// The TOML source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parsed document.
    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }
}

impl CompiledPolicy {
    /// Compiles a policy document. Declared lists are created in `lists` when missing, and
    /// features take their state from `states` (kept across versions by window shape).
    pub fn compile(
        source: &str,
        version: u64,
        lists: &ListRegistry,
        states: &FeatureStates,
    ) -> Result<CompiledPolicy, PolicyError> {
        CompiledPolicy::bind(&ParsedPolicy::parse(source)?, version, lists, states)
    }

    /// Compiles a parsed policy, as [`compile`](Self::compile) does its source (the same
    /// result, the same errors), without parsing it again: the expressions are type-checked
    /// against the policy's features and `lists` and turned into closures, the lists created,
    /// the feature states taken from `states`.
    pub fn bind(
        parsed: &ParsedPolicy,
        version: u64,
        lists: &ListRegistry,
        states: &FeatureStates,
    ) -> Result<CompiledPolicy, PolicyError> {
        let document = &parsed.document;
        for list in &document.lists {
            lists.ensure(&list.name, list.kind)?;
        }

        let mut names = BTreeSet::new();
        let mut features = Vec::with_capacity(document.features.len());
        let mut features_by_kind = vec![Vec::new(); EventKind::COUNT];
        for (doc, parsed_filter) in document.features.iter().zip(&parsed.filters) {
            if !valid_id(&doc.name) || !names.insert(doc.name.clone()) {
                return Err(PolicyError::Invalid(format!(
                    "feature name '{}' is invalid or repeated",
                    doc.name
                )));
            }
            let (mut feature, kinds) = compile_feature(doc, parsed_filter.as_ref(), lists, states)?;
            feature.shares_state_with = features
                .iter()
                .position(|earlier: &CompiledFeature| Arc::ptr_eq(&earlier.state, &feature.state));
            for kind in kinds {
                features_by_kind[kind.index()].push(features.len());
            }
            features.push(feature);
        }
        let declarations: Vec<FeatureDecl> = features
            .iter()
            .map(|feature| FeatureDecl {
                name: feature.name.clone(),
                integer: feature.shape.aggregation != Aggregation::SumAmount,
            })
            .collect();
        let env = Environment {
            features: &declarations,
            lists,
        };

        let mut rule_ids = BTreeSet::new();
        let mut rules = Vec::with_capacity(document.rules.len());
        let mut rules_by_kind = vec![Vec::new(); EventKind::COUNT];
        for (doc, parsed_condition) in document.rules.iter().zip(&parsed.conditions) {
            if !valid_id(&doc.id) || !rule_ids.insert(doc.id.clone()) {
                return Err(PolicyError::Invalid(format!(
                    "rule id '{}' is invalid or repeated",
                    doc.id
                )));
            }
            if doc.reason.trim().is_empty() {
                return Err(PolicyError::Invalid(format!(
                    "rule '{}' needs a reason",
                    doc.id
                )));
            }
            if doc.challenge.is_some() && doc.outcome != Outcome::Challenge {
                return Err(PolicyError::Invalid(format!(
                    "rule '{}': challenge is only for outcome = \"challenge\"",
                    doc.id
                )));
            }
            let condition = parsed_condition
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|parsed| compile_parsed_bool(parsed, env))
                .map_err(|error| PolicyError::Rule {
                    rule_id: doc.id.clone(),
                    error,
                })?;
            let kinds: Vec<EventKind> = match (&doc.on, condition.kinds()) {
                (Some(on), _) => on.clone(),
                (None, Some(inferred)) => inferred.to_vec(),
                (None, None) => EventKind::ALL.to_vec(),
            };
            let actions = doc
                .actions
                .iter()
                .map(|action| compile_action(&doc.id, action, lists))
                .collect::<Result<Vec<_>, _>>()?;
            for kind in kinds {
                rules_by_kind[kind.index()].push(rules.len());
            }
            rules.push(CompiledRule {
                id: doc.id.clone(),
                reason: doc.reason.clone(),
                condition,
                outcome: doc.outcome,
                challenge: match doc.outcome {
                    Outcome::Challenge => Some(doc.challenge.unwrap_or(ChallengeKind::Captcha)),
                    _ => None,
                },
                score: doc.score,
                mode: doc.mode,
                actions,
            });
        }
        let features_read_by_kind = (0..EventKind::COUNT)
            .map(|kind| {
                let mut read = Vec::new();
                for &rule in &rules_by_kind[kind] {
                    for &index in rules[rule].condition.features_read() {
                        let owner = features[index].shares_state_with.unwrap_or(index);
                        if !features_by_kind[kind].contains(&owner) && !read.contains(&owner) {
                            read.push(owner);
                        }
                    }
                }
                read
            })
            .collect();
        Ok(CompiledPolicy {
            version,
            source: parsed.source.clone(),
            document: document.clone(),
            features,
            features_by_kind,
            features_read_by_kind,
            rules,
            rules_by_kind,
        })
    }

    /// Window shapes of the features, for dropping state no policy uses.
    pub fn shapes(&self) -> Vec<WindowShape> {
        self.features
            .iter()
            .map(|feature| feature.shape.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(source: &str) -> Result<CompiledPolicy, PolicyError> {
        CompiledPolicy::compile(source, 1, &ListRegistry::new(), &FeatureStates::default())
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration_ms("30s"), Some(30_000));
        assert_eq!(parse_duration_ms("10m"), Some(600_000));
        assert_eq!(parse_duration_ms("7d"), Some(604_800_000));
        assert_eq!(parse_duration_ms("0s"), None);
        assert_eq!(parse_duration_ms("10"), None);
        assert_eq!(parse_duration_ms("1w"), None);
    }

    #[test]
    fn a_bad_rule_is_refused_with_its_position() {
        let source = r#"
[policy]
name = "t"
[[rules]]
id = "r1"
when = "event.amount > 1000 &&\n  event.nope == 'x'"
outcome = "deny"
reason = "r"
"#;
        let error = compile(source).unwrap_err();
        match error {
            PolicyError::Rule { rule_id, error } => {
                assert_eq!(rule_id, "r1");
                assert_eq!(error.line, 2);
                assert!(error.message.contains("nope"), "{error}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Decision 0038: binding a parse reports what compiling the source does, in the same
    /// order (an earlier item's error before a later expression's syntax error) and with the
    /// same positions.
    #[test]
    fn a_parsed_policy_binds_to_the_errors_compiling_gives() {
        let bind = |source: &str| {
            ParsedPolicy::parse(source).and_then(|parsed| {
                CompiledPolicy::bind(&parsed, 1, &ListRegistry::new(), &FeatureStates::default())
            })
        };
        let syntax_error_after_a_missing_reason = r#"
[policy]
name = "t"
[[rules]]
id = "r1"
when = "event.amount > 1.0"
outcome = "deny"
reason = " "
[[rules]]
id = "r2"
when = "event.amount >\n  && true"
outcome = "deny"
reason = "r"
"#;
        let filter_then_rule = r#"
[policy]
name = "t"
[[features]]
name = "f"
aggregate = "count"
by = "user"
window = "10m"
where = "event.kind ==\n 'nope'"
[[rules]]
id = "r1"
when = "event.amount > (("
outcome = "deny"
reason = "r"
"#;
        let rule_syntax_error = r#"
[policy]
name = "t"
[[rules]]
id = "r1"
when = "event.amount > 1.0 &&\n   event.channel == 'web' ) "
outcome = "deny"
reason = "r"
"#;
        for source in [
            syntax_error_after_a_missing_reason,
            filter_then_rule,
            rule_syntax_error,
        ] {
            let compiled = compile(source).unwrap_err();
            assert_eq!(bind(source).unwrap_err(), compiled);
        }
        assert_eq!(
            bind(syntax_error_after_a_missing_reason).unwrap_err(),
            PolicyError::Invalid("rule 'r1' needs a reason".into())
        );
        match bind(filter_then_rule).unwrap_err() {
            PolicyError::FeatureFilter { feature, error } => {
                assert_eq!(feature, "f");
                assert_eq!((error.line, error.column), (2, 2), "{error}");
            }
            other => panic!("unexpected {other:?}"),
        }
        match bind(rule_syntax_error).unwrap_err() {
            PolicyError::Rule { rule_id, error } => {
                assert_eq!(rule_id, "r1");
                let direct = crate::cel::compile_bool(
                    "event.amount > 1.0 &&\n   event.channel == 'web' ) ",
                    Environment {
                        features: &[],
                        lists: &ListRegistry::new(),
                    },
                )
                .unwrap_err();
                assert_eq!(error, direct);
                assert_eq!(error.line, 2, "{error}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// One parse bound twice, to two registries and feature states, gives two policies that
    /// each own their state and create their lists, as two compilations would.
    #[test]
    fn one_parse_binds_to_several_registries() {
        let source = r#"
[policy]
name = "t"
[[lists]]
name = "blocked"
kind = "ip"
[[features]]
name = "fails"
aggregate = "count"
of = ["login_failed"]
by = "user"
window = "10m"
where = "event.failure_reason == 'bad_password'"
[[rules]]
id = "a"
when = "event.kind == 'login_failed' && features.fails >= 3 && !in_list('blocked', event.ip)"
outcome = "review"
reason = "r"
"#;
        let parsed = ParsedPolicy::parse(source).unwrap();
        let (first_lists, second_lists) = (ListRegistry::new(), ListRegistry::new());
        let (first_states, second_states) = (FeatureStates::default(), FeatureStates::default());
        let first = CompiledPolicy::bind(&parsed, 1, &first_lists, &first_states).unwrap();
        let second = CompiledPolicy::bind(&parsed, 2, &second_lists, &second_states).unwrap();
        let compiled = compile(source).unwrap();
        for policy in [&first, &second] {
            assert_eq!(policy.source, compiled.source);
            assert_eq!(policy.document, compiled.document);
            assert_eq!(policy.rules_by_kind, compiled.rules_by_kind);
            assert_eq!(policy.features_by_kind, compiled.features_by_kind);
            assert_eq!(policy.shapes(), compiled.shapes());
        }
        assert!(first_lists.get("blocked").is_some() && second_lists.get("blocked").is_some());
        assert!(!Arc::ptr_eq(
            &first.features[0].state,
            &second.features[0].state
        ));
        assert_eq!((first.version, second.version), (1, 2));
    }

    #[test]
    fn rules_are_dispatched_by_inferred_kind() {
        let source = r#"
[policy]
name = "t"
[[rules]]
id = "a"
when = "event.kind in ['payment', 'withdrawal'] && event.amount > 10.0"
outcome = "review"
reason = "r"
[[rules]]
id = "b"
when = "event.channel == 'api'"
outcome = "review"
reason = "r"
"#;
        let policy = compile(source).unwrap();
        assert_eq!(policy.rules_by_kind[EventKind::Payment.index()], vec![0, 1]);
        assert_eq!(policy.rules_by_kind[EventKind::Register.index()], vec![1]);
    }

    #[test]
    fn each_kind_knows_the_features_its_rules_read_but_do_not_update() {
        let source = r#"
[policy]
name = "t"
[[features]]
name = "fails"
aggregate = "count"
of = ["login_failed"]
by = "user"
window = "10m"
[[features]]
name = "fails_again"
aggregate = "count"
of = ["login_failed"]
by = "user"
window = "10m"
[[features]]
name = "paid"
aggregate = "sum"
of = ["payment"]
by = "user"
field = "amount"
window = "1h"
[[rules]]
id = "a"
when = "event.kind == 'payment' && features.fails_again >= 3 && features.paid > 10.0"
outcome = "review"
reason = "r"
"#;
        let policy = compile(source).unwrap();
        assert_eq!(
            policy.features_read_by_kind[EventKind::Payment.index()],
            vec![0],
            "the failures' state (shared by both names) is read; the sum is updated"
        );
        assert!(policy.features_read_by_kind[EventKind::LoginFailed.index()].is_empty());
    }
}
