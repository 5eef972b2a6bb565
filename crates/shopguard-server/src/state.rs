//! Configuration, shared state and start-up: open the data folder, load lists and the policy,
//! restore engine state, start the decision log and the maintenance loop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_utils::sync::ShardedLock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use shopguard_core::audit::{AuditContent, RecordClass};
use shopguard_core::lists::ListKey;
use shopguard_core::{Decision, Engine, Event, ListRegistry};
use shopguard_storage::audit_log::{AuditLog, NewAuditEntry};
use shopguard_storage::decision_log::{DecisionLog, TryAppendError};
use shopguard_storage::decision_segments::SegmentSettings;
use shopguard_storage::embedded::EmbeddedStore;
use shopguard_storage::{
    api_keys, snapshot, ApiKeyRecord, DecisionRecord, ListRecord, LogBatch, RecordRef, Scope,
    Store, StoreError,
};

use crate::error::AppError;
use crate::extract::Principal;
use crate::metrics::{DecisionTally, Metrics};

/// Server settings. Every field has a default; the binary fills them from flags, environment
/// and a config file (see `config/shopguard.example.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; loopback by default, so nothing is exposed without consent.
    pub listen: SocketAddr,
    /// Folder for the database, state snapshot and bootstrap key.
    pub data_dir: PathBuf,
    /// Policy file loaded at start; a new version is stored when it differs from the live one.
    pub policy_file: Option<PathBuf>,
    /// Most events in one batch request.
    pub max_batch_events: usize,
    /// Largest request body, in bytes (list imports may be 16 times larger).
    pub max_body_bytes: usize,
    /// Requests per second allowed per API key.
    pub rate_limit_per_second: u32,
    /// Days decisions and alerts are kept.
    pub decision_retention_days: u32,
    /// Days an idle user's profile is kept.
    pub profile_retention_days: u32,
    /// Seconds between engine state snapshots.
    pub snapshot_interval_seconds: u64,
    /// Seconds between expiry passes (idle feature keys, expired list entries, unanswered
    /// challenges), in whole ticks of the maintenance loop: 5 s at least, rounded down to a
    /// multiple of 5.
    pub expiry_interval_seconds: u64,
    /// Decisions that may wait for the log writer before requests slow down.
    pub log_queue_capacity: usize,
    /// A decision-log segment is sealed (indexed) once it holds this many MiB.
    pub decision_segment_mib: u64,
    /// Flush each batch of the decision log to the disk before counting it written.
    pub decision_log_fsync: bool,
    /// Days the content of audit entries is kept, for every record class except
    /// registrations and logins, which are kept long-term (DB33/T 978-2015 §8.4.2 asks for
    /// at least a year: values below 365 are refused).
    pub audit_retention_days: u32,
    /// Days kept for particular record classes, overriding `audit_retention_days` (each at
    /// least 365; registrations and logins are kept long-term and cannot be shortened).
    pub audit_retention_days_by_class: std::collections::BTreeMap<RecordClass, u32>,
    /// Seconds between signed checkpoints of the audit log (taken only when it grew).
    pub audit_checkpoint_seconds: u64,
    /// Whether a policy version that adds or changes punitive rules (enforced rules that
    /// deny or add to a list) must be approved by someone other than its author before it
    /// goes live.
    pub require_rule_approval: bool,
    /// Hours an operator's login session lasts.
    pub operator_session_hours: u32,
    /// Serve `POST /v1/noop`, which does nothing: the HTTP stack's ceiling for benchmarks.
    pub enable_noop_endpoint: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8686)),
            data_dir: PathBuf::from("data"),
            policy_file: None,
            max_batch_events: 1_000,
            max_body_bytes: 4 * 1024 * 1024,
            rate_limit_per_second: 100_000,
            decision_retention_days: 365,
            profile_retention_days: 400,
            snapshot_interval_seconds: 30,
            expiry_interval_seconds: 5,
            log_queue_capacity: 200_000,
            decision_segment_mib: 128,
            decision_log_fsync: true,
            audit_retention_days: 365,
            audit_retention_days_by_class: std::collections::BTreeMap::new(),
            audit_checkpoint_seconds: 60,
            operator_session_hours: 8,
            require_rule_approval: true,
            enable_noop_endpoint: false,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data folder or database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The policy (file or stored) does not compile or its fixtures fail.
    #[error("policy: {0}")]
    Policy(#[from] shopguard_core::PolicyError),
    /// The policy file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    PolicyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A setting is out of range.
    #[error("configuration: {0}")]
    Config(String),
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// API keys recently looked up, by key id, with when they were read. Every request reads it,
/// so it sits behind a sharded lock: a reader locks only its own thread's shard.
pub type KeyCache = ShardedLock<HashMap<String, (Arc<ApiKeyRecord>, Arc<Principal>, Instant)>>;

/// What handlers share: one reference-counted [`Shared`], so that the copies axum makes for
/// every request (state extractor, middleware, extractors) cost one atomic increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Wraps the shared parts.
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    /// The decision engine.
    pub engine: Arc<Engine>,
    /// Durable storage.
    pub store: Arc<dyn Store>,
    /// The decision log writer.
    pub log: Arc<DecisionLog>,
    /// The tamper-evident audit log.
    pub audit: Arc<AuditLog>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub config: Arc<ServerConfig>,
    /// API keys recently looked up, with when.
    pub key_cache: Arc<KeyCache>,
    /// Per-key rate limiter.
    pub rate_limiter: Arc<DefaultKeyedRateLimiter<String>>,
    /// Login attempts per operator name: ten a minute.
    pub login_limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// Each thread's UUIDv7 clock: the crate's shared one is behind a lock that the request
    /// threads would take for every decision.
    static ID_CLOCK: uuid::ContextV7 = const { uuid::ContextV7::new() };
}

/// A new time-ordered id (UUIDv7) for a decision or event. Ids made on one thread are strictly
/// increasing; across threads they are ordered to the millisecond, and the random bits keep
/// them unique.
pub fn new_id() -> String {
    new_id_at(now_ms())
}

/// A new id as [`new_id`] makes, for a time the caller has already read (a batch reads the
/// clock once for all its events).
pub fn new_id_at(now_ms: i64) -> String {
    let seconds = now_ms.div_euclid(1000).max(0) as u64;
    let nanos = now_ms.rem_euclid(1000) as u32 * 1_000_000;
    let id = ID_CLOCK
        .with(|clock| uuid::Uuid::new_v7(uuid::Timestamp::from_unix(clock, seconds, nanos)));
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut text).to_owned()
}

impl AppState {
    /// Decides an event, counts it and queues it for the log; returns the decision as JSON.
    pub async fn decide(&self, event: Event) -> Result<Vec<u8>, AppError> {
        let decision = self.decide_only(&event);
        self.log_record(DecisionRecord { decision, event }).await
    }

    /// Decides an event and counts it, without logging.
    pub fn decide_only(&self, event: &Event) -> Decision {
        let mut tally = DecisionTally::default();
        let decision = self.decide_counted(event, now_ms(), &mut tally);
        self.metrics.record(tally);
        decision
    }

    /// Decides an event at `now_ms` (the time its decision id carries), counting it in
    /// `tally` (for [`Metrics::record`] once a request's events are decided), without
    /// logging.
    pub fn decide_counted(
        &self,
        event: &Event,
        now_ms: i64,
        tally: &mut DecisionTally,
    ) -> Decision {
        let started = Instant::now();
        // The event's state is asked of memory all at once, so that its cache misses overlap
        // instead of following one another (decision 0015: as fast as, or faster than, asking
        // for the next event's state in a batch).
        let decision = self.engine.prefetch_and_decide(event, new_id_at(now_ms));
        tally.add(&decision, started.elapsed().as_secs_f64());
        decision
    }

    /// Encodes a decision once, queues it for the log (waiting off the async threads when the
    /// queue is full) and returns the same JSON for the response.
    pub async fn log_record(&self, record: DecisionRecord) -> Result<Vec<u8>, AppError> {
        let mut body = Vec::new();
        let mut batch = self.log.batch(1);
        self.encode_record(record.as_ref(), &mut body, &mut batch)?;
        self.submit_log_batch(batch).await?;
        Ok(body)
    }

    /// Appends a decision's JSON to `answer` (a batch's answer is built in one buffer) and
    /// the record to `batch`.
    pub fn encode_record(
        &self,
        record: RecordRef<'_>,
        answer: &mut Vec<u8>,
        batch: &mut LogBatch,
    ) -> Result<(), AppError> {
        shopguard_core::json::write_decision_json(record.decision, answer)
            .map_err(|error| AppError::internal(format!("encoding a decision: {error}")))?;
        batch.push_ref(record)?;
        Ok(())
    }

    /// Queues a batch of decisions for the log, waiting off the async threads when the queue
    /// is full.
    pub async fn submit_log_batch(&self, batch: LogBatch) -> Result<(), AppError> {
        match self.log.try_append(batch) {
            Ok(()) => Ok(()),
            Err(TryAppendError::Full(batch)) => {
                let log = self.log.clone();
                tokio::task::spawn_blocking(move || log.append(batch)).await??;
                Ok(())
            }
            Err(TryAppendError::Closed) => Err(AppError::internal("the decision log is closed")),
        }
    }
}

impl AppState {
    /// Appends one entry to the audit log and waits until it is on the disk.
    pub async fn record_audit(
        &self,
        class: RecordClass,
        actor: String,
        action: &str,
        object: String,
        detail: serde_json::Value,
    ) -> Result<(), AppError> {
        let entry = NewAuditEntry {
            at_ms: now_ms(),
            class,
            content: AuditContent {
                actor,
                action: action.to_owned(),
                object,
                detail,
            },
        };
        let audit = self.audit.clone();
        tokio::task::spawn_blocking(move || audit.append(&[entry])).await??;
        Ok(())
    }

    /// Whether to show personal data unmasked: only when asked for, and only to a key with
    /// the `pii:unmask` scope; each time is recorded in the audit log.
    pub async fn unmask_allowed(
        &self,
        requested: Option<bool>,
        caller: &Principal,
        object: String,
    ) -> Result<bool, AppError> {
        if requested != Some(true) {
            return Ok(false);
        }
        if !caller.grants(Scope::PiiUnmask) {
            return Err(AppError::new(
                shopguard_api_types::ErrorCode::InsufficientScope,
                "unmask=true needs an API key with scope 'pii:unmask'",
            )
            .with_field("unmask"));
        }
        self.record_audit(
            RecordClass::DataAccess,
            caller.id.clone(),
            "pii.unmask",
            object,
            serde_json::Value::Null,
        )
        .await?;
        Ok(true)
    }

    /// How long audit content of `class` is kept, in days; `None` for long-term.
    pub fn audit_retention(&self, class: RecordClass) -> Option<u32> {
        if class.kept_long_term() {
            return None;
        }
        Some(
            self.config
                .audit_retention_days_by_class
                .get(&class)
                .copied()
                .unwrap_or(self.config.audit_retention_days),
        )
    }
}

/// A started node: its state, and the file holding a bootstrap admin key if one was made.
pub struct Started {
    /// Shared state.
    pub state: AppState,
    /// Where the first admin key was written, on first start.
    pub bootstrap_key_file: Option<PathBuf>,
}

fn load_lists(store: &dyn Store, registry: &ListRegistry, now: i64) -> Result<usize, StartError> {
    let mut loaded = 0;
    for record in store.lists()? {
        let list = registry
            .ensure(&record.name, record.kind)
            .map_err(|error| {
                StartError::Config(format!("stored list '{}': {error}", record.name))
            })?;
        store.for_each_list_entry(&record.name, now, &mut |batch| {
            let entries = batch.iter().filter_map(|entry| {
                let key: ListKey = record.kind.normalize(&entry.value).ok()?;
                Some((
                    key,
                    entry.expires_at_ms.unwrap_or(shopguard_core::lists::NEVER),
                ))
            });
            loaded += list.insert_many(entries);
        })?;
    }
    Ok(loaded)
}

/// The file where the first admin key is written.
pub fn bootstrap_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-api-key")
}

fn write_secret_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Opens everything a node needs. `default_policy` is used when nothing is stored and no
/// policy file is configured.
pub fn start(config: ServerConfig, default_policy: &str) -> Result<Started, StartError> {
    if config.max_batch_events == 0 || config.max_body_bytes < 1024 {
        return Err(StartError::Config(
            "max_batch_events must be positive and max_body_bytes at least 1024".into(),
        ));
    }
    let rate = NonZeroU32::new(config.rate_limit_per_second)
        .ok_or_else(|| StartError::Config("rate_limit_per_second must be positive".into()))?;
    let now = now_ms();
    if config.audit_retention_days < 365 {
        return Err(StartError::Config(
            "audit_retention_days must be at least 365 (DB33/T 978-2015 §8.4.2)".into(),
        ));
    }
    if !(1..=24 * 30).contains(&config.operator_session_hours) {
        return Err(StartError::Config(
            "operator_session_hours must be between 1 and 720".into(),
        ));
    }
    for (class, days) in &config.audit_retention_days_by_class {
        if class.kept_long_term() {
            return Err(StartError::Config(format!(
                "audit_retention_days_by_class: {} records are kept long-term (DB33/T 978-2015 §8.4.2)",
                class.as_str()
            )));
        }
        if *days < 365 {
            return Err(StartError::Config(format!(
                "audit_retention_days_by_class: {} must be kept at least 365 days",
                class.as_str()
            )));
        }
    }
    if config.audit_checkpoint_seconds == 0 {
        return Err(StartError::Config(
            "audit_checkpoint_seconds must be positive".into(),
        ));
    }
    if !(1..=4_096).contains(&config.decision_segment_mib) {
        return Err(StartError::Config(
            "decision_segment_mib must be between 1 and 4096".into(),
        ));
    }
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open_with(
        &config.data_dir,
        SegmentSettings {
            segment_bytes: config.decision_segment_mib * 1024 * 1024,
            sync_each_batch: config.decision_log_fsync,
        },
    )?);

    let registry = Arc::new(ListRegistry::new());
    let entries = load_lists(store.as_ref(), &registry, now)?;

    let stored = store.active_policy()?;
    let from_file = match &config.policy_file {
        Some(path) => {
            Some(
                std::fs::read_to_string(path).map_err(|source| StartError::PolicyFile {
                    path: path.clone(),
                    source,
                })?,
            )
        }
        None => None,
    };
    let (source, version) = match (stored, from_file) {
        (Some(active), Some(file)) if active.source == file => (active.source, active.version),
        (_, Some(file)) => store_new_policy(
            store.as_ref(),
            file,
            "loaded from the policy file at start",
            now,
        )?,
        (Some(active), None) => (active.source, active.version),
        (None, None) => store_new_policy(
            store.as_ref(),
            default_policy.to_owned(),
            "shipped default policy",
            now,
        )?,
    };
    let engine = Arc::new(Engine::new(&source, version, registry.clone())?);
    for list in registry.all() {
        store.ensure_list(&ListRecord {
            name: list.name().to_owned(),
            kind: list.kind(),
            description: String::new(),
            created_at_ms: now,
        })?;
    }
    if let Some(bytes) = snapshot::read_snapshot(&config.data_dir)? {
        if let Err(error) = engine.restore(&bytes) {
            tracing::warn!(error = %error, "ignoring an unreadable engine snapshot; velocity counts start empty");
        }
    }

    let bootstrap_key_file = if store.api_keys()?.is_empty() {
        let key = api_keys::generate("bootstrap-admin", vec![Scope::Admin], now);
        store.insert_api_key(&key.record)?;
        let path = bootstrap_key_path(&config.data_dir);
        write_secret_file(&path, &format!("{}\n", key.token)).map_err(|source| StoreError::Io {
            operation: "writing the bootstrap admin key",
            source,
        })?;
        Some(path)
    } else {
        None
    };

    tracing::info!(
        policy_version = version,
        list_entries = entries,
        "engine ready"
    );
    let audit = Arc::new(AuditLog::open(&config.data_dir)?);
    drain_audit_queue(store.as_ref(), &audit)?;
    let log = Arc::new(DecisionLog::start(store.clone(), config.log_queue_capacity));
    let metrics = Arc::new(Metrics::default());
    metrics.policy_version.set(version as i64);
    Ok(Started {
        state: AppState::new(Shared {
            engine,
            store,
            log,
            audit,
            metrics,
            rate_limiter: Arc::new(RateLimiter::keyed(Quota::per_second(rate))),
            login_limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
            ))),
            key_cache: Arc::default(),
            config: Arc::new(config),
        }),
        bootstrap_key_file,
    })
}

/// Moves audit entries queued by command-line tools (which cannot open the audit log while
/// a node holds it) into the audit log, keeping their times.
pub fn drain_audit_queue(store: &dyn Store, audit: &AuditLog) -> Result<usize, StoreError> {
    let mut moved = 0;
    loop {
        let queued = store.queued_audit_entries(1_000)?;
        if queued.is_empty() {
            return Ok(moved);
        }
        let (ids, entries): (Vec<i64>, Vec<NewAuditEntry>) = queued.into_iter().unzip();
        audit.append(&entries)?;
        store.delete_queued_audit_entries(&ids)?;
        moved += ids.len();
    }
}

fn store_new_policy(
    store: &dyn Store,
    source: String,
    comment: &str,
    now: i64,
) -> Result<(String, u64), StartError> {
    // Refuse before storing: a policy that does not compile or fails its fixtures never goes live.
    shopguard_core::check_policy(&source)?;
    let version = store.insert_policy_version(&source, "system", comment, now)?;
    store.activate_policy_version(version, "system", now)?;
    Ok((source, version))
}

/// Periodic work: expiry, snapshots, retention. Runs until the process stops.
pub async fn maintenance_loop(state: AppState) {
    const TICK_SECONDS: u64 = 5;
    let mut tick = tokio::time::interval(Duration::from_secs(TICK_SECONDS));
    // Expiry runs every so many ticks (counted, so that a tick a little early never skips it).
    let expiry_every = (state.config.expiry_interval_seconds / TICK_SECONDS).max(1);
    let mut ticks: u64 = 0;
    let mut last_snapshot = Instant::now();
    let mut last_retention = Instant::now() - Duration::from_secs(3_600);
    let mut last_checkpoint = Instant::now();
    let mut checkpointed_size = state.audit.size();
    loop {
        tick.tick().await;
        let now = now_ms();
        audit_upkeep(&state, now, &mut last_checkpoint, &mut checkpointed_size).await;
        state.metrics.read_log_stats(state.log.stats());
        if ticks.is_multiple_of(expiry_every) {
            expire_engine_state(&state, now).await;
        }
        ticks += 1;
        if last_snapshot.elapsed() >= Duration::from_secs(state.config.snapshot_interval_seconds) {
            last_snapshot = Instant::now();
            save_snapshot(&state).await;
        }
        if last_retention.elapsed() >= Duration::from_secs(3_600) {
            last_retention = Instant::now();
            let store = state.store.clone();
            let cutoff = now - i64::from(state.config.decision_retention_days) * 86_400_000;
            let profile_cutoff = now - i64::from(state.config.profile_retention_days) * 86_400_000;
            state.engine.expire_profiles(profile_cutoff);
            let audit = state.audit.clone();
            let retention_state = state.clone();
            let purged = tokio::task::spawn_blocking(move || {
                match audit.purge_expired(now, &|class| retention_state.audit_retention(class)) {
                    Ok(0) => {}
                    Ok(entries) => tracing::info!(entries, "audit content past retention purged"),
                    Err(error) => tracing::error!(error = %error, "audit retention purge failed"),
                }
                (
                    store.purge_decisions_before(cutoff),
                    store.purge_expired_list_entries(now),
                )
            })
            .await;
            match purged {
                Ok((Ok(decisions), Ok(entries))) => {
                    tracing::info!(decisions, list_entries = entries, "retention purge done")
                }
                Ok((Err(error), _)) | Ok((_, Err(error))) => {
                    tracing::error!(error = %error, "retention purge failed")
                }
                Err(error) => tracing::error!(error = %error, "retention purge task failed"),
            }
        }
    }
}

/// Moves queued audit entries in, and signs a checkpoint when the log grew and the interval
/// has passed.
async fn audit_upkeep(
    state: &AppState,
    now: i64,
    last_checkpoint: &mut Instant,
    checkpointed_size: &mut u64,
) {
    let store = state.store.clone();
    let audit = state.audit.clone();
    let due =
        last_checkpoint.elapsed() >= Duration::from_secs(state.config.audit_checkpoint_seconds);
    let grown = *checkpointed_size;
    let result = tokio::task::spawn_blocking(move || -> Result<Option<u64>, StoreError> {
        drain_audit_queue(store.as_ref(), &audit)?;
        if due && audit.size() != grown {
            return Ok(Some(audit.checkpoint(now)?.size));
        }
        Ok(None)
    })
    .await;
    match result {
        Ok(Ok(Some(size))) => {
            *checkpointed_size = size;
            *last_checkpoint = Instant::now();
            tracing::debug!(size, "audit checkpoint signed");
        }
        Ok(Ok(None)) => {}
        Ok(Err(error)) => tracing::error!(error = %error, "audit upkeep failed"),
        Err(error) => tracing::error!(error = %error, "audit upkeep task failed"),
    }
}

/// Drops idle feature keys, expired list entries and unanswered challenges. The pass walks
/// every feature and list table (a million keys take tens of milliseconds), so it runs off
/// the async threads, and requests queued behind it do not wait.
async fn expire_engine_state(state: &AppState, now: i64) {
    let engine = state.engine.clone();
    let expired =
        tokio::task::spawn_blocking(move || (engine.maintain(now), engine.feature_key_count()))
            .await;
    let Ok((report, feature_keys)) = expired else {
        tracing::error!("engine maintenance task failed");
        return;
    };
    state.metrics.feature_keys.set(feature_keys as i64);
    if report.feature_keys_expired + report.list_entries_expired > 0 {
        tracing::debug!(
            feature_keys = report.feature_keys_expired,
            list_entries = report.list_entries_expired,
            "expired state"
        );
    }
}

/// Writes the engine's state snapshot to the data folder.
pub async fn save_snapshot(state: &AppState) {
    let engine = state.engine.clone();
    let folder = state.config.data_dir.clone();
    let result = tokio::task::spawn_blocking(
        move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            snapshot::write_snapshot(&folder, &engine.snapshot()?)?;
            Ok(())
        },
    )
    .await;
    match result {
        Ok(Ok(())) => tracing::debug!("engine snapshot written"),
        Ok(Err(error)) => tracing::error!(error = %error, "engine snapshot failed"),
        Err(error) => tracing::error!(error = %error, "engine snapshot task failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_documents_the_defaults() {
        let example: ServerConfig =
            toml::from_str(include_str!("../../../config/shopguard.example.toml")).unwrap();
        assert_eq!(example, ServerConfig::default());
    }
}
