//! The decision log's writer: decisions are queued by the request path and written by one
//! thread in batches.
//!
//! # Durability
//! An acknowledged decision is in memory, queued for the writer. It reaches the store with the
//! next batch, which the writer gathers for at most about 10 ms after the batch's first record
//! was queued. The embedded store appends a batch to its segment files with one `write` and,
//! unless `decision_log_fsync` is off, one `fdatasync` before the batch counts as written. A
//! process crash loses what is queued and not yet written. [`DecisionLog::flush`] waits until
//! everything queued before it is written. When the queue is full, `append` blocks: the log
//! slows the caller rather than drop records.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use shopguard_core::ActionTaken;

use crate::{AlertRecord, DecisionRecord, LogEntry, Store, StoreError, StoreResult};

/// Most records written in one transaction.
pub const MAX_BATCH: usize = 8_192;
/// How long the writer gathers records before writing a batch.
const GATHER: Duration = Duration::from_millis(10);
/// Attempts to write a batch before it is given up (and counted as failed).
const WRITE_ATTEMPTS: u32 = 50;

enum Message {
    Record(Box<LogEntry>),
    Flush(mpsc::Sender<()>),
}

/// Why [`DecisionLog::try_append`] did not queue a record.
#[derive(Debug)]
pub enum TryAppendError {
    /// The queue is full; here is the record back.
    Full(Box<LogEntry>),
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

/// Handle to the log writer. Dropping it (or [`DecisionLog::close`]) drains the queue.
pub struct DecisionLog {
    sender: Mutex<Option<SyncSender<Message>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<LogStats>,
}

impl std::fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionLog")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Alerts raised by a decision's actions.
pub fn alerts_of(record: &DecisionRecord) -> Vec<AlertRecord> {
    record
        .decision
        .actions
        .iter()
        .filter_map(|action| match action {
            ActionTaken::Alert {
                severity,
                rule_id,
                message,
            } => Some(AlertRecord {
                seq: 0,
                created_at_ms: record.decision.occurred_at_ms,
                severity: severity.as_str().to_owned(),
                rule_id: rule_id.clone(),
                decision_id: record.decision.decision_id.clone(),
                user_id: record.decision.user_id.clone(),
                ip: record.event.ip.map(|ip| ip.to_string()),
                message: message.clone(),
            }),
            ActionTaken::AddedToList { .. } => None,
        })
        .collect()
}

impl DecisionLog {
    /// Starts the writer thread over `store`, with a queue of `capacity` records.
    pub fn start(store: Arc<dyn Store>, capacity: usize) -> DecisionLog {
        let (sender, receiver) = mpsc::sync_channel(capacity.max(1));
        let stats = Arc::new(LogStats::default());
        let writer_stats = stats.clone();
        let writer = std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || run_writer(store.as_ref(), &receiver, &writer_stats))
            .ok();
        DecisionLog {
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(writer),
            stats,
        }
    }

    fn sender(&self) -> StoreResult<SyncSender<Message>> {
        self.sender.lock().clone().ok_or(StoreError::LogClosed)
    }

    /// Queues a record; blocks while the queue is full.
    pub fn append(&self, record: LogEntry) -> StoreResult<()> {
        let sender = self.sender()?;
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        sender.send(Message::Record(Box::new(record))).map_err(|_| {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            StoreError::LogClosed
        })
    }

    /// Queues a record if there is room. When the queue is full the record comes back, to be
    /// passed to [`DecisionLog::append`] on a thread that may block.
    pub fn try_append(&self, record: LogEntry) -> Result<(), TryAppendError> {
        let Ok(sender) = self.sender() else {
            return Err(TryAppendError::Closed);
        };
        match sender.try_send(Message::Record(Box::new(record))) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::TrySendError::Full(Message::Record(record))) => {
                Err(TryAppendError::Full(record))
            }
            Err(_) => Err(TryAppendError::Closed),
        }
    }

    /// Waits until every record queued before this call is committed.
    pub fn flush(&self) -> StoreResult<()> {
        let (done, wait) = mpsc::channel();
        self.sender()?
            .send(Message::Flush(done))
            .map_err(|_| StoreError::LogClosed)?;
        wait.recv().map_err(|_| StoreError::LogClosed)
    }

    /// The log's counters.
    pub fn stats(&self) -> &LogStats {
        &self.stats
    }

    /// Stops accepting records, writes what is queued and stops the writer.
    pub fn close(&self) {
        self.sender.lock().take();
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

fn run_writer(store: &dyn Store, receiver: &Receiver<Message>, stats: &LogStats) {
    let mut records = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    loop {
        match receiver.recv_timeout(Duration::from_secs(1)) {
            Ok(message) => accept(message, &mut records, &mut flushes),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // Gather for a few milliseconds: one transaction per batch costs far less than one
        // per record, and the records were acknowledged already.
        let gather_until = Instant::now() + GATHER;
        while records.len() < MAX_BATCH && flushes.is_empty() {
            match receiver.try_recv() {
                Ok(message) => accept(message, &mut records, &mut flushes),
                Err(_) if Instant::now() < gather_until => {
                    std::thread::sleep(Duration::from_micros(500))
                }
                Err(_) => break,
            }
        }
        write_batch(store, &mut records, stats);
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
    write_batch(store, &mut records, stats);
}

fn accept(message: Message, records: &mut Vec<LogEntry>, flushes: &mut Vec<mpsc::Sender<()>>) {
    match message {
        Message::Record(record) => records.push(*record),
        Message::Flush(done) => flushes.push(done),
    }
}

fn write_batch(store: &dyn Store, records: &mut Vec<LogEntry>, stats: &LogStats) {
    if records.is_empty() {
        return;
    }
    let alerts: Vec<AlertRecord> = records
        .iter()
        .flat_map(|entry| alerts_of(&entry.record))
        .collect();
    let count = records.len() as u64;
    for attempt in 1..=WRITE_ATTEMPTS {
        match store.append_decisions(records, &alerts) {
            Ok(()) => {
                stats.written.fetch_add(count, Ordering::Relaxed);
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats.queued.fetch_sub(count, Ordering::Relaxed);
                records.clear();
                return;
            }
            Err(error) => {
                tracing::error!(attempt, records = count, error = %error, "decision log write failed");
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
    records.clear();
}
