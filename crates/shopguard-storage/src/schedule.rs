//! The schedule of timed jobs: for each job, its interval, when it last ran and when it is
//! next due. Persisted so that a node that was down runs an overdue job once at start (and
//! not once per missed interval), and so that a restart does not reset the clocks. Several
//! nodes may share one schedule: a run is claimed by compare and set on the job's next due
//! time ([`ScheduleStore::claim_scheduled_job`]), so each due time fires once.

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
    /// Claims one run of a due job by compare and set on its next due time: when the
    /// stored job `name` is still next due at `expected_next_due_ms` (and that time has
    /// come by `now_ms`), records the run at `now_ms`, makes it next due one interval
    /// later, and returns the job as stored now (`Some`: the caller runs it). Otherwise
    /// (another node ran it, or it is not due) changes nothing and returns `None`. Of
    /// several nodes sharing one schedule, one wins each due time.
    fn claim_scheduled_job(
        &self,
        name: &str,
        expected_next_due_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Option<ScheduledJob>>;
}
