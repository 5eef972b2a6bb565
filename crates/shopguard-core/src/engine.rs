//! The engine: from an event to a decision, with no I/O.
//!
//! For each event, [`Engine::decide`]:
//! 1. reads the user's profile as it was before the event, then records the event into it;
//! 2. adds the event to every feature that counts its kind (and passes the feature's filter),
//!    so that the decision sees its own write;
//! 3. evaluates the rules that apply to the event's kind, reading other features lazily;
//! 4. combines the matches: the most severe enforced outcome wins, score thresholds escalate,
//!    a matched `allow` rule exempts; shadow matches are recorded only;
//! 5. takes the matched rules' actions (list additions, alerts) and, for a challenge,
//!    remembers the decision so the platform can report the challenge's result.
//!
//! The policy is swapped atomically ([`Engine::install_policy`]): a decision in flight finishes
//! on the version it started with; feature counts carry over between versions.
//!
//! Time is event time throughout, and so is expiry: the engine keeps a **watermark**, the
//! latest event time it has decided, and [`Engine::maintain`] drops idle velocity keys and
//! expired list entries relative to the watermark (less the allowed lateness), never
//! relative to the wall clock alone. A replay of history, or events arriving late, keep
//! their counts however long a pass runs after them (decision 0035).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::cel::{Activation, FeatureReader};
use crate::decision::{
    ActionTaken, ChallengeKind, Decision, MatchedRule, Outcome, RuleError, RuleMode,
};
use crate::event::{Event, EventKind};
use crate::features::{Aggregation, FeatureSnapshot, FeatureStates};
use crate::lists::{ListRegistry, ListsView};
use crate::policy::{ActionEntity, CompiledPolicy, ParsedPolicy, PolicyError, RuleAction};
use crate::profile::{ProfileStore, ProfileView, UserProfile};

/// How long a challenge waits for its result.
pub const CHALLENGE_TTL_MS: i64 = 60 * 60 * 1000;
/// Most challenges waiting at once; the oldest are forgotten beyond this.
pub const MAX_PENDING_CHALLENGES: usize = 1_000_000;

/// Why a challenge result was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// No challenge is waiting under that decision id: unknown, expired or already reported.
    #[error("no challenge is waiting for decision '{0}': unknown, expired, or already reported")]
    NotPending(String),
}

struct PendingChallenge {
    event: Event,
    challenge: ChallengeKind,
    issued_at_ms: i64,
}

#[derive(Default)]
struct ChallengeBook {
    pending: Mutex<HashMap<String, PendingChallenge>>,
}

impl ChallengeBook {
    fn issue(&self, decision_id: &str, event: &Event, challenge: ChallengeKind) {
        let mut pending = self.pending.lock();
        if pending.len() >= MAX_PENDING_CHALLENGES {
            let cutoff = event.occurred_at_ms - CHALLENGE_TTL_MS;
            pending.retain(|_, waiting| waiting.issued_at_ms > cutoff);
            if pending.len() >= MAX_PENDING_CHALLENGES {
                return;
            }
        }
        pending.insert(
            decision_id.to_owned(),
            PendingChallenge {
                event: event.clone(),
                challenge,
                issued_at_ms: event.occurred_at_ms,
            },
        );
    }

    fn take(&self, decision_id: &str, now_ms: i64) -> Option<PendingChallenge> {
        let waiting = self.pending.lock().remove(decision_id)?;
        (now_ms - waiting.issued_at_ms <= CHALLENGE_TTL_MS).then_some(waiting)
    }

    fn expire(&self, now_ms: i64) -> usize {
        let mut pending = self.pending.lock();
        let before = pending.len();
        pending.retain(|_, waiting| now_ms - waiting.issued_at_ms <= CHALLENGE_TTL_MS);
        before - pending.len()
    }
}

struct LazyFeatures<'a> {
    policy: &'a CompiledPolicy,
    event: &'a Event,
    values: &'a [Cell<f64>],
}

impl FeatureReader for LazyFeatures<'_> {
    fn feature(&self, index: usize) -> f64 {
        let cached = self.values[index].get();
        if !cached.is_nan() {
            return cached;
        }
        let feature = &self.policy.features[index];
        let value = feature
            .shape
            .group_by
            .hash_of(self.event)
            .map_or(0.0, |key| {
                feature.state.read(key, self.event.occurred_at_ms)
            });
        self.values[index].set(value);
        value
    }
}

struct NoFeatures;

impl FeatureReader for NoFeatures {
    fn feature(&self, _index: usize) -> f64 {
        0.0
    }
}

/// Profiles from which [`Engine::prefetch_when_large`] prefetches: about 10 MB of profiles
/// and, with the shipped policy's features, tens of MB of velocity series, more than a
/// processor's last-level cache holds.
pub const PREFETCH_MIN_PROFILES: usize = 50_000;

/// Lateness allowed by default: five minutes, as far as events may lie in the future.
pub const DEFAULT_ALLOWED_LATENESS_MS: i64 = 5 * 60 * 1000;

/// The latest event time decided so far: what expiry is measured against.
#[derive(Debug)]
struct Watermark(AtomicI64);

impl Default for Watermark {
    fn default() -> Self {
        Watermark(AtomicI64::new(i64::MIN))
    }
}

impl Watermark {
    /// Raises the watermark to `at_ms` if it is later. A plain load first: the shared cache
    /// line is written only when time moves forward, not on every event.
    #[inline]
    fn advance(&self, at_ms: i64) {
        if at_ms > self.0.load(Ordering::Relaxed) {
            self.0.fetch_max(at_ms, Ordering::Relaxed);
        }
    }

    /// The watermark, `None` before any event.
    fn get(&self) -> Option<i64> {
        let at_ms = self.0.load(Ordering::Relaxed);
        (at_ms != i64::MIN).then_some(at_ms)
    }
}

/// Counts of what maintenance dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Feature keys idle for a whole window.
    pub feature_keys_expired: usize,
    /// List entries past their expiry.
    pub list_entries_expired: usize,
    /// Challenges never answered.
    pub challenges_expired: usize,
    /// The time the pass expired against: the earlier of the watermark and the wall clock,
    /// less the allowed lateness; `None` (nothing but challenges dropped) before any event.
    pub horizon_ms: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct EngineSnapshot {
    features: FeatureSnapshot,
    profiles: Vec<(u64, UserProfile)>,
}

pub use crate::snapshot::SnapshotError;

/// The decision engine. Share it behind an `Arc`; every method takes `&self`.
pub struct Engine {
    policy: ArcSwap<CompiledPolicy>,
    lists: Arc<ListRegistry>,
    states: FeatureStates,
    profiles: ProfileStore,
    challenges: ChallengeBook,
    watermark: Watermark,
    allowed_lateness_ms: AtomicI64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("policy", &self.policy.load())
            .finish_non_exhaustive()
    }
}

/// One feature's current value for one entity ([`Engine::velocity_of`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VelocityValue {
    /// The feature's name in the policy.
    pub feature: String,
    /// What it aggregates: `count`, `sum` or `distinct <entity>`.
    pub aggregation: String,
    /// Its window (ms).
    pub window_ms: i64,
    /// Its value now.
    pub value: f64,
}

impl Engine {
    /// An engine running `source` as policy `version`, over `lists`.
    pub fn new(
        source: &str,
        version: u64,
        lists: Arc<ListRegistry>,
    ) -> Result<Engine, PolicyError> {
        Engine::with_parsed(&ParsedPolicy::parse(source)?, version, lists)
    }

    /// An engine running a parsed policy as `version`, over `lists`: [`new`](Self::new)
    /// without parsing the policy again.
    pub fn with_parsed(
        parsed: &ParsedPolicy,
        version: u64,
        lists: Arc<ListRegistry>,
    ) -> Result<Engine, PolicyError> {
        let states = FeatureStates::default();
        let policy = CompiledPolicy::bind(parsed, version, &lists, &states)?;
        Ok(Engine {
            policy: ArcSwap::from_pointee(policy),
            lists,
            states,
            profiles: ProfileStore::default(),
            challenges: ChallengeBook::default(),
            watermark: Watermark::default(),
            allowed_lateness_ms: AtomicI64::new(DEFAULT_ALLOWED_LATENESS_MS),
        })
    }

    /// How late an event may arrive (behind the watermark) and still find every count and
    /// list entry it would have found on time; negative values count as zero.
    pub fn set_allowed_lateness_ms(&self, lateness_ms: i64) {
        self.allowed_lateness_ms
            .store(lateness_ms.max(0), Ordering::Relaxed);
    }

    /// The latest event time decided (or restored from a snapshot); `None` before any.
    pub fn watermark_ms(&self) -> Option<i64> {
        self.watermark.get()
    }

    /// The live policy.
    pub fn policy(&self) -> Arc<CompiledPolicy> {
        self.policy.load_full()
    }

    /// The lists rules test against.
    pub fn lists(&self) -> &Arc<ListRegistry> {
        &self.lists
    }

    /// Makes a checked policy live as `version`, in one atomic swap: decisions in flight
    /// finish on the old version, feature counts carry over. Only a policy that compiled and
    /// passed its fixtures ([`check_policy`]) can be installed.
    pub fn install_policy(
        &self,
        checked: &CheckedPolicy,
        version: u64,
    ) -> Result<Arc<CompiledPolicy>, PolicyError> {
        let compiled = self.prepare_policy(checked, version)?;
        self.activate_policy(compiled.clone());
        Ok(compiled)
    }

    /// Compiles a checked policy against this engine's lists and feature state, without
    /// making it live: the step that can fail, taken before the version is recorded live
    /// anywhere. Lists the policy names are created (empty) if missing. The policy is not
    /// parsed again: the check's parse is bound to this engine's lists and state.
    pub fn prepare_policy(
        &self,
        checked: &CheckedPolicy,
        version: u64,
    ) -> Result<Arc<CompiledPolicy>, PolicyError> {
        Ok(Arc::new(CompiledPolicy::bind(
            &checked.parsed,
            version,
            &self.lists,
            &self.states,
        )?))
    }

    /// Makes a prepared policy live in one atomic swap; it cannot fail.
    pub fn activate_policy(&self, compiled: Arc<CompiledPolicy>) {
        let shapes = compiled.shapes();
        self.policy.store(compiled);
        self.states.retain_shapes(&shapes);
    }

    /// Asks memory for the profile, velocity series and IP-list entries that deciding
    /// `event` will update or its rules may read, and returns at once. A caller with several
    /// events calls it for the next one before it decides the current one, so those lookups
    /// find their slots in cache instead of waiting for memory one after another (decision
    /// 0015). It changes no state and no result; skipping it only costs time.
    pub fn prefetch(&self, event: &Event) {
        let policy = self.policy.load();
        let lists = self.lists.view(); // after the policy, as in `decide`
        self.prefetch_with(&policy, &lists, event);
    }

    fn prefetch_with(&self, policy: &CompiledPolicy, lists: &ListsView, event: &Event) {
        self.profiles.prefetch(event);
        if let Some(ip) = event.ip {
            lists.prefetch_ip(ip);
        }
        let kind = event.kind.index();
        let updated = policy.features_by_kind[kind]
            .iter()
            .filter(|&&index| policy.features[index].shares_state_with.is_none());
        for &index in updated.chain(&policy.features_read_by_kind[kind]) {
            let feature = &policy.features[index];
            if let Some(key) = feature.shape.group_by.hash_of(event) {
                feature.state.prefetch(key);
            }
        }
    }

    /// Whether prefetching pays: the engine holds at least [`PREFETCH_MIN_PROFILES`]
    /// profiles. While the tables fit in the caches the hints only cost time (the engine
    /// bench's 2,000 users decided 10% slower with them).
    fn prefetch_pays(&self) -> bool {
        self.profile_count() >= PREFETCH_MIN_PROFILES
    }

    /// Number of user profiles held.
    pub fn profile_count(&self) -> usize {
        self.profiles.held()
    }

    /// [`prefetch`](Self::prefetch) once prefetching pays (at [`PREFETCH_MIN_PROFILES`]
    /// profiles), and nothing before.
    pub fn prefetch_when_large(&self, event: &Event) {
        if self.prefetch_pays() {
            self.prefetch(event);
        }
    }

    /// The profile of `user_id` as it stands, read without recording anything.
    pub fn profile_of(&self, user_id: &str) -> Option<crate::profile::ProfileSummary> {
        self.profiles.summary_of(user_id)
    }

    /// The current values of the live policy's features that group by `key`, for the entity
    /// `value` (an IP address for `ip` and `ip_prefix`), over each window ending at `now_ms`.
    /// Empty when no feature groups by `key` or an IP does not parse.
    pub fn velocity_of(
        &self,
        key: crate::features::EntityKey,
        value: &str,
        now_ms: i64,
    ) -> Vec<VelocityValue> {
        let Some(hash) = key.hash_of_value(value) else {
            return Vec::new();
        };
        let policy = self.policy.load();
        policy
            .features
            .iter()
            .filter(|feature| feature.shape.group_by == key)
            .map(|feature| VelocityValue {
                feature: feature.name.clone(),
                aggregation: match feature.shape.aggregation {
                    crate::features::Aggregation::Count => "count".to_owned(),
                    crate::features::Aggregation::SumAmount => "sum".to_owned(),
                    crate::features::Aggregation::Distinct(of) => {
                        format!("distinct {}", of.as_str())
                    }
                },
                window_ms: feature.shape.window_ms,
                value: feature.state.read(hash, now_ms),
            })
            .collect()
    }

    /// Decides an event. `decision_id` must be unique (the server uses UUIDv7).
    pub fn decide(&self, event: &Event, decision_id: String) -> Decision {
        let policy = self.policy.load();
        // Viewed after the policy is loaded: compiling a policy creates its lists before the
        // policy goes live, so this view holds every list the policy's rules name.
        let lists = self.lists.view();
        self.decide_with(&policy, &lists, event, decision_id)
    }

    /// [`prefetch_when_large`](Self::prefetch_when_large), then [`decide`](Self::decide),
    /// with the policy and the lists loaded once for both: the server's way of deciding
    /// (decision 0015).
    pub fn prefetch_and_decide(&self, event: &Event, decision_id: String) -> Decision {
        let policy = self.policy.load();
        let lists = self.lists.view(); // after the policy, as in `decide`
        if self.prefetch_pays() {
            self.prefetch_with(&policy, &lists, event);
        }
        self.decide_with(&policy, &lists, event, decision_id)
    }

    fn decide_with(
        &self,
        policy: &CompiledPolicy,
        lists: &ListsView,
        event: &Event,
        decision_id: String,
    ) -> Decision {
        self.watermark.advance(event.occurred_at_ms);
        let profile = self.profiles.view_and_record(event);
        // Feature values of this event, NaN until computed; on the stack for up to 32 features.
        let values: smallvec::SmallVec<[Cell<f64>; 32]> =
            smallvec::smallvec![Cell::new(f64::NAN); policy.features.len()];
        self.record_features(policy, lists, event, &profile, &values);
        let features = LazyFeatures {
            policy,
            event,
            values: &values,
        };
        let activation = Activation::new(event, &features, &profile, lists);

        let mut matched = Vec::new();
        let mut shadow_matched = Vec::new();
        let mut errors = Vec::new();
        let mut outcome = Outcome::Allow;
        let mut challenge: Option<ChallengeKind> = None;
        let mut score: u32 = 0;
        let mut exempt = false;
        let mut fired = Vec::new();
        for &index in &policy.rules_by_kind[event.kind.index()] {
            let rule = &policy.rules[index];
            match rule.condition.eval(&activation) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => {
                    errors.push(RuleError {
                        rule_id: rule.id.clone(),
                        message: error.0,
                    });
                    continue;
                }
            }
            let shadow = rule.mode == RuleMode::Shadow;
            let record = MatchedRule {
                rule_id: rule.id.clone(),
                reason: rule.reason.clone(),
                outcome: rule.outcome,
                score: rule.score,
                shadow,
            };
            if shadow {
                shadow_matched.push(record);
                continue;
            }
            matched.push(record);
            fired.push(index);
            score = score.saturating_add(rule.score);
            exempt |= rule.outcome == Outcome::Allow;
            outcome = outcome.max(rule.outcome);
            if rule.outcome == Outcome::Challenge {
                challenge = challenge.max(rule.challenge);
            }
        }
        let scoring = &policy.document.scoring;
        if scoring.deny_at.is_some_and(|threshold| score >= threshold) {
            outcome = Outcome::Deny;
        } else if scoring
            .review_at
            .is_some_and(|threshold| score >= threshold)
        {
            outcome = outcome.max(Outcome::Review);
        }
        if exempt {
            outcome = Outcome::Allow;
        }
        let challenge =
            (outcome == Outcome::Challenge).then(|| challenge.unwrap_or(ChallengeKind::Captcha));
        let actions = if exempt {
            Vec::new()
        } else {
            self.take_actions(policy, &fired, event)
        };
        if let Some(kind) = challenge {
            self.challenges.issue(&decision_id, event, kind);
        }
        Decision {
            decision_id,
            event_id: event.event_id.clone(),
            kind: event.kind,
            user_id: event.user_id.clone(),
            outcome,
            challenge,
            score: score.min(100),
            matched,
            shadow_matched,
            actions,
            errors,
            policy_version: policy.version,
            occurred_at_ms: event.occurred_at_ms,
        }
    }

    fn record_features(
        &self,
        policy: &CompiledPolicy,
        lists: &ListsView,
        event: &Event,
        profile: &ProfileView,
        values: &[Cell<f64>],
    ) {
        for &index in &policy.features_by_kind[event.kind.index()] {
            let feature = &policy.features[index];
            if let Some(original) = feature.shares_state_with {
                // Counted once, in the earlier feature of the same shape (or read lazily
                // when its filter left the event out).
                values[index].set(values[original].get());
                continue;
            }
            if let Some(filter) = &feature.filter {
                let activation = Activation::new(event, &NoFeatures, profile, lists);
                if filter.eval(&activation) != Ok(true) {
                    continue;
                }
            }
            let Some(key) = feature.shape.group_by.hash_of(event) else {
                continue;
            };
            let (amount, distinct) = match feature.shape.aggregation {
                Aggregation::Count => (1.0, None),
                Aggregation::SumAmount => (event.amount.unwrap_or(0.0), None),
                Aggregation::Distinct(entity) => match entity.hash_of(event) {
                    Some(hash) => (0.0, Some(hash)),
                    None => continue,
                },
            };
            values[index].set(
                feature
                    .state
                    .add(key, event.occurred_at_ms, amount, distinct),
            );
        }
    }

    fn take_actions(
        &self,
        policy: &CompiledPolicy,
        fired: &[usize],
        event: &Event,
    ) -> Vec<ActionTaken> {
        let mut taken = Vec::new();
        for &index in fired {
            let rule = &policy.rules[index];
            for action in &rule.actions {
                match action {
                    RuleAction::AddToList {
                        list,
                        entity,
                        ttl_ms,
                    } => {
                        let value = match entity {
                            ActionEntity::Ip => event.ip.map(|ip| ip.to_string()),
                            ActionEntity::User => Some(event.user_id.clone()),
                            ActionEntity::Device => event.device_id.clone(),
                            ActionEntity::Email => event.email.clone(),
                            ActionEntity::EmailDomain => event.email_domain().map(str::to_owned),
                            ActionEntity::Phone => event.phone.clone(),
                            ActionEntity::CardBin => event.card_bin.clone(),
                        };
                        let (Some(value), Some(target)) = (value, self.lists.get(list)) else {
                            continue;
                        };
                        let expires_at_ms =
                            ttl_ms.map(|ttl| event.occurred_at_ms.saturating_add(ttl));
                        if let Ok(key) = target.insert(&value, expires_at_ms) {
                            taken.push(ActionTaken::AddedToList {
                                list: list.clone(),
                                value: key.to_string(),
                                expires_at_ms,
                                rule_id: rule.id.clone(),
                            });
                        }
                    }
                    RuleAction::Alert(severity) => taken.push(ActionTaken::Alert {
                        severity: *severity,
                        rule_id: rule.id.clone(),
                        message: rule.reason.clone(),
                    }),
                }
            }
        }
        taken
    }

    /// Records the result of a challenge that decision `decision_id` asked for, as a
    /// `challenge_passed` or `challenge_failed` event of the same user, IP and device, and
    /// decides that event (rules can act on failed challenges). Returns the event with its
    /// decision.
    pub fn report_challenge(
        &self,
        decision_id: &str,
        passed: bool,
        now_ms: i64,
        new_decision_id: String,
    ) -> Result<(Event, Decision), ChallengeError> {
        let waiting = self
            .challenges
            .take(decision_id, now_ms)
            .ok_or_else(|| ChallengeError::NotPending(decision_id.to_owned()))?;
        let mut event = waiting.event;
        event.attrs = [
            (
                "challenge".to_owned(),
                serde_json::Value::from(waiting.challenge.as_str()),
            ),
            (
                "decision_id".to_owned(),
                serde_json::Value::from(decision_id),
            ),
            (
                "challenged_kind".to_owned(),
                serde_json::Value::from(event.kind.as_str()),
            ),
        ]
        .into_iter()
        .collect();
        event.kind = if passed {
            EventKind::ChallengePassed
        } else {
            EventKind::ChallengeFailed
        };
        event.event_id = format!("{}:challenge", event.event_id);
        event.occurred_at_ms = now_ms.max(event.occurred_at_ms);
        let decision = self.decide(&event, new_decision_id);
        Ok((event, decision))
    }

    /// Drops what has expired, given the wall clock `wall_now_ms`:
    /// - feature keys idle for a whole window and list entries past their expiry, both
    ///   measured at the **horizon**: the earlier of the watermark and the wall clock, less the
    ///   allowed lateness. A replay (watermark behind the wall clock) expires by its own
    ///   time; events stamped in the future cannot push expiry past the wall clock; before any
    ///   event nothing of these is dropped. A list entry is thus removed only when both the
    ///   watermark and the wall clock are past its expiry (and the lateness after it);
    /// - challenges unanswered for [`CHALLENGE_TTL_MS`] by the wall clock: their results
    ///   are reported, and checked, in wall time.
    pub fn maintain(&self, wall_now_ms: i64) -> MaintenanceReport {
        let lateness = self.allowed_lateness_ms.load(Ordering::Relaxed);
        let horizon_ms = self
            .watermark
            .get()
            .map(|watermark| watermark.min(wall_now_ms).saturating_sub(lateness));
        let (feature_keys_expired, list_entries_expired) = match horizon_ms {
            Some(horizon) => (
                self.states.expire_idle(horizon),
                self.lists.purge_expired(horizon),
            ),
            None => (0, 0),
        };
        MaintenanceReport {
            feature_keys_expired,
            list_entries_expired,
            challenges_expired: self.challenges.expire(wall_now_ms),
            horizon_ms,
        }
    }

    /// Drops profiles of users idle since `cutoff_ms`.
    pub fn expire_profiles(&self, cutoff_ms: i64) -> usize {
        self.profiles.expire_idle(cutoff_ms)
    }

    /// Number of live feature keys (key-windows) across features.
    pub fn feature_key_count(&self) -> usize {
        self.states.key_count()
    }

    /// Serialises feature counts and profiles for the data folder, in the current version of
    /// the snapshot format ([`crate::snapshot`]), one shard at a time straight from the live
    /// tables (no copy of the state is made, so memory does not double while a snapshot is
    /// taken).
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let mut bytes = crate::snapshot::start();
        self.states
            .encode_snapshot(&mut bytes)
            .and_then(|()| self.profiles.encode_snapshot(&mut bytes))
            .map_err(|error| SnapshotError::Encode(error.to_string()))?;
        crate::snapshot::finish(&mut bytes);
        Ok(bytes)
    }

    /// Loads feature counts and profiles saved by [`Engine::snapshot`] of this build or of any
    /// older one. States of features the live policy no longer has are dropped. On error
    /// nothing is loaded, and the error names the file's version and what is wrong.
    pub fn restore(&self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let (_, snapshot) = decode_snapshot(bytes)?;
        // The snapshot holds no watermark; its profiles' last events give it back.
        if let Some(latest) = snapshot
            .profiles
            .iter()
            .map(|(_, profile)| profile.last_seen_ms())
            .max()
        {
            self.watermark.advance(latest);
        }
        self.states.restore(snapshot.features);
        self.states.retain_shapes(&self.policy.load().shapes());
        self.profiles.import(snapshot.profiles);
        Ok(())
    }
}

/// Decodes a snapshot of any version this build reads, whole.
fn decode_snapshot(bytes: &[u8]) -> Result<(u8, EngineSnapshot), SnapshotError> {
    // Versions 1 and 2 share the body's layout; a version with another layout gets its own
    // frozen reader here, converting into today's types (see `crate::snapshot`).
    let (version, body) = crate::snapshot::body_of(bytes)?;
    let body_error = |reason: String| SnapshotError::Body { version, reason };
    let (snapshot, rest): (EngineSnapshot, &[u8]) =
        postcard::take_from_bytes(body).map_err(|error| body_error(error.to_string()))?;
    if !rest.is_empty() {
        return Err(body_error(format!("{} bytes after the state", rest.len())));
    }
    Ok((version, snapshot))
}

/// Every value in a snapshot of any version this build reads, one per line in a stable order
/// (shapes by their text, keys by number): for golden tests and for looking into a file.
pub fn dump_snapshot(bytes: &[u8]) -> Result<String, SnapshotError> {
    let (version, snapshot) = decode_snapshot(bytes)?;
    let mut lines = vec![format!("version {version}")];
    lines.extend(snapshot.features.dump());
    let mut profiles = snapshot.profiles;
    profiles.sort_by_key(|(user, _)| *user);
    lines.extend(
        profiles
            .iter()
            .map(|(user, profile)| format!("profile {user:016x} {profile:?}")),
    );
    Ok(lines.join("\n"))
}

/// A policy that compiled and passed every fixture: the only thing [`Engine::install_policy`]
/// accepts, so a policy cannot go live unchecked. It carries the policy as parsed by the
/// check, so installing it parses nothing again.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedPolicy {
    parsed: Arc<ParsedPolicy>,
    /// Rules compiled.
    pub rules: usize,
    /// Features compiled.
    pub features: usize,
    /// Fixture results (all passed).
    pub fixtures: Vec<FixtureReport>,
}

impl CheckedPolicy {
    /// The TOML source.
    pub fn source(&self) -> &str {
        self.parsed.source()
    }

    /// The policy as parsed by the check.
    pub fn parsed(&self) -> &ParsedPolicy {
        &self.parsed
    }
}

/// Compiles `source` and runs its fixtures, without touching any engine. The source is
/// parsed once; the compilation and each fixture's engine bind that parse.
pub fn check_policy(source: &str) -> Result<CheckedPolicy, PolicyError> {
    let parsed = ParsedPolicy::parse(source)?;
    let compiled =
        CompiledPolicy::bind(&parsed, 0, &ListRegistry::new(), &FeatureStates::default())?;
    let fixtures = run_parsed_fixtures(&parsed)?;
    let failures: Vec<String> = fixtures
        .iter()
        .filter(|report| !report.passed())
        .map(|report| format!("{}: {}", report.name, report.failures.join(", ")))
        .collect();
    if !failures.is_empty() {
        return Err(PolicyError::FixturesFailed(failures));
    }
    Ok(CheckedPolicy {
        parsed: Arc::new(parsed),
        rules: compiled.rules.len(),
        features: compiled.features.len(),
        fixtures,
    })
}

/// Result of one fixture test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FixtureReport {
    /// Fixture name.
    pub name: String,
    /// Number of events run.
    pub events: usize,
    /// What did not match expectations.
    pub failures: Vec<String>,
}

impl FixtureReport {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Fixture start time: 2024-01-01T00:00:00Z.
const FIXTURE_EPOCH_MS: i64 = 1_704_067_200_000;

/// Runs every fixture of a policy, each on a fresh engine (no counts, no profiles, empty lists
/// but the fixture's own entries).
pub fn run_fixtures(source: &str) -> Result<Vec<FixtureReport>, PolicyError> {
    run_parsed_fixtures(&ParsedPolicy::parse(source)?)
}

/// [`run_fixtures`] of a parsed policy, without parsing it again.
pub fn run_parsed_fixtures(parsed: &ParsedPolicy) -> Result<Vec<FixtureReport>, PolicyError> {
    let document = parsed.document();
    let mut reports = Vec::with_capacity(document.tests.len());
    for fixture in &document.tests {
        let engine = Engine::with_parsed(parsed, 0, Arc::new(ListRegistry::new()))?;
        let mut failures = Vec::new();
        for entry in &fixture.lists {
            match engine.lists.get(&entry.list) {
                Some(list) => {
                    if let Err(error) = list.insert(&entry.value, None) {
                        failures.push(format!("list entry: {error}"));
                    }
                }
                None => failures.push(format!("list entry: no list named '{}'", entry.list)),
            }
        }
        let mut decisions = Vec::with_capacity(fixture.events.len());
        for (position, input) in fixture.events.iter().enumerate() {
            let mut input = input.clone();
            let at = FIXTURE_EPOCH_MS
                + input
                    .occurred_at_ms
                    .unwrap_or(position as i64 * fixture.spacing_seconds * 1000);
            input.occurred_at_ms = Some(at);
            match Event::try_from_input(input, at, || format!("fixture-{position}")) {
                Ok(event) => decisions.push(Some(
                    engine.decide(&event, format!("fixture-decision-{position}")),
                )),
                Err(error) => {
                    failures.push(format!("event {position} is invalid: {error}"));
                    decisions.push(None);
                }
            }
        }
        for expectation in &fixture.expect {
            let Some(Some(decision)) = decisions.get(expectation.event) else {
                failures.push(format!(
                    "expectation names event {} which does not exist or is invalid",
                    expectation.event
                ));
                continue;
            };
            if decision.outcome != expectation.outcome {
                let fired: Vec<&str> = decision
                    .matched
                    .iter()
                    .map(|rule| rule.rule_id.as_str())
                    .collect();
                failures.push(format!(
                    "event {}: expected {}, got {} (rules {:?})",
                    expectation.event, expectation.outcome, decision.outcome, fired
                ));
            }
            for rule in &expectation.rules {
                let found = decision
                    .matched
                    .iter()
                    .chain(&decision.shadow_matched)
                    .any(|matched| &matched.rule_id == rule);
                if !found {
                    failures.push(format!(
                        "event {}: rule '{rule}' did not match",
                        expectation.event
                    ));
                }
            }
        }
        reports.push(FixtureReport {
            name: fixture.name.clone(),
            events: fixture.events.len(),
            failures,
        });
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventInput;

    /// Features of two entities, one shape declared twice (a regression: both features added
    /// the event to their shared state, so each failure counted twice), and a rule that reads
    /// a feature the event's kind does not update.
    const POLICY: &str = r#"
[policy]
name = "t"

[[features]]
name = "fails_user"
aggregate = "count"
of = ["login_failed"]
by = "user"
window = "10m"

[[features]]
name = "fails_ip"
aggregate = "count"
of = ["login_failed"]
by = "ip"
window = "10m"

[[features]]
name = "ips_per_user"
aggregate = "distinct"
of = ["login_failed"]
by = "user"
field = "ip"
window = "1h"

[[features]]
name = "fails_user_again"
aggregate = "count"
of = ["login_failed"]
by = "user"
window = "10m"

[[features]]
name = "paid_user"
aggregate = "sum"
of = ["payment"]
by = "user"
window = "1h"

[[rules]]
id = "counts_agree"
when = "event.kind == 'login_failed' && features.fails_user == features.fails_user_again && features.fails_user >= 3"
outcome = "review"
reason = "three failures"

[[rules]]
id = "many_ips"
when = "event.kind == 'login_failed' && features.ips_per_user >= 2 && features.fails_ip == 1"
outcome = "deny"
reason = "failures from a second IP"

[[rules]]
id = "paid_before_failing"
when = "event.kind == 'login_failed' && features.paid_user >= 100.0"
outcome = "challenge"
reason = "a paying user fails"
"#;

    fn event(kind: &str, ip: &str, at_ms: i64, amount: Option<f64>) -> Event {
        let mut json =
            serde_json::json!({"kind": kind, "user_id": "u", "ip": ip, "occurred_at_ms": at_ms});
        if let Some(amount) = amount {
            json["amount"] = amount.into();
            json["currency"] = "EUR".into();
        }
        let input: EventInput = serde_json::from_value(json).unwrap();
        Event::try_from_input(input, at_ms, || "e".to_owned()).unwrap()
    }

    fn matched(decision: &Decision) -> Vec<&str> {
        decision
            .matched
            .iter()
            .map(|rule| rule.rule_id.as_str())
            .collect()
    }

    #[test]
    fn an_entity_reads_its_velocity_values_and_profile_without_changing_them() {
        use crate::features::EntityKey;
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        let at = 1_700_000_000_000;
        engine.decide(&event("login_failed", "192.0.2.1", at, None), "d1".into());
        engine.decide(
            &event("login_failed", "192.0.2.2", at + 1_000, None),
            "d2".into(),
        );
        engine.decide(
            &event("payment", "192.0.2.1", at + 2_000, Some(120.0)),
            "d3".into(),
        );
        let value = |values: &[VelocityValue], name: &str| {
            values
                .iter()
                .find(|value| value.feature == name)
                .map(|value| value.value)
        };
        let user = engine.velocity_of(EntityKey::User, "u", at + 3_000);
        assert_eq!(value(&user, "fails_user"), Some(2.0));
        assert_eq!(value(&user, "ips_per_user"), Some(2.0));
        assert_eq!(value(&user, "paid_user"), Some(120.0));
        assert_eq!(value(&user, "fails_ip"), None, "groups by ip, not user");
        let ip = engine.velocity_of(EntityKey::Ip, "192.0.2.1", at + 3_000);
        assert_eq!(value(&ip, "fails_ip"), Some(1.0));
        assert_eq!(ip[0].aggregation, "count");
        assert_eq!(ip[0].window_ms, 600_000);
        // Out of the window, and for an entity never seen: zero; a bad IP: nothing.
        let later = engine.velocity_of(EntityKey::User, "u", at + 11 * 60_000);
        assert_eq!(value(&later, "fails_user"), Some(0.0));
        assert_eq!(
            value(&engine.velocity_of(EntityKey::User, "v", at), "fails_user"),
            Some(0.0)
        );
        assert!(engine
            .velocity_of(EntityKey::Ip, "not an ip", at)
            .is_empty());
        // Reading changed nothing.
        let again = engine.velocity_of(EntityKey::User, "u", at + 3_000);
        assert_eq!(value(&again, "fails_user"), Some(2.0));

        let profile = engine.profile_of("u").unwrap();
        assert_eq!(profile.first_seen_ms, at);
        assert_eq!(profile.last_seen_ms, at + 2_000);
        assert_eq!(profile.payments, 1);
        assert!(engine.profile_of("nobody").is_none());
        assert_eq!(engine.profile_count(), 1, "reading a profile creates none");
    }

    #[test]
    fn a_shape_declared_twice_counts_each_event_once() {
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        let at = 1_700_000_000_000;
        let first = engine.decide(&event("login_failed", "192.0.2.1", at, None), "d1".into());
        assert!(first.matched.is_empty(), "{:?}", matched(&first));
        let second = engine.decide(
            &event("login_failed", "192.0.2.1", at + 1_000, None),
            "d2".into(),
        );
        assert!(second.matched.is_empty(), "{:?}", matched(&second));
        let third = engine.decide(
            &event("login_failed", "198.51.100.2", at + 2_000, None),
            "d3".into(),
        );
        assert_eq!(matched(&third), ["counts_agree", "many_ips"]);
        assert_eq!(
            engine.feature_key_count(),
            4,
            "the user's failures (one series for the twice-declared shape) and distinct IPs, \
             and each IP's failures"
        );
        engine.decide(
            &event("payment", "192.0.2.1", at + 3_000, Some(150.0)),
            "d4".into(),
        );
        let fourth = engine.decide(
            &event("login_failed", "192.0.2.1", at + 4_000, None),
            "d5".into(),
        );
        assert_eq!(matched(&fourth), ["counts_agree", "paid_before_failing"]);
    }

    #[test]
    fn counts_survive_a_snapshot_and_idle_series_expire() {
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        let at = 1_700_000_000_000;
        for step in 0..2 {
            engine.decide(
                &event("login_failed", "192.0.2.1", at + step, None),
                format!("d{step}"),
            );
        }
        let restored = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        let snapshot = engine.snapshot().unwrap();
        // The same bytes as copying the state and encoding the copy (the old way) gives.
        let copied = EngineSnapshot {
            features: engine.states.snapshot(),
            profiles: engine.profiles.export(),
        };
        let mut expected = crate::snapshot::start();
        expected.extend(postcard::to_stdvec(&copied).unwrap());
        crate::snapshot::finish(&mut expected);
        assert_eq!(snapshot, expected);
        // The same state in version 1's layout reads too.
        let mut version_one = b"SGSNAP01".to_vec();
        version_one.extend(postcard::to_stdvec(&copied).unwrap());
        let from_version_one = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        from_version_one.restore(&version_one).unwrap();
        assert_eq!(
            from_version_one.feature_key_count(),
            engine.feature_key_count()
        );
        // A body that does not decode is refused whole, naming its version.
        let mut cut = version_one.clone();
        cut.truncate(cut.len() - 1);
        assert!(matches!(
            from_version_one.restore(&cut),
            Err(SnapshotError::Body { version: 1, .. })
        ));
        restored.restore(&snapshot).unwrap();
        assert_eq!(restored.feature_key_count(), engine.feature_key_count());
        let third = restored.decide(
            &event("login_failed", "192.0.2.1", at + 2, None),
            "d".into(),
        );
        assert_eq!(matched(&third), ["counts_agree"]);
        // After ten minutes of event time the counts are idle; the distinct-count lasts the
        // hour.
        restored.set_allowed_lateness_ms(0);
        restored.decide(
            &event("login_succeeded", "192.0.2.1", at + 11 * 60_000, None),
            "d".into(),
        );
        let report = restored.maintain(at + 11 * 60_000);
        assert_eq!(report.feature_keys_expired, 2);
        assert_eq!(restored.feature_key_count(), 1);
        restored.decide(
            &event("login_succeeded", "192.0.2.1", at + 2 * 3_600_000, None),
            "d".into(),
        );
        assert_eq!(
            restored.maintain(at + 2 * 3_600_000).feature_keys_expired,
            1
        );
        assert_eq!(restored.feature_key_count(), 0);
    }

    #[test]
    fn a_restored_engine_takes_its_watermark_from_the_snapshot() {
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        let at = 1_700_000_000_000;
        engine.decide(&event("login_failed", "192.0.2.1", at, None), "d".into());
        let restored = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        assert_eq!(restored.watermark_ms(), None);
        restored.restore(&engine.snapshot().unwrap()).unwrap();
        assert_eq!(restored.watermark_ms(), Some(at));
    }

    /// Issue 17: the maintenance pass expired by the wall clock, so a replay of history lost
    /// its counts whenever a pass ran in it.
    #[test]
    fn a_pass_with_the_wall_clock_far_ahead_keeps_counts_a_replay_still_needs() {
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        engine.set_allowed_lateness_ms(0);
        let history = 1_600_000_000_000;
        let wall_clock = history + 400 * 86_400_000;
        assert_eq!(engine.maintain(wall_clock), MaintenanceReport::default());
        for step in 0..2 {
            engine.decide(
                &event("login_failed", "192.0.2.1", history + step * 1_000, None),
                format!("d{step}"),
            );
        }
        let report = engine.maintain(wall_clock);
        assert_eq!(report.feature_keys_expired, 0);
        assert_eq!(report.horizon_ms, Some(history + 1_000));
        let third = engine.decide(
            &event("login_failed", "192.0.2.1", history + 2_000, None),
            "d2".into(),
        );
        assert_eq!(matched(&third), ["counts_agree"]);
    }

    #[test]
    fn late_events_within_the_allowed_lateness_find_their_counts() {
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        engine.set_allowed_lateness_ms(5 * 60_000);
        let at = 1_700_000_000_000;
        for step in 0..2 {
            engine.decide(
                &event("login_failed", "192.0.2.1", at + step * 1_000, None),
                format!("d{step}"),
            );
        }
        // Another user's event fourteen minutes later moves the watermark on; a pass then
        // keeps the first user's failures, idle only nine minutes before the lateness.
        let mut other = event("login_succeeded", "198.51.100.9", at + 14 * 60_000, None);
        other.user_id = "v".into();
        engine.decide(&other, "o".into());
        assert_eq!(engine.maintain(at + 14 * 60_000).feature_keys_expired, 0);
        // The third failure, arriving late (stamped before the other user's event), still
        // finds the first two.
        let late = engine.decide(
            &event("login_failed", "192.0.2.1", at + 2_000, None),
            "late".into(),
        );
        assert_eq!(matched(&late), ["counts_agree"]);
    }

    #[test]
    fn events_stamped_in_the_future_do_not_push_expiry_past_the_wall_clock() {
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        engine.set_allowed_lateness_ms(0);
        let now = 1_700_000_000_000;
        engine.decide(&event("login_failed", "192.0.2.1", now, None), "d".into());
        let mut skewed = event("login_succeeded", "198.51.100.9", now + 20 * 60_000, None);
        skewed.user_id = "v".into();
        engine.decide(&skewed, "s".into());
        let report = engine.maintain(now + 1_000);
        assert_eq!(report.horizon_ms, Some(now + 1_000));
        assert_eq!(report.feature_keys_expired, 0);
    }

    #[test]
    fn a_list_entry_is_dropped_only_when_the_watermark_and_the_wall_clock_are_past_it() {
        let lists = Arc::new(ListRegistry::new());
        let engine = Engine::new(POLICY, 1, lists.clone()).unwrap();
        engine.set_allowed_lateness_ms(0);
        let list = lists.ensure("blocked", crate::ListKind::Ip).unwrap();
        let history = 1_600_000_000_000;
        let wall_clock = history + 10 * 86_400_000;
        // An operator's entry with a wall-clock expiry an hour ahead of the wall clock, and a
        // rule's entry expiring an hour into the replayed history.
        list.insert("192.0.2.1", Some(wall_clock + 3_600_000))
            .unwrap();
        list.insert("192.0.2.2", Some(history + 3_600_000)).unwrap();
        engine.decide(
            &event("login_succeeded", "192.0.2.9", history, None),
            "d".into(),
        );
        assert_eq!(engine.maintain(wall_clock).list_entries_expired, 0);
        assert!(list.contains("192.0.2.2", history + 1));
        // The replay passes the rule's entry: it goes; the operator's stays, the wall clock
        // not being past it.
        engine.decide(
            &event("login_succeeded", "192.0.2.9", wall_clock + 7_200_000, None),
            "d".into(),
        );
        assert_eq!(engine.maintain(wall_clock).list_entries_expired, 1);
        assert_eq!(list.len(), 1);
        assert_eq!(
            engine.maintain(wall_clock + 3_600_000).list_entries_expired,
            1
        );
        assert!(list.is_empty());
    }
}
