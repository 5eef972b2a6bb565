//! The decision log on disk: append-only segment files, each with a sorted entity index.
//!
//! # Layout of `<data>/decisions/`
//! Segments are numbered from 1, as 16 hex digits; numbers grow with time.
//! - `NNNN.log`: frames ([`crate::frames`]), one per decision. A payload is the event's time
//!   (`i64` LE, ms since epoch) followed by the record in its binary form
//!   ([`crate::record_format`]; logs written before it hold `{"decision":…,"event":…}` JSON
//!   there, which is still read).
//! - `NNNN.idx`, written once when the segment is sealed (it reached the size limit, or a
//!   retention purge needed it closed): a header (magic `SGDIDX01`, the log's length, record
//!   count, earliest and latest event time, entry count), a fan-out table of 4,096 cumulative
//!   counts by the top 12 bits of the hash, a CRC-32 of all that, then the entries
//!   `(hash u64, record offset u64)` sorted, then every record's offset in log order.
//!
//! Every record is indexed under four 64-bit keys, each an xxh3 hash of the text seeded by
//! what it is: its decision id, its user, its IP and its device (the last two when present).
//! Readers decode the record and compare the real values, so a hash collision can never
//! return another entity's decisions.
//!
//! # Invariants
//! - Only the newest segment is written, and only by whole frames. At open, its frames are
//!   read back and a torn tail (a crash in the middle of a write) is cut off.
//! - A sealed segment's index is trusted only when its header checksum holds and it records
//!   the log's current length; otherwise it is rebuilt from the log.
//! - Readers see a record once its batch is written: the in-memory index of the open segment
//!   is extended after the write returns.
//!
//! # Costs
//! Appending is one `write` (and, by default, one `fdatasync`) per batch plus four hash
//! computations per record: no per-record tree update. A lookup costs one small read per
//! sealed segment whose time range overlaps the query, plus a scan of the open segment's
//! in-memory index. Retention deletes whole segments, and rewrites the one segment that
//! straddles the cut-off.

use std::fs::{self, File};
use std::io::{IoSlice, Write};
use std::net::IpAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::files::{io, open_append, sync_folder};
use crate::frames::{self, FrameError, ScanEnd};
use crate::keyring::Keyring;
use crate::log_batch::LogBatch;
use crate::record_format::{decode_record, encode_record_with_contacts, Contacts};
use crate::{DecisionQuery, DecisionRecord, RecordRef, StoreError, StoreResult};
use shopguard_core::privacy::{for_each_personal_field, has_personal_attrs, has_personal_values};
use shopguard_core::{Decision, Event};

/// Settings of the segment files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentSettings {
    /// A segment is sealed once it holds this many bytes.
    pub segment_bytes: u64,
    /// Whether each appended batch is flushed to the disk (`fdatasync`) before `append`
    /// returns. Without it, a power loss can lose batches the operating system had not yet
    /// written; a process crash cannot.
    pub sync_each_batch: bool,
}

impl Default for SegmentSettings {
    fn default() -> Self {
        SegmentSettings {
            segment_bytes: 128 * 1024 * 1024,
            sync_each_batch: true,
        }
    }
}

const INDEX_MAGIC: &[u8; 8] = b"SGDIDX01";
const FANOUT: usize = 4_096;
const FANOUT_SHIFT: u32 = 52;
/// Magic, log length, records, earliest, latest, entries, fan-out table.
const INDEX_FIXED: usize = 8 + 8 * 5 + FANOUT * 4;
/// The fixed part plus its checksum.
const INDEX_HEADER: usize = INDEX_FIXED + 4;
const ENTRY: usize = 16;

/// What a record is indexed by; its tag seeds the hash.
#[derive(Clone, Copy, Debug)]
enum Key {
    Decision,
    User,
    Ip,
    Device,
}

impl Key {
    /// The tag that seeds the key's hash, written into every sealed index: a stored code,
    /// never changed (a new key takes the next number; pinned by a test).
    fn tag(self) -> u64 {
        match self {
            Key::Decision => 1,
            Key::User => 2,
            Key::Ip => 3,
            Key::Device => 4,
        }
    }
}

fn key_hash(key: Key, text: &str) -> u64 {
    xxh3_64_with_seed(text.as_bytes(), key.tag())
}

/// The index keys of one record: its decision id, user, and IP and device when present.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordKeys {
    hashes: [u64; 4],
    count: u8,
}

impl RecordKeys {
    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.hashes[..usize::from(self.count)].iter().copied()
    }
}

/// The index keys of a record.
pub(crate) fn keys_of(record: RecordRef<'_>) -> RecordKeys {
    let mut keys = RecordKeys {
        hashes: [0; 4],
        count: 2,
    };
    keys.hashes[0] = key_hash(Key::Decision, &record.decision.decision_id);
    keys.hashes[1] = key_hash(Key::User, &record.decision.user_id);
    if let Some(ip) = record.event.ip {
        // An address's text is at most 45 bytes: it is written on the stack.
        let mut text = [0u8; 64];
        if let Some(length) = ip_text(ip, &mut text) {
            keys.hashes[2] = xxh3_64_with_seed(&text[..length], Key::Ip.tag());
            keys.count = 3;
        }
    }
    if let Some(device) = record.event.device_id.as_deref() {
        keys.hashes[usize::from(keys.count)] = key_hash(Key::Device, device);
        keys.count += 1;
    }
    keys
}

/// Writes `ip` as `Display` spells it into `out`; returns its length (`None` only if `out` is
/// too short). IPv4 addresses, the usual case, are spelled by hand: the formatting machinery
/// took a tenth of the request path's log work.
fn ip_text(ip: IpAddr, out: &mut [u8]) -> Option<usize> {
    match ip {
        IpAddr::V4(v4) => {
            let mut length = 0;
            for (index, octet) in v4.octets().into_iter().enumerate() {
                if index > 0 {
                    *out.get_mut(length)? = b'.';
                    length += 1;
                }
                // Hundreds and tens only when the octet has them (no leading zeros).
                let digits = [(octet >= 100, octet / 100), (octet >= 10, octet / 10 % 10)];
                for digit in digits
                    .into_iter()
                    .filter_map(|(present, digit)| present.then_some(digit))
                    .chain([octet % 10])
                {
                    *out.get_mut(length)? = b'0' + digit;
                    length += 1;
                }
            }
            Some(length)
        }
        IpAddr::V6(_) => {
            let mut cursor = std::io::Cursor::new(out);
            write!(cursor, "{ip}").ok()?;
            Some(cursor.position() as usize)
        }
    }
}

/// Encodes a record's payload: the event time, then the record in its binary form with, given
/// `sealer`, the event's personal fields encrypted.
pub(crate) fn encode_payload(
    out: &mut Vec<u8>,
    record: RecordRef<'_>,
    sealer: Option<&Keyring>,
) -> StoreResult<()> {
    out.extend_from_slice(&record.decision.occurred_at_ms.to_le_bytes());
    match sealer {
        Some(keyring) if has_personal_values(record.event) => {
            let active = keyring.active_id();
            if !has_personal_attrs(record.event) {
                // The usual case: only the email and the phone are personal, and their
                // sealed forms are written in their place, without copying the event (the
                // test `only_the_email_and_the_phone_are_typed_personal_fields` holds the
                // privacy module to that).
                let seal = |value: &Option<String>| match value {
                    Some(text) => resealed(keyring, active, text),
                    None => Ok(None),
                };
                let (email, phone) = (seal(&record.event.email)?, seal(&record.event.phone)?);
                let contacts = Contacts {
                    email: email.as_deref(),
                    phone: phone.as_deref(),
                };
                return encode_body(out, record.decision, record.event, contacts);
            }
            // A copy of the event with its personal values sealed.
            let mut sealed = record.event.clone();
            reseal_personal_fields(&mut sealed, keyring, active)?;
            encode_body(out, record.decision, &sealed, Contacts::default())
        }
        _ => encode_body(out, record.decision, record.event, Contacts::default()),
    }
}

/// Appends a record's bytes (what follows the time prefix) as they are given.
fn encode_body(
    out: &mut Vec<u8>,
    decision: &Decision,
    event: &Event,
    contacts: Contacts<'_>,
) -> StoreResult<()> {
    encode_record_with_contacts(out, decision, event, contacts).map_err(|error| {
        StoreError::Corrupt {
            operation: "encoding a decision record",
            detail: error.to_string(),
        }
    })
}

/// Decodes a record's payload as it is stored (personal fields still sealed).
pub(crate) fn decode_payload(payload: &[u8]) -> StoreResult<DecisionRecord> {
    decode(split_payload(payload)?.1)
}

fn frame_error(operation: &'static str) -> impl FnOnce(FrameError) -> StoreError {
    move |error| match error {
        FrameError::Io(source) => StoreError::Io { operation, source },
        FrameError::Bad { offset, reason } => StoreError::Corrupt {
            operation,
            detail: format!("decision log frame at byte {offset}: {reason}"),
        },
    }
}

fn log_path(folder: &Path, id: u64) -> PathBuf {
    folder.join(format!("{id:016x}.log"))
}

fn index_path(folder: &Path, id: u64) -> PathBuf {
    folder.join(format!("{id:016x}.idx"))
}

/// Splits a payload into the event time and the record's bytes.
fn split_payload(payload: &[u8]) -> StoreResult<(i64, &[u8])> {
    if payload.len() < 8 {
        return Err(StoreError::Corrupt {
            operation: "reading the decision log",
            detail: "record shorter than its time prefix".into(),
        });
    }
    let (time, body) = payload.split_at(8);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(time);
    Ok((i64::from_le_bytes(bytes), body))
}

fn decode(body: &[u8]) -> StoreResult<DecisionRecord> {
    decode_record(body).map_err(|error| StoreError::Corrupt {
        operation: "decoding a logged decision",
        detail: error.to_string(),
    })
}

/// Writes every byte of `slices` to `file`, in as few `writev` calls as the kernel allows.
fn write_all_vectored(mut file: &File, slices: &[&[u8]]) -> std::io::Result<()> {
    // The kernel takes at most IOV_MAX (1,024) slices per call.
    for group in slices.chunks(1_024) {
        let mut io_slices: Vec<IoSlice<'_>> = group
            .iter()
            .filter(|bytes| !bytes.is_empty())
            .map(|bytes| IoSlice::new(bytes))
            .collect();
        let mut remaining = &mut io_slices[..];
        while !remaining.is_empty() {
            match file.write_vectored(remaining) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(written) => IoSlice::advance_slices(&mut remaining, written),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}

/// Asks the kernel to drop the page cache of `from..to` of a file just flushed to the disk:
/// the log is written once and seldom read, and pages handed back are reused for the next
/// writes, which makes those writes cheaper than ever-new pages (see
/// `docs/benchmarks.md`). Only whole pages are dropped; failure is harmless.
fn drop_cached_pages(file: &File, from: u64, to: u64) {
    const PAGE: u64 = 4_096;
    let start = from / PAGE * PAGE;
    let end = to / PAGE * PAGE;
    if let Some(length) = std::num::NonZeroU64::new(end.saturating_sub(start)) {
        let _ = rustix::fs::fadvise(file, start, Some(length), rustix::fs::Advice::DontNeed);
    }
}

/// Time range and counts of a run of records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    earliest_ms: i64,
    latest_ms: i64,
}

impl Span {
    const EMPTY: Span = Span {
        earliest_ms: i64::MAX,
        latest_ms: i64::MIN,
    };

    fn include(&mut self, at_ms: i64) {
        self.earliest_ms = self.earliest_ms.min(at_ms);
        self.latest_ms = self.latest_ms.max(at_ms);
    }

    fn overlaps(&self, from_ms: i64, to_ms: i64) -> bool {
        self.latest_ms >= from_ms && self.earliest_ms < to_ms
    }
}

/// The in-memory index of a run of records: what the open segment keeps, and what sealing
/// writes to disk.
#[derive(Clone, Debug, Default)]
struct RunIndex {
    /// `(hash, offset)` in append order.
    entries: Vec<(u64, u64)>,
    /// Every record's offset in append order.
    offsets: Vec<u64>,
    span: Option<Span>,
}

impl RunIndex {
    fn add(&mut self, offset: u64, at_ms: i64, keys: impl Iterator<Item = u64>) {
        self.entries.extend(keys.map(|hash| (hash, offset)));
        self.offsets.push(offset);
        self.span.get_or_insert(Span::EMPTY).include(at_ms);
    }

    /// Empties the index, keeping its vectors' capacity.
    fn clear(&mut self) {
        self.entries.clear();
        self.offsets.clear();
        self.span = None;
    }

    fn extend(&mut self, other: RunIndex) {
        self.entries.extend(other.entries);
        self.offsets.extend(other.offsets);
        if let Some(span) = other.span {
            let mine = self.span.get_or_insert(Span::EMPTY);
            mine.include(span.earliest_ms);
            mine.include(span.latest_ms);
        }
    }

    /// Offsets of the records under `hash` (or all), newest first.
    fn newest_first(&self, hash: Option<u64>) -> Vec<u64> {
        match hash {
            Some(hash) => self
                .entries
                .iter()
                .rev()
                .filter(|entry| entry.0 == hash)
                .map(|entry| entry.1)
                .collect(),
            None => self.offsets.iter().rev().copied().collect(),
        }
    }

    /// Reads a segment's log from the start to rebuild its index; returns it with the offset
    /// where the good data ends and how the read ended.
    fn rebuild(log: &File) -> StoreResult<(RunIndex, u64, ScanEnd)> {
        let mut index = RunIndex::default();
        let mut end = 0u64;
        let scan = frames::scan_frames(log, |offset, payload| {
            let (at_ms, body) = split_payload(payload).map_err(|_| FrameError::Bad {
                offset,
                reason: "record shorter than its time prefix",
            })?;
            let record = decode(body).map_err(|_| FrameError::Bad {
                offset,
                reason: "record is not a decision",
            })?;
            index.add(offset, at_ms, keys_of(record.as_ref()).iter());
            end = offset + (frames::HEADER + payload.len()) as u64;
            Ok(())
        })
        .map_err(frame_error("rebuilding a decision log index"))?;
        Ok((index, end, scan))
    }
}

/// A sealed segment: its log and index files, open, with the index header in memory.
#[derive(Debug)]
struct SealedSegment {
    id: u64,
    log: File,
    index: File,
    log_bytes: u64,
    records: u64,
    entries: u64,
    span: Span,
    fanout: Vec<u32>,
}

impl SealedSegment {
    /// Opens a sealed segment, rebuilding its index when it is missing or stale.
    fn open(folder: &Path, id: u64) -> StoreResult<SealedSegment> {
        let log = File::open(log_path(folder, id)).map_err(io("opening a decision segment"))?;
        let log_bytes = log
            .metadata()
            .map_err(io("opening a decision segment"))?
            .len();
        if let Some(segment) = Self::load_index(folder, id, &log, log_bytes)? {
            return Ok(segment);
        }
        tracing::warn!(segment = id, "rebuilding a decision segment index");
        let (mut index, end, scan) = RunIndex::rebuild(&log)?;
        if let ScanEnd::BadFrameAt { offset, reason } = scan {
            tracing::error!(
                segment = id,
                offset,
                reason,
                "sealed decision segment is damaged; records after the damage are not indexed"
            );
        }
        sort_entries(&mut index);
        write_index(folder, id, end.max(log_bytes), &index)?;
        drop(log);
        Self::open(folder, id)
    }

    fn load_index(
        folder: &Path,
        id: u64,
        log: &File,
        log_bytes: u64,
    ) -> StoreResult<Option<SealedSegment>> {
        let Ok(index) = File::open(index_path(folder, id)) else {
            return Ok(None);
        };
        let mut header = vec![0u8; INDEX_HEADER];
        if index.read_exact_at(&mut header, 0).is_err()
            || &header[..8] != INDEX_MAGIC
            || crc32fast::hash(&header[..INDEX_FIXED]).to_le_bytes() != header[INDEX_FIXED..]
        {
            return Ok(None);
        }
        let word = |at: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&header[at..at + 8]);
            u64::from_le_bytes(bytes)
        };
        let (indexed_log_bytes, records, earliest, latest, entries) =
            (word(8), word(16), word(24), word(32), word(40));
        let expected_length = INDEX_HEADER as u64 + entries * ENTRY as u64 + records * 8;
        let index_bytes = index
            .metadata()
            .map_err(io("opening a decision index"))?
            .len();
        if indexed_log_bytes != log_bytes || index_bytes != expected_length {
            return Ok(None);
        }
        let fanout = header[48..INDEX_FIXED]
            .chunks_exact(4)
            .map(|chunk| u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect();
        Ok(Some(SealedSegment {
            id,
            log: log.try_clone().map_err(io("opening a decision segment"))?,
            index,
            log_bytes,
            records,
            entries,
            span: Span {
                earliest_ms: earliest as i64,
                latest_ms: latest as i64,
            },
            fanout,
        }))
    }

    /// Offsets of the records under `hash` (or all), newest first.
    fn newest_first(&self, hash: Option<u64>) -> StoreResult<Vec<u64>> {
        let operation = "reading a decision index";
        match hash {
            Some(hash) => {
                let bucket = (hash >> FANOUT_SHIFT) as usize;
                let start = if bucket == 0 {
                    0
                } else {
                    self.fanout[bucket - 1]
                };
                let end = self.fanout[bucket];
                let mut bytes = vec![0u8; (end.saturating_sub(start)) as usize * ENTRY];
                self.index
                    .read_exact_at(
                        &mut bytes,
                        INDEX_HEADER as u64 + u64::from(start) * ENTRY as u64,
                    )
                    .map_err(io(operation))?;
                let mut offsets: Vec<u64> = bytes
                    .chunks_exact(ENTRY)
                    .filter(|entry| entry[..8] == hash.to_le_bytes())
                    .map(|entry| {
                        let mut offset = [0u8; 8];
                        offset.copy_from_slice(&entry[8..]);
                        u64::from_le_bytes(offset)
                    })
                    .collect();
                offsets.reverse();
                Ok(offsets)
            }
            None => {
                let mut bytes = vec![0u8; self.records as usize * 8];
                self.index
                    .read_exact_at(
                        &mut bytes,
                        INDEX_HEADER as u64 + self.entries * ENTRY as u64,
                    )
                    .map_err(io(operation))?;
                let mut offsets: Vec<u64> = bytes
                    .chunks_exact(8)
                    .map(|chunk| {
                        let mut offset = [0u8; 8];
                        offset.copy_from_slice(chunk);
                        u64::from_le_bytes(offset)
                    })
                    .collect();
                offsets.reverse();
                Ok(offsets)
            }
        }
    }
}

/// Puts an index's entries in `(hash, offset)` order, as [`write_index`] needs them.
fn sort_entries(index: &mut RunIndex) {
    index.entries.sort_unstable();
}

/// Writes the index of segment `id` (through a temporary file and a rename); its entries must
/// be sorted ([`sort_entries`]).
fn write_index(folder: &Path, id: u64, log_bytes: u64, index: &RunIndex) -> StoreResult<()> {
    let operation = "writing a decision index";
    debug_assert!(
        index.entries.is_sorted(),
        "index entries must be sorted first"
    );
    let entries = &index.entries;
    let span = index.span.unwrap_or(Span {
        earliest_ms: 0,
        latest_ms: 0,
    });
    let mut fanout = vec![0u32; FANOUT];
    for (hash, _) in entries {
        fanout[(hash >> FANOUT_SHIFT) as usize] += 1;
    }
    let mut running = 0u32;
    for count in &mut fanout {
        running += *count;
        *count = running;
    }
    let mut header = Vec::with_capacity(INDEX_HEADER);
    header.extend_from_slice(INDEX_MAGIC);
    for word in [
        log_bytes,
        index.offsets.len() as u64,
        span.earliest_ms as u64,
        span.latest_ms as u64,
        entries.len() as u64,
    ] {
        header.extend_from_slice(&word.to_le_bytes());
    }
    for count in &fanout {
        header.extend_from_slice(&count.to_le_bytes());
    }
    let checksum = crc32fast::hash(&header);
    header.extend_from_slice(&checksum.to_le_bytes());
    // The entries and offsets go to the file through a buffer rather than into one vector of
    // the whole index: an index of a full segment is some megabytes, and a fresh vector of
    // that size costs a page fault per page (2% of the server's time at 250,000 events/s).
    let temporary = folder.join(format!("{id:016x}.idx.tmp"));
    let file = File::create(&temporary).map_err(io(operation))?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let mut write = |bytes: &[u8]| out.write_all(bytes).map_err(io(operation));
    write(&header)?;
    for (hash, offset) in entries {
        write(&hash.to_le_bytes())?;
        write(&offset.to_le_bytes())?;
    }
    for offset in &index.offsets {
        write(&offset.to_le_bytes())?;
    }
    let file = out
        .into_inner()
        .map_err(|error| io(operation)(error.into_error()))?;
    file.sync_all().map_err(io(operation))?;
    fs::rename(&temporary, index_path(folder, id)).map_err(io(operation))?;
    sync_folder(folder, "syncing the decision log folder")
}

/// The open segment as readers see it.
#[derive(Debug)]
struct OpenSegment {
    id: u64,
    log: Arc<File>,
    index: RunIndex,
}

#[derive(Debug)]
struct Segments {
    sealed: Vec<Arc<SealedSegment>>,
    open: OpenSegment,
}

/// The appending side: the open segment's file and its length.
#[derive(Debug)]
struct Appender {
    file: File,
    length: u64,
}

/// Where records of one segment are read from, for a query.
enum Source {
    Open(Arc<File>, Vec<u64>),
    Sealed(Arc<SealedSegment>),
}

/// The decision log's files. Appends come from one writer at a time (the log writer
/// thread); reads may run beside them. One process at a time may open the folder: it holds
/// an exclusive lock on `LOCK` while open.
#[derive(Debug)]
pub struct DecisionSegments {
    folder: PathBuf,
    _lock: File,
    /// Encrypts personal fields at rest when set.
    keyring: Option<Arc<Keyring>>,
    /// Held by whatever rewrites sealed segments (retention, re-encryption).
    rewriting: Mutex<()>,
    settings: SegmentSettings,
    appender: Mutex<Appender>,
    segments: RwLock<Segments>,
}

impl DecisionSegments {
    /// Opens (creating when needed) the decision log in `folder`, recovering the open segment
    /// after a crash.
    pub fn open(folder: &Path, settings: SegmentSettings) -> StoreResult<DecisionSegments> {
        fs::create_dir_all(folder).map_err(io("creating the decision log folder"))?;
        let lock = File::create(folder.join("LOCK")).map_err(io("locking the decision log"))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Conflict(format!(
                "the decision log in {} is open in another process",
                folder.display()
            )));
        }
        let mut ids = Vec::new();
        for entry in fs::read_dir(folder).map_err(io("listing the decision log folder"))? {
            let entry = entry.map_err(io("listing the decision log folder"))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            } else if let Some(stem) = name.strip_suffix(".log") {
                if let Ok(id) = u64::from_str_radix(stem, 16) {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        let mut sealed = Vec::new();
        let open_id = match ids.last() {
            // A newest segment with an index was sealed before a crash that came before the
            // next one was created.
            Some(&last) if !index_path(folder, last).exists() => last,
            Some(&last) => last + 1,
            None => 1,
        };
        for &id in ids.iter().filter(|&&id| id != open_id) {
            sealed.push(Arc::new(SealedSegment::open(folder, id)?));
        }
        let path = log_path(folder, open_id);
        let file = open_append(&path, "opening the open decision segment")?;
        let (index, end, scan) = RunIndex::rebuild(&file)?;
        if let ScanEnd::BadFrameAt { offset, reason } = scan {
            tracing::warn!(
                segment = open_id,
                offset,
                reason,
                "cutting a torn write off the decision log"
            );
            // Keep what is cut off beside the log: a torn write is harmless, but damage in
            // the middle of the segment would be evidence worth keeping.
            let length = file
                .metadata()
                .map_err(io("truncating a torn decision segment"))?
                .len();
            let mut tail = vec![0u8; (length - end) as usize];
            file.read_exact_at(&mut tail, end)
                .and_then(|()| {
                    fs::write(folder.join(format!("{open_id:016x}.cut-at-{end}")), &tail)
                })
                .map_err(io("keeping the cut-off tail of a decision segment"))?;
            file.set_len(end)
                .map_err(io("truncating a torn decision segment"))?;
            file.sync_all()
                .map_err(io("truncating a torn decision segment"))?;
        }
        sync_folder(folder, "syncing the decision log folder")?;
        let reader = File::open(&path).map_err(io("opening the open decision segment"))?;
        Ok(DecisionSegments {
            folder: folder.to_owned(),
            _lock: lock,
            keyring: None,
            rewriting: Mutex::new(()),
            settings,
            appender: Mutex::new(Appender { file, length: end }),
            segments: RwLock::new(Segments {
                sealed,
                open: OpenSegment {
                    id: open_id,
                    log: Arc::new(reader),
                    index,
                },
            }),
        })
    }

    /// Encrypts personal fields (level 3 and more: phone, email, ID and card numbers, names,
    /// addresses) with `keyring` before they reach the disk, and decrypts them on reads.
    pub fn with_keyring(mut self, keyring: Arc<Keyring>) -> DecisionSegments {
        self.keyring = Some(keyring);
        self
    }

    /// The keyring that batches for this log seal personal fields with, if any.
    pub fn sealer(&self) -> Option<Arc<Keyring>> {
        self.keyring.clone()
    }

    /// Decodes a stored record, decrypting its personal fields.
    fn decode_open(&self, body: &[u8]) -> StoreResult<DecisionRecord> {
        let mut record = decode(body)?;
        if let Some(keyring) = &self.keyring {
            for_each_personal_field(&mut record.event, &mut |_, text| {
                if Keyring::key_of(text).is_some() {
                    *text = keyring.open(text)?;
                }
                Ok::<(), StoreError>(())
            })?;
        }
        Ok(record)
    }

    /// Appends batches of decisions: one vectored write, then (by default) one flush to the
    /// disk. On failure nothing of them is kept.
    pub fn append(&self, batches: &[LogBatch]) -> StoreResult<()> {
        let operation = "appending to the decision log";
        if self.keyring.is_some() && batches.iter().any(|batch| !batch.is_sealed()) {
            return Err(StoreError::Conflict(
                "this decision log encrypts personal fields: its batches must come from \
                 LogBatch::new with the store's log_sealer"
                    .into(),
            ));
        }
        let mut appender = self.appender.lock();
        let appender = &mut *appender;
        let mut added = RunIndex::default();
        let mut offset = appender.length;
        for batch in batches {
            for record in batch.records() {
                added.add(
                    offset + record.start as u64,
                    record.at_ms,
                    record.keys.iter(),
                );
            }
            offset += batch.frames().len() as u64;
        }
        let slices: Vec<&[u8]> = batches.iter().map(LogBatch::frames).collect();
        if let Err(error) = write_all_vectored(&appender.file, &slices) {
            // Cut off whatever part of the batches reached the file.
            let _ = appender.file.set_len(appender.length);
            return Err(StoreError::Io {
                operation,
                source: error,
            });
        }
        if self.settings.sync_each_batch {
            appender.file.sync_data().map_err(io(operation))?;
            drop_cached_pages(&appender.file, appender.length, offset);
        }
        appender.length = offset;
        self.segments.write().open.index.extend(added);
        if appender.length >= self.settings.segment_bytes {
            self.seal_open(appender)?;
        }
        Ok(())
    }

    /// Seals the open segment (writes its index) and starts the next one.
    fn seal_open(&self, appender: &mut Appender) -> StoreResult<()> {
        let operation = "sealing a decision segment";
        appender.file.sync_all().map_err(io(operation))?;
        // The open index is sorted in place under the write lock (queries of the open segment
        // filter it by hash, and sorting by hash then offset keeps their order). Only the
        // appender (held here) changes it, so the lock is then downgraded, and queries keep
        // seeing the open segment's records while its index is written.
        let id = {
            let mut segments = self.segments.write();
            let open = &mut segments.open;
            sort_entries(&mut open.index);
            let segments = parking_lot::RwLockWriteGuard::downgrade(segments);
            write_index(
                &self.folder,
                segments.open.id,
                appender.length,
                &segments.open.index,
            )?;
            segments.open.id
        };
        let sealed = Arc::new(SealedSegment::open(&self.folder, id)?);
        let next = id + 1;
        let path = log_path(&self.folder, next);
        let file = open_append(&path, operation)?;
        sync_folder(&self.folder, "syncing the decision log folder")?;
        let reader = File::open(&path).map_err(io(operation))?;
        appender.file = file;
        appender.length = 0;
        let mut segments = self.segments.write();
        segments.sealed.push(sealed);
        // The next segment's index reuses this one's vectors: they are already the right size
        // and their pages are already mapped, where fresh ones would fault in every page as
        // they grow (a fifth of the log writer's time).
        let mut index = std::mem::take(&mut segments.open.index);
        index.clear();
        segments.open = OpenSegment {
            id: next,
            log: Arc::new(reader),
            index,
        };
        Ok(())
    }

    /// Number of decisions stored.
    pub fn count(&self) -> u64 {
        let segments = self.segments.read();
        segments
            .sealed
            .iter()
            .map(|segment| segment.records)
            .sum::<u64>()
            + segments.open.index.offsets.len() as u64
    }

    /// The sources a query reads, newest first, skipping those outside `from..to`.
    fn sources(&self, hash: Option<u64>, from_ms: i64, to_ms: i64) -> Vec<Source> {
        let segments = self.segments.read();
        let mut sources = Vec::with_capacity(segments.sealed.len() + 1);
        let open = &segments.open.index;
        if open.span.is_some_and(|span| span.overlaps(from_ms, to_ms)) {
            sources.push(Source::Open(
                segments.open.log.clone(),
                open.newest_first(hash),
            ));
        }
        sources.extend(
            segments
                .sealed
                .iter()
                .rev()
                .filter(|segment| segment.span.overlaps(from_ms, to_ms))
                .map(|segment| Source::Sealed(segment.clone())),
        );
        sources
    }

    /// Decisions matching `query`, newest logged first.
    pub fn query(&self, query: &DecisionQuery) -> StoreResult<Vec<DecisionRecord>> {
        let limit = query.limit.clamp(1, 1_000) as usize;
        let from_ms = query.from_ms.unwrap_or(i64::MIN);
        let to_ms = query.to_ms.unwrap_or(i64::MAX);
        // The most selective key given: a device has fewer decisions than a user, a user
        // fewer than an IP (which many users may share).
        let hash = query
            .device_id
            .as_deref()
            .map(|device| key_hash(Key::Device, device))
            .or_else(|| {
                query
                    .user_id
                    .as_deref()
                    .map(|user| key_hash(Key::User, user))
            })
            .or_else(|| query.ip.as_deref().map(|ip| key_hash(Key::Ip, ip)));
        let mut found = Vec::new();
        for source in self.sources(hash, from_ms, to_ms) {
            let (log, offsets) = match &source {
                Source::Open(log, offsets) => (log.as_ref(), offsets.clone()),
                Source::Sealed(segment) => (&segment.log, segment.newest_first(hash)?),
            };
            for offset in offsets {
                let payload = frames::read_frame_at(log, offset)
                    .map_err(frame_error("querying decisions"))?;
                let (at_ms, body) = split_payload(&payload)?;
                if at_ms < from_ms || at_ms >= to_ms {
                    continue;
                }
                let record = self.decode_open(body)?;
                if matches_query(&record, query) {
                    found.push(record);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
        }
        Ok(found)
    }

    /// One decision by id.
    pub fn decision(&self, decision_id: &str) -> StoreResult<Option<DecisionRecord>> {
        let hash = Some(key_hash(Key::Decision, decision_id));
        for source in self.sources(hash, i64::MIN, i64::MAX) {
            let (log, offsets) = match &source {
                Source::Open(log, offsets) => (log.as_ref(), offsets.clone()),
                Source::Sealed(segment) => (&segment.log, segment.newest_first(hash)?),
            };
            for offset in offsets {
                let payload = frames::read_frame_at(log, offset)
                    .map_err(frame_error("reading a decision"))?;
                let record = self.decode_open(split_payload(&payload)?.1)?;
                if record.decision.decision_id == decision_id {
                    return Ok(Some(record));
                }
            }
        }
        Ok(None)
    }

    /// Deletes decisions whose event happened before `cutoff_ms`: segments wholly older are
    /// removed, a segment that straddles the cut-off is rewritten without its old records.
    /// Returns how many decisions were deleted.
    pub fn purge_before(&self, cutoff_ms: i64) -> StoreResult<usize> {
        let _rewriting = self.rewriting.lock();
        let mut appender = self.appender.lock();
        let open_has_old = self
            .segments
            .read()
            .open
            .index
            .span
            .is_some_and(|span| span.earliest_ms < cutoff_ms);
        if open_has_old {
            self.seal_open(&mut appender)?;
        }
        let sealed = self.segments.read().sealed.clone();
        let mut removed = 0u64;
        for segment in sealed
            .iter()
            .filter(|segment| segment.span.earliest_ms < cutoff_ms)
        {
            if segment.span.latest_ms < cutoff_ms {
                self.replace_sealed(segment.id, None)?;
                let _ = fs::remove_file(index_path(&self.folder, segment.id));
                fs::remove_file(log_path(&self.folder, segment.id))
                    .map_err(io("deleting an expired decision segment"))?;
                removed += segment.records;
            } else {
                let kept = self.rewrite_segment(
                    segment,
                    "rewriting a decision segment for retention",
                    &mut |at_ms, body| Ok((at_ms >= cutoff_ms).then(|| body.to_vec())),
                )?;
                removed += segment.records - kept.records;
                self.replace_sealed(segment.id, Some(Arc::new(kept)))?;
            }
        }
        sync_folder(&self.folder, "syncing the decision log folder")?;
        Ok(removed as usize)
    }

    fn replace_sealed(&self, id: u64, with: Option<Arc<SealedSegment>>) -> StoreResult<()> {
        let mut segments = self.segments.write();
        let Some(position) = segments.sealed.iter().position(|segment| segment.id == id) else {
            return Err(StoreError::NotFound(format!("decision segment {id}")));
        };
        match with {
            Some(segment) => segments.sealed[position] = segment,
            None => {
                segments.sealed.remove(position);
            }
        }
        Ok(())
    }

    /// Rewrites `segment` through `transform(event time, record bytes)`, which returns the
    /// record's new bytes or `None` to drop it; the new log and index replace the old ones
    /// (log renamed first: a crash between the two renames leaves an index that names
    /// another length, which is then rebuilt).
    fn rewrite_segment(
        &self,
        segment: &SealedSegment,
        operation: &'static str,
        transform: &mut RecordTransform<'_>,
    ) -> StoreResult<SealedSegment> {
        let temporary = self.folder.join(format!("{:016x}.log.tmp", segment.id));
        let mut output = Vec::with_capacity(segment.log_bytes as usize);
        let mut index = RunIndex::default();
        let mut failure = None;
        let scan = frames::scan_frames(&segment.log, |offset, payload| {
            let bad = |reason| FrameError::Bad { offset, reason };
            let (at_ms, body) = split_payload(payload).map_err(|_| bad("record too short"))?;
            let changed = match transform(at_ms, body) {
                Ok(changed) => changed,
                Err(error) => {
                    failure.get_or_insert(error);
                    return Ok(());
                }
            };
            if let Some(new_body) = changed {
                let record = decode(&new_body).map_err(|_| bad("record is not a decision"))?;
                index.add(output.len() as u64, at_ms, keys_of(record.as_ref()).iter());
                frames::push_frame_with(&mut output, |out| {
                    out.extend_from_slice(&at_ms.to_le_bytes());
                    out.extend_from_slice(&new_body);
                });
            }
            Ok(())
        })
        .map_err(frame_error(operation))?;
        if let Some(error) = failure {
            return Err(error);
        }
        if let ScanEnd::BadFrameAt { offset, reason } = scan {
            return Err(StoreError::Corrupt {
                operation,
                detail: format!(
                    "segment {} has a bad frame at byte {offset}: {reason}",
                    segment.id
                ),
            });
        }
        let mut file = File::create(&temporary).map_err(io(operation))?;
        file.write_all(&output).map_err(io(operation))?;
        file.sync_all().map_err(io(operation))?;
        fs::rename(&temporary, log_path(&self.folder, segment.id)).map_err(io(operation))?;
        sort_entries(&mut index);
        write_index(&self.folder, segment.id, output.len() as u64, &index)?;
        SealedSegment::open(&self.folder, segment.id)
    }

    /// Re-encrypts the personal fields of every logged decision with the active data key
    /// (and encrypts those written in the clear before encryption was on). Returns how many
    /// records changed; `progress(done, total)` is called per segment.
    pub fn reencrypt(&self, progress: &mut dyn FnMut(usize, usize)) -> StoreResult<u64> {
        self.reencrypt_until(&mut |done, total| {
            progress(done, total);
            true
        })
    }

    /// [`DecisionSegments::reencrypt`] that stops after the segment at which
    /// `progress(done, total)` answers `false`. Each segment is rewritten whole (a new file
    /// renamed over the old), so a stop or a crash between segments leaves every record
    /// readable, and running it again changes only what is left.
    pub fn reencrypt_until(
        &self,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> StoreResult<u64> {
        let Some(keyring) = self.keyring.clone() else {
            return Err(StoreError::Unavailable("field encryption (no keyring)"));
        };
        let _rewriting = self.rewriting.lock();
        {
            let mut appender = self.appender.lock();
            if !self.segments.read().open.index.offsets.is_empty() {
                self.seal_open(&mut appender)?;
            }
        }
        let sealed = self.segments.read().sealed.clone();
        let active = keyring.active_id();
        let mut changed = 0u64;
        for (done, segment) in sealed.iter().enumerate() {
            let mut changed_here = 0u64;
            let mut transform = |_: i64, body: &[u8]| -> StoreResult<Option<Vec<u8>>> {
                let mut record = decode(body)?;
                if !reseal_personal_fields(&mut record.event, &keyring, active)? {
                    return Ok(Some(body.to_vec()));
                }
                changed_here += 1;
                let mut resealed = Vec::with_capacity(body.len());
                encode_body(
                    &mut resealed,
                    &record.decision,
                    &record.event,
                    Contacts::default(),
                )?;
                Ok(Some(resealed))
            };
            // Only segments with something to change are rewritten.
            let mut needs = false;
            scan_records(segment, &mut |body| {
                if !needs {
                    needs = decode(body)
                        .is_ok_and(|mut record| needs_reseal(&mut record.event, active));
                }
            })?;
            if needs {
                let rewritten =
                    self.rewrite_segment(segment, "re-encrypting decisions", &mut transform)?;
                self.replace_sealed(segment.id, Some(Arc::new(rewritten)))?;
                changed += changed_here;
            }
            if !progress(done + 1, sealed.len()) {
                break;
            }
        }
        sync_folder(&self.folder, "syncing the decision log folder")?;
        Ok(changed)
    }
}

/// What a segment rewrite does to each record: given its event time and bytes, the new bytes,
/// or `None` to drop it.
type RecordTransform<'a> = dyn FnMut(i64, &[u8]) -> StoreResult<Option<Vec<u8>>> + 'a;

/// Calls `visit(record bytes)` for every record of a sealed segment.
fn scan_records(segment: &SealedSegment, visit: &mut dyn FnMut(&[u8])) -> StoreResult<()> {
    frames::scan_frames(&segment.log, |offset, payload| {
        let (_, body) = split_payload(payload).map_err(|_| FrameError::Bad {
            offset,
            reason: "record too short",
        })?;
        visit(body);
        Ok(())
    })
    .map_err(frame_error("reading a decision segment"))?;
    Ok(())
}

/// Whether any personal value of an event is in the clear or under another key than `active`
/// (a check without any cryptography).
fn needs_reseal(event: &mut Event, active: u32) -> bool {
    let mut needs = false;
    let _ = for_each_personal_field::<std::convert::Infallible>(event, &mut |_, text| {
        needs |= Keyring::key_of(text) != Some(active);
        Ok(())
    });
    needs
}

/// Seals an event's personal values in the clear, and re-seals those under another key than
/// `active`; returns whether any changed.
fn reseal_personal_fields(event: &mut Event, keyring: &Keyring, active: u32) -> StoreResult<bool> {
    let mut changed = false;
    for_each_personal_field(event, &mut |_, text| {
        if let Some(new_text) = resealed(keyring, active, text)? {
            *text = new_text;
            changed = true;
        }
        Ok::<(), StoreError>(())
    })?;
    Ok(changed)
}

/// A personal value sealed under `active`: `None` when it already is, its new text otherwise
/// (sealed when in the clear, opened and sealed again when under another key).
fn resealed(keyring: &Keyring, active: u32, text: &str) -> StoreResult<Option<String>> {
    match Keyring::key_of(text) {
        Some(id) if id == active => Ok(None),
        Some(_) => Ok(Some(keyring.seal(&keyring.open(text)?)?)),
        None => Ok(Some(keyring.seal(text)?)),
    }
}

/// Whether a decoded record meets every condition of the query (the index holds hashes, and
/// the outcome is not indexed).
fn matches_query(record: &DecisionRecord, query: &DecisionQuery) -> bool {
    let ip = || record.event.ip.map(|ip| ip.to_string());
    query
        .user_id
        .as_ref()
        .is_none_or(|user| *user == record.decision.user_id)
        && query
            .device_id
            .as_ref()
            .is_none_or(|device| Some(device) == record.event.device_id.as_ref())
        && query
            .outcome
            .as_ref()
            .is_none_or(|outcome| outcome == record.decision.outcome.as_str())
        && query
            .ip
            .as_ref()
            .is_none_or(|wanted| Some(wanted) == ip().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_key_tags_and_hashes_are_pinned() {
        // Every sealed index holds these hashes: a changed tag (or hash function) would make
        // every lookup in an old segment miss.
        let tags: Vec<u64> = [Key::Decision, Key::User, Key::Ip, Key::Device]
            .into_iter()
            .map(Key::tag)
            .collect();
        assert_eq!(tags, [1, 2, 3, 4]);
        assert_eq!(key_hash(Key::User, "alice"), 16_376_901_203_553_846_146);
        assert_eq!(key_hash(Key::Ip, "192.0.2.1"), 6_642_619_795_536_417_690);
    }

    #[test]
    fn vectored_writes_pass_the_kernels_slice_limit_and_skip_empty_slices() {
        let file = tempfile::tempfile().unwrap();
        let pieces: Vec<Vec<u8>> = (0..2_500u32)
            .map(|n| vec![(n % 251) as u8; (n % 7) as usize])
            .collect();
        let slices: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        write_all_vectored(&file, &slices).unwrap();
        let mut written = vec![0u8; file.metadata().unwrap().len() as usize];
        file.read_exact_at(&mut written, 0).unwrap();
        assert_eq!(written, pieces.concat());
    }

    #[test]
    fn addresses_are_spelled_as_display_spells_them() {
        let mut text = [0u8; 64];
        let mut check = |ip: IpAddr| {
            let length = ip_text(ip, &mut text).unwrap();
            assert_eq!(
                std::str::from_utf8(&text[..length]).unwrap(),
                ip.to_string()
            );
        };
        for value in 0..=255u8 {
            let others = [value.wrapping_mul(7), value.wrapping_add(100), 255 - value];
            check(IpAddr::from([value, others[0], others[1], others[2]]));
            check(IpAddr::from([others[2], value, 0, others[1]]));
        }
        check(IpAddr::from([0u8; 4]));
        check("2001:db8::8a2e:370:7334".parse().unwrap());
        check("::ffff:10.0.0.1".parse().unwrap());
        // Too short a buffer gives `None`, never a panic.
        assert_eq!(ip_text(IpAddr::from([255u8; 4]), &mut [0u8; 10]), None);
    }

    #[test]
    fn only_the_email_and_the_phone_are_typed_personal_fields() {
        // `encode_payload` seals those two in place; a typed field the privacy module
        // starts to treat as personal must be sealed there too.
        let mut input = shopguard_core::EventInput {
            kind: Some(shopguard_core::EventKind::Payment),
            amount: Some(1.0),
            ..Default::default()
        };
        let texts = [
            &mut input.event_id,
            &mut input.user_id,
            &mut input.device_id,
            &mut input.user_agent,
            &mut input.session_id,
            &mut input.email,
            &mut input.phone,
            &mut input.city,
            &mut input.counterparty_id,
            &mut input.order_id,
            &mut input.listing_id,
            &mut input.payment_method,
            &mut input.card_bin,
            &mut input.card_fingerprint,
            &mut input.purpose,
            &mut input.failure_reason,
            &mut input.changed_field,
            &mut input.title,
            &mut input.text,
            &mut input.target_id,
        ];
        for (position, text) in texts.into_iter().enumerate() {
            *text = Some(format!("value{position}"));
        }
        input.country = Some("CN".into());
        input.currency = Some("CNY".into());
        let mut event = Event::try_from_input(input, 5_000, String::new).unwrap();
        let (email, phone) = (event.email.clone(), event.phone.clone());
        let mut visited = Vec::new();
        for_each_personal_field(&mut event, &mut |_, text| {
            visited.push(Some(text.clone()));
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(visited, [email, phone]);
    }

    #[test]
    fn contacts_sealed_in_place_give_the_bytes_of_a_sealed_copy() {
        use shopguard_core::{EventInput, EventKind, Outcome};
        let master = crate::keyring::LocalMasterKey::from_bytes(&[7; 32]);
        let keyring = Keyring::from_records(&master, &[]).unwrap();
        keyring.add(1, &[9; 32]);
        let phone_attr = serde_json::json!({ "phone": "+86 139 0000 0001" });
        let cases = [
            (Some("Buyer@Example.com"), Some("+86 138 0000 0000"), None),
            (Some("buyer@example.com"), None, None),
            (None, Some("+86 138 0000 0000"), None),
            (None, Some("+86 138 0000 0000"), Some(phone_attr)),
        ];
        for (email, phone, attrs) in cases {
            let event = Event::try_from_input(
                EventInput {
                    kind: Some(EventKind::ProfileChanged),
                    user_id: Some("user7".into()),
                    changed_field: Some("phone".into()),
                    email: email.map(str::to_owned),
                    phone: phone.map(str::to_owned),
                    attrs: attrs.map(|value| serde_json::from_value(value).unwrap()),
                    ..EventInput::default()
                },
                5_000,
                || "event7".into(),
            )
            .unwrap();
            let decision = Decision {
                decision_id: "decision7".into(),
                event_id: event.event_id.clone(),
                kind: event.kind,
                user_id: event.user_id.clone(),
                outcome: Outcome::Allow,
                challenge: None,
                score: 0,
                matched: Vec::new(),
                shadow_matched: Vec::new(),
                actions: Vec::new(),
                errors: Vec::new(),
                policy_version: 1,
                occurred_at_ms: event.occurred_at_ms,
            };
            let record = RecordRef {
                decision: &decision,
                event: &event,
            };
            let mut bytes = Vec::new();
            encode_payload(&mut bytes, record, Some(&keyring)).unwrap();
            let stored = decode_payload(&bytes).unwrap();
            for (original, kept) in [
                (&event.email, &stored.event.email),
                (&event.phone, &stored.event.phone),
            ] {
                match (original, kept) {
                    (Some(plain), Some(sealed)) => {
                        assert_eq!(Keyring::key_of(sealed), Some(1), "{sealed} is not sealed");
                        assert_eq!(&keyring.open(sealed).unwrap(), plain);
                    }
                    (None, None) => {}
                    other => panic!("a contact came and went: {other:?}"),
                }
            }
            if let Some(value) = stored.event.attrs.get("phone") {
                let sealed = value.as_str().unwrap();
                assert_eq!(keyring.open(sealed).unwrap(), "+86 139 0000 0001");
            }
            // The same bytes as the sealed copy gives (what the record decodes to).
            let mut copy = decision.occurred_at_ms.to_le_bytes().to_vec();
            encode_body(
                &mut copy,
                &stored.decision,
                &stored.event,
                Contacts::default(),
            )
            .unwrap();
            assert_eq!(copy, bytes);
            // A value sealed under the active key already is written as it is.
            let mut again = Vec::new();
            let sealed = RecordRef {
                decision: &stored.decision,
                event: &stored.event,
            };
            encode_payload(&mut again, sealed, Some(&keyring)).unwrap();
            assert_eq!(again, bytes);
        }
    }
}
