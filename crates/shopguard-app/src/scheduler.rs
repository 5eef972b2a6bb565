//! The scheduler of timed work: one persistent schedule of named jobs, each with its
//! interval, when it last ran and when it is next due.
//!
//! # Rules
//! - A job is due when its next due time has come ([`Scheduler::due`]). A run is claimed
//!   before it starts ([`Scheduler::claim_due`]): the claim stores the run and makes the job
//!   due one interval *after that run*. A job that fell due while the node was down is
//!   therefore due once at start and runs once, not once per missed interval (catch-up
//!   without a burst); a failing job waits its interval rather than running every tick.
//! - Several nodes may share one schedule (PostgreSQL). A claim is a compare and set on the
//!   job's stored next due time, so each due time fires on one node only; a node that loses
//!   re-reads the job. Jobs on a node's own memory ([`TimedJob::per_node`]: expiry,
//!   snapshots, profile retention) are kept per node in a shared schedule, stored as
//!   `<name>@<node>`; the rest (retention of stored data, audit checkpoints) are the
//!   deployment's.
//! - The schedule is stored ([`ScheduleStore`]): a restart neither resets the clocks (an
//!   hourly job does not wait another hour after each restart) nor runs everything anew.
//! - A job seen for the first time is due one interval from now, except those that run at
//!   a node's first start ([`TimedJob::runs_at_first_start`]).
//! - When a job's configured interval changes, its next due time is recomputed from its
//!   last run.
//!
//! The scheduler decides what is due; its caller (the server's maintenance loop) runs the
//! jobs. Every method takes the time, so tests drive the clock.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use shopguard_storage::{ScheduleStore, ScheduledJob};

use crate::error::ServiceResult;

/// A timed job. Stored by [`TimedJob::name`], which never changes once released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimedJob {
    /// Deletes decisions, expired list entries and audit content past retention (hourly).
    Retention,
    /// Signs an audit checkpoint when the log grew.
    AuditCheckpoint,
    /// Drops idle feature keys and expired list entries from memory.
    Expiry,
    /// Writes the engine's velocity snapshot.
    Snapshot,
    /// Drops this node's profiles idle past the profile retention (hourly).
    ProfileRetention,
}

impl TimedJob {
    /// Every job.
    pub const ALL: [TimedJob; 5] = [
        TimedJob::Retention,
        TimedJob::AuditCheckpoint,
        TimedJob::Expiry,
        TimedJob::Snapshot,
        TimedJob::ProfileRetention,
    ];

    /// The stored name (explicit; pinned by a test).
    pub const fn name(self) -> &'static str {
        match self {
            TimedJob::Retention => "retention",
            TimedJob::AuditCheckpoint => "audit_checkpoint",
            TimedJob::Expiry => "expiry",
            TimedJob::Snapshot => "snapshot",
            TimedJob::ProfileRetention => "profile_retention",
        }
    }

    /// Whether the job works on the node's own memory, so that every node runs it; the
    /// others work on shared data and run on one node per due time.
    pub const fn per_node(self) -> bool {
        matches!(
            self,
            TimedJob::Expiry | TimedJob::Snapshot | TimedJob::ProfileRetention
        )
    }

    /// Whether the job is due at once the first time a node starts (retention: a node
    /// started on old data purges it without waiting an hour).
    pub const fn runs_at_first_start(self) -> bool {
        matches!(self, TimedJob::Retention)
    }
}

fn millis(interval: Duration) -> i64 {
    i64::try_from(interval.as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
}

/// The scheduler.
pub struct Scheduler {
    store: Arc<dyn ScheduleStore>,
    jobs: Mutex<Vec<(TimedJob, ScheduledJob)>>,
}

/// The name `job` is stored under: its own in a node's own schedule; suffixed with the node
/// for a per-node job in a schedule shared by several nodes.
fn stored_name(job: TimedJob, shared_by: Option<&str>) -> String {
    match shared_by {
        Some(node) if job.per_node() => format!("{}@{node}", job.name()),
        _ => job.name().to_owned(),
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("jobs", &*self.jobs.lock())
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// Loads the schedule and brings it in line with `intervals` at `now_ms`: new jobs
    /// are added, changed intervals recomputed, and the result stored. Stored jobs this
    /// build does not know are left alone. `shared_by` names this node when the schedule
    /// is shared by several nodes (its per-node jobs are then kept under its name).
    pub fn open(
        store: Arc<dyn ScheduleStore>,
        intervals: &[(TimedJob, Duration)],
        now_ms: i64,
        shared_by: Option<&str>,
    ) -> ServiceResult<Scheduler> {
        let stored = store.scheduled_jobs()?;
        let mut jobs = Vec::with_capacity(intervals.len());
        for &(job, interval) in intervals {
            let interval_ms = millis(interval);
            let name = stored_name(job, shared_by);
            let known = stored.iter().find(|entry| entry.name == name);
            let entry = match known {
                Some(entry) if entry.interval_ms == interval_ms => entry.clone(),
                Some(entry) => ScheduledJob {
                    interval_ms,
                    next_due_at_ms: entry
                        .last_run_at_ms
                        .unwrap_or(now_ms)
                        .saturating_add(interval_ms),
                    ..entry.clone()
                },
                None => ScheduledJob {
                    name,
                    interval_ms,
                    last_run_at_ms: None,
                    next_due_at_ms: if job.runs_at_first_start() {
                        now_ms
                    } else {
                        now_ms.saturating_add(interval_ms)
                    },
                },
            };
            if known != Some(&entry) {
                store.put_scheduled_job(&entry)?;
            }
            jobs.push((job, entry));
        }
        Ok(Scheduler {
            store,
            jobs: Mutex::new(jobs),
        })
    }

    /// The jobs due at `now_ms`, each once however long it has been due.
    pub fn due(&self, now_ms: i64) -> Vec<TimedJob> {
        self.jobs
            .lock()
            .iter()
            .filter(|(_, entry)| entry.next_due_at_ms <= now_ms)
            .map(|(job, _)| *job)
            .collect()
    }

    /// Claims every job due at `now_ms` for this node and returns those it won, to run
    /// now. Each claim stores the run at `now_ms` and makes the job due one interval later
    /// (whether the run then succeeds or not: a failing job waits its interval). A job
    /// another node ran meanwhile is re-read and not returned.
    pub fn claim_due(&self, now_ms: i64) -> ServiceResult<Vec<TimedJob>> {
        let mut jobs = self.jobs.lock();
        let mut won = Vec::new();
        let mut lost = false;
        for (job, entry) in jobs.iter_mut() {
            if entry.next_due_at_ms > now_ms {
                continue;
            }
            match self
                .store
                .claim_scheduled_job(&entry.name, entry.next_due_at_ms, now_ms)?
            {
                Some(claimed) => {
                    *entry = claimed;
                    won.push(*job);
                }
                None => lost = true,
            }
        }
        if lost {
            let stored = self.store.scheduled_jobs()?;
            for (_, entry) in jobs.iter_mut() {
                if let Some(fresh) = stored.iter().find(|fresh| fresh.name == entry.name) {
                    *entry = fresh.clone();
                }
            }
        }
        Ok(won)
    }

    /// A job's place in the schedule.
    pub fn job(&self, job: TimedJob) -> Option<ScheduledJob> {
        self.jobs
            .lock()
            .iter()
            .find(|(known, _)| *known == job)
            .map(|(_, entry)| entry.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopguard_storage::embedded::EmbeddedStore;

    const HOUR: i64 = 3_600_000;

    fn open(
        store: Arc<dyn ScheduleStore>,
        intervals: &[(TimedJob, Duration)],
        now: i64,
    ) -> Scheduler {
        Scheduler::open(store, intervals, now, None).unwrap()
    }

    fn intervals() -> Vec<(TimedJob, Duration)> {
        vec![
            (TimedJob::Retention, Duration::from_secs(3_600)),
            (TimedJob::Snapshot, Duration::from_secs(30)),
        ]
    }

    fn store(folder: &std::path::Path) -> Arc<dyn ScheduleStore> {
        Arc::new(EmbeddedStore::open_for_administration(folder).unwrap())
    }

    #[test]
    fn job_names_are_pinned() {
        let names: Vec<&str> = TimedJob::ALL.iter().map(|job| job.name()).collect();
        assert_eq!(
            names,
            vec![
                "retention",
                "audit_checkpoint",
                "expiry",
                "snapshot",
                "profile_retention"
            ]
        );
        let scopes: Vec<bool> = TimedJob::ALL.iter().map(|job| job.per_node()).collect();
        assert_eq!(scopes, vec![false, false, true, true, true]);
        assert_eq!(stored_name(TimedJob::Snapshot, None), "snapshot");
        assert_eq!(stored_name(TimedJob::Snapshot, Some("n1")), "snapshot@n1");
        assert_eq!(stored_name(TimedJob::Retention, Some("n1")), "retention");
    }

    /// Two nodes on one schedule: a shared job fires on one of them per due time; per-node
    /// jobs fire on each.
    #[test]
    fn on_a_shared_schedule_a_shared_job_fires_once_and_a_per_node_job_on_every_node() {
        let folder = tempfile::tempdir().unwrap();
        let shared = store(folder.path());
        let a = Scheduler::open(shared.clone(), &intervals(), 0, Some("a")).unwrap();
        let b = Scheduler::open(shared.clone(), &intervals(), 0, Some("b")).unwrap();
        assert_eq!(a.claim_due(0).unwrap(), vec![TimedJob::Retention]);
        assert!(b.claim_due(0).unwrap().is_empty(), "a ran it");
        assert_eq!(
            b.job(TimedJob::Retention).unwrap().next_due_at_ms,
            HOUR,
            "re-read"
        );
        assert_eq!(a.claim_due(30_000).unwrap(), vec![TimedJob::Snapshot]);
        assert_eq!(b.claim_due(30_000).unwrap(), vec![TimedJob::Snapshot]);
        assert_eq!(
            b.claim_due(HOUR).unwrap(),
            vec![TimedJob::Retention, TimedJob::Snapshot]
        );
        assert_eq!(a.claim_due(HOUR).unwrap(), vec![TimedJob::Snapshot]);
    }

    #[test]
    fn a_first_start_runs_retention_at_once_and_the_rest_after_one_interval() {
        let folder = tempfile::tempdir().unwrap();
        let scheduler = open(store(folder.path()), &intervals(), 1_000);
        assert_eq!(scheduler.due(1_000), vec![TimedJob::Retention]);
        assert_eq!(
            scheduler.claim_due(1_000).unwrap(),
            vec![TimedJob::Retention]
        );
        assert!(scheduler.due(30_999).is_empty());
        assert_eq!(scheduler.due(31_000), vec![TimedJob::Snapshot]);
        assert_eq!(scheduler.due(1_000 + HOUR).len(), 2);
    }

    #[test]
    fn a_job_due_during_downtime_runs_once_at_start_not_once_per_missed_interval() {
        let folder = tempfile::tempdir().unwrap();
        let start = 10 * HOUR;
        {
            let scheduler = open(store(folder.path()), &intervals(), start);
            assert_eq!(
                scheduler.claim_due(start).unwrap(),
                vec![TimedJob::Retention]
            );
        }
        // The node was down for ten hours: ten retention runs were missed.
        let back = start + 10 * HOUR + 5;
        let scheduler = open(store(folder.path()), &intervals(), back);
        let due = scheduler.claim_due(back).unwrap();
        assert_eq!(
            due.iter()
                .filter(|job| **job == TimedJob::Retention)
                .count(),
            1
        );
        // Run once, it is not due again on the next ticks.
        assert!(scheduler.due(back + 1).is_empty());
        assert!(scheduler.due(back + 29_999).is_empty());
        assert_eq!(
            scheduler.job(TimedJob::Retention).unwrap().next_due_at_ms,
            back + HOUR
        );
    }

    #[test]
    fn the_last_run_survives_reopening_and_a_restart_does_not_reset_the_clock() {
        let folder = tempfile::tempdir().unwrap();
        {
            let scheduler = open(store(folder.path()), &intervals(), 0);
            assert_eq!(scheduler.claim_due(500).unwrap(), vec![TimedJob::Retention]);
        }
        // Restarted twenty minutes later: retention is still due at 500 + one hour.
        let scheduler = open(store(folder.path()), &intervals(), 20 * 60_000);
        let retention = scheduler.job(TimedJob::Retention).unwrap();
        assert_eq!(retention.last_run_at_ms, Some(500));
        assert_eq!(retention.next_due_at_ms, 500 + HOUR);
        assert!(!scheduler.due(HOUR).contains(&TimedJob::Retention));
        assert!(scheduler.due(500 + HOUR).contains(&TimedJob::Retention));
    }

    #[test]
    fn a_changed_interval_counts_from_the_last_run() {
        let folder = tempfile::tempdir().unwrap();
        {
            let scheduler = open(store(folder.path()), &intervals(), 0);
            assert!(scheduler
                .claim_due(30_100)
                .unwrap()
                .contains(&TimedJob::Snapshot));
        }
        let shorter = vec![(TimedJob::Snapshot, Duration::from_secs(10))];
        let scheduler = open(store(folder.path()), &shorter, 30_200);
        assert_eq!(
            scheduler.job(TimedJob::Snapshot).unwrap().next_due_at_ms,
            40_100
        );
        assert!(scheduler.job(TimedJob::Retention).is_none());
    }
}
