//! Reading: lookups by decision id and queries by user, IP, device, outcome and time, from
//! the open segment's index and the sealed segments' files.

use std::fs::File;
use std::sync::Arc;

use shopguard_core::privacy::for_each_personal_field;

use super::index::{SealedSegment, Span};
use super::keys::{key_hash, Key};
use super::payload::{decode, frame_error, split_payload};
use super::DecisionSegments;
use crate::frames;
use crate::keyring::Keyring;
use crate::{DecisionQuery, DecisionRecord, StoreError, StoreResult};

/// Where records of one segment are read from, for a query: the segment's number and its
/// file, with the candidate offsets (newest first) of the open segment.
pub(super) enum Source {
    Open(u64, Arc<File>, Vec<u64>),
    Sealed(Arc<SealedSegment>),
}

/// Where a record sits in the log: its segment's number, then its offset. Positions order
/// records as they were appended, which is the order queries answer in (newest first).
type Position = (u64, u64);

/// What a scan hands each record to: its position, time and body; answers whether to go on.
type Visit<'a> = dyn FnMut(Position, i64, &[u8]) -> StoreResult<bool> + 'a;

/// At most this many records are read for a count of a query without a user, IP or device
/// (which no index narrows): past it, the count stops and says it was capped.
pub(crate) const COUNT_SCAN_BOUND: u64 = 100_000;

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
                segments.open.id,
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

    /// Reads the candidate records under `hash` (or all) in `from_ms..to_ms`, newest first,
    /// from the position `before` on (exclusive) and in the segments `read_segment` admits,
    /// handing each one's position, time and body to `visit` until it answers `false`.
    #[expect(
        clippy::too_many_arguments,
        reason = "one private helper of the readers"
    )]
    fn scan(
        &self,
        hash: Option<u64>,
        from_ms: i64,
        to_ms: i64,
        before: Option<Position>,
        read_segment: &dyn Fn(u64) -> bool,
        operation: &'static str,
        visit: &mut Visit<'_>,
    ) -> StoreResult<()> {
        for source in self.sources(hash, from_ms, to_ms) {
            let (segment_id, log, offsets) = match &source {
                Source::Open(id, log, offsets) => (*id, log.as_ref(), offsets.clone()),
                Source::Sealed(segment) => (segment.id, &segment.log, Vec::new()),
            };
            if before.is_some_and(|(before_segment, _)| segment_id > before_segment)
                || !read_segment(segment_id)
            {
                continue;
            }
            let offsets = match &source {
                Source::Open(..) => offsets,
                Source::Sealed(segment) => segment.newest_first(hash)?,
            };
            for offset in offsets {
                if before.is_some_and(|position| (segment_id, offset) >= position) {
                    continue;
                }
                let payload = frames::read_frame_at(log, offset).map_err(frame_error(operation))?;
                let (at_ms, body) = split_payload(&payload)?;
                if at_ms < from_ms || at_ms >= to_ms {
                    continue;
                }
                if !visit((segment_id, offset), at_ms, body)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Decisions matching `query`, newest logged first. The cursor (`before_id`) is found
    /// through the decision-id index and compared by position in the log.
    pub fn query(&self, query: &DecisionQuery) -> StoreResult<Vec<DecisionRecord>> {
        let limit = query.limit.clamp(1, 1_000) as usize;
        let before = match &query.before_id {
            Some(decision_id) => match self.locate(decision_id)? {
                Some((position, _)) => Some(position),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let mut found = Vec::new();
        self.scan(
            entity_hash(query),
            query.from_ms.unwrap_or(i64::MIN),
            query.to_ms.unwrap_or(i64::MAX),
            before,
            &|_| true,
            "querying decisions",
            &mut |_, _, body| {
                let record = self.decode_open(body)?;
                if matches_query(&record, query) {
                    found.push(record);
                }
                Ok(found.len() < limit)
            },
        )?;
        Ok(found)
    }

    /// How many decisions match `query` (its limit and cursor ignored), up to `cap`; whether
    /// more match (`(cap, true)`; exactly `cap` is `(cap, false)`), or, for a query that no
    /// index narrows, whether the count stopped at its scan bound.
    ///
    /// Costs: with a user, IP or device, the same index reads as [`DecisionSegments::query`],
    /// decoding every candidate (up to `cap` matches). Without any filter but time, segments
    /// whose time range lies inside the query's are counted from their index headers, and
    /// only the straddling ones are read (times only). Otherwise (outcome or rule without an
    /// entity) at most `COUNT_SCAN_BOUND` (100,000) records are decoded; past them the count says it
    /// was capped.
    pub fn count_matching(&self, query: &DecisionQuery, cap: u64) -> StoreResult<(u64, bool)> {
        let from_ms = query.from_ms.unwrap_or(i64::MIN);
        let to_ms = query.to_ms.unwrap_or(i64::MAX);
        let hash = entity_hash(query);
        let mut count = 0u64;
        let mut capped = false;
        if hash.is_none() && query.outcome.is_none() && query.rule_id.is_none() {
            // Whole segments inside the range count from their headers.
            let (whole, partial) = {
                let segments = self.segments.read();
                let inside = |span: Option<Span>| {
                    span.is_some_and(|span| span.earliest_ms >= from_ms && span.latest_ms < to_ms)
                };
                let mut whole = 0u64;
                let mut partial = Vec::new();
                if inside(segments.open.index.span) {
                    whole += segments.open.index.offsets.len() as u64;
                } else {
                    partial.push(segments.open.id);
                }
                for segment in &segments.sealed {
                    if inside(Some(segment.span)) {
                        whole += segment.records;
                    } else {
                        partial.push(segment.id);
                    }
                }
                (whole, partial)
            };
            if whole > cap {
                return Ok((cap, true));
            }
            count = whole;
            self.scan(
                None,
                from_ms,
                to_ms,
                None,
                &|segment| partial.contains(&segment),
                "counting decisions",
                &mut |_, _, _| {
                    count += 1;
                    capped = count > cap;
                    Ok(!capped)
                },
            )?;
            return Ok((count.min(cap), capped));
        }
        let mut read = 0u64;
        self.scan(
            hash,
            from_ms,
            to_ms,
            None,
            &|_| true,
            "counting decisions",
            &mut |_, _, body| {
                if hash.is_none() && read >= COUNT_SCAN_BOUND {
                    capped = true;
                    return Ok(false);
                }
                read += 1;
                if matches_query(&self.decode_open(body)?, query) {
                    count += 1;
                    capped = count > cap;
                }
                Ok(!capped)
            },
        )?;
        Ok((count.min(cap), capped))
    }

    /// A decision by id, with its position in the log.
    fn locate(&self, decision_id: &str) -> StoreResult<Option<(Position, DecisionRecord)>> {
        let mut found = None;
        self.scan(
            Some(key_hash(Key::Decision, decision_id)),
            i64::MIN,
            i64::MAX,
            None,
            &|_| true,
            "reading a decision",
            &mut |position, _, body| {
                let record = self.decode_open(body)?;
                if record.decision.decision_id == decision_id {
                    found = Some((position, record));
                    return Ok(false);
                }
                Ok(true)
            },
        )?;
        Ok(found)
    }

    /// One decision by id.
    pub fn decision(&self, decision_id: &str) -> StoreResult<Option<DecisionRecord>> {
        Ok(self.locate(decision_id)?.map(|(_, record)| record))
    }
}

/// The index key a query reads: the most selective entity given (a device has fewer
/// decisions than a user, a user fewer than an IP, which many users may share), if any.
fn entity_hash(query: &DecisionQuery) -> Option<u64> {
    query
        .device_id
        .as_deref()
        .map(|device| key_hash(Key::Device, device))
        .or_else(|| {
            query
                .user_id
                .as_deref()
                .map(|user| key_hash(Key::User, user))
        })
        .or_else(|| query.ip.as_deref().map(|ip| key_hash(Key::Ip, ip)))
}

/// Whether a decoded record meets every condition of the query (the index holds hashes, and
/// neither the outcome nor the matched rules are indexed: they are checked here, on the
/// candidates the index gave).
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
        && query.rule_id.as_ref().is_none_or(|rule_id| {
            record
                .decision
                .matched
                .iter()
                .chain(&record.decision.shadow_matched)
                .any(|rule| rule.rule_id == *rule_id)
        })
}
