//! The decision log's writer: decisions are queued by the request path and written by one
//! thread in batches.
//!
//! Each request hands over its decisions already encoded, as one [`LogBatch`]; the writer
//! appends the bytes of every batch queued within a few milliseconds in one write.
//!
//! # Durability
//! A batch is queued in one of two ways:
//! - **With a receipt** ([`DecisionLog::try_append_durable`], [`DecisionLog::append_durable`]):
//!   the caller awaits the [`Receipt`], which completes once the store has written the batch
//!   (the embedded store: one `write` and one `fdatasync`; PostgreSQL: the transaction
//!   committed), or fails when the writer gave up on it. The writer does not gather while a
//!   receipt waits: it takes everything queued as soon as its previous write returned, so the
//!   batches that arrive during one `fdatasync` share the next one (group commit).
//! - **Without** ([`DecisionLog::try_append`], [`DecisionLog::append`]): the record is only in
//!   memory when the call returns. The writer gathers such batches for at most about 10 ms
//!   after the first was queued, and a process crash loses what is queued and not yet
//!   written.
//!
//! [`DecisionLog::flush`] waits until everything queued before it is written. When the queue is
//! full, `append` blocks: the log slows the caller rather than drop records.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use crate::keyring::Keyring;
use crate::{DecisionStore, LogBatch, StoreError, StoreResult};

/// Most records written in one transaction (a request's batch is never split, so one write
/// may hold a little more).
pub const MAX_BATCH: usize = 8_192;
/// How long the writer gathers records before writing a batch.
const GATHER: Duration = Duration::from_millis(10);
/// Attempts to write a batch before it is given up (and counted as failed): about five
/// seconds, 100 ms apart (three in this module's tests).
const WRITE_ATTEMPTS: u32 = if cfg!(test) { 3 } else { 50 };
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

/// Why a batch queued with a receipt was not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NotWritten {
    /// The writer gave up after repeated failures.
    GaveUp,
}

/// The writer's end of a [`Receipt`].
type ReceiptSender = oneshot::Sender<Result<(), NotWritten>>;

/// Completes once the batch it was handed out for is written, or the writer gave up on it.
/// Await it with [`Receipt::written`] on an async thread (it does not block the thread), or
/// [`Receipt::written_blocking`] elsewhere.
#[derive(Debug)]
#[must_use = "a receipt only tells something when it is awaited"]
pub struct Receipt(oneshot::Receiver<Result<(), NotWritten>>);

impl Receipt {
    /// Waits until the batch is written: `Ok` once it is on disk (committed, on PostgreSQL);
    /// [`StoreError::NotLogged`] when the writer gave up on it; [`StoreError::LogClosed`] when
    /// the writer stopped without an answer.
    pub async fn written(self) -> StoreResult<()> {
        Self::outcome(self.0.await)
    }

    /// [`Receipt::written`] for threads that may block (never an async runtime's thread).
    pub fn written_blocking(self) -> StoreResult<()> {
        Self::outcome(self.0.blocking_recv())
    }

    fn outcome(
        received: Result<Result<(), NotWritten>, oneshot::error::RecvError>,
    ) -> StoreResult<()> {
        match received {
            Ok(Ok(())) => Ok(()),
            Ok(Err(NotWritten::GaveUp)) => Err(StoreError::NotLogged),
            Err(_) => Err(StoreError::LogClosed),
        }
    }
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
    /// Receipts of batches in `batches`, completed after the write that takes them.
    receipts: Vec<ReceiptSender>,
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
    /// that one larger than the capacity still goes through); with `receipt`, the writer
    /// completes it after the write that takes the batch.
    fn try_push(
        &self,
        batch: LogBatch,
        receipt: &mut Option<ReceiptSender>,
        stats: &LogStats,
    ) -> Result<(), TryAppendError> {
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
        // The writer waits for the first batch, and gathers more only until a receipt waits.
        let first_receipt = match receipt.take() {
            Some(receipt) => {
                pending.receipts.push(receipt);
                pending.receipts.len() == 1
            }
            None => false,
        };
        if pending.batches.len() == 1 || first_receipt {
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

    /// Queues a batch; blocks while the queue is full. The batch is only in memory when this
    /// returns.
    pub fn append(&self, batch: LogBatch) -> StoreResult<()> {
        self.push_waiting(batch, &mut None)
    }

    /// Queues a batch, blocking while the queue is full, and hands out the [`Receipt`] that
    /// completes once it is written.
    pub fn append_durable(&self, batch: LogBatch) -> StoreResult<Receipt> {
        let (sender, receiver) = oneshot::channel();
        self.push_waiting(batch, &mut Some(sender))?;
        Ok(Receipt(receiver))
    }

    /// Queues a batch if there is room, with the [`Receipt`] that completes once it is
    /// written. When the queue is full the batch comes back, to be passed to
    /// [`DecisionLog::append_durable`] on a thread that may block.
    pub fn try_append_durable(&self, batch: LogBatch) -> Result<Receipt, TryAppendError> {
        let (sender, receiver) = oneshot::channel();
        self.queue
            .try_push(batch, &mut Some(sender), &self.stats)
            .map(|()| Receipt(receiver))
    }

    /// Queues a batch, blocking while the queue is full; the writer completes `receipt`, if
    /// any, after the write that takes the batch.
    fn push_waiting(
        &self,
        mut batch: LogBatch,
        receipt: &mut Option<ReceiptSender>,
    ) -> StoreResult<()> {
        loop {
            match self.queue.try_push(batch, receipt, &self.stats) {
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
        self.queue.try_push(batch, &mut None, &self.stats)
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
        // request, and queued records were acknowledged already. A caller waiting for its
        // receipt ends the gathering: what arrived during the last write is written at once,
        // and what arrives during this one waits for the next (group commit).
        let gather_until = Instant::now() + GATHER;
        while pending.records < MAX_BATCH
            && pending.flushes.is_empty()
            && pending.receipts.is_empty()
            && !pending.closed
        {
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
        let receipts = std::mem::take(&mut pending.receipts);
        let closed = pending.closed;
        pending.records = 0;
        drop(pending);
        queue.room.notify_all();
        let (written, outcome) = write_batches(store, batches, stats);
        for receipt in receipts {
            // A caller that stopped waiting (its connection closed) dropped its end.
            let _ = receipt.send(outcome);
        }
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

/// Writes `batches` (retrying), and gives them back for reuse with whether they were
/// written.
fn write_batches(
    store: &dyn DecisionStore,
    batches: Vec<LogBatch>,
    stats: &LogStats,
) -> (Vec<LogBatch>, Result<(), NotWritten>) {
    if batches.is_empty() {
        return (batches, Ok(()));
    }
    let count = batches.iter().map(LogBatch::len).sum::<usize>() as u64;
    for attempt in 1..=WRITE_ATTEMPTS {
        match store.append_decisions(&batches) {
            Ok(()) => {
                stats.written.fetch_add(count, Ordering::Relaxed);
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats.queued.fetch_sub(count, Ordering::Relaxed);
                return (batches, Ok(()));
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
    (batches, Err(NotWritten::GaveUp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AlertRecord, DecisionQuery, DecisionRecord};

    /// A store whose appends fail or succeed as told, counting the calls.
    struct Switchable {
        fail: std::sync::atomic::AtomicBool,
        appends: AtomicU64,
        /// How long each append takes, in ms.
        delay_ms: AtomicU64,
    }

    impl DecisionStore for Switchable {
        fn append_decisions(&self, _batches: &[LogBatch]) -> StoreResult<()> {
            self.appends.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(self.delay_ms.load(Ordering::SeqCst)));
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::Io {
                    operation: "appending to the test store",
                    source: std::io::Error::other("disk full"),
                });
            }
            Ok(())
        }
        fn decision(&self, _decision_id: &str) -> StoreResult<Option<DecisionRecord>> {
            Ok(None)
        }
        fn query_decisions(&self, _query: &DecisionQuery) -> StoreResult<Vec<DecisionRecord>> {
            Ok(Vec::new())
        }
        fn count_decisions(&self, _query: &DecisionQuery, _cap: u64) -> StoreResult<(u64, bool)> {
            Ok((0, false))
        }
        fn query_alerts(
            &self,
            _from_ms: Option<i64>,
            _to_ms: Option<i64>,
            _limit: u32,
        ) -> StoreResult<Vec<AlertRecord>> {
            Ok(Vec::new())
        }
        fn purge_decisions_before(&self, _cutoff_ms: i64) -> StoreResult<usize> {
            Ok(0)
        }
        fn decision_count(&self) -> StoreResult<u64> {
            Ok(0)
        }
        fn reencrypt_decisions(&self, _progress: &mut dyn FnMut(usize, usize)) -> StoreResult<u64> {
            Ok(0)
        }
    }

    fn switchable(fail: bool) -> Arc<Switchable> {
        Arc::new(Switchable {
            fail: std::sync::atomic::AtomicBool::new(fail),
            appends: AtomicU64::new(0),
            delay_ms: AtomicU64::new(0),
        })
    }

    #[test]
    fn a_receipt_completes_after_the_write_and_reports_a_batch_given_up() {
        let store = switchable(false);
        let log = DecisionLog::start(store.clone(), None, 100);
        let receipt = log.append_durable(log.batch(1)).unwrap();
        receipt.written_blocking().unwrap();
        assert_eq!(
            store.appends.load(Ordering::SeqCst),
            1,
            "written before the receipt"
        );

        store.fail.store(true, Ordering::SeqCst);
        let receipt = match log.try_append_durable(log.batch(1)) {
            Ok(receipt) => receipt,
            Err(_) => panic!("an empty queue takes a batch"),
        };
        assert!(matches!(
            receipt.written_blocking(),
            Err(StoreError::NotLogged)
        ));
        assert_eq!(
            log.stats().failed.load(Ordering::SeqCst),
            0,
            "empty batches"
        );
        assert_eq!(
            store.appends.load(Ordering::SeqCst),
            1 + u64::from(WRITE_ATTEMPTS)
        );

        // The writer goes on after giving up: the next batch is written and acknowledged.
        store.fail.store(false, Ordering::SeqCst);
        log.append_durable(log.batch(1))
            .unwrap()
            .written_blocking()
            .unwrap();
        log.close();
        assert!(matches!(
            log.append_durable(log.batch(1)),
            Err(StoreError::LogClosed)
        ));
    }

    #[test]
    fn receipts_queued_during_a_write_share_the_next_one() {
        let store = switchable(false);
        store.delay_ms.store(200, Ordering::SeqCst);
        let log = DecisionLog::start(store.clone(), None, 100);
        let first = log.append_durable(log.batch(1)).unwrap();
        // Once the writer is inside the first write, three more callers queue theirs.
        while store.appends.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let more: Vec<Receipt> = (0..3)
            .map(|_| log.append_durable(log.batch(1)).unwrap())
            .collect();
        first.written_blocking().unwrap();
        for receipt in more {
            receipt.written_blocking().unwrap();
        }
        assert_eq!(
            store.appends.load(Ordering::SeqCst),
            2,
            "one write for the first batch, one for the three queued during it"
        );
        log.close();
    }
}
