//! What handlers share, start-up, and the node's timed upkeep.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use shopguard_app::{App, OpenError, ServiceResult, TimedJob};
use shopguard_core::{Decision, Event};
use shopguard_storage::decision_log::TryAppendError;
use shopguard_storage::{DecisionRecord, LogBatch, RecordRef};

use crate::error::AppError;
use crate::metrics::{DecisionTally, Metrics};

pub use shopguard_app::clock::now_ms;
pub use shopguard_app::ids::{new_id, new_id_at};
pub use shopguard_app::node::bootstrap_key_path;
/// Server settings: the node's one typed configuration.
pub use shopguard_app::Config as ServerConfig;
/// Why the server could not start.
pub use shopguard_app::OpenError as StartError;

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
    /// The services.
    pub app: Arc<App>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub config: Arc<ServerConfig>,
    /// Per-caller rate limiter.
    pub rate_limiter: Arc<DefaultKeyedRateLimiter<String>>,
    /// Turns true when the server begins to stop: long-lived answers (the console's
    /// server-sent events) end then, so that the graceful stop does not wait for them.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// The situation the console shows, recorded every second by [`crate::serve`].
    pub situation: Arc<crate::console::situation::Situation>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Runs a use case on a blocking thread (services are synchronous, as storage is).
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&App) -> ServiceResult<T> + Send + 'static,
    ) -> Result<T, AppError> {
        let app = self.app.clone();
        Ok(tokio::task::spawn_blocking(move || work(&app)).await??)
    }

    /// Decides an event, counts it and queues it for the log; returns the decision as JSON.
    pub async fn decide(&self, event: Event) -> Result<Vec<u8>, AppError> {
        let decision = self.decide_only(&event)?;
        self.log_record(DecisionRecord { decision, event }).await
    }

    /// Decides an event and counts it, without logging.
    pub fn decide_only(&self, event: &Event) -> Result<Decision, AppError> {
        let mut tally = DecisionTally::default();
        let decision = self.decide_counted(event, now_ms(), &mut tally)?;
        self.metrics.record(tally);
        Ok(decision)
    }

    /// Decides an event at `now_ms`, counting it in `tally` (for [`Metrics::record`] once a
    /// request's events are decided), without logging.
    pub fn decide_counted(
        &self,
        event: &Event,
        now_ms: i64,
        tally: &mut DecisionTally,
    ) -> Result<Decision, AppError> {
        let started = Instant::now();
        let decision = self.app.decisions()?.decide(event, now_ms);
        tally.add(&decision, started.elapsed().as_secs_f64());
        Ok(decision)
    }

    /// Encodes a decision once, queues it for the log and returns the same JSON.
    pub async fn log_record(&self, record: DecisionRecord) -> Result<Vec<u8>, AppError> {
        let decisions = self.app.decisions()?;
        let mut body = Vec::new();
        let mut batch = decisions.batch(1);
        decisions.encode(record.as_ref(), &mut body, &mut batch)?;
        self.submit_log_batch(batch).await?;
        Ok(body)
    }

    /// Appends a decision's JSON to `answer` and the record to `batch`.
    pub fn encode_record(
        &self,
        record: RecordRef<'_>,
        answer: &mut Vec<u8>,
        batch: &mut LogBatch,
    ) -> Result<(), AppError> {
        Ok(self.app.decisions()?.encode(record, answer, batch)?)
    }

    /// Queues a batch of decisions for the log, waiting off the async threads when the queue
    /// is full. In durable mode (`decision_ack`), it then awaits the batch's receipt, which
    /// parks this task, not the thread, until the log writer's shared `fdatasync` (or
    /// PostgreSQL commit) has returned; a batch the writer gave up on is `decision_not_logged`.
    pub async fn submit_log_batch(&self, batch: LogBatch) -> Result<(), AppError> {
        let receipt = match self.app.decisions()?.try_submit(batch) {
            Ok(receipt) => receipt,
            Err(TryAppendError::Full(batch)) => {
                self.run(move |app| Ok(app.decisions()?.submit_waiting(batch)?))
                    .await?
            }
            Err(TryAppendError::Closed) => {
                return Err(AppError::internal("the decision log is closed"))
            }
        };
        match receipt {
            Some(receipt) => Ok(receipt.written().await?),
            None => Ok(()),
        }
    }
}

/// A started node: its state, and the file holding a bootstrap admin key if one was made.
pub struct Started {
    /// Shared state.
    pub state: AppState,
    /// Where the first admin key was written, on first start.
    pub bootstrap_key_file: Option<std::path::PathBuf>,
}

/// Opens a node (see [`App::open`]) and wraps it for serving.
pub fn start(config: ServerConfig, default_policy: &str) -> Result<Started, OpenError> {
    config.validate().map_err(OpenError::Config)?;
    let rate = NonZeroU32::new(config.rate_limit_per_second)
        .ok_or_else(|| OpenError::Config("rate_limit_per_second must be positive".into()))?;
    let opened = App::open(config, default_policy)?;
    let metrics = Arc::new(Metrics::default());
    metrics
        .policy_version
        .set(opened.app.engine.policy().version as i64);
    Ok(Started {
        state: AppState::new(Shared {
            config: opened.app.config.clone(),
            app: opened.app,
            metrics,
            rate_limiter: Arc::new(RateLimiter::keyed(Quota::per_second(rate))),
            stopping: tokio::sync::watch::Sender::new(false),
            situation: Arc::default(),
        }),
        bootstrap_key_file: opened.bootstrap_key_file,
    })
}

/// Periodic work. Every second: the audit outbox, policy, list and data-key changes made by
/// other nodes, metrics. Timed jobs (retention, audit checkpoints, expiry, snapshots) run when the
/// node's persistent scheduler says they are due (see `shopguard_app::scheduler`): a job
/// that fell due while the node was down runs once at start. Runs until the process stops.
pub async fn maintenance_loop(state: AppState) {
    const TICK: Duration = Duration::from_secs(1);
    let mut tick = tokio::time::interval(TICK);
    let scheduler = match state.run(|app| app.scheduler(now_ms())).await {
        Ok(scheduler) => Some(Arc::new(scheduler)),
        Err(error) => {
            tracing::error!(error = ?error.0, "cannot read the schedule; timed jobs will not run");
            None
        }
    };
    loop {
        tick.tick().await;
        let now = now_ms();
        let upkeep = state
            .run(move |app| {
                app.audit.drain()?;
                if let Some(version) = app.policies.sync()? {
                    tracing::info!(version, "caught up with a policy change");
                }
                app.lists.sync()?;
                app.data_keys.sync()?;
                Ok(())
            })
            .await;
        if let Err(error) = upkeep {
            tracing::error!(error = ?error.0, "upkeep failed");
        }
        state
            .metrics
            .policy_version
            .set(state.app.engine.policy().version as i64);
        if let Ok(decisions) = state.app.decisions() {
            state.metrics.read_log_stats(decisions.log().stats());
        }
        let Some(scheduler) = &scheduler else {
            continue;
        };
        // Claimed before they run: on a shared schedule, each due time runs on one node.
        let claimer = scheduler.clone();
        let claimed = match tokio::task::spawn_blocking(move || claimer.claim_due(now)).await {
            Ok(Ok(jobs)) => jobs,
            _ => {
                tracing::error!("cannot claim the due timed jobs");
                continue;
            }
        };
        for job in claimed {
            match job {
                TimedJob::Retention => purge_retained(&state, now).await,
                TimedJob::AuditCheckpoint => checkpoint(&state, now).await,
                TimedJob::Expiry => expire_engine_state(&state, now).await,
                TimedJob::Snapshot => save_snapshot(&state).await,
                TimedJob::ProfileRetention => expire_profiles(&state, now).await,
            }
        }
    }
}

/// Signs an audit checkpoint when the log grew since the last one.
async fn checkpoint(state: &AppState, now: i64) {
    match state.run(move |app| app.audit.sign_tail(now)).await {
        Ok(Some(signed)) => tracing::debug!(size = signed, "audit checkpoint signed"),
        Ok(None) => {}
        Err(error) => tracing::error!(error = ?error.0, "audit checkpoint failed"),
    }
}

/// Deletes what is past retention.
async fn purge_retained(state: &AppState, now: i64) {
    let app = state.app.clone();
    match tokio::task::spawn_blocking(move || app.purge_retained(now)).await {
        Ok(Ok((decisions, entries, audit))) => {
            tracing::info!(
                decisions,
                list_entries = entries,
                audit_entries = audit,
                "retention purge done"
            )
        }
        Ok(Err(error)) => tracing::error!(error = %error, "retention purge failed"),
        Err(error) => tracing::error!(error = %error, "retention purge task failed"),
    }
}

/// Drops this node's profiles idle past their retention.
async fn expire_profiles(state: &AppState, now: i64) {
    let app = state.app.clone();
    match tokio::task::spawn_blocking(move || app.expire_profiles(now)).await {
        Ok(profiles) => tracing::debug!(profiles, "idle profiles dropped"),
        Err(error) => tracing::error!(error = %error, "profile retention task failed"),
    }
}

/// Drops idle feature keys and expired list entries relative to the engine's watermark (event
/// time, never past the wall clock `now`, less the allowed lateness), and challenges
/// unanswered by the wall clock (decision 0035). The pass walks
/// every feature and list table (a million keys take tens of milliseconds), so it runs off
/// the async threads, and requests queued behind it do not wait.
async fn expire_engine_state(state: &AppState, now: i64) {
    let engine = state.app.engine.clone();
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
            horizon_ms = report.horizon_ms,
            "expired state"
        );
    }
}

/// Writes the engine's state snapshot.
pub async fn save_snapshot(state: &AppState) {
    let app = state.app.clone();
    match tokio::task::spawn_blocking(move || app.save_snapshot()).await {
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
