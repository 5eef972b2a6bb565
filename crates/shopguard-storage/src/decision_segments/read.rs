//! Reading: lookups by decision id and queries by user, IP, device, outcome and time, from
//! the open segment's index and the sealed segments' files.

use std::fs::File;
use std::sync::Arc;

use shopguard_core::privacy::for_each_personal_field;

use super::index::SealedSegment;
use super::keys::{key_hash, Key};
use super::payload::{decode, frame_error, split_payload};
use super::DecisionSegments;
use crate::frames;
use crate::keyring::Keyring;
use crate::{DecisionQuery, DecisionRecord, StoreError, StoreResult};

/// Where records of one segment are read from, for a query.
pub(super) enum Source {
    Open(Arc<File>, Vec<u64>),
    Sealed(Arc<SealedSegment>),
}

impl DecisionSegments {
    /// Decodes a stored record, decrypting its personal fields.
    pub(super) fn decode_open(&self, body: &[u8]) -> StoreResult<DecisionRecord> {
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
    pub(super) fn sources(&self, hash: Option<u64>, from_ms: i64, to_ms: i64) -> Vec<Source> {
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
}

/// Whether a decoded record meets every condition of the query (the index holds hashes, and
/// the outcome is not indexed).
pub(super) fn matches_query(record: &DecisionRecord, query: &DecisionQuery) -> bool {
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
