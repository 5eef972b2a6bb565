//! The schedule of timed jobs: for each job, its interval, when it last ran and when it is
//! next due. Persisted so that a node that was down runs an overdue job once at start (and
//! not once per missed interval), and so that a restart does not reset the clocks.

use crate::StoreResult;

/// A timed job's place in the schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledJob {
    /// Its name (`retention`, `audit_checkpoint`, ...).
    pub name: String,
    /// How often it runs, in ms.
    pub interval_ms: i64,
    /// When it last ran.
    pub last_run_at_ms: Option<i64>,
    /// When it is next due.
    pub next_due_at_ms: i64,
}

/// The persistent schedule. Schedule bookkeeping records no audit entries: it changes no
/// state a caller sees, and the jobs record their own.
pub trait ScheduleStore: Send + Sync {
    /// Every job in the schedule, by name.
    fn scheduled_jobs(&self) -> StoreResult<Vec<ScheduledJob>>;
    /// Stores a job (adds it, or replaces its interval, last run and next due time).
    fn put_scheduled_job(&self, job: &ScheduledJob) -> StoreResult<()>;
}
