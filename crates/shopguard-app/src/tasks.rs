//! Durable tasks: long work answered at once with a task to poll, run by the node's
//! workers, cancellable, and resumed after a restart.
//!
//! # Life of a task
//! [`TaskService::submit_reencrypt`] and [`TaskService::import_list`] (above
//! [`IMPORT_TASK_THRESHOLD_LINES`] lines) record a queued task, with its audit entry in the
//! same transaction, and return it. A worker thread (started by [`crate::App::open`]) claims
//! the oldest queued task, runs it through the existing services, records progress, and
//! ends it (`succeeded`, `failed` or `cancelled`) with an audit entry by `system`.
//!
//! # Cancellation
//! Cooperative: a queued task is cancelled at once; a running one is flagged, and its
//! worker reads the flag each time it records progress and stops at the next chunk
//! boundary (between decision segments for re-encryption, between chunks of
//! [`IMPORT_TASK_CHUNK_LINES`] lines for an import). What was done before the stop stays
//! done and is reported in the task's result.
//!
//! # Resumption
//! A task left `running` by a crash goes back to `queued` when the node opens
//! ([`TaskService::resume_interrupted`]) and runs again:
//! - `reencrypt` is idempotent: segments already under the active key are not rewritten,
//!   so a second run changes only what is left (its `records_changed` counts that run).
//! - `list_import` is resumable: after each chunk the task stores the number of lines done
//!   and the running tallies as its checkpoint; a resumed run starts at the first chunk
//!   not recorded. A chunk written just before a crash but not yet recorded is written
//!   again, which is harmless (entries are upserted by value). A TTL counts from the time
//!   each chunk is written.
//! - A graceful stop does not wait for a running task: it is left `running`, and resumes at
//!   the next start like any interrupted task.
//!
//! # Several nodes
//! On a shared database every node's workers take tasks from one table. A worker claims a
//! task under its node's name with a lease of [`TASK_LEASE`], renewed by each progress
//! record; a task whose node died is taken over by another node once its lease has run out,
//! and resumes from its checkpoint. A worker that finds its task taken over (its progress
//! record or its end is refused with a conflict) stops and leaves the task to the new
//! holder.
//!
//! # Where an import's text is kept
//! By the task store, beside the task ([`TaskStore::put_task_input`]), written before the
//! task is recorded and removed when the task ends: in `<data folder>/tasks/<task id>.txt`
//! on the embedded backend (tens of megabytes kept out of SQLite and its WAL), in a row on
//! PostgreSQL, where any node may run the task. The task's parameters hold the list, TTL,
//! reason and the text's file name.
//!
//! # Who sees a task
//! A task is visible to a caller holding `admin` and to the actor that submitted it; to
//! anyone else it does not exist (`NotFound`, so ids reveal nothing).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use shopguard_core::audit::RecordClass;
use shopguard_storage::tasks::{CancelOutcome, NewTask, TaskKind, TaskOutcome};
use shopguard_storage::{Lease, Scope, StoreError, TaskRecord, TaskStore};

use crate::actor::{Actor, Principal};
use crate::audit::AuditService;
use crate::clock::now_ms;
use crate::error::{ServiceError, ServiceResult};
use crate::ids::new_id;
use crate::lists::{EntryTerms, ImportOutcome, ImportProblem, ListService};
use crate::node::App;

/// Imports of more lines than this run as a task; smaller ones are answered at once.
pub const IMPORT_TASK_THRESHOLD_LINES: usize = 100_000;
/// Lines an import task writes between two progress records (and cancellation checks).
pub const IMPORT_TASK_CHUNK_LINES: usize = 50_000;
/// Worker threads of a serving node. One: both kinds write heavily, and running them one
/// after the other keeps request latency steady.
pub const TASK_WORKERS: usize = 1;
/// Refused lines an import task reports in detail.
const IMPORT_PROBLEMS_SHOWN: usize = 100;
/// How long a worker's claim on a task holds without a progress record; after that another
/// node may take the task over. Every kind records progress far more often (each decision
/// segment or 1,000 rows; each 50,000 import lines).
pub const TASK_LEASE: Duration = Duration::from_secs(60);
/// How long an idle worker sleeps when nobody wakes it.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// What an import request led to.
#[derive(Clone, Debug, PartialEq)]
pub enum ImportAnswer {
    /// A small import, done.
    Done(ImportOutcome),
    /// A large import, queued as a task.
    Queued(TaskRecord),
}

/// Parameters of a `list_import` task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ImportParameters {
    list: String,
    ttl_seconds: Option<u64>,
    reason: String,
    /// Ranges wider than the node's bounds are meant (absent in tasks queued before it).
    #[serde(default)]
    force: bool,
    /// The text's file name under `<data folder>/tasks/`.
    file: String,
    lines: usize,
}

/// A `list_import` task's checkpoint and, once ended, its result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct ImportProgress {
    /// Lines done (written or refused).
    lines: usize,
    added: usize,
    invalid_count: usize,
    invalid: Vec<ImportLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ImportLine {
    line: usize,
    message: String,
}

/// Wakes idle workers when a task is submitted; counts pauses.
#[derive(Debug, Default)]
struct Wakeup {
    pending: Mutex<bool>,
    signal: Condvar,
    pauses: AtomicUsize,
}

impl Wakeup {
    fn notify(&self) {
        *self.pending.lock() = true;
        self.signal.notify_all();
    }

    fn wait(&self, timeout: Duration) {
        let mut pending = self.pending.lock();
        if !*pending {
            let _ = self.signal.wait_for(&mut pending, timeout);
        }
        *pending = false;
    }
}

/// While held, workers start no new task (running ones go on). For maintenance windows
/// and for tests that need a task to stay queued.
#[derive(Debug)]
pub struct TaskPause(Arc<Wakeup>);

impl Drop for TaskPause {
    fn drop(&mut self) {
        self.0.pauses.fetch_sub(1, Ordering::SeqCst);
        self.0.notify();
    }
}

/// The task service.
pub struct TaskService {
    store: Arc<dyn TaskStore>,
    audit: Arc<AuditService>,
    /// This node's name, under which its workers claim tasks.
    worker: String,
    wakeup: Arc<Wakeup>,
}

impl std::fmt::Debug for TaskService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskService")
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

/// The audit class of a kind's entries: the class of the work it does.
fn class_of(kind: TaskKind) -> RecordClass {
    match kind {
        TaskKind::Reencrypt => RecordClass::AccessControl,
        TaskKind::ListImport => RecordClass::ListChange,
    }
}

/// What a failed task shows its caller: the use case's message, but never a storage or
/// internal detail (that goes to the node's log).
fn shown_error(task: &TaskRecord, error: &ServiceError) -> String {
    match error {
        ServiceError::Store(_) | ServiceError::Internal(_) => {
            tracing::error!(task = %task.id, kind = task.kind.as_str(), error = %error, "task failed");
            "internal error; see the node's log".to_owned()
        }
        other => other.to_string(),
    }
}

impl TaskService {
    /// A service over the task store, whose workers claim tasks as `worker` (the node's
    /// name, the same across its restarts).
    pub fn new(store: Arc<dyn TaskStore>, audit: Arc<AuditService>, worker: &str) -> TaskService {
        TaskService {
            store,
            audit,
            worker: worker.to_owned(),
            wakeup: Arc::new(Wakeup::default()),
        }
    }

    /// This worker's lease, from now.
    fn lease(&self) -> Lease<'_> {
        Lease {
            worker: &self.worker,
            now_ms: now_ms(),
            duration_ms: i64::try_from(TASK_LEASE.as_millis()).unwrap_or(i64::MAX),
        }
    }

    fn record(
        &self,
        id: String,
        kind: TaskKind,
        parameters: serde_json::Value,
        actor: &Actor,
    ) -> ServiceResult<TaskRecord> {
        let now = now_ms();
        let entry = self.audit.entry(
            class_of(kind),
            actor,
            "task.submit",
            format!("task:{id}"),
            serde_json::json!({ "kind": kind.as_str(), "parameters": parameters }),
        );
        self.store.create_task(
            &NewTask {
                id: id.clone(),
                kind,
                requested_by: actor.to_string(),
                parameters,
                created_at_ms: now,
            },
            &entry,
        )?;
        self.audit.settle()?;
        self.wakeup.notify();
        self.store.task(&id)?.ok_or_else(|| {
            ServiceError::Internal(format!("task {id} vanished after it was recorded"))
        })
    }

    /// Queues a re-encryption of the logged decisions' personal fields; returns the task.
    pub fn submit_reencrypt(&self, actor: &Actor) -> ServiceResult<TaskRecord> {
        self.record(new_id(), TaskKind::Reencrypt, serde_json::json!({}), actor)
    }

    /// Imports entries into a list: at once when the text has at most
    /// [`IMPORT_TASK_THRESHOLD_LINES`] lines, else as a queued task (the list and TTL are
    /// checked before it is queued).
    pub fn import_list(
        &self,
        lists: &ListService,
        name: &str,
        text: &str,
        terms: &EntryTerms,
        actor: &Actor,
    ) -> ServiceResult<ImportAnswer> {
        if text.trim().is_empty() {
            return Err(ServiceError::Invalid {
                field: Some("body"),
                message: "body: the body is empty; send one value per line".to_owned(),
            });
        }
        let lines = text.lines().count();
        if lines <= IMPORT_TASK_THRESHOLD_LINES {
            return lists
                .import(name, text, terms, actor, &mut |done, total| {
                    tracing::debug!(done, total, "importing list entries");
                })
                .map(ImportAnswer::Done);
        }
        lists.find(name)?;
        if let Some(ttl) = terms.ttl_seconds {
            if i64::try_from(ttl)
                .ok()
                .and_then(|ttl| ttl.checked_mul(1_000))
                .is_none()
            {
                return Err(ServiceError::invalid(
                    "ttl_seconds",
                    "ttl_seconds: too large",
                ));
            }
        }
        let id = new_id();
        let file = format!("{id}.txt");
        self.store.put_task_input(&id, text)?;
        let parameters = ImportParameters {
            list: name.to_owned(),
            ttl_seconds: terms.ttl_seconds,
            reason: terms.reason.clone(),
            force: terms.force,
            file,
            lines,
        };
        let parameters = serde_json::to_value(&parameters)
            .map_err(|error| ServiceError::Internal(format!("import parameters: {error}")))?;
        match self.record(id.clone(), TaskKind::ListImport, parameters, actor) {
            Ok(task) => Ok(ImportAnswer::Queued(task)),
            Err(error) => {
                self.remove_input(&id);
                Err(error)
            }
        }
    }

    fn remove_input(&self, id: &str) {
        if let Err(error) = self.store.remove_task_input(id) {
            tracing::warn!(task = id, error = %error, "cannot remove a task's input");
        }
    }

    /// Removes what a task kept beside it, once it has ended.
    fn clean_up(&self, task: &TaskRecord) {
        if task.kind == TaskKind::ListImport {
            self.remove_input(&task.id);
        }
    }

    fn visible(task: &TaskRecord, caller: &Principal) -> bool {
        caller.grants(Scope::Admin) || task.requested_by == caller.id
    }

    /// The task, if `caller` may see it (admin, or who submitted it); else `NotFound`.
    pub fn get(&self, id: &str, caller: &Principal) -> ServiceResult<TaskRecord> {
        self.store
            .task(id)?
            .filter(|task| TaskService::visible(task, caller))
            .ok_or_else(|| ServiceError::NotFound(format!("task '{id}' not found")))
    }

    /// The most recent tasks `caller` may see, newest first (at most `limit`, up to 1,000).
    pub fn recent(&self, caller: &Principal, limit: u32) -> ServiceResult<Vec<TaskRecord>> {
        let limit = limit.clamp(1, 1_000);
        let requested_by = (!caller.grants(Scope::Admin)).then_some(caller.id.as_str());
        Ok(self.store.recent_tasks(requested_by, limit)?)
    }

    /// Asks a task to stop; returns it as it is then (`cancelled` when it was queued,
    /// still `running` with `cancel_requested` when a worker has it). `Conflict` when it
    /// has already ended.
    pub fn cancel(&self, id: &str, caller: &Principal) -> ServiceResult<TaskRecord> {
        let task = self.get(id, caller)?;
        let entry = self.audit.entry(
            class_of(task.kind),
            &caller.actor,
            "task.cancel",
            format!("task:{id}"),
            serde_json::json!({ "kind": task.kind.as_str() }),
        );
        match self.store.request_task_cancel(id, now_ms(), &entry)? {
            CancelOutcome::AlreadyFinished(status) => {
                return Err(ServiceError::Conflict(format!(
                    "task '{id}' has already ended ({})",
                    status.as_str()
                )))
            }
            CancelOutcome::Cancelled => {
                self.audit.settle()?;
                self.clean_up(&task);
            }
            CancelOutcome::Requested => self.audit.settle()?,
        }
        self.get(id, caller)
    }

    /// Puts the tasks a crash left running back in the queue; returns how many. Called
    /// when a serving node opens, before its workers start.
    pub fn resume_interrupted(&self) -> ServiceResult<usize> {
        let requeued = self.store.requeue_running_tasks(&self.worker)?;
        for task in &requeued {
            tracing::info!(task = %task.id, kind = task.kind.as_str(), done = task.done, total = task.total, "resuming an interrupted task");
        }
        Ok(requeued.len())
    }

    /// Every task not yet ended, oldest first.
    pub fn unfinished(&self) -> ServiceResult<Vec<TaskRecord>> {
        Ok(self.store.unfinished_tasks()?)
    }

    /// Holds the workers off new tasks until the returned guard is dropped.
    pub fn pause(&self) -> TaskPause {
        self.wakeup.pauses.fetch_add(1, Ordering::SeqCst);
        TaskPause(self.wakeup.clone())
    }

    /// Starts `count` worker threads over `app`; they stop once the app is dropped.
    pub fn start_workers(&self, app: Weak<App>, count: usize) {
        for number in 0..count {
            let app = app.clone();
            let wakeup = self.wakeup.clone();
            let started = std::thread::Builder::new()
                .name(format!("shopguard-task-{number}"))
                .spawn(move || worker(app, wakeup));
            if let Err(error) = started {
                tracing::error!(error = %error, "cannot start a task worker");
            }
        }
    }

    /// Claims the oldest queued task and runs it to its end; returns it as it ended, or
    /// `None` when none was queued (or the workers are paused).
    pub fn run_next(&self, app: &App) -> ServiceResult<Option<TaskRecord>> {
        if self.wakeup.pauses.load(Ordering::SeqCst) > 0 {
            return Ok(None);
        }
        let Some(task) = self.store.claim_next_task(&self.lease())? else {
            return Ok(None);
        };
        self.run_claimed(app, task)
    }

    /// Runs a task this worker has claimed to its end; returns it as it ended.
    fn run_claimed(&self, app: &App, task: TaskRecord) -> ServiceResult<Option<TaskRecord>> {
        let outcome = if task.cancel_requested {
            // Asked to stop before a crash interrupted it: nothing more is done.
            Ok(TaskOutcome::Cancelled(
                task.result.clone().unwrap_or(serde_json::Value::Null),
            ))
        } else {
            match task.kind {
                TaskKind::Reencrypt => self.run_reencrypt(app, &task),
                TaskKind::ListImport => self.run_list_import(&app.lists, &task),
            }
        };
        let outcome =
            outcome.unwrap_or_else(|error| TaskOutcome::Failed(shown_error(&task, &error)));
        let entry = AuditService::entry_at(
            now_ms(),
            class_of(task.kind),
            &Actor::System,
            "task.finish",
            format!("task:{}", task.id),
            serde_json::json!({
                "kind": task.kind.as_str(),
                "status": outcome.status().as_str(),
                "requested_by": task.requested_by,
            }),
        );
        match self
            .store
            .finish_task(&task.id, &self.worker, &outcome, now_ms(), &entry)
        {
            Ok(()) => {}
            Err(StoreError::Conflict(reason)) => {
                // Taken over by another node (this one stalled past its lease), or ended
                // meanwhile: the task is no longer this worker's to end.
                tracing::warn!(task = %task.id, reason, "task no longer held by this node");
                return Ok(self.store.task(&task.id)?);
            }
            Err(error) => return Err(error.into()),
        }
        self.audit.settle()?;
        self.clean_up(&task);
        Ok(self.store.task(&task.id)?)
    }

    /// Records progress and renews this worker's lease; answers whether to go on (no
    /// cancellation asked for, and the task still this worker's). Any other failure to
    /// record progress does not stop the work.
    fn progress(
        &self,
        task: &TaskRecord,
        done: usize,
        total: usize,
        checkpoint: Option<&serde_json::Value>,
    ) -> bool {
        match self.store.update_task_progress(
            &task.id,
            &self.lease(),
            done as u64,
            total as u64,
            checkpoint,
        ) {
            Ok(cancel_requested) => !cancel_requested,
            Err(StoreError::Conflict(reason)) => {
                tracing::warn!(task = %task.id, reason, "task taken over by another node; stopping");
                false
            }
            Err(error) => {
                tracing::warn!(task = %task.id, error = %error, "cannot record a task's progress");
                true
            }
        }
    }

    fn requester(task: &TaskRecord) -> ServiceResult<Actor> {
        task.requested_by
            .parse()
            .map_err(|error: String| ServiceError::Internal(format!("task {}: {error}", task.id)))
    }

    fn run_reencrypt(&self, app: &App, task: &TaskRecord) -> ServiceResult<TaskOutcome> {
        let actor = TaskService::requester(task)?;
        let started = Instant::now();
        let (records_changed, stopped) =
            app.data_keys.reencrypt_until(&actor, &mut |done, total| {
                self.progress(task, done, total, None)
            })?;
        let result = serde_json::json!({
            "records_changed": records_changed,
            "seconds": started.elapsed().as_secs_f64(),
        });
        Ok(if stopped {
            TaskOutcome::Cancelled(result)
        } else {
            TaskOutcome::Succeeded(result)
        })
    }

    fn run_list_import(
        &self,
        lists: &ListService,
        task: &TaskRecord,
    ) -> ServiceResult<TaskOutcome> {
        let actor = TaskService::requester(task)?;
        let parameters: ImportParameters = serde_json::from_value(task.parameters.clone())
            .map_err(|error| {
                ServiceError::Internal(format!("task {}: parameters: {error}", task.id))
            })?;
        let text = self.store.task_input(&task.id)?.ok_or_else(|| {
            ServiceError::Internal(format!(
                "task {}: its text ({}) is missing",
                task.id, parameters.file
            ))
        })?;
        let lines: Vec<&str> = text.lines().collect();
        let total = lines.len();
        let mut done: ImportProgress = task
            .result
            .clone()
            .and_then(|checkpoint| serde_json::from_value(checkpoint).ok())
            .unwrap_or_default();
        let as_json = |progress: &ImportProgress| {
            serde_json::to_value(progress).unwrap_or(serde_json::Value::Null)
        };
        while done.lines < total {
            let end = (done.lines + IMPORT_TASK_CHUNK_LINES).min(total);
            let chunk = lines[done.lines..end].join("\n");
            let terms = EntryTerms {
                ttl_seconds: parameters.ttl_seconds,
                reason: parameters.reason.clone(),
                force: parameters.force,
            };
            let outcome = lists.import(&parameters.list, &chunk, &terms, &actor, &mut |_, _| {})?;
            done.added += outcome.added;
            done.invalid_count += outcome.invalid_count;
            let room = IMPORT_PROBLEMS_SHOWN.saturating_sub(done.invalid.len());
            done.invalid
                .extend(
                    outcome
                        .invalid
                        .into_iter()
                        .take(room)
                        .map(|problem: ImportProblem| ImportLine {
                            line: problem.line + done.lines,
                            message: problem.message,
                        }),
                );
            done.lines = end;
            if !self.progress(task, end, total, Some(&as_json(&done))) && end < total {
                return Ok(TaskOutcome::Cancelled(as_json(&done)));
            }
        }
        Ok(TaskOutcome::Succeeded(as_json(&done)))
    }
}

/// A worker: runs queued tasks one after the other; sleeps when none waits; stops when the
/// node's services are gone.
fn worker(app: Weak<App>, wakeup: Arc<Wakeup>) {
    loop {
        let Some(strong) = app.upgrade() else {
            return;
        };
        let ran = strong.tasks.run_next(&strong);
        drop(strong);
        match ran {
            Ok(Some(task)) => {
                tracing::info!(task = %task.id, kind = task.kind.as_str(), status = task.status.as_str(), "task ended");
            }
            Ok(None) => wakeup.wait(IDLE_WAIT),
            Err(error) => {
                tracing::error!(error = %error, "task worker failed");
                wakeup.wait(IDLE_WAIT);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopguard_core::ListKind;
    use shopguard_storage::tasks::TaskStatus;

    /// A running import whose cancellation is asked for stops at the next chunk boundary,
    /// keeps what it wrote, and reports it.
    #[test]
    fn a_running_import_stops_at_the_next_chunk_once_cancelled() {
        let folder = tempfile::tempdir().unwrap();
        let config = crate::Config {
            data_dir: folder.path().to_owned(),
            ..crate::Config::default()
        };
        let app = App::open(config, "[policy]\nname = \"test\"\n")
            .unwrap()
            .app;
        let _pause = app.tasks.pause();
        let caller = Principal::new(Actor::System, vec![Scope::Admin]);
        app.lists
            .create("ip_block", ListKind::Ip, "", &caller.actor)
            .unwrap();
        let lines: Vec<String> = (0..IMPORT_TASK_CHUNK_LINES * 3)
            .map(|n| format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255))
            .collect();
        let ImportAnswer::Queued(task) = app
            .tasks
            .import_list(
                &app.lists,
                "ip_block",
                &lines.join("\n"),
                &EntryTerms::because("feed"),
                &caller.actor,
            )
            .unwrap()
        else {
            panic!("a large import is a task");
        };
        // This thread is the worker: it claims the task, then the caller asks it to stop.
        let claimed = app
            .tasks
            .store
            .claim_next_task(&app.tasks.lease())
            .unwrap()
            .unwrap();
        assert_eq!(claimed.id, task.id);
        let flagged = app.tasks.cancel(&task.id, &caller).unwrap();
        assert_eq!(flagged.status, TaskStatus::Running);
        assert!(flagged.cancel_requested);

        let ended = app.tasks.run_claimed(&app, claimed).unwrap().unwrap();
        assert_eq!(ended.status, TaskStatus::Cancelled, "{ended:?}");
        assert_eq!(ended.done, IMPORT_TASK_CHUNK_LINES as u64);
        assert_eq!(ended.total, lines.len() as u64);
        let result = ended.result.unwrap();
        assert_eq!(result["lines"], IMPORT_TASK_CHUNK_LINES);
        assert_eq!(result["added"], IMPORT_TASK_CHUNK_LINES);
        assert_eq!(
            app.lists.find("ip_block").unwrap().len(),
            IMPORT_TASK_CHUNK_LINES
        );
        assert!(!folder
            .path()
            .join("tasks")
            .join(format!("{}.txt", task.id))
            .exists());
    }
}
