//! The decision log's writer: decisions are queued by the request path and written by one
//! thread in batches.
//!
//! Each request hands over its decisions already encoded, as one [`LogBatch`]; the writer
//! appends the bytes of every batch queued within a few milliseconds in one write.
//!
//! # Durability
//! An acknowledged decision is in memory, queued for the writer. It reaches the store with the
//! next write, which the writer gathers for at most about 10 ms after its first record was
//! queued. The embedded store appends a batch to its segment files with one `write` and,
//! unless `decision_log_fsync` is off, one `fdatasync` before the batch counts as written. A
//! process crash loses what is queued and not yet written. [`DecisionLog::flush`] waits until
//! everything queued before it is written. When the queue is full, `append` blocks: the log
//! slows the caller rather than drop records.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::keyring::Keyring;
use crate::{DecisionStore, LogBatch, StoreError, StoreResult};

/// Most records written in one transaction (a request's batch is never split, so one write
/// may hold a little more).
pub const MAX_BATCH: usize = 8_192;
/// How long the writer gathers records before writing a batch.
const GATHER: Duration = Duration::from_millis(10);
/// Attempts to write a batch before it is given up (and counted as failed).
const WRITE_ATTEMPTS: u32 = 50;
/// Written batches kept for reuse: allocating a batch's buffers afresh for every request,
/// and freeing them on another thread, costs page faults (the allocator hands memory back
/// and the kernel zeroes it again).
const SPARE_BATCHES: usize = 256;
/// Batches whose buffers grew past this are freed rather than kept.
const SPARE_BATCH_BYTES: usize = 4 << 20;

/// Why [`DecisionLog::try_append`] did not queue a batch.
#[derive(Debug)]
pub enum TryAppendError {
    /// The queue is full; here is the batch back.
    Full(LogBatch),
    /// The log is closed.
    Closed,
}

/// Counters of the log, for metrics.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Records queued and not yet written.
    pub queued: AtomicU64,
    /// Records written.
    pub written: AtomicU64,
    /// Records given up after repeated write failures.
    pub failed: AtomicU64,
    /// Transactions committed.
    pub batches: AtomicU64,
}

/// What is waiting for the writer.
#[derive(Default)]
struct Pending {
    batches: Vec<LogBatch>,
    /// Records in `batches`.
    records: usize,
    /// Callers of [`DecisionLog::flush`], told once everything queued before them is written.
    flushes: Vec<mpsc::Sender<()>>,
    closed: bool,
}

/// The queue between request threads and the writer, bounded by records rather than
/// batches (a batch may hold one decision or a thousand).
struct Queue {
    pending: Mutex<Pending>,
    /// Signalled when work arrives or the log closes.
    work: Condvar,
    /// Signalled when the writer takes what is pending.
    room: Condvar,
    capacity: usize,
    /// Written batches, emptied, for [`DecisionLog::batch`] to hand out again.
    spare: Mutex<Vec<LogBatch>>,
}

impl Queue {
    /// Queues `batch` unless that would pass the capacity (an empty queue takes any batch, so
    /// that one larger than the capacity still goes through).
    fn try_push(&self, batch: LogBatch, stats: &LogStats) -> Result<(), TryAppendError> {
        let mut pending = self.pending.lock();
        if pending.closed {
            return Err(TryAppendError::Closed);
        }
        if pending.records > 0 && pending.records + batch.len() > self.capacity {
            return Err(TryAppendError::Full(batch));
        }
        stats
            .queued
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        pending.records += batch.len();
        pending.batches.push(batch);
        if pending.batches.len() == 1 {
            self.work.notify_one();
        }
        Ok(())
    }
}

/// Handle to the log writer. Dropping it (or [`DecisionLog::close`]) drains the queue.
pub struct DecisionLog {
    queue: Arc<Queue>,
    writer: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<LogStats>,
    sealer: Option<Arc<Keyring>>,
}

impl std::fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionLog")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl DecisionLog {
    /// Starts the writer thread over `store`, with a queue of about `capacity` records.
    /// With `sealer`, batches encrypt personal fields with its active key.
    pub fn start(
        store: Arc<dyn DecisionStore>,
        sealer: Option<Arc<Keyring>>,
        capacity: usize,
    ) -> DecisionLog {
        let queue = Arc::new(Queue {
            pending: Mutex::new(Pending::default()),
            work: Condvar::new(),
            room: Condvar::new(),
            capacity: capacity.max(1),
            spare: Mutex::new(Vec::new()),
        });
        let stats = Arc::new(LogStats::default());
        let writer_queue = queue.clone();
        let writer_stats = stats.clone();
        let writer = std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || run_writer(store.as_ref(), &writer_queue, &writer_stats))
            .ok();
        DecisionLog {
            queue,
            writer: Mutex::new(writer),
            stats,
            sealer,
        }
    }

    /// An empty batch for about `records` decisions, sealing personal fields as the store
    /// asks.
    pub fn batch(&self, records: usize) -> LogBatch {
        let Some(mut batch) = self.queue.spare.lock().pop() else {
            return LogBatch::with_capacity(self.sealer.clone(), records);
        };
        batch.reset(self.sealer.clone());
        batch.reserve(records);
        batch
    }

    /// Queues a batch; blocks while the queue is full.
    pub fn append(&self, mut batch: LogBatch) -> StoreResult<()> {
        loop {
            match self.queue.try_push(batch, &self.stats) {
                Ok(()) => return Ok(()),
                Err(TryAppendError::Closed) => return Err(StoreError::LogClosed),
                Err(TryAppendError::Full(back)) => {
                    batch = back;
                    let mut pending = self.queue.pending.lock();
                    if pending.records > 0 && !pending.closed {
                        self.queue
                            .room
                            .wait_for(&mut pending, Duration::from_millis(100));
                    }
                }
            }
        }
    }

    /// Queues a batch if there is room. When the queue is full the batch comes back, to be
    /// passed to [`DecisionLog::append`] on a thread that may block.
    pub fn try_append(&self, batch: LogBatch) -> Result<(), TryAppendError> {
        self.queue.try_push(batch, &self.stats)
    }

    /// Waits until every record queued before this call is written.
    pub fn flush(&self) -> StoreResult<()> {
        let (done, wait) = mpsc::channel();
        {
            let mut pending = self.queue.pending.lock();
            if pending.closed {
                return Err(StoreError::LogClosed);
            }
            pending.flushes.push(done);
            self.queue.work.notify_one();
        }
        wait.recv().map_err(|_| StoreError::LogClosed)
    }

    /// The log's counters.
    pub fn stats(&self) -> &LogStats {
        &self.stats
    }

    /// Stops accepting records, writes what is queued and stops the writer.
    pub fn close(&self) {
        {
            let mut pending = self.queue.pending.lock();
            pending.closed = true;
            self.queue.work.notify_one();
        }
        if let Some(writer) = self.writer.lock().take() {
            let _ = writer.join();
        }
    }
}

impl Drop for DecisionLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn run_writer(store: &dyn DecisionStore, queue: &Queue, stats: &LogStats) {
    loop {
        let mut pending = queue.pending.lock();
        while pending.batches.is_empty() && pending.flushes.is_empty() && !pending.closed {
            queue.work.wait_for(&mut pending, Duration::from_secs(1));
        }
        // Gather for a few milliseconds: one write per batch costs far less than one per
        // request, and the records were acknowledged already.
        let gather_until = Instant::now() + GATHER;
        while pending.records < MAX_BATCH && pending.flushes.is_empty() && !pending.closed {
            if queue
                .work
                .wait_until(&mut pending, gather_until)
                .timed_out()
            {
                break;
            }
        }
        let batches = std::mem::take(&mut pending.batches);
        let flushes = std::mem::take(&mut pending.flushes);
        let closed = pending.closed;
        pending.records = 0;
        drop(pending);
        queue.room.notify_all();
        let written = write_batches(store, batches, stats);
        keep_spares(queue, written);
        for done in flushes {
            let _ = done.send(());
        }
        if closed && queue.pending.lock().batches.is_empty() {
            return;
        }
    }
}

/// Keeps written batches for reuse, up to a limit.
fn keep_spares(queue: &Queue, mut written: Vec<LogBatch>) {
    written.retain(|batch| batch.capacity_bytes() <= SPARE_BATCH_BYTES);
    let mut spare = queue.spare.lock();
    let room = SPARE_BATCHES.saturating_sub(spare.len());
    written.truncate(room);
    spare.append(&mut written);
}

/// Writes `batches` (retrying), and gives them back for reuse.
fn write_batches(
    store: &dyn DecisionStore,
    batches: Vec<LogBatch>,
    stats: &LogStats,
) -> Vec<LogBatch> {
    if batches.is_empty() {
        return batches;
    }
    let count = batches.iter().map(LogBatch::len).sum::<usize>() as u64;
    for attempt in 1..=WRITE_ATTEMPTS {
        match store.append_decisions(&batches) {
            Ok(()) => {
                stats.written.fetch_add(count, Ordering::Relaxed);
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats.queued.fetch_sub(count, Ordering::Relaxed);
                return batches;
            }
            Err(error) => {
                let retryable = error.is_retryable();
                tracing::error!(attempt, records = count, retryable, error = %error, "decision log write failed");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    tracing::error!(
        records = count,
        "decision log gave up on a batch after repeated failures"
    );
    stats.failed.fetch_add(count, Ordering::Relaxed);
    stats.queued.fetch_sub(count, Ordering::Relaxed);
    batches
}
