//! Decisions made ready for the decision log on the thread that made them.
//!
//! A request encodes its decisions into one [`LogBatch`]: the records as finished frames in the
//! log's format, each record's time and index keys, and the alerts and list additions its
//! actions raised. The log writer then only appends bytes and extends its index. Encoding
//! where the record was made, rather than on the writer thread, means the event is encoded
//! while it is still in that core's cache, is freed by the thread that allocated it, and a
//! request's decisions cross to the writer as one message.

use std::sync::Arc;

use shopguard_core::ActionTaken;

use crate::decision_segments::{decode_payload, encode_payload, keys_of, RecordKeys};
use crate::frames;
use crate::keyring::Keyring;
use crate::{AlertRecord, DecisionRecord, ListEntryRecord, RecordRef, StoreResult};

/// Where one record sits in its batch, and what the log's index needs of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchRecord {
    /// Offset of the record's frame in [`LogBatch::frames`].
    pub start: usize,
    /// When the event happened (ms since epoch).
    pub at_ms: i64,
    /// The record's index keys.
    pub keys: RecordKeys,
}

/// A run of decisions encoded for the log, with the alerts and list additions they raised.
#[derive(Debug, Default)]
pub struct LogBatch {
    sealer: Option<Arc<Keyring>>,
    frames: Vec<u8>,
    records: Vec<BatchRecord>,
    alerts: Vec<AlertRecord>,
    list_additions: Vec<(String, ListEntryRecord)>,
}

impl LogBatch {
    /// An empty batch. With `sealer`, personal fields (level 3 and up) are encrypted with its
    /// active key before they are encoded.
    pub fn new(sealer: Option<Arc<Keyring>>) -> LogBatch {
        LogBatch {
            sealer,
            ..LogBatch::default()
        }
    }

    /// An empty batch with room for about `records` decisions.
    pub fn with_capacity(sealer: Option<Arc<Keyring>>, records: usize) -> LogBatch {
        let mut batch = LogBatch::new(sealer);
        batch.reserve(records);
        batch
    }

    /// Empties the batch for reuse, keeping its buffers, and sets its sealer.
    pub(crate) fn reset(&mut self, sealer: Option<Arc<Keyring>>) {
        self.sealer = sealer;
        self.frames.clear();
        self.records.clear();
        self.alerts.clear();
        self.list_additions.clear();
    }

    /// Bytes its buffers hold on to.
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.frames.capacity() + self.records.capacity() * std::mem::size_of::<BatchRecord>()
    }

    /// Makes room for about `records` more decisions.
    pub(crate) fn reserve(&mut self, records: usize) {
        // A plain record takes 200 to 300 bytes.
        self.frames.reserve(records * 384);
        self.records.reserve(records);
    }

    /// Adds a record. On failure the batch is unchanged.
    pub fn push_ref(&mut self, record: RecordRef<'_>) -> StoreResult<()> {
        let start = self.frames.len();
        frames::try_push_frame_with(&mut self.frames, |out| {
            encode_payload(out, record, self.sealer.as_deref())
        })?;
        self.records.push(BatchRecord {
            start,
            at_ms: record.decision.occurred_at_ms,
            keys: keys_of(record),
        });
        self.alerts.extend(alerts_of(record));
        self.list_additions.extend(list_additions_of(record));
        Ok(())
    }

    /// Adds a record. On failure the batch is unchanged.
    pub fn push(&mut self, record: &DecisionRecord) -> StoreResult<()> {
        self.push_ref(record.as_ref())
    }

    /// A batch of `records`, for tests and tools that log decisions directly.
    pub fn of(sealer: Option<Arc<Keyring>>, records: &[DecisionRecord]) -> StoreResult<LogBatch> {
        let mut batch = LogBatch::with_capacity(sealer, records.len());
        for record in records {
            batch.push(record)?;
        }
        Ok(batch)
    }

    /// Whether personal fields were encrypted (the batch has a sealer).
    pub fn is_sealed(&self) -> bool {
        self.sealer.is_some()
    }

    /// Number of decisions.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch holds no decision.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Alerts the decisions' actions raised.
    pub fn alerts(&self) -> &[AlertRecord] {
        &self.alerts
    }

    /// List entries the decisions' actions added, as (list name, entry).
    pub fn list_additions(&self) -> &[(String, ListEntryRecord)] {
        &self.list_additions
    }

    /// The records as frames of the decision log, back to back.
    pub(crate) fn frames(&self) -> &[u8] {
        &self.frames
    }

    /// Where each record sits in [`LogBatch::frames`].
    pub(crate) fn records(&self) -> &[BatchRecord] {
        &self.records
    }

    /// Each record as a backend that keeps its own index stores it: the event's time and
    /// the record in its binary form ([`crate::record_format`], personal fields sealed when
    /// the batch has a sealer), without the segment log's framing.
    pub fn records_with_times(&self) -> impl Iterator<Item = (i64, &[u8])> + '_ {
        let ends = self.records.iter().skip(1).map(|record| record.start);
        self.records
            .iter()
            .zip(ends.chain([self.frames.len()]))
            .map(|(record, end)| {
                // A frame's payload is the event's time (8 bytes) and then the record.
                (
                    record.at_ms,
                    &self.frames[record.start + frames::HEADER + 8..end],
                )
            })
    }

    /// The records decoded again, personal fields still sealed (for a store that keeps
    /// decisions in another form than the segment log).
    pub fn decode(&self) -> StoreResult<Vec<DecisionRecord>> {
        let ends = self.records.iter().skip(1).map(|record| record.start);
        self.records
            .iter()
            .zip(ends.chain([self.frames.len()]))
            .map(|(record, end)| decode_payload(&self.frames[record.start + frames::HEADER..end]))
            .collect()
    }
}

/// Alerts raised by a decision's actions.
pub fn alerts_of(record: RecordRef<'_>) -> impl Iterator<Item = AlertRecord> + '_ {
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
}

/// The list entries a decision's actions added, as (list name, entry); the reason is the
/// matched rule's.
fn list_additions_of(
    record: RecordRef<'_>,
) -> impl Iterator<Item = (String, ListEntryRecord)> + '_ {
    record
        .decision
        .actions
        .iter()
        .filter_map(move |action| match action {
            ActionTaken::AddedToList {
                list,
                value,
                expires_at_ms,
                rule_id,
            } => {
                let reason = record
                    .decision
                    .matched
                    .iter()
                    .find(|matched| &matched.rule_id == rule_id)
                    .map_or("", |matched| matched.reason.as_str());
                Some((
                    list.clone(),
                    ListEntryRecord {
                        value: value.clone(),
                        expires_at_ms: *expires_at_ms,
                        added_by: format!("rule:{rule_id}"),
                        reason: reason.to_owned(),
                        created_at_ms: record.decision.occurred_at_ms,
                    },
                ))
            }
            ActionTaken::Alert { .. } => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopguard_core::{Engine, Event, EventInput, EventKind, ListRegistry};

    const POLICY: &str = r#"
[policy]
name = "batch-test"
[[rules]]
id = "big"
when = "event.amount > 100.0"
outcome = "review"
reason = "large payment"
actions = [{ alert = "high" }, { add_to_list = "ip_watch", entity = "ip", ttl = "1h" }]
[[lists]]
name = "ip_watch"
kind = "ip"
"#;

    fn payment(engine: &Engine, n: i64, amount: f64) -> DecisionRecord {
        let event = Event::try_from_input(
            EventInput {
                kind: Some(EventKind::Payment),
                user_id: Some(format!("user{n}")),
                ip: Some(format!("198.51.100.{n}")),
                amount: Some(amount),
                currency: Some("CNY".into()),
                occurred_at_ms: Some(1_000 + n),
                ..EventInput::default()
            },
            1_000 + n,
            || format!("event{n}"),
        )
        .unwrap();
        let decision = engine.decide(&event, format!("decision{n}"));
        DecisionRecord { decision, event }
    }

    #[test]
    fn a_batch_holds_its_records_alerts_and_list_additions() {
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        let records: Vec<DecisionRecord> = (1..=4)
            .map(|n| payment(&engine, n, n as f64 * 60.0))
            .collect();
        let batch = LogBatch::of(None, &records).unwrap();
        assert_eq!(batch.len(), 4);
        assert!(!batch.is_sealed());
        assert_eq!(batch.decode().unwrap(), records);
        // 120 and 180 and 240 are over 100.
        assert_eq!(batch.alerts().len(), 3);
        let added: Vec<&str> = batch
            .list_additions()
            .iter()
            .map(|(list, entry)| {
                assert_eq!(list, "ip_watch");
                assert_eq!(entry.reason, "large payment");
                entry.value.as_str()
            })
            .collect();
        assert_eq!(added, ["198.51.100.2", "198.51.100.3", "198.51.100.4"]);
    }

    #[test]
    fn a_reused_batch_starts_empty() {
        let engine = Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
        let mut batch = LogBatch::of(None, &[payment(&engine, 1, 500.0)]).unwrap();
        batch.reset(None);
        assert!(batch.is_empty());
        assert!(batch.alerts().is_empty() && batch.list_additions().is_empty());
        let record = payment(&engine, 2, 5.0);
        batch.push(&record).unwrap();
        assert_eq!(batch.decode().unwrap(), vec![record]);
    }
}
