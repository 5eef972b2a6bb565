//! Golden files: one per persisted format and version, which every build must still decode.
//!
//! `tests/golden/` holds files written once, from fixed inputs (times, ids, keys), by the
//! build that introduced their format version:
//!
//! | file | format |
//! |---|---|
//! | `decision-record-v1.bin` | a binary decision record, format 1 (marker `0xB1`), email and phone sealed |
//! | `engine-snapshot-v1.snap` | an engine snapshot, version 1 (`SGSNAP01`, no length or checksum) |
//! | `engine-snapshot-v2.snap` | the same state, version 2 (`SGSNAP02`) |
//! | `decision-segments-v1/` | a sealed decision segment (`.log`) and its entity index (`.idx`, `SGDIDX01`) |
//! | `data-key-v1.bin` | a data key wrapped by a local master key (`nonce ‖ ciphertext ‖ tag`) |
//! | `audit-v1/` | an audit folder of format 1 (entries, tree levels, signed checkpoints, one entry purged without a purge record) and `public.key` |
//! | `audit-v2/` | an audit folder of format 2 (`FORMAT`): the same entries, one purged after a purge record naming its rule |
//!
//! Each test decodes its file and checks what it holds value by value, and re-encodes it and
//! compares bytes where the format is deterministic.
//!
//! **Golden files are never regenerated for an existing version.** A format change takes a
//! new version and adds a new file beside the old ones, with its own test; the old file stays
//! and keeps being decoded, which is how a build proves it still reads old data. To write a
//! golden file that does not exist yet (the writer never replaces one):
//!
//! ```text
//! SHOPGUARD_WRITE_GOLDEN=1 cargo test -p shopguard-storage --test golden -- --ignored
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::{SigningKey, VerifyingKey};
use shopguard_core::audit::{self, AuditContent, RecordClass};
use shopguard_core::audit_purge::{decode_purge, PurgeRequest};
use shopguard_core::decision::{ActionTaken, AlertSeverity, ChallengeKind, MatchedRule, RuleError};
use shopguard_core::engine::{dump_snapshot, Engine, SnapshotError};
use shopguard_core::{Decision, Event, EventInput, EventKind, ListRegistry, Outcome};
use shopguard_storage::audit_log::{self, AuditLog, NewAuditEntry};
use shopguard_storage::decision_segments::{DecisionSegments, SegmentSettings};
use shopguard_storage::keyring::{DataKeyRecord, Keyring, LocalMasterKey, MasterKey};
use shopguard_storage::record_format::{decode_record, encode_record_with_contacts, Contacts};
use shopguard_storage::{DecisionQuery, DecisionRecord, LogBatch};

/// The fixed start of every golden timeline: 2026-11-29T22:13:20Z.
const T0: i64 = 1_796_000_000_000;
/// The data key that seals personal fields in the golden files, and its id.
const DATA_KEY: [u8; 32] = [0x5a; 32];
const DATA_KEY_ID: u32 = 3;
/// The local master key that wraps the golden data key.
const MASTER_KEY: [u8; 32] = [0x4d; 32];
/// Its id, as stored beside each data key it wraps.
const MASTER_KEY_ID: &str = "770080b0f6b16527";
/// The seed of the key that signs the golden audit checkpoints.
const AUDIT_SEED: [u8; 32] = [0x11; 32];

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    fs::read(golden(name)).unwrap_or_else(|error| panic!("golden file {name}: {error}"))
}

fn keyring() -> Arc<Keyring> {
    let keyring = Keyring::from_records(&LocalMasterKey::from_bytes(&MASTER_KEY), &[]).unwrap();
    keyring.add(DATA_KEY_ID, &DATA_KEY);
    Arc::new(keyring)
}

fn event(json: serde_json::Value) -> Event {
    let input: EventInput = serde_json::from_value(json).unwrap();
    Event::try_from_input(input, T0 + 600_000, || "generated".into()).unwrap()
}

/// The event of the golden decision record: most fields set, email and phone personal.
fn record_event() -> Event {
    event(serde_json::json!({
        "event_id": "evt-golden-1", "kind": "payment", "occurred_at_ms": T0,
        "user_id": "user-7", "ip": "203.0.113.9", "device_id": "dev-42",
        "user_agent": "golden-agent/1.0", "channel": "app", "session_id": "sess-9",
        "email": "ana@example.com", "phone": "+8613800000000", "country": "CN",
        "city": "Hangzhou", "latitude": 30.25, "longitude": 120.125, "amount": 129.5, "currency": "CNY",
        "counterparty_id": "shop-3", "order_id": "ord-5", "payment_method": "card",
        "card_bin": "411111", "card_fingerprint": "fp-8", "success": true,
        "attrs": {"coupon": "SPRING", "items": 2}
    }))
}

fn rule(id: &str, outcome: Outcome, score: u32, shadow: bool) -> MatchedRule {
    MatchedRule {
        rule_id: id.into(),
        reason: format!("because of {id}"),
        outcome,
        score,
        shadow,
    }
}

/// The golden decision, for `event`.
fn record_decision(event: &Event) -> Decision {
    Decision {
        decision_id: "dec-golden-1".into(),
        event_id: event.event_id.clone(),
        kind: event.kind,
        user_id: event.user_id.clone(),
        outcome: Outcome::Challenge,
        challenge: Some(ChallengeKind::Sms),
        score: 420,
        matched: vec![
            rule("card_velocity", Outcome::Challenge, 300, false),
            rule("new_device", Outcome::Review, 120, false),
        ],
        shadow_matched: vec![rule("trial_rule", Outcome::Deny, 0, true)],
        actions: vec![
            ActionTaken::AddedToList {
                list: "device_watch".into(),
                value: "dev-42".into(),
                expires_at_ms: Some(T0 + 86_400_000),
                rule_id: "new_device".into(),
            },
            ActionTaken::Alert {
                severity: AlertSeverity::Medium,
                rule_id: "card_velocity".into(),
                message: "cards tried quickly".into(),
            },
        ],
        errors: vec![RuleError {
            rule_id: "broken_rule".into(),
            message: "no such field".into(),
        }],
        policy_version: 7,
        occurred_at_ms: event.occurred_at_ms,
    }
}

// ---------------------------------------------------------------------------------------------
// The binary decision record, format 1.

#[test]
fn decision_record_v1_decodes_field_by_field_and_re_encodes_to_its_bytes() {
    let bytes = read("decision-record-v1.bin");
    assert_eq!(bytes[0], 0xB1, "format 1 marker");
    let DecisionRecord { decision, event } = decode_record(&bytes).unwrap();

    assert_eq!(decision.decision_id, "dec-golden-1");
    assert_eq!(decision.event_id, "evt-golden-1");
    assert_eq!(decision.kind, EventKind::Payment);
    assert_eq!(decision.user_id, "user-7");
    assert_eq!(decision.outcome, Outcome::Challenge);
    assert_eq!(decision.challenge, Some(ChallengeKind::Sms));
    assert_eq!(decision.score, 420);
    assert_eq!(decision.policy_version, 7);
    assert_eq!(decision.occurred_at_ms, T0);
    let matched: Vec<_> = decision
        .matched
        .iter()
        .map(|rule| (rule.rule_id.as_str(), rule.outcome, rule.score, rule.shadow))
        .collect();
    assert_eq!(
        matched,
        [
            ("card_velocity", Outcome::Challenge, 300, false),
            ("new_device", Outcome::Review, 120, false)
        ]
    );
    assert_eq!(decision.matched[1].reason, "because of new_device");
    assert_eq!(decision.shadow_matched[0].rule_id, "trial_rule");
    assert_eq!(decision.shadow_matched[0].outcome, Outcome::Deny);
    assert!(decision.shadow_matched[0].shadow);
    assert_eq!(decision.errors[0].message, "no such field");
    assert_eq!(
        serde_json::to_value(&decision.actions).unwrap(),
        serde_json::json!([
            {"type": "added_to_list", "list": "device_watch", "value": "dev-42",
             "expires_at_ms": T0 + 86_400_000, "rule_id": "new_device"},
            {"type": "alert", "severity": "medium", "rule_id": "card_velocity",
             "message": "cards tried quickly"}
        ])
    );

    assert_eq!(event.event_id, "evt-golden-1");
    assert_eq!(event.kind, EventKind::Payment);
    assert_eq!(event.occurred_at_ms, T0);
    assert_eq!(event.user_id, "user-7");
    assert_eq!(event.ip, Some("203.0.113.9".parse().unwrap()));
    assert_eq!(event.device_id.as_deref(), Some("dev-42"));
    assert_eq!(event.user_agent.as_deref(), Some("golden-agent/1.0"));
    assert_eq!(event.channel, shopguard_core::Channel::App);
    assert_eq!(event.session_id.as_deref(), Some("sess-9"));
    assert_eq!(event.country.as_deref(), Some("CN"));
    assert_eq!(event.city.as_deref(), Some("Hangzhou"));
    assert_eq!(event.location, Some((30.25, 120.125)));
    assert_eq!(event.amount, Some(129.5));
    assert_eq!(event.currency.as_deref(), Some("CNY"));
    assert_eq!(event.counterparty_id.as_deref(), Some("shop-3"));
    assert_eq!(event.order_id.as_deref(), Some("ord-5"));
    assert_eq!(event.listing_id, None);
    assert_eq!(event.payment_method.as_deref(), Some("card"));
    assert_eq!(event.card_bin.as_deref(), Some("411111"));
    assert_eq!(event.card_fingerprint.as_deref(), Some("fp-8"));
    assert_eq!(event.success, Some(true));
    assert_eq!(event.failure_reason, None);
    assert_eq!(event.attrs["coupon"], "SPRING");
    assert_eq!(event.attrs["items"], 2);
    // Email and phone are stored sealed with the golden data key.
    let keyring = keyring();
    let (email, phone) = (event.email.clone().unwrap(), event.phone.clone().unwrap());
    assert_eq!(Keyring::key_of(&email), Some(DATA_KEY_ID));
    assert_eq!(keyring.open(&email).unwrap(), "ana@example.com");
    assert_eq!(keyring.open(&phone).unwrap(), "+8613800000000");

    // The same values encode to the same bytes (the sealed texts are taken as they are).
    let mut again = Vec::new();
    encode_record_with_contacts(&mut again, &decision, &event, Contacts::default()).unwrap();
    assert_eq!(again, bytes);
    let plain = record_event();
    let mut from_plain = Vec::new();
    let contacts = Contacts {
        email: Some(&email),
        phone: Some(&phone),
    };
    encode_record_with_contacts(&mut from_plain, &record_decision(&plain), &plain, contacts)
        .unwrap();
    assert_eq!(from_plain, bytes);
}

// ---------------------------------------------------------------------------------------------
// A wrapped data key.

#[test]
fn data_key_v1_unwraps_with_its_master_key_and_opens_the_golden_record() {
    let wrapped = read("data-key-v1.bin");
    assert_eq!(wrapped.len(), 12 + 32 + 16, "nonce, key, tag");
    let master = LocalMasterKey::from_bytes(&MASTER_KEY);
    // The id stored beside every wrapped key names the master key that wrapped it.
    assert_eq!(master.id(), MASTER_KEY_ID);
    assert_eq!(master.unwrap(&wrapped).unwrap(), DATA_KEY);
    assert!(LocalMasterKey::from_bytes(&[0; 32])
        .unwrap(&wrapped)
        .is_err());
    let record = DataKeyRecord {
        id: DATA_KEY_ID,
        wrapped,
        master_id: master.id(),
        created_at_ms: T0,
    };
    let keyring = Keyring::from_records(&master, &[record]).unwrap();
    let stored = decode_record(&read("decision-record-v1.bin")).unwrap();
    assert_eq!(
        keyring
            .open(stored.event.email.as_deref().unwrap())
            .unwrap(),
        "ana@example.com"
    );
}

// ---------------------------------------------------------------------------------------------
// The engine snapshot, versions 1 and 2.

/// The policy whose state the golden snapshots hold: one feature of each aggregation, and
/// rules that show the restored counts.
const SNAPSHOT_POLICY: &str = r#"
[policy]
name = "golden"

[[features]]
name = "fails_per_user"
aggregate = "count"
of = ["login_failed"]
by = "user"
window = "10m"

[[features]]
name = "ips_per_user"
aggregate = "distinct"
of = ["login_failed"]
by = "user"
field = "ip"
window = "1h"

[[features]]
name = "paid_per_device"
aggregate = "sum"
of = ["payment"]
by = "device"
window = "1h"
where = "event.currency == 'CNY'"

[[rules]]
id = "third_failure"
when = "features.fails_per_user >= 3"
outcome = "review"
reason = "three failures"

[[rules]]
id = "two_ips"
when = "features.ips_per_user >= 2"
outcome = "review"
reason = "two addresses"

[[rules]]
id = "big_spender"
when = "features.paid_per_device > 300.0"
outcome = "review"
reason = "spent a lot"

[[rules]]
id = "known_device"
when = "event.kind == 'login_failed' && profile.device_known"
outcome = "allow"
reason = "device seen before"
"#;

fn snapshot_engine() -> Engine {
    Engine::new(SNAPSHOT_POLICY, 1, Arc::new(ListRegistry::new())).unwrap()
}

/// The events whose state the golden snapshots hold.
fn snapshot_events() -> Vec<Event> {
    let mut events = vec![event(serde_json::json!({
        "event_id": "login-0", "kind": "login_succeeded", "user_id": "mia",
        "ip": "198.51.100.1", "device_id": "dev-mia", "country": "DE",
        "latitude": 52.5, "longitude": 13.375, "occurred_at_ms": T0 - 60_000
    }))];
    for (step, ip) in ["198.51.100.1", "198.51.100.2"].into_iter().enumerate() {
        events.push(event(serde_json::json!({
            "event_id": format!("fail-{step}"), "kind": "login_failed", "user_id": "mia",
            "ip": ip, "device_id": "dev-mia", "country": "DE",
            "occurred_at_ms": T0 + step as i64 * 1_000
        })));
    }
    events.push(event(serde_json::json!({
        "event_id": "pay-0", "kind": "payment", "user_id": "leo", "device_id": "dev-leo",
        "amount": 200.0, "currency": "CNY", "latitude": 48.25, "longitude": 11.5,
        "occurred_at_ms": T0 + 5_000
    })));
    events
}

/// The state as `dump_snapshot` lists it, after its version line. Written out once from the
/// golden files; it pins every value the snapshot holds.
const SNAPSHOT_DUMP: &str = concat!(
    "state WindowShape { aggregation: Count, group_by: User, window_ms: 600000, kinds: [LoginFailed], filter: None }\n",
    "  a234e7640f296aa1 Buckets([(179600000, 2.0)])\n",
    "state WindowShape { aggregation: Distinct(Ip), group_by: User, window_ms: 3600000, kinds: [LoginFailed], filter: None }\n",
    "  a234e7640f296aa1 Distinct([(7877348936352019497, 29933333), (1974383719586880966, 29933333)])\n",
    "state WindowShape { aggregation: SumAmount, group_by: Device, window_ms: 3600000, kinds: [Payment], filter: Some(\"event.currency == 'CNY'\") }\n",
    "  d725fe4fbb8045ba Buckets([(29933333, 200.0)])\n",
    "profile c2ca0151dd944d25 UserProfile { first_seen_ms: 1796000005000, last_seen_ms: 1796000005000, devices: [(11505250672649033858, 1796000005000)], countries: [], last_location: Some((1796000005000, 48.25, 11.5)), last_login_ms: None, last_login_country: None, password_reset_ms: None, logins: 0, orders: 0, refunds: 0, payments: 1, challenge_failures: 0 }\n",
    "profile f8126ec339ef4235 UserProfile { first_seen_ms: 1795999940000, last_seen_ms: 1796000001000, devices: [(14023432345136088311, 1795999940000)], countries: [([68, 69], 1795999940000)], last_location: Some((1795999940000, 52.5, 13.375)), last_login_ms: Some(1795999940000), last_login_country: Some([68, 69]), password_reset_ms: None, logins: 1, orders: 0, refunds: 0, payments: 0, challenge_failures: 0 }",
);

fn check_snapshot(bytes: &[u8], version: u8) {
    assert_eq!(shopguard_core::snapshot::version_of(bytes), Ok(version));
    let dump = dump_snapshot(bytes).unwrap();
    assert_eq!(dump, format!("version {version}\n{SNAPSHOT_DUMP}"));
    // Restored, the engine decides as if it had seen the events itself.
    let engine = snapshot_engine();
    engine.restore(bytes).unwrap();
    assert_eq!(engine.profile_count(), 2);
    let third = engine.decide(
        &event(serde_json::json!({
            "event_id": "fail-2", "kind": "login_failed", "user_id": "mia",
            "ip": "198.51.100.1", "device_id": "dev-mia", "occurred_at_ms": T0 + 2_000
        })),
        "d-fail".into(),
    );
    let mut matched: Vec<_> = third
        .matched
        .iter()
        .map(|rule| rule.rule_id.as_str())
        .collect();
    matched.sort_unstable();
    assert_eq!(matched, ["known_device", "third_failure", "two_ips"]);
    let paid = engine.decide(
        &event(serde_json::json!({
            "event_id": "pay-1", "kind": "payment", "user_id": "leo", "device_id": "dev-leo",
            "amount": 150.0, "currency": "CNY", "occurred_at_ms": T0 + 6_000
        })),
        "d-pay".into(),
    );
    assert_eq!(paid.matched[0].rule_id, "big_spender");
}

#[test]
fn engine_snapshot_v1_restores() {
    check_snapshot(&read("engine-snapshot-v1.snap"), 1);
}

#[test]
fn engine_snapshot_v2_restores_and_its_state_writes_the_same_values() {
    let bytes = read("engine-snapshot-v2.snap");
    check_snapshot(&bytes, 2);
    // Taken again from the restored state: the same values (the order of feature states in
    // the file follows a hash map's, so the bytes may differ; the dump is sorted).
    let engine = snapshot_engine();
    engine.restore(&bytes).unwrap();
    let again = engine.snapshot().unwrap();
    assert_eq!(again.len(), bytes.len());
    assert_eq!(dump_snapshot(&again), dump_snapshot(&bytes));
}

#[test]
fn a_damaged_or_newer_snapshot_is_refused_with_its_version() {
    let mut damaged = read("engine-snapshot-v2.snap");
    let last = damaged.len() - 1;
    damaged[last] ^= 0x40;
    let engine = snapshot_engine();
    assert_eq!(
        engine.restore(&damaged),
        Err(SnapshotError::Checksum { version: 2 })
    );
    let mut newer = read("engine-snapshot-v2.snap");
    newer[6..8].copy_from_slice(b"09");
    assert_eq!(
        engine.restore(&newer),
        Err(SnapshotError::Newer {
            found: 9,
            newest: 2
        })
    );
    assert_eq!(
        engine.profile_count(),
        0,
        "nothing loaded from a refused file"
    );
}

#[test]
fn every_cut_of_a_golden_snapshot_is_refused_never_a_panic() {
    let engine = snapshot_engine();
    for name in ["engine-snapshot-v1.snap", "engine-snapshot-v2.snap"] {
        let bytes = read(name);
        for length in 0..bytes.len() {
            assert!(
                engine.restore(&bytes[..length]).is_err(),
                "{name} cut at {length}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(engine.restore(&longer).is_err(), "{name} with a byte more");
    }
    assert_eq!(engine.profile_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// A sealed decision segment and its index.

/// The records of the golden segment: the decision record above and two plain ones.
fn segment_records() -> Vec<DecisionRecord> {
    let first = record_event();
    let mut records = vec![DecisionRecord {
        decision: record_decision(&first),
        event: first,
    }];
    for (step, user) in ["noor", "omar"].into_iter().enumerate() {
        let event = event(serde_json::json!({
            "event_id": format!("evt-plain-{step}"), "kind": "login_succeeded",
            "user_id": user, "ip": format!("2001:db8::{step}"),
            "occurred_at_ms": T0 + 60_000 * (step as i64 + 1)
        }));
        let decision = Decision {
            decision_id: format!("dec-plain-{step}"),
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
            policy_version: 7,
            occurred_at_ms: event.occurred_at_ms,
        };
        records.push(DecisionRecord { decision, event });
    }
    records
}

fn copy_folder(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

const SEGMENT_LOG: &str = "0000000000000001.log";
const SEGMENT_INDEX: &str = "0000000000000001.idx";
/// The segment opened after the first was sealed, still empty.
const OPEN_SEGMENT_LOG: &str = "0000000000000002.log";

fn word(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

#[test]
fn decision_segment_v1_and_its_index_decode_and_the_index_rebuilds_to_its_bytes() {
    let folder = golden("decision-segments-v1");
    let log = fs::read(folder.join(SEGMENT_LOG)).unwrap();
    let index = fs::read(folder.join(SEGMENT_INDEX)).unwrap();
    // The index header, field by field: magic, the log's length, records, earliest and latest
    // event time, entries (decision id, user, IP, device when present: 4 + 3 + 3).
    assert_eq!(&index[..8], b"SGDIDX01");
    assert_eq!(word(&index, 8), log.len() as u64);
    assert_eq!(word(&index, 16), 3);
    assert_eq!(word(&index, 24) as i64, T0);
    assert_eq!(word(&index, 32) as i64, T0 + 120_000);
    assert_eq!(word(&index, 40), 10);
    let header = 8 + 8 * 5 + 4_096 * 4;
    assert_eq!(index.len(), header + 4 + 10 * 16 + 3 * 8);

    assert_eq!(fs::read(folder.join(OPEN_SEGMENT_LOG)).unwrap().len(), 0);
    let copy = tempfile::tempdir().unwrap();
    copy_folder(&folder, copy.path());
    let segments = DecisionSegments::open(copy.path(), SegmentSettings::default())
        .unwrap()
        .with_keyring(keyring());
    assert_eq!(segments.count(), 3);
    let expected = segment_records();
    let query = |user: Option<&str>, ip: Option<&str>, device: Option<&str>| {
        segments
            .query(&DecisionQuery {
                user_id: user.map(Into::into),
                ip: ip.map(Into::into),
                device_id: device.map(Into::into),
                limit: 10,
                ..DecisionQuery::default()
            })
            .unwrap()
    };
    // Read through the index, with the personal fields opened by the golden data key.
    assert_eq!(query(Some("user-7"), None, None), [expected[0].clone()]);
    assert_eq!(
        query(None, Some("2001:db8::1"), None),
        [expected[2].clone()]
    );
    assert_eq!(query(None, None, Some("dev-42")), [expected[0].clone()]);
    let all = query(None, None, None);
    let ids: Vec<_> = all
        .iter()
        .map(|r| r.decision.decision_id.as_str())
        .collect();
    assert_eq!(ids, ["dec-plain-1", "dec-plain-0", "dec-golden-1"]);
    assert_eq!(
        segments.decision("dec-plain-0").unwrap(),
        Some(expected[1].clone())
    );
    drop(segments);
    assert_eq!(
        fs::read(copy.path().join(SEGMENT_INDEX)).unwrap(),
        index,
        "index kept"
    );

    // Without its index, the segment's index is rebuilt from the log to the same bytes.
    let bare = tempfile::tempdir().unwrap();
    copy_folder(&folder, bare.path());
    fs::remove_file(bare.path().join(SEGMENT_INDEX)).unwrap();
    drop(DecisionSegments::open(bare.path(), SegmentSettings::default()).unwrap());
    assert_eq!(fs::read(bare.path().join(SEGMENT_INDEX)).unwrap(), index);
}

// ---------------------------------------------------------------------------------------------
// An audit folder.

/// One entry of every record class (so every class code is committed in a leaf), a day apart;
/// the `other` entry is the one purged.
fn audit_entries() -> Vec<NewAuditEntry> {
    RecordClass::ALL
        .into_iter()
        .enumerate()
        .map(|(step, class)| NewAuditEntry {
            at_ms: T0 + step as i64 * 86_400_000,
            class,
            content: AuditContent {
                actor: format!("operator:ana-{step}"),
                action: format!("golden.{}", class.as_str()),
                object: format!("object:{step}"),
                detail: serde_json::json!({ "step": step }),
            },
        })
        .collect()
}

const AUDIT_PURGE_AT: i64 = T0 + 20 * 86_400_000;
/// The roots of the two golden checkpoints (before and after the purge, same tree).
const AUDIT_ROOT: &str = "71e2ed9c3380bf7d7dda25a346e775c77bca92dc1fcc074c9e0d28013bddbbb5";

fn audit_key() -> VerifyingKey {
    let text = fs::read_to_string(golden("audit-v1/public.key")).unwrap();
    let bytes = audit::hex_decode::<32>(text.trim()).unwrap();
    VerifyingKey::from_bytes(&bytes).unwrap()
}

#[test]
fn audit_folder_v1_verifies_and_reads_entry_by_entry() {
    let key = audit_key();
    assert_eq!(key, SigningKey::from_bytes(&AUDIT_SEED).verifying_key());
    let copy = tempfile::tempdir().unwrap();
    copy_folder(&golden("audit-v1/audit"), &copy.path().join("audit"));

    // Format 1 recorded no purges: as found, its purged entry is not covered by a record.
    let report = audit_log::verify_data_dir(copy.path(), &key, &[]).unwrap();
    assert_eq!(report.entries, 9);
    assert_eq!(report.purged, 1);
    assert_eq!(report.checkpoints_checked, 2);
    assert_eq!(report.root, AUDIT_ROOT);
    let problem = report.first_problem.unwrap();
    assert_eq!(problem.seq, 8);
    assert!(problem.what.contains("no purge record"), "{}", problem.what);

    // Opened by this build, it is upgraded: one legacy purge record lists the entry found
    // purged, and the folder then verifies.
    fs::write(
        copy.path().join(audit_log::SIGNING_KEY_FILE),
        hex::encode(AUDIT_SEED),
    )
    .unwrap();
    let log = AuditLog::open(copy.path()).unwrap();
    assert_eq!(log.size(), 10);
    let legacy = log.entry(9).unwrap().unwrap().content.unwrap();
    let legacy = decode_purge(&serde_json::to_vec(&legacy).unwrap())
        .unwrap()
        .unwrap();
    assert!(legacy.legacy);
    assert_eq!(legacy.adopted, vec![[8, 9]]);
    assert_eq!(
        log.root(9).unwrap(),
        audit::hex_decode::<32>(AUDIT_ROOT).unwrap()
    );
    let report = log.verify(&key, &[]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.purged, report.purged_before_records), (1, 1));
    assert_eq!(
        fs::read_to_string(copy.path().join("audit/FORMAT")).unwrap(),
        "2\n"
    );
    let expected = audit_entries();
    check_audit_entries(&log, &expected);
    let checkpoints = log.checkpoints().unwrap();
    let summary: Vec<_> = checkpoints
        .iter()
        .map(|checkpoint| (checkpoint.size, checkpoint.root.as_str(), checkpoint.at_ms))
        .collect();
    assert_eq!(
        summary,
        [
            (9, AUDIT_ROOT, T0 + 10 * 86_400_000),
            (9, AUDIT_ROOT, AUDIT_PURGE_AT)
        ]
    );
    for checkpoint in &checkpoints {
        assert!(checkpoint.verify(&key));
        assert_eq!(checkpoint.key_id, audit::key_id(&key));
    }
}

/// Checks the golden entries of every class, the `other` one purged.
fn check_audit_entries(log: &AuditLog, expected: &[NewAuditEntry]) {
    for (seq, new) in expected.iter().enumerate() {
        let stored = log.entry(seq as u64).unwrap().unwrap();
        assert_eq!(stored.seq, seq as u64);
        assert_eq!(stored.at_ms, new.at_ms);
        assert_eq!(stored.class, new.class);
        assert_eq!(
            stored.class.code(),
            seq as u8,
            "one class per code, in code order"
        );
        if new.class == RecordClass::Other {
            assert_eq!(stored.content, None, "purged");
        } else {
            assert_eq!(stored.content.as_ref(), Some(&new.content));
        }
        assert!(stored.leaf_hash().is_some());
    }
}

/// When the golden format-2 folder was purged: the `other` entry (day 8) is past a year.
const AUDIT_V2_PURGE_AT: i64 = T0 + 400 * 86_400_000;
/// The root of the golden format-2 folder (nine entries and its purge record).
const AUDIT_V2_ROOT: &str = "f4bd8a142668f5faad8e7c1d008fa0771e143badc3cc50618a5b4ec6364bc14a";

#[test]
fn audit_folder_v2_verifies_with_its_purge_record() {
    let key = SigningKey::from_bytes(&AUDIT_SEED).verifying_key();
    let copy = tempfile::tempdir().unwrap();
    copy_folder(&golden("audit-v2/audit"), &copy.path().join("audit"));
    let report = audit_log::verify_data_dir(copy.path(), &key, &[]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.entries, report.purged), (10, 1));
    assert_eq!(report.purged_before_records, 0);
    assert_eq!(report.checkpoints_checked, 2);
    assert_eq!(report.root, AUDIT_V2_ROOT);
    fs::write(
        copy.path().join(audit_log::SIGNING_KEY_FILE),
        hex::encode(AUDIT_SEED),
    )
    .unwrap();
    let log = AuditLog::open(copy.path()).unwrap();
    assert_eq!(log.size(), 10, "nothing to upgrade");
    check_audit_entries(&log, &audit_entries());
    let content = log.entry(9).unwrap().unwrap().content.unwrap();
    assert_eq!(content.actor, "operator:golden");
    let record = decode_purge(&serde_json::to_vec(&content).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::to_value(&record).unwrap(),
        serde_json::json!({
            "format": 1,
            "below_seq": 9,
            "previous": null,
            "rules": [{
                "class": "other",
                "days": 365,
                "cutoff_ms": AUDIT_V2_PURGE_AT - 365 * 86_400_000
            }],
            "purged": 1
        })
    );
}

/// Writes `bytes` to a golden file that does not exist yet; never replaces one.
fn write_new(path: &Path, bytes: &[u8]) {
    if path.exists() {
        println!("kept {}", path.display());
        return;
    }
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
    println!("wrote {}", path.display());
}

/// Copies the files of `from` whose names pass `keep` into the golden folder `to`, unless
/// that folder exists already.
fn write_new_folder(from: &Path, to: &Path, keep: &dyn Fn(&str) -> bool) {
    if to.exists() {
        println!("kept {}", to.display());
        return;
    }
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if entry.file_type().unwrap().is_file() && keep(&name) {
            fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
    println!("wrote {}", to.display());
}

#[test]
#[ignore = "writes golden files that are missing; run with SHOPGUARD_WRITE_GOLDEN=1"]
fn write_golden_files() {
    if std::env::var("SHOPGUARD_WRITE_GOLDEN").as_deref() != Ok("1") {
        println!("set SHOPGUARD_WRITE_GOLDEN=1 to write missing golden files");
        return;
    }
    let keyring = keyring();

    // The decision record, email and phone sealed.
    let event = record_event();
    let seal = |text: &Option<String>| keyring.seal(text.as_deref().unwrap()).unwrap();
    let (email, phone) = (seal(&event.email), seal(&event.phone));
    let mut record = Vec::new();
    let contacts = Contacts {
        email: Some(&email),
        phone: Some(&phone),
    };
    encode_record_with_contacts(&mut record, &record_decision(&event), &event, contacts).unwrap();
    write_new(&golden("decision-record-v1.bin"), &record);
    let master = LocalMasterKey::from_bytes(&MASTER_KEY);
    write_new(&golden("data-key-v1.bin"), &master.wrap(&DATA_KEY).unwrap());

    // The engine snapshot, in version 2 and, with the same body, version 1.
    let engine = snapshot_engine();
    for (step, event) in snapshot_events().iter().enumerate() {
        engine.decide(event, format!("d{step}"));
    }
    let current = engine.snapshot().unwrap();
    assert_eq!(&current[..8], b"SGSNAP02");
    let mut version_one = b"SGSNAP01".to_vec();
    version_one.extend_from_slice(&current[20..]);
    write_new(&golden("engine-snapshot-v2.snap"), &current);
    write_new(&golden("engine-snapshot-v1.snap"), &version_one);

    // A decision segment sealed after one batch.
    let folder = tempfile::tempdir().unwrap();
    let settings = SegmentSettings {
        segment_bytes: 1,
        sync_each_batch: true,
    };
    let segments = DecisionSegments::open(folder.path(), settings)
        .unwrap()
        .with_keyring(keyring.clone());
    let batch = LogBatch::of(Some(keyring.clone()), &segment_records()).unwrap();
    segments.append(&[batch]).unwrap();
    drop(segments);
    write_new_folder(folder.path(), &golden("decision-segments-v1"), &|name| {
        name == SEGMENT_LOG || name == SEGMENT_INDEX || name == OPEN_SEGMENT_LOG
    });

    // `audit-v1/` was written by a build of format 1 (no purge records); this one writes
    // format 2: every class, a checkpoint, the `other` entry purged by a recorded purge, a
    // checkpoint.
    let data = tempfile::tempdir().unwrap();
    fs::write(
        data.path().join(audit_log::SIGNING_KEY_FILE),
        hex::encode(AUDIT_SEED),
    )
    .unwrap();
    let log = AuditLog::open(data.path()).unwrap();
    log.append(&audit_entries()).unwrap();
    log.checkpoint(T0 + 10 * 86_400_000).unwrap();
    let request = PurgeRequest {
        at_ms: AUDIT_V2_PURGE_AT,
        actor: "operator:golden".into(),
        retention: vec![(RecordClass::Other, 365)],
    };
    assert_eq!(log.purge_expired(&request).unwrap(), 1);
    log.checkpoint(AUDIT_V2_PURGE_AT).unwrap();
    drop(log);
    let audit_golden = golden("audit-v2");
    write_new_folder(
        &data.path().join("audit"),
        &audit_golden.join("audit"),
        &|name| name != "LOCK",
    );
    write_new(
        &audit_golden.join("public.key"),
        format!(
            "{}\n",
            hex::encode(
                SigningKey::from_bytes(&AUDIT_SEED)
                    .verifying_key()
                    .as_bytes()
            )
        )
        .as_bytes(),
    );
}
