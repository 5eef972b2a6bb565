//! The conformance suite: one test per method of every storage trait. Each test takes a
//! fresh [`Fixture`]; `store_test_suite!` makes a `#[test]` of each for one backend.
//!
//! Every change method is also checked against the outbox rule: the change stores exactly
//! its audit entry, and a change that does nothing (or fails) stores none.

mod situation;

pub use situation::{
    purge_situation_before, record_situation_minute, situation_minutes, situation_top_rules,
};

use std::sync::Arc;

pub mod directory;

use shopguard_core::audit::{AuditContent, RecordClass};
use shopguard_core::rbac::Role;
use shopguard_core::{Engine, Event, EventInput, EventKind, ListKind, ListRegistry};
use shopguard_storage::alerts::AlertStatus;
use shopguard_storage::api_keys;
use shopguard_storage::decision_log::DecisionLog;
use shopguard_storage::operators::{GrantRecord, OperatorRecord, SessionRecord};
use shopguard_storage::snapshot::SnapshotStore;
use shopguard_storage::tasks::{CancelOutcome, NewTask, TaskKind, TaskOutcome, TaskStatus};
use shopguard_storage::{
    AlertChange, AlertCount, AlertFilter, AlertNote, AlertRecord, AlertTriage, AssigneeFilter,
    DecisionQuery, DecisionRecord, Lease, ListEntryRecord, ListRecord, LogBatch, NewAuditEntry,
    NewPolicyVersion, ScheduledJob, Scope, Store, StoreError, TaskRecord, TriagedAlert,
};

mod incidents;
pub use incidents::*;

/// A fresh, empty backend for one test.
pub struct Fixture {
    store: Option<Arc<dyn Store>>,
    backend: Box<dyn FixtureBackend>,
}

/// What differs between backends: opening (again) and per-node snapshots.
pub trait FixtureBackend {
    /// Opens the store (again, on the same data).
    fn open(&self) -> Arc<dyn Store>;
    /// The snapshots of node `node`.
    fn snapshots(&self, node: &str) -> Box<dyn SnapshotStore>;
}

impl Fixture {
    /// A fixture over `backend`.
    pub fn new(backend: Box<dyn FixtureBackend>) -> Fixture {
        Fixture {
            store: Some(backend.open()),
            backend,
        }
    }

    /// Closes the store and opens it again on the same data (a restart).
    pub fn reopen(&mut self) {
        // Closed first: the embedded backend's decision log admits one opener.
        self.store = None;
        self.store = Some(self.backend.open());
    }

    /// The store under test.
    pub fn store(&self) -> &Arc<dyn Store> {
        self.store.as_ref().expect("the store is open")
    }

    fn snapshots(&self, node: &str) -> Box<dyn SnapshotStore> {
        self.backend.snapshots(node)
    }
}

/// Actor, action and object of a test's audit entries.
pub fn audit(action: &str, object: &str) -> NewAuditEntry {
    NewAuditEntry {
        at_ms: 7,
        class: RecordClass::Other,
        content: AuditContent {
            actor: "suite".into(),
            action: action.into(),
            object: object.into(),
            detail: serde_json::json!({ "why": "conformance" }),
        },
    }
}

/// The (action, object) of every entry in the outbox, oldest first.
fn recorded(store: &dyn Store) -> Vec<(String, String)> {
    store
        .queued_audit_entries(10_000)
        .unwrap()
        .into_iter()
        .map(|(_, entry)| (entry.content.action, entry.content.object))
        .collect()
}

fn pair(action: &str, object: &str) -> (String, String) {
    (action.to_owned(), object.to_owned())
}

const POLICY: &str = r#"
[policy]
name = "storage-suite"
[[rules]]
id = "big"
when = "event.kind == 'payment' && event.amount > 100.0"
outcome = "review"
reason = "large payment"
actions = [{ alert = "high" }, { add_to_list = "ip_watch", entity = "ip", ttl = "1h" }]
[[lists]]
name = "ip_watch"
kind = "ip"
"#;

fn engine() -> Engine {
    Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap()
}

/// A payment decided by the suite's policy: over 100 it is reviewed, raises an alert and
/// adds its IP to `ip_watch`.
fn payment(engine: &Engine, n: i64, user: &str, ip: &str, amount: f64) -> DecisionRecord {
    let event = Event::try_from_input(
        EventInput {
            kind: Some(EventKind::Payment),
            user_id: Some(user.into()),
            ip: Some(ip.into()),
            device_id: Some(format!("device{}", n % 3)),
            phone: Some("+86 13812341234".into()),
            amount: Some(amount),
            currency: Some("CNY".into()),
            occurred_at_ms: Some(1_000 + n),
            ..EventInput::default()
        },
        1_000 + n,
        || format!("event{n}"),
    )
    .unwrap();
    let decision = engine.decide(&event, format!("d{n:04}"));
    DecisionRecord { decision, event }
}

fn watch_list(store: &dyn Store) {
    store
        .ensure_list(
            &ListRecord {
                name: "ip_watch".into(),
                kind: ListKind::Ip,
                description: "".into(),
                created_at_ms: 0,
            },
            &audit("list.create", "list:ip_watch"),
        )
        .unwrap();
}

/// 40 payments `d0000`…`d0039` at 1,000…1,039 ms: users alice and bob in turn, IPs
/// 192.0.2.0…3, amounts 0, 10, …, 390 (so 25 over 100), appended as four batches.
fn log_forty(store: &dyn Store) -> Vec<DecisionRecord> {
    watch_list(store);
    let engine = engine();
    let records: Vec<DecisionRecord> = (0..40)
        .map(|n| {
            let user = if n % 2 == 0 { "alice" } else { "bob" };
            payment(
                &engine,
                n,
                user,
                &format!("192.0.2.{}", n % 4),
                (n * 10) as f64,
            )
        })
        .collect();
    let keyring = store.keyring().unwrap();
    let batches: Vec<LogBatch> = records
        .chunks(10)
        .map(|chunk| LogBatch::of(Some(keyring.clone()), chunk).unwrap())
        .collect();
    store.append_decisions(&batches).unwrap();
    records
}

fn ids(records: &[DecisionRecord]) -> Vec<String> {
    records
        .iter()
        .map(|record| record.decision.decision_id.clone())
        .collect()
}

fn entry(value: &str, expires_at_ms: Option<i64>, reason: &str) -> ListEntryRecord {
    ListEntryRecord {
        value: value.into(),
        expires_at_ms,
        added_by: "suite".into(),
        reason: reason.into(),
        created_at_ms: 1,
    }
}

fn list(name: &str, kind: ListKind) -> ListRecord {
    ListRecord {
        name: name.into(),
        kind,
        description: format!("the {name} list"),
        created_at_ms: 3,
    }
}

fn new_policy<'a>(source: &'a str, pending: bool) -> NewPolicyVersion<'a> {
    NewPolicyVersion {
        source,
        author: "alice",
        comment: "why not",
        at_ms: 10,
        pending_approval: pending,
    }
}

fn insert_policy(store: &dyn Store, source: &str, pending: bool) -> u64 {
    store
        .insert_policy_version(&new_policy(source, pending), &|version| {
            audit("policy.create", &format!("policy:{version}"))
        })
        .unwrap()
}

fn operator(store: &dyn Store, username: &str) -> OperatorRecord {
    let record = OperatorRecord {
        username: username.into(),
        password_hash: "$argon2id$v=19$fake".into(),
        totp_secret: vec![1, 2, 3, 250],
        roles: vec![Role::Analyst],
        created_at_ms: 5,
        disabled_at_ms: None,
    };
    store
        .insert_operator(&record, &audit("operator.create", username))
        .unwrap();
    record
}

fn grant_request(username: &str) -> GrantRecord {
    GrantRecord {
        id: 0,
        username: username.into(),
        role: Role::Administrator,
        reason: "incident 7".into(),
        requested_by: username.into(),
        requested_at_ms: 100,
        duration_ms: 3_600_000,
        approved_by: None,
        approved_at_ms: None,
        expires_at_ms: None,
    }
}

fn request_grant(store: &dyn Store, username: &str) -> i64 {
    store
        .insert_grant(&grant_request(username), &|id| {
            audit("grant.request", &format!("grant:{id}"))
        })
        .unwrap()
}

// ---- API keys ----

pub fn insert_api_key(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let key = api_keys::generate(
        "checkout",
        vec![Scope::EventsWrite, Scope::DecisionsRead],
        5,
    );
    store
        .insert_api_key(&key.record, &audit("key.create", "key:checkout"))
        .unwrap();
    assert_eq!(
        store.api_key(&key.record.key_id).unwrap().unwrap(),
        key.record
    );
    assert!(
        store
            .insert_api_key(&key.record, &audit("key.create", "key:again"))
            .is_err(),
        "a key id is unique"
    );
    assert_eq!(
        recorded(store),
        [pair("key.create", "key:checkout")],
        "a failed change records nothing"
    );
}

pub fn api_key(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.api_key("0000000000000000").unwrap().is_none());
    let key = api_keys::generate("console", vec![Scope::Admin], 9);
    store
        .insert_api_key(&key.record, &audit("key.create", "k"))
        .unwrap();
    let found = store.api_key(&key.record.key_id).unwrap().unwrap();
    let (_, secret) = api_keys::split_token(&key.token).unwrap();
    assert!(found.secret_matches(secret));
    assert!(found.grants(Scope::PolicyWrite), "admin grants every scope");
    fixture.reopen();
    assert_eq!(
        fixture
            .store()
            .api_key(&key.record.key_id)
            .unwrap()
            .unwrap(),
        key.record,
        "kept"
    );
}

pub fn api_keys(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.api_keys().unwrap().is_empty());
    let mut made = Vec::new();
    for (name, at) in [("late", 30), ("early", 10), ("middle", 20)] {
        let key = api_keys::generate(name, vec![Scope::EventsWrite], at);
        store
            .insert_api_key(&key.record, &audit("key.create", name))
            .unwrap();
        made.push(key.record);
    }
    let names: Vec<String> = store
        .api_keys()
        .unwrap()
        .into_iter()
        .map(|key| key.name)
        .collect();
    assert_eq!(names, ["early", "middle", "late"], "oldest first");
}

pub fn revoke_api_key(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let key = api_keys::generate("checkout", vec![Scope::EventsWrite], 5);
    store
        .insert_api_key(&key.record, &audit("key.create", "k"))
        .unwrap();
    let revoke = audit("key.revoke", "k");
    assert!(store
        .revoke_api_key(&key.record.key_id, 9, &revoke)
        .unwrap());
    assert!(
        !store
            .revoke_api_key(&key.record.key_id, 10, &revoke)
            .unwrap(),
        "once"
    );
    assert!(!store
        .revoke_api_key("0000000000000000", 10, &revoke)
        .unwrap());
    let found = store.api_key(&key.record.key_id).unwrap().unwrap();
    assert_eq!(found.revoked_at_ms, Some(9));
    assert!(!found.grants(Scope::EventsWrite));
    assert_eq!(
        recorded(store),
        [pair("key.create", "k"), pair("key.revoke", "k")]
    );
}

// ---- policies ----

pub fn insert_policy_version(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let versions: Vec<u64> = ["a", "b", "c"]
        .iter()
        .map(|source| insert_policy(store, source, *source == "b"))
        .collect();
    assert_eq!(versions, [1, 2, 3], "numbered from 1 without gaps");
    let second = store.policy_version(2).unwrap().unwrap();
    assert_eq!(second.source, "b");
    assert_eq!(
        second.sha256,
        "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
    );
    assert_eq!(
        (second.author.as_str(), second.comment.as_str()),
        ("alice", "why not")
    );
    assert_eq!(second.created_at_ms, 10);
    assert!(second.pending_approval && second.approved_by.is_none());
    assert!(
        store.active_policy().unwrap().is_none(),
        "a new version is not live"
    );
    assert_eq!(
        recorded(store),
        [
            pair("policy.create", "policy:1"),
            pair("policy.create", "policy:2"),
            pair("policy.create", "policy:3")
        ],
        "the entry names the version it made"
    );
}

pub fn approve_policy_version(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let plain = insert_policy(store, "a", false);
    let pending = insert_policy(store, "b", true);
    let approve = audit("policy.approve", "p");
    assert!(
        !store
            .approve_policy_version(plain, "carol", 20, &approve)
            .unwrap(),
        "not pending"
    );
    assert!(
        !store
            .approve_policy_version(99, "carol", 20, &approve)
            .unwrap(),
        "no such version"
    );
    assert!(store
        .approve_policy_version(pending, "carol", 20, &approve)
        .unwrap());
    assert!(
        !store
            .approve_policy_version(pending, "dave", 21, &approve)
            .unwrap(),
        "once"
    );
    let approved = store.policy_version(pending).unwrap().unwrap();
    assert!(!approved.pending_approval);
    assert_eq!(approved.approved_by.as_deref(), Some("carol"));
    assert_eq!(
        recorded(store)
            .iter()
            .filter(|(action, _)| action == "policy.approve")
            .count(),
        1
    );
}

pub fn activate_policy_version(fixture: &mut Fixture) {
    let store = fixture.store().clone();
    let first = insert_policy(store.as_ref(), "a", false);
    let second = insert_policy(store.as_ref(), "b", false);
    let activate = |version: u64, expected: Option<u64>| {
        store.activate_policy_version(
            version,
            expected,
            "alice",
            30,
            &audit("policy.activate", &format!("policy:{version}")),
        )
    };
    assert!(
        !activate(first, Some(second)).unwrap(),
        "nothing is live yet"
    );
    assert!(activate(first, None).unwrap());
    assert!(
        !activate(second, None).unwrap(),
        "stale: version 1 is live now"
    );
    assert_eq!(store.active_policy().unwrap().unwrap().version, first);
    assert!(activate(second, Some(first)).unwrap());
    assert!(
        activate(first, Some(second)).unwrap(),
        "a rollback is an activation"
    );
    assert!(matches!(
        activate(99, Some(first)),
        Err(StoreError::NotFound(_))
    ));
    let activations: Vec<(String, String)> = recorded(store.as_ref())
        .into_iter()
        .filter(|(action, _)| action == "policy.activate")
        .collect();
    assert_eq!(
        activations,
        [
            pair("policy.activate", "policy:1"),
            pair("policy.activate", "policy:2"),
            pair("policy.activate", "policy:1")
        ],
        "only successful activations are recorded"
    );

    // Eight changes race from the same live version: exactly one wins.
    let candidates: Vec<u64> = (0..8)
        .map(|n| insert_policy(store.as_ref(), &format!("r{n}"), false))
        .collect();
    let winners: Vec<u64> = std::thread::scope(|scope| {
        let racers: Vec<_> = candidates
            .iter()
            .map(|&version| {
                let store = store.clone();
                scope.spawn(move || {
                    store
                        .activate_policy_version(
                            version,
                            Some(first),
                            "racer",
                            40,
                            &audit("policy.activate", "race"),
                        )
                        .unwrap()
                        .then_some(version)
                })
            })
            .collect();
        racers
            .into_iter()
            .filter_map(|racer| racer.join().unwrap())
            .collect()
    });
    assert_eq!(winners.len(), 1, "compare and set lets one change through");
    assert_eq!(store.active_policy().unwrap().unwrap().version, winners[0]);
    assert_eq!(
        recorded(store.as_ref())
            .iter()
            .filter(|(_, object)| object == "race")
            .count(),
        1
    );
}

pub fn active_policy(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.active_policy().unwrap().is_none());
    let version = insert_policy(store, "[policy]\nname = \"x\"", false);
    store
        .activate_policy_version(version, None, "alice", 30, &audit("policy.activate", "p"))
        .unwrap();
    fixture.reopen();
    let live = fixture.store().active_policy().unwrap().unwrap();
    assert_eq!(
        (live.version, live.source.as_str()),
        (version, "[policy]\nname = \"x\""),
        "kept across a restart"
    );
}

pub fn policy_version(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.policy_version(1).unwrap().is_none());
    insert_policy(store, "one", false);
    assert_eq!(store.policy_version(1).unwrap().unwrap().source, "one");
    assert!(store.policy_version(2).unwrap().is_none());
    assert!(store.policy_version(u64::MAX).unwrap().is_none());
}

pub fn policy_versions(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.policy_versions().unwrap().is_empty());
    for source in ["a", "b", "c"] {
        insert_policy(store, source, false);
    }
    let versions = store.policy_versions().unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [3, 2, 1],
        "newest first"
    );
    assert!(
        versions.iter().all(|v| v.source.is_empty()),
        "without sources"
    );
    assert!(versions.iter().all(|v| v.sha256.len() == 64));
}

// ---- lists ----

pub fn ensure_list(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let created = audit("list.create", "list:ip_block");
    assert!(store
        .ensure_list(&list("ip_block", ListKind::Ip), &created)
        .unwrap());
    assert!(
        !store
            .ensure_list(&list("ip_block", ListKind::Ip), &created)
            .unwrap(),
        "exists"
    );
    assert!(matches!(
        store.ensure_list(&list("ip_block", ListKind::Email), &created),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(recorded(store), [pair("list.create", "list:ip_block")]);
}

pub fn lists(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.lists().unwrap().is_empty());
    let made = [
        list("user_watch", ListKind::User),
        list("email_block", ListKind::Email),
        list("ip_allow", ListKind::Ip),
    ];
    for record in &made {
        store
            .ensure_list(record, &audit("list.create", &record.name))
            .unwrap();
    }
    let found = store.lists().unwrap();
    assert_eq!(
        found,
        [made[1].clone(), made[2].clone(), made[0].clone()],
        "by name"
    );
}

pub fn upsert_list_entries(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    store
        .ensure_list(&list("ip_block", ListKind::Ip), &audit("list.create", "l"))
        .unwrap();
    let add = audit("list.entry.add", "list:ip_block");
    store
        .upsert_list_entries(
            "ip_block",
            &[
                entry("10.0.0.1", None, "first"),
                entry("10.0.0.2", Some(50), "first"),
            ],
            &add,
        )
        .unwrap();
    // Replacing, and the same value twice in one call: the last one wins.
    store
        .upsert_list_entries(
            "ip_block",
            &[
                entry("10.0.0.2", None, "second"),
                entry("10.0.0.3", None, "x"),
                entry("10.0.0.3", Some(9), "last"),
            ],
            &add,
        )
        .unwrap();
    let entries = store.list_entries("ip_block", None, 10).unwrap();
    assert_eq!(
        entries,
        [
            entry("10.0.0.1", None, "first"),
            entry("10.0.0.2", None, "second"),
            entry("10.0.0.3", Some(9), "last")
        ]
    );
    assert!(store
        .upsert_list_entries("no_such_list", &[entry("x", None, "y")], &add)
        .is_err());
    assert_eq!(
        recorded(store)
            .iter()
            .filter(|(action, _)| action == "list.entry.add")
            .count(),
        2,
        "one entry per call, none for the failed call"
    );
}

pub fn remove_list_entry(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    store
        .ensure_list(&list("ip_block", ListKind::Ip), &audit("list.create", "l"))
        .unwrap();
    store
        .upsert_list_entries(
            "ip_block",
            &[entry("10.0.0.1", None, "r")],
            &audit("list.entry.add", "l"),
        )
        .unwrap();
    let remove = audit("list.entry.remove", "l");
    assert!(store
        .remove_list_entry("ip_block", "10.0.0.1", &remove)
        .unwrap());
    assert!(
        !store
            .remove_list_entry("ip_block", "10.0.0.1", &remove)
            .unwrap(),
        "gone"
    );
    assert!(!store
        .remove_list_entry("nothing", "10.0.0.1", &remove)
        .unwrap());
    assert!(store.list_entries("ip_block", None, 10).unwrap().is_empty());
    assert_eq!(
        recorded(store)
            .iter()
            .filter(|(action, _)| action == "list.entry.remove")
            .count(),
        1
    );
}

pub fn list_entries(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    store
        .ensure_list(
            &list("user_block", ListKind::User),
            &audit("list.create", "l"),
        )
        .unwrap();
    store
        .ensure_list(&list("other", ListKind::User), &audit("list.create", "l"))
        .unwrap();
    let values = ["b", "a", "B", "a2", "z", "_x", "Ä"];
    let entries: Vec<ListEntryRecord> =
        values.iter().map(|value| entry(value, None, "r")).collect();
    store
        .upsert_list_entries("user_block", &entries, &audit("list.entry.add", "l"))
        .unwrap();
    store
        .upsert_list_entries(
            "other",
            &[entry("a", None, "r")],
            &audit("list.entry.add", "l"),
        )
        .unwrap();
    let page = |after: Option<&str>, limit| -> Vec<String> {
        store
            .list_entries("user_block", after, limit)
            .unwrap()
            .into_iter()
            .map(|entry| entry.value)
            .collect()
    };
    assert_eq!(page(None, 3), ["B", "_x", "a"], "ordered byte by byte");
    assert_eq!(page(Some("a"), 100), ["a2", "b", "z", "Ä"]);
    assert!(page(Some("Ä"), 100).is_empty());
    assert!(store.list_entries("nothing", None, 10).unwrap().is_empty());
}

pub fn for_each_list_entry(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    store
        .ensure_list(&list("ip_block", ListKind::Ip), &audit("list.create", "l"))
        .unwrap();
    // More than one chunk of a load.
    let entries: Vec<ListEntryRecord> = (0..25_000)
        .map(|n| {
            entry(
                &format!("10.{}.{}.{}", n / 65_536, (n / 256) % 256, n % 256),
                (n % 10 == 0).then_some(500),
                "r",
            )
        })
        .collect();
    store
        .upsert_list_entries("ip_block", &entries, &audit("list.entry.add", "l"))
        .unwrap();
    let mut seen = 0;
    let mut calls = 0;
    store
        .for_each_list_entry("ip_block", 500, &mut |batch| {
            seen += batch.len();
            calls += 1;
            assert!(batch.iter().all(|entry| entry.expires_at_ms.is_none()));
        })
        .unwrap();
    assert_eq!(seen, 22_500, "expired entries are not loaded");
    assert!(calls >= 2, "in batches");
    let mut before_expiry = 0;
    store
        .for_each_list_entry("ip_block", 499, &mut |batch| before_expiry += batch.len())
        .unwrap();
    assert_eq!(before_expiry, 25_000);
}

pub fn purge_expired_list_entries(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    store
        .ensure_list(&list("ip_block", ListKind::Ip), &audit("list.create", "l"))
        .unwrap();
    let entries = [
        entry("a", Some(100), "r"),
        entry("b", Some(101), "r"),
        entry("c", None, "r"),
    ];
    store
        .upsert_list_entries("ip_block", &entries, &audit("list.entry.add", "l"))
        .unwrap();
    assert_eq!(store.purge_expired_list_entries(99, 0).unwrap(), 0);
    assert_eq!(
        store.purge_expired_list_entries(100, 0).unwrap(),
        1,
        "due at its expiry"
    );
    assert_eq!(store.purge_expired_list_entries(1_000, 0).unwrap(), 1);
    let left: Vec<String> = store
        .list_entries("ip_block", None, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.value)
        .collect();
    assert_eq!(left, ["c"]);
}

// ---- decisions ----

pub fn list_changes_after(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    store
        .ensure_list(&list("ip_block", ListKind::Ip), &audit("list.create", "l"))
        .unwrap();
    let start = store.last_list_change().unwrap();
    store
        .upsert_list_entries(
            "ip_block",
            &[
                entry("10.0.0.1", Some(500), "r"),
                entry("10.0.0.2", None, "r"),
            ],
            &audit("list.entry.add", "l"),
        )
        .unwrap();
    store
        .remove_list_entry("ip_block", "10.0.0.1", &audit("list.entry.remove", "l"))
        .unwrap();
    // Removing what is not there changes nothing, and records no change.
    store
        .remove_list_entry("ip_block", "10.9.9.9", &audit("list.entry.remove", "l"))
        .unwrap();
    let changes = store.list_changes_after(start, 10).unwrap();
    let seen: Vec<(&str, Option<i64>, bool)> = changes
        .iter()
        .map(|change| (change.value.as_str(), change.expires_at_ms, change.removed))
        .collect();
    assert_eq!(
        seen,
        [
            ("10.0.0.1", Some(500), false),
            ("10.0.0.2", None, false),
            ("10.0.0.1", None, true)
        ]
    );
    assert!(changes.iter().all(|change| change.list == "ip_block"));
    assert!(
        changes.windows(2).all(|pair| pair[0].seq < pair[1].seq),
        "in order"
    );
    let after_first = store.list_changes_after(changes[0].seq, 1).unwrap();
    assert_eq!(after_first.len(), 1, "at most the limit");
    assert_eq!(after_first[0].seq, changes[1].seq);
    assert!(store
        .list_changes_after(changes[2].seq, 10)
        .unwrap()
        .is_empty());
    // Purged with the entries' upkeep once older than the cutoff.
    let at = changes[0].seq;
    store.purge_expired_list_entries(0, i64::MAX).unwrap();
    assert!(store.list_changes_after(at - 1, 10).unwrap().is_empty());
}

pub fn last_list_change(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert_eq!(store.last_list_change().unwrap(), 0, "none yet");
    store
        .ensure_list(&list("ip_block", ListKind::Ip), &audit("list.create", "l"))
        .unwrap();
    store
        .upsert_list_entries(
            "ip_block",
            &[entry("10.0.0.1", None, "r")],
            &audit("list.entry.add", "l"),
        )
        .unwrap();
    let first = store.last_list_change().unwrap();
    assert!(first > 0);
    store
        .remove_list_entry("ip_block", "10.0.0.1", &audit("list.entry.remove", "l"))
        .unwrap();
    assert!(store.last_list_change().unwrap() > first);
}

pub fn append_decisions(fixture: &mut Fixture) {
    let store = fixture.store().clone();
    watch_list(store.as_ref());
    let engine = engine();
    let records: Vec<DecisionRecord> = (0..6)
        .map(|n| {
            payment(
                &engine,
                n,
                "alice",
                &format!("192.0.2.{n}"),
                50.0 * n as f64,
            )
        })
        .collect();
    assert!(
        matches!(
            store.append_decisions(&[LogBatch::of(None, &records).unwrap()]),
            Err(StoreError::Conflict(_))
        ),
        "a batch that did not seal personal fields is refused"
    );
    assert_eq!(store.decision_count().unwrap(), 0);
    let keyring = store.keyring().unwrap();
    let batch = LogBatch::of(Some(keyring.clone()), &records).unwrap();
    assert_eq!(batch.alerts().len(), 3, "150, 200 and 250 are over 100");
    store.append_decisions(&[batch]).unwrap();
    // A writer retries a batch whose append failed: alerts and list entries are not doubled.
    store
        .append_decisions(&[LogBatch::of(Some(keyring.clone()), &records).unwrap()])
        .unwrap();
    assert_eq!(store.query_alerts(None, None, 100).unwrap().len(), 3);
    let watched: Vec<String> = store
        .list_entries("ip_watch", None, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.value)
        .collect();
    assert_eq!(watched, ["192.0.2.3", "192.0.2.4", "192.0.2.5"]);
    let added = &store.list_entries("ip_watch", None, 1).unwrap()[0];
    assert_eq!(
        (added.added_by.as_str(), added.reason.as_str()),
        ("rule:big", "large payment")
    );
    assert_eq!(added.expires_at_ms, Some(1_003 + 3_600_000));
    assert_eq!(store.decision("d0005").unwrap().unwrap(), records[5]);

    // Through the writer thread, as a node logs.
    let log = DecisionLog::start(store.clone(), Some(keyring), 4);
    let more: Vec<DecisionRecord> = (10..40)
        .map(|n| payment(&engine, n, "bob", "198.51.100.1", 1.0))
        .collect();
    std::thread::scope(|scope| {
        for part in more.chunks(10) {
            let log = &log;
            scope.spawn(move || {
                for three in part.chunks(3) {
                    let mut batch = log.batch(three.len());
                    for record in three {
                        batch.push(record).unwrap();
                    }
                    log.append(batch).unwrap();
                }
            });
        }
    });
    log.flush().unwrap();
    let bob = store
        .query_decisions(&DecisionQuery {
            user_id: Some("bob".into()),
            limit: 100,
            ..DecisionQuery::default()
        })
        .unwrap();
    assert_eq!(bob.len(), 30, "nothing lost through a full queue");
    // With a receipt: readable as soon as it completes, without a flush (decision 0029).
    let last = payment(&engine, 40, "carol", "198.51.100.2", 1.0);
    let mut batch = log.batch(1);
    batch.push(&last).unwrap();
    log.append_durable(batch)
        .unwrap()
        .written_blocking()
        .unwrap();
    assert_eq!(
        store.decision(&last.decision.decision_id).unwrap().as_ref(),
        Some(&last)
    );
    log.close();
}

pub fn decision(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.decision("d0001").unwrap().is_none());
    let records = log_forty(store);
    let found = store.decision("d0017").unwrap().unwrap();
    assert_eq!(found, records[17], "personal fields opened again");
    assert_eq!(found.event.phone.as_deref(), Some("+86 13812341234"));
    assert!(store.decision("d9999").unwrap().is_none());
    fixture.reopen();
    assert_eq!(
        fixture.store().decision("d0039").unwrap().unwrap(),
        records[39],
        "kept"
    );
}

pub fn query_decisions(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let records = log_forty(store);
    let query = |query: DecisionQuery| ids(&store.query_decisions(&query).unwrap());
    let expected = |keep: &dyn Fn(i64) -> bool| -> Vec<String> {
        (0..40)
            .rev()
            .filter(|n| keep(*n))
            .map(|n| format!("d{n:04}"))
            .collect()
    };
    let everything = DecisionQuery {
        limit: 1_000,
        ..DecisionQuery::default()
    };
    assert_eq!(
        query(everything.clone()),
        expected(&|_| true),
        "newest first"
    );
    assert_eq!(
        query(DecisionQuery {
            limit: 5,
            ..everything.clone()
        }),
        expected(&|n| n >= 35),
        "at most the limit"
    );
    assert_eq!(
        query(DecisionQuery {
            user_id: Some("alice".into()),
            ..everything.clone()
        }),
        expected(&|n| n % 2 == 0)
    );
    assert_eq!(
        query(DecisionQuery {
            ip: Some("192.0.2.3".into()),
            ..everything.clone()
        }),
        expected(&|n| n % 4 == 3)
    );
    assert_eq!(
        query(DecisionQuery {
            device_id: Some("device1".into()),
            ..everything.clone()
        }),
        expected(&|n| n % 3 == 1)
    );
    assert_eq!(
        query(DecisionQuery {
            outcome: Some("review".into()),
            ..everything.clone()
        }),
        expected(&|n| n > 10)
    );
    assert_eq!(
        query(DecisionQuery {
            from_ms: Some(1_010),
            to_ms: Some(1_020),
            ..everything.clone()
        }),
        expected(&|n| (10..20).contains(&n)),
        "from inclusive, to exclusive"
    );
    assert_eq!(
        query(DecisionQuery {
            user_id: Some("bob".into()),
            ip: Some("192.0.2.1".into()),
            outcome: Some("allow".into()),
            ..everything.clone()
        }),
        expected(&|n| n % 4 == 1 && n <= 10),
        "every given field must match"
    );
    assert!(query(DecisionQuery {
        user_id: Some("carol".into()),
        ..everything.clone()
    })
    .is_empty());
    let opened = store
        .query_decisions(&DecisionQuery {
            limit: 1,
            ..everything
        })
        .unwrap();
    assert_eq!(opened[0], records[39], "personal fields opened again");
}

const RULES_POLICY: &str = r#"
[policy]
name = "storage-suite-rules"
[[rules]]
id = "big"
when = "event.kind == 'payment' && event.amount > 100.0"
outcome = "review"
reason = "large payment"
[[rules]]
id = "small"
mode = "shadow"
when = "event.kind == 'payment' && event.amount < 50.0"
outcome = "review"
reason = "small payment"
"#;

/// 40 payments `d0000`…`d0039` decided by [`RULES_POLICY`], two at each time (1,000 ms for
/// `d0000` and `d0001`, …, 1,019 ms), users alice and bob in turn, amounts 0, 10, …, 390: rule
/// `big` (enforced) matches `d0011`…`d0039`, rule `small` (shadow) `d0000`…`d0004`. Appended
/// as four batches.
fn log_with_rules(store: &dyn Store) -> Vec<DecisionRecord> {
    let engine = Engine::new(RULES_POLICY, 1, Arc::new(ListRegistry::new())).unwrap();
    let records: Vec<DecisionRecord> = (0..40)
        .map(|n| {
            let user = if n % 2 == 0 { "alice" } else { "bob" };
            let mut record = payment(
                &engine,
                n,
                user,
                &format!("192.0.2.{}", n % 4),
                (n * 10) as f64,
            );
            record.event.occurred_at_ms = 1_000 + n / 2;
            record.decision.occurred_at_ms = 1_000 + n / 2;
            record
        })
        .collect();
    let keyring = store.keyring().unwrap();
    let batches: Vec<LogBatch> = records
        .chunks(10)
        .map(|chunk| LogBatch::of(Some(keyring.clone()), chunk).unwrap())
        .collect();
    store.append_decisions(&batches).unwrap();
    records
}

/// `d{n}` for the `n` that `keep` admits, newest first.
fn newest_first(keep: &dyn Fn(i64) -> bool) -> Vec<String> {
    (0..40)
        .rev()
        .filter(|n| keep(*n))
        .map(|n| format!("d{n:04}"))
        .collect()
}

pub fn query_decisions_by_rule(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    log_with_rules(store);
    let query = |query: DecisionQuery| ids(&store.query_decisions(&query).unwrap());
    let by_rule = |rule: &str| DecisionQuery {
        rule_id: Some(rule.into()),
        limit: 1_000,
        ..DecisionQuery::default()
    };
    assert_eq!(query(by_rule("big")), newest_first(&|n| n > 10), "enforced");
    assert_eq!(query(by_rule("small")), newest_first(&|n| n < 5), "shadow");
    assert_eq!(
        query(DecisionQuery {
            limit: 3,
            ..by_rule("big")
        }),
        newest_first(&|n| n >= 37),
        "at most the limit"
    );
    assert_eq!(
        query(DecisionQuery {
            user_id: Some("alice".into()),
            ..by_rule("big")
        }),
        newest_first(&|n| n > 10 && n % 2 == 0),
        "with an entity"
    );
    assert_eq!(
        query(DecisionQuery {
            from_ms: Some(1_002),
            to_ms: Some(1_007),
            ..by_rule("small")
        }),
        newest_first(&|n| (4..5).contains(&n)),
        "with a time range"
    );
    assert!(query(by_rule("no_such_rule")).is_empty());
}

pub fn query_decisions_pages(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    log_with_rules(store);
    // Pages of `size` after one another, each from the last id of the one before.
    let pages = |filter: DecisionQuery, size: u32| -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut before_id = None;
        loop {
            let page = ids(&store
                .query_decisions(&DecisionQuery {
                    before_id: before_id.clone(),
                    limit: size,
                    ..filter.clone()
                })
                .unwrap());
            let Some(last) = page.last().cloned() else {
                return pages;
            };
            pages.push(page);
            before_id = Some(last);
            assert!(pages.len() <= 40, "paging ends");
        }
    };
    // Seven a page: pages end between two decisions of the same time, and none is repeated
    // or skipped.
    let all = pages(DecisionQuery::default(), 7);
    assert_eq!(all.len(), 6);
    assert!(all[..5].iter().all(|page| page.len() == 7));
    assert_eq!(all.concat(), newest_first(&|_| true));
    let filtered = pages(
        DecisionQuery {
            user_id: Some("alice".into()),
            rule_id: Some("big".into()),
            ..DecisionQuery::default()
        },
        4,
    );
    assert_eq!(filtered.concat(), newest_first(&|n| n > 10 && n % 2 == 0));
    assert_eq!(filtered[0].len(), 4);
    let after = |before_id: &str, filter: DecisionQuery| {
        ids(&store
            .query_decisions(&DecisionQuery {
                before_id: Some(before_id.into()),
                limit: 1_000,
                ..filter
            })
            .unwrap())
    };
    assert_eq!(
        after("d0021", DecisionQuery::default()),
        newest_first(&|n| n < 21),
        "strictly older, its twin of the same time included"
    );
    assert_eq!(
        after(
            "d0021",
            DecisionQuery {
                user_id: Some("bob".into()),
                ..DecisionQuery::default()
            }
        ),
        newest_first(&|n| n < 21 && n % 2 == 1),
        "a cursor from outside the filter"
    );
    assert!(
        after("d0000", DecisionQuery::default()).is_empty(),
        "oldest"
    );
    assert!(
        after("d9999", DecisionQuery::default()).is_empty(),
        "an unknown cursor gives an empty page"
    );
}

pub fn count_decisions(fixture: &mut Fixture) {
    {
        let store = fixture.store().as_ref();
        assert_eq!(
            store
                .count_decisions(&DecisionQuery::default(), 100)
                .unwrap(),
            (0, false)
        );
        log_with_rules(store);
    }
    for reopened in [false, true] {
        if reopened {
            fixture.reopen();
        }
        let store = fixture.store().as_ref();
        let count = |query: DecisionQuery, cap: u64| store.count_decisions(&query, cap).unwrap();
        let everything = DecisionQuery::default();
        assert_eq!(count(everything.clone(), 10_000), (40, false), "{reopened}");
        assert_eq!(
            count(everything.clone(), 40),
            (40, false),
            "exactly the cap"
        );
        assert_eq!(
            count(everything.clone(), 39),
            (39, true),
            "more than the cap"
        );
        assert_eq!(count(everything.clone(), 0), (0, true));
        assert_eq!(
            count(
                DecisionQuery {
                    limit: 1,
                    before_id: Some("d0020".into()),
                    ..everything.clone()
                },
                10_000
            ),
            (40, false),
            "limit and cursor ignored"
        );
        let big = DecisionQuery {
            rule_id: Some("big".into()),
            ..everything.clone()
        };
        assert_eq!(count(big.clone(), 10_000), (29, false));
        assert_eq!(count(big.clone(), 5), (5, true));
        let alice = DecisionQuery {
            user_id: Some("alice".into()),
            ..everything.clone()
        };
        assert_eq!(count(alice.clone(), 10_000), (20, false));
        assert_eq!(count(alice.clone(), 20), (20, false));
        assert_eq!(count(alice.clone(), 19), (19, true));
        assert_eq!(
            count(
                DecisionQuery {
                    rule_id: Some("big".into()),
                    ..alice.clone()
                },
                10_000
            ),
            (14, false)
        );
        assert_eq!(
            count(
                DecisionQuery {
                    outcome: Some("review".into()),
                    ..everything.clone()
                },
                10_000
            ),
            (29, false),
            "a shadow rule does not act"
        );
        assert_eq!(
            count(
                DecisionQuery {
                    from_ms: Some(1_005),
                    to_ms: Some(1_010),
                    ..everything.clone()
                },
                10_000
            ),
            (10, false)
        );
        assert_eq!(
            count(
                DecisionQuery {
                    from_ms: Some(1_005),
                    to_ms: Some(1_010),
                    ..alice.clone()
                },
                3
            ),
            (3, true)
        );
        assert_eq!(
            count(
                DecisionQuery {
                    ip: Some("192.0.2.9".into()),
                    ..everything.clone()
                },
                10_000
            ),
            (0, false)
        );
    }
}

pub fn query_alerts(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.query_alerts(None, None, 10).unwrap().is_empty());
    log_forty(store);
    let alerts = store.query_alerts(None, None, 1_000).unwrap();
    assert_eq!(alerts.len(), 29, "every payment over 100 (110…390)");
    assert_eq!(alerts[0].decision_id, "d0039", "newest first");
    assert_eq!(
        (
            alerts[0].severity.as_str(),
            alerts[0].rule_id.as_str(),
            alerts[0].user_id.as_str(),
            alerts[0].ip.as_deref(),
            alerts[0].message.as_str()
        ),
        ("high", "big", "bob", Some("192.0.2.3"), "large payment")
    );
    assert!(alerts
        .windows(2)
        .all(|pair| pair[0].created_at_ms > pair[1].created_at_ms));
    assert!(alerts.windows(2).all(|pair| pair[0].seq != pair[1].seq));
    let window = store.query_alerts(Some(1_020), Some(1_030), 1_000).unwrap();
    assert_eq!(window.len(), 10);
    assert_eq!(store.query_alerts(None, None, 3).unwrap().len(), 3);
}

pub fn purge_decisions_before(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    log_forty(store);
    assert_eq!(store.purge_decisions_before(1_000).unwrap(), 0);
    assert_eq!(store.purge_decisions_before(1_025).unwrap(), 25);
    assert!(store.decision("d0024").unwrap().is_none());
    assert!(store.decision("d0025").unwrap().is_some());
    assert_eq!(store.decision_count().unwrap(), 15);
    let alerts = store.query_alerts(None, None, 1_000).unwrap();
    assert_eq!(alerts.len(), 15, "alerts older than the cut-off go too");
    assert!(alerts.iter().all(|alert| alert.created_at_ms >= 1_025));
}

/// Purging decisions drops the triage state and notes of the alerts it removes, and keeps
/// those of newer alerts.
pub fn purge_decisions_before_drops_alert_triage(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    log_forty(store);
    let alerts = store.query_alerts(None, None, 1_000).unwrap();
    let old = alerts.last().unwrap().seq;
    let new = alerts[0].seq;
    for seq in [old, new] {
        store
            .change_alert(
                seq,
                0,
                &acknowledge_by("ana"),
                &audit("alert.acknowledge", "a"),
            )
            .unwrap()
            .unwrap();
        store
            .add_alert_note(seq, &note("ana", "looking"), &audit("alert.note", "a"))
            .unwrap();
    }
    assert_eq!(store.purge_decisions_before(1_025).unwrap(), 25);
    assert!(store.alert(old).unwrap().is_none());
    let kept = store.alert(new).unwrap().unwrap();
    assert_eq!(kept.triage.status, AlertStatus::Acknowledged);
    assert_eq!(kept.notes, [note("ana", "looking")]);
    let all = store.alert_queue(&AlertFilter::default()).unwrap();
    assert_eq!(all.len(), 15);
    assert_eq!(
        store
            .count_alerts(&AlertFilter {
                status: Some(AlertStatus::Acknowledged),
                ..AlertFilter::default()
            })
            .unwrap()
            .total,
        1
    );
}

pub fn decision_count(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert_eq!(store.decision_count().unwrap(), 0);
    log_forty(store);
    assert_eq!(store.decision_count().unwrap(), 40);
    fixture.reopen();
    assert_eq!(fixture.store().decision_count().unwrap(), 40);
}

pub fn reencrypt_decisions(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let records = log_forty(store);
    assert_eq!(
        store
            .rotate_data_key(50, &|id| audit("key.rotate", &id.to_string()))
            .unwrap(),
        2
    );
    let engine = engine();
    let later: Vec<DecisionRecord> = (40..45)
        .map(|n| payment(&engine, n, "carol", "192.0.2.9", 1.0))
        .collect();
    store
        .append_decisions(&[LogBatch::of(Some(store.keyring().unwrap()), &later).unwrap()])
        .unwrap();
    let mut steps = Vec::new();
    let changed = store
        .reencrypt_decisions(&mut |done, total| steps.push((done, total)))
        .unwrap();
    assert_eq!(changed, 40, "the records sealed under key 1");
    assert!(
        steps.last().is_some_and(|(done, total)| done == total),
        "{steps:?}"
    );
    assert_eq!(
        store.reencrypt_decisions(&mut |_, _| {}).unwrap(),
        0,
        "nothing left under the old key"
    );
    assert_eq!(store.decision("d0003").unwrap().unwrap(), records[3]);
    assert_eq!(store.decision_count().unwrap(), 45);
    fixture.reopen();
    let all = fixture
        .store()
        .query_decisions(&DecisionQuery {
            limit: 100,
            ..DecisionQuery::default()
        })
        .unwrap();
    assert!(all
        .iter()
        .all(|record| record.event.phone.as_deref() == Some("+86 13812341234")));
}

// ---- operators ----

pub fn insert_operator(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let ana = operator(store, "ana");
    assert_eq!(
        store.operator("ana").unwrap().unwrap(),
        ana,
        "the TOTP secret comes back opened"
    );
    let again = store.insert_operator(&ana, &audit("operator.create", "ana again"));
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(recorded(store), [pair("operator.create", "ana")]);
}

pub fn operator_(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.operator("ana").unwrap().is_none());
    let ana = operator(store, "ana");
    fixture.reopen();
    assert_eq!(
        fixture.store().operator("ana").unwrap().unwrap(),
        ana,
        "kept, and its secret opens after a restart"
    );
}

pub fn operators(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.operators().unwrap().is_empty());
    for name in ["zoe", "Bob", "ana"] {
        operator(store, name);
    }
    let names: Vec<String> = store
        .operators()
        .unwrap()
        .into_iter()
        .map(|o| o.username)
        .collect();
    assert_eq!(names, ["Bob", "ana", "zoe"]);
}

pub fn disable_operator(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    operator(store, "ana");
    let disable = audit("operator.disable", "ana");
    assert!(store.disable_operator("ana", 60, &disable).unwrap());
    assert!(
        !store.disable_operator("ana", 61, &disable).unwrap(),
        "once"
    );
    assert!(!store.disable_operator("nobody", 61, &disable).unwrap());
    assert_eq!(
        store.operator("ana").unwrap().unwrap().disabled_at_ms,
        Some(60)
    );
    assert_eq!(
        recorded(store),
        [
            pair("operator.create", "ana"),
            pair("operator.disable", "ana")
        ]
    );
}

fn session_of(username: &str, id: &str) -> SessionRecord {
    SessionRecord {
        session_id: id.into(),
        secret_sha256: vec![7; 32],
        username: username.into(),
        created_at_ms: 70,
        expires_at_ms: 70 + 3_600_000,
        last_seen_at_ms: 70,
        ended_at_ms: None,
        client: Some("192.0.2.7".into()),
    }
}

/// Session `id` of `username`, begun at `created_at_ms`.
fn session_at(username: &str, id: &str, created_at_ms: i64) -> SessionRecord {
    SessionRecord {
        created_at_ms,
        last_seen_at_ms: created_at_ms,
        client: None,
        ..session_of(username, id)
    }
}

pub fn insert_session(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    operator(store, "ana");
    let session = session_of("ana", "s1");
    assert!(store
        .insert_session(&session, 100, &audit("operator.login", "ana"))
        .unwrap());
    assert!(
        store
            .insert_session(
                &session_of("nobody", "s2"),
                101,
                &audit("operator.login", "nobody")
            )
            .is_err(),
        "only for an operator"
    );
    assert!(
        store
            .insert_session(&session, 102, &audit("operator.login", "twice"))
            .is_err(),
        "ids are unique"
    );
    assert_eq!(
        store.last_totp_step("ana").unwrap(),
        Some(100),
        "a failed insert claims no step"
    );
    // A code of the same step, or an earlier one, is a replay: nothing stored or recorded.
    for replayed in [100, 99] {
        assert!(!store
            .insert_session(
                &session_of("ana", "s3"),
                replayed,
                &audit("operator.login", "replay")
            )
            .unwrap());
    }
    assert!(store.session("s3").unwrap().is_none());
    assert!(store
        .insert_session(
            &session_of("ana", "s3"),
            101,
            &audit("operator.login", "ana")
        )
        .unwrap());
    assert_eq!(
        recorded(store),
        [
            pair("operator.create", "ana"),
            pair("operator.login", "ana"),
            pair("operator.login", "ana")
        ]
    );
}

pub fn last_totp_step(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert_eq!(store.last_totp_step("ana").unwrap(), None, "no operator");
    operator(store, "ana");
    operator(store, "bob");
    assert_eq!(
        store.last_totp_step("ana").unwrap(),
        None,
        "never logged in"
    );
    store
        .insert_session(
            &session_of("ana", "s1"),
            57_000_000,
            &audit("operator.login", "ana"),
        )
        .unwrap();
    assert_eq!(store.last_totp_step("ana").unwrap(), Some(57_000_000));
    assert_eq!(store.last_totp_step("bob").unwrap(), None, "per operator");
    fixture.reopen();
    assert_eq!(
        fixture.store().last_totp_step("ana").unwrap(),
        Some(57_000_000),
        "kept"
    );
}

pub fn session(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.session("s1").unwrap().is_none());
    operator(store, "ana");
    let session = session_of("ana", "s1");
    store
        .insert_session(&session, 1, &audit("operator.login", "ana"))
        .unwrap();
    assert_eq!(
        store.session("s1").unwrap().unwrap(),
        session,
        "with its client address"
    );
    fixture.reopen();
    assert_eq!(fixture.store().session("s1").unwrap().unwrap(), session);
}

pub fn touch_session(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    operator(store, "ana");
    store
        .insert_session(&session_of("ana", "s1"), 1, &audit("operator.login", "ana"))
        .unwrap();
    store.touch_session("s1", 60_070).unwrap();
    assert_eq!(
        store.session("s1").unwrap().unwrap().last_seen_at_ms,
        60_070
    );
    store.touch_session("s1", 50_000).unwrap();
    assert_eq!(
        store.session("s1").unwrap().unwrap().last_seen_at_ms,
        60_070,
        "never moves back (two nodes touching out of order)"
    );
    store.touch_session("unknown", 70_000).unwrap();
    assert!(store.session("unknown").unwrap().is_none(), "nothing made");
    assert_eq!(
        recorded(store),
        [
            pair("operator.create", "ana"),
            pair("operator.login", "ana")
        ],
        "activity is not audited"
    );
}

pub fn end_session(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    operator(store, "ana");
    for (id, step) in [("s1", 1), ("s2", 2)] {
        store
            .insert_session(
                &session_of("ana", id),
                step,
                &audit("operator.login", "ana"),
            )
            .unwrap();
    }
    let logout = audit("operator.logout", "session:s1");
    assert!(store.end_session("s1", 900, &logout).unwrap());
    assert!(!store.end_session("s1", 901, &logout).unwrap(), "once");
    assert!(!store
        .end_session("unknown", 901, &audit("operator.logout", "unknown"))
        .unwrap());
    assert_eq!(store.session("s1").unwrap().unwrap().ended_at_ms, Some(900));
    assert_eq!(
        store.session("s2").unwrap().unwrap().ended_at_ms,
        None,
        "only that one"
    );
    assert_eq!(
        recorded(store),
        [
            pair("operator.create", "ana"),
            pair("operator.login", "ana"),
            pair("operator.login", "ana"),
            pair("operator.logout", "session:s1")
        ]
    );
}

pub fn end_sessions_of(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    operator(store, "ana");
    operator(store, "bob");
    for (username, id, step) in [
        ("ana", "a1", 1),
        ("ana", "a2", 2),
        ("ana", "a3", 3),
        ("bob", "b1", 1),
    ] {
        store
            .insert_session(
                &session_of(username, id),
                step,
                &audit("operator.login", id),
            )
            .unwrap();
    }
    store
        .end_session("a1", 500, &audit("operator.logout", "a1"))
        .unwrap();
    let everywhere = audit("operator.logout_everywhere", "operator:ana");
    assert_eq!(
        store.end_sessions_of("ana", 600, &everywhere).unwrap(),
        2,
        "the two not ended yet"
    );
    assert_eq!(store.end_sessions_of("ana", 700, &everywhere).unwrap(), 0);
    assert_eq!(
        store.end_sessions_of("nobody", 700, &everywhere).unwrap(),
        0
    );
    let ended: Vec<Option<i64>> = ["a1", "a2", "a3", "b1"]
        .iter()
        .map(|id| store.session(id).unwrap().unwrap().ended_at_ms)
        .collect();
    assert_eq!(
        ended,
        [Some(500), Some(600), Some(600), None],
        "an earlier end is kept; other operators' sessions are untouched"
    );
    assert_eq!(
        recorded(store),
        [
            pair("operator.create", "ana"),
            pair("operator.create", "bob"),
            pair("operator.login", "a1"),
            pair("operator.login", "a2"),
            pair("operator.login", "a3"),
            pair("operator.login", "b1"),
            pair("operator.logout", "a1"),
            pair("operator.logout_everywhere", "operator:ana")
        ],
        "one entry for the change, none when nothing was ended"
    );
}

pub fn sessions_of(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.sessions_of("ana").unwrap().is_empty());
    operator(store, "ana");
    operator(store, "bob");
    let count = shopguard_storage::operators::SESSIONS_LISTED as i64 + 5;
    for n in 0..count {
        store
            .insert_session(
                &session_at("ana", &format!("a{n:03}"), 1_000 + n),
                n + 1,
                &audit("operator.login", "ana"),
            )
            .unwrap();
    }
    store
        .insert_session(
            &session_at("bob", "b1", 5_000),
            1,
            &audit("operator.login", "bob"),
        )
        .unwrap();
    store
        .end_session("a104", 9_000, &audit("operator.logout", "a104"))
        .unwrap();
    let listed = store.sessions_of("ana").unwrap();
    assert_eq!(listed.len(), shopguard_storage::operators::SESSIONS_LISTED);
    assert_eq!(listed[0].session_id, "a104", "newest first");
    assert_eq!(listed[0].ended_at_ms, Some(9_000), "ended ones included");
    assert_eq!(listed[1], session_at("ana", "a103", 1_103));
    assert_eq!(listed.last().unwrap().session_id, "a005");
    assert!(listed.iter().all(|session| session.username == "ana"));
    assert_eq!(
        store.sessions_of("bob").unwrap(),
        [session_at("bob", "b1", 5_000)]
    );
}

pub fn insert_grant(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    operator(store, "ana");
    let first = request_grant(store, "ana");
    let second = request_grant(store, "ana");
    assert!(second > first);
    let stored = store.grant(first).unwrap().unwrap();
    assert_eq!(
        stored,
        GrantRecord {
            id: first,
            ..grant_request("ana")
        }
    );
    assert!(!stored.is_active(200), "not approved yet");
    assert!(
        store
            .insert_grant(&grant_request("nobody"), &|id| audit(
                "grant.request",
                &id.to_string()
            ))
            .is_err(),
        "only for an operator"
    );
    let requests: Vec<(String, String)> = recorded(store)
        .into_iter()
        .filter(|(a, _)| a == "grant.request")
        .collect();
    assert_eq!(
        requests,
        [
            pair("grant.request", &format!("grant:{first}")),
            pair("grant.request", &format!("grant:{second}"))
        ],
        "the entry names the id it got"
    );
}

pub fn grant(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.grant(1).unwrap().is_none());
    operator(store, "ana");
    let id = request_grant(store, "ana");
    assert_eq!(store.grant(id).unwrap().unwrap().reason, "incident 7");
    assert!(store.grant(id + 1).unwrap().is_none());
}

pub fn approve_grant(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    operator(store, "ana");
    let id = request_grant(store, "ana");
    let approve = audit("grant.approve", "g");
    assert!(store.approve_grant(id, "bob", 1_000, &approve).unwrap());
    assert!(
        !store.approve_grant(id, "carol", 2_000, &approve).unwrap(),
        "once"
    );
    assert!(!store
        .approve_grant(id + 100, "carol", 2_000, &approve)
        .unwrap());
    let approved = store.grant(id).unwrap().unwrap();
    assert_eq!(approved.approved_by.as_deref(), Some("bob"));
    assert_eq!(
        (approved.approved_at_ms, approved.expires_at_ms),
        (Some(1_000), Some(1_000 + 3_600_000))
    );
    assert!(approved.is_active(2_000) && !approved.is_active(1_000 + 3_600_000));
    assert_eq!(
        recorded(store)
            .iter()
            .filter(|(a, _)| a == "grant.approve")
            .count(),
        1
    );
}

pub fn grants(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.grants(None).unwrap().is_empty());
    operator(store, "ana");
    operator(store, "bob");
    let first = request_grant(store, "ana");
    let second = request_grant(store, "bob");
    let third = request_grant(store, "ana");
    let of = |user: Option<&str>| -> Vec<i64> {
        store
            .grants(user)
            .unwrap()
            .into_iter()
            .map(|g| g.id)
            .collect()
    };
    assert_eq!(of(None), [third, second, first], "newest first");
    assert_eq!(of(Some("ana")), [third, first]);
    assert!(of(Some("nobody")).is_empty());
}

// ---- data keys ----

pub fn keyring(fixture: &mut Fixture) {
    let keyring = fixture.store().keyring().unwrap();
    assert_eq!(
        keyring.active_id(),
        1,
        "the first data key is made at first start"
    );
    let sealed = keyring.seal("13812341234").unwrap();
    assert!(!sealed.contains("1381234"));
    fixture.reopen();
    let reopened = fixture.store().keyring().unwrap();
    assert_eq!(reopened.active_id(), 1, "not made again");
    assert_eq!(reopened.open(&sealed).unwrap(), "13812341234");
}

pub fn rotate_data_key(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let sealed = store.keyring().unwrap().seal("old").unwrap();
    let rotate = |id: u32| audit("key.rotate", &format!("data-key:{id}"));
    assert_eq!(store.rotate_data_key(10, &rotate).unwrap(), 2);
    assert_eq!(store.rotate_data_key(11, &rotate).unwrap(), 3);
    let keyring = store.keyring().unwrap();
    assert_eq!(keyring.active_id(), 3);
    let newer = keyring.seal("new").unwrap();
    assert_eq!(shopguard_storage::keyring::Keyring::key_of(&newer), Some(3));
    assert_eq!(
        recorded(store),
        [
            pair("key.rotate", "data-key:2"),
            pair("key.rotate", "data-key:3")
        ]
    );
    fixture.reopen();
    let reopened = fixture.store().keyring().unwrap();
    assert_eq!(reopened.active_id(), 3);
    assert_eq!(
        reopened.open(&sealed).unwrap(),
        "old",
        "older keys still open"
    );
    assert_eq!(reopened.open(&newer).unwrap(), "new");
}

// ---- alert triage ----

fn acknowledge_by(by: &str) -> AlertChange<'_> {
    AlertChange {
        status: AlertStatus::Acknowledged,
        assignee: None,
        by,
        at_ms: 5_000,
        note: None,
    }
}

fn note(author: &str, text: &str) -> AlertNote {
    AlertNote {
        author: author.into(),
        at_ms: 6_000,
        text: text.into(),
        status: None,
    }
}

/// The alerts of [`log_forty`], newest first.
fn forty_alerts(store: &dyn Store) -> Vec<AlertRecord> {
    log_forty(store);
    store.query_alerts(None, None, 1_000).unwrap()
}

pub fn alert(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.alert(1).unwrap().is_none());
    let alerts = forty_alerts(store);
    let newest = &alerts[0];
    let untouched = store.alert(newest.seq).unwrap().unwrap();
    assert_eq!(&untouched.alert, newest);
    assert_eq!(untouched.triage, AlertTriage::untouched());
    assert!(untouched.notes.is_empty());
    store
        .change_alert(
            newest.seq,
            0,
            &AlertChange {
                status: AlertStatus::Acknowledged,
                assignee: Some("ana"),
                by: "operator:bo",
                at_ms: 5_000,
                note: None,
            },
            &audit("alert.assign", "alert"),
        )
        .unwrap();
    store
        .add_alert_note(
            newest.seq,
            &note("operator:ana", "first"),
            &audit("alert.note", "a"),
        )
        .unwrap();
    store
        .add_alert_note(
            newest.seq,
            &note("operator:bo", "second"),
            &audit("alert.note", "a"),
        )
        .unwrap();
    let worked = store.alert(newest.seq).unwrap().unwrap();
    assert_eq!(
        worked.triage,
        AlertTriage {
            status: AlertStatus::Acknowledged,
            assignee: Some("ana".into()),
            version: 1,
            updated_at_ms: Some(5_000),
            updated_by: Some("operator:bo".into()),
        }
    );
    assert_eq!(
        worked.notes,
        [note("operator:ana", "first"), note("operator:bo", "second")],
        "oldest first"
    );
    // Other alerts are untouched, and everything survives a restart.
    assert_eq!(
        store.alert(alerts[1].seq).unwrap().unwrap().triage,
        AlertTriage::untouched()
    );
    fixture.reopen();
    assert_eq!(fixture.store().alert(newest.seq).unwrap().unwrap(), worked);
}

pub fn alert_queue(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store
        .alert_queue(&AlertFilter::default())
        .unwrap()
        .is_empty());
    let alerts = forty_alerts(store);
    let queue = store.alert_queue(&AlertFilter::default()).unwrap();
    assert_eq!(queue.len(), 29);
    assert!(
        queue
            .windows(2)
            .all(|pair| pair[0].alert.seq > pair[1].alert.seq),
        "newest first"
    );
    assert!(queue
        .iter()
        .all(|row| row.triage == AlertTriage::untouched()));
    // Paging by cursor.
    let first = store
        .alert_queue(&AlertFilter {
            limit: 5,
            ..AlertFilter::default()
        })
        .unwrap();
    let second = store
        .alert_queue(&AlertFilter {
            limit: 5,
            before_seq: Some(first[4].alert.seq),
            ..AlertFilter::default()
        })
        .unwrap();
    let seqs = |rows: &[TriagedAlert]| rows.iter().map(|row| row.alert.seq).collect::<Vec<_>>();
    let expected: Vec<i64> = queue[..10].iter().map(|row| row.alert.seq).collect();
    assert_eq!([seqs(&first), seqs(&second)].concat(), expected);
    // Triage filters.
    store
        .change_alert(
            alerts[0].seq,
            0,
            &AlertChange {
                status: AlertStatus::Acknowledged,
                assignee: Some("ana"),
                by: "operator:ana",
                at_ms: 5_000,
                note: None,
            },
            &audit("alert.acknowledge", "a"),
        )
        .unwrap()
        .unwrap();
    store
        .change_alert(
            alerts[1].seq,
            0,
            &AlertChange {
                status: AlertStatus::Dismissed,
                assignee: None,
                by: "operator:ana",
                at_ms: 5_000,
                note: None,
            },
            &audit("alert.dismiss", "a"),
        )
        .unwrap()
        .unwrap();
    let count = |filter: AlertFilter| store.alert_queue(&filter).unwrap().len();
    let open = count(AlertFilter {
        status: Some(AlertStatus::Open),
        ..AlertFilter::default()
    });
    assert_eq!(open, 27, "untouched alerts are open");
    let acknowledged = store
        .alert_queue(&AlertFilter {
            status: Some(AlertStatus::Acknowledged),
            ..AlertFilter::default()
        })
        .unwrap();
    assert_eq!(seqs(&acknowledged), [alerts[0].seq]);
    assert_eq!(acknowledged[0].triage.assignee.as_deref(), Some("ana"));
    assert_eq!(acknowledged[0].triage.version, 1);
    assert_eq!(
        count(AlertFilter {
            status: Some(AlertStatus::Resolved),
            ..AlertFilter::default()
        }),
        0
    );
    assert_eq!(
        count(AlertFilter {
            assignee: Some(AssigneeFilter::Is("ana".into())),
            ..AlertFilter::default()
        }),
        1
    );
    assert_eq!(
        count(AlertFilter {
            assignee: Some(AssigneeFilter::Unassigned),
            ..AlertFilter::default()
        }),
        28
    );
    assert_eq!(
        count(AlertFilter {
            assignee: Some(AssigneeFilter::Is("bo".into())),
            ..AlertFilter::default()
        }),
        0
    );
    // Alert filters.
    assert_eq!(
        count(AlertFilter {
            severity: Some("high".into()),
            rule_id: Some("big".into()),
            ..AlertFilter::default()
        }),
        29
    );
    assert_eq!(
        count(AlertFilter {
            severity: Some("low".into()),
            ..AlertFilter::default()
        }),
        0
    );
    assert_eq!(
        count(AlertFilter {
            rule_id: Some("other".into()),
            ..AlertFilter::default()
        }),
        0
    );
    assert_eq!(
        count(AlertFilter {
            from_ms: Some(1_020),
            to_ms: Some(1_030),
            ..AlertFilter::default()
        }),
        10
    );
    assert_eq!(
        count(AlertFilter {
            limit: 0,
            ..AlertFilter::default()
        }),
        1,
        "a limit is at least 1"
    );
}

pub fn count_alerts(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let none = store.count_alerts(&AlertFilter::default()).unwrap();
    assert_eq!(
        none,
        AlertCount {
            total: 0,
            capped: false
        }
    );
    let alerts = forty_alerts(store);
    let all = store
        .count_alerts(&AlertFilter {
            limit: 3,
            before_seq: Some(alerts[10].seq),
            ..AlertFilter::default()
        })
        .unwrap();
    assert_eq!(
        all,
        AlertCount {
            total: 29,
            capped: false
        },
        "the cursor and the limit do not change the total"
    );
    store
        .change_alert(
            alerts[3].seq,
            0,
            &acknowledge_by("operator:ana"),
            &audit("alert.acknowledge", "a"),
        )
        .unwrap()
        .unwrap();
    let filtered = |status| {
        store
            .count_alerts(&AlertFilter {
                status: Some(status),
                ..AlertFilter::default()
            })
            .unwrap()
            .total
    };
    assert_eq!(filtered(AlertStatus::Open), 28);
    assert_eq!(filtered(AlertStatus::Acknowledged), 1);
    let windowed = store
        .count_alerts(&AlertFilter {
            from_ms: Some(1_030),
            ..AlertFilter::default()
        })
        .unwrap();
    assert_eq!(windowed.total, 10);
}

pub fn change_alert(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let alerts = forty_alerts(store);
    let seq = alerts[0].seq;
    let before = recorded(store).len();
    let acknowledge = audit("alert.acknowledge", "alert:1");
    assert_eq!(
        store
            .change_alert(seq, 0, &acknowledge_by("operator:ana"), &acknowledge)
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        store
            .change_alert(seq, 0, &acknowledge_by("operator:bo"), &acknowledge)
            .unwrap(),
        None,
        "changed meanwhile: version 0 is gone"
    );
    let reason = AlertNote {
        status: Some(AlertStatus::Resolved),
        ..note("operator:ana", "refunded and blocked")
    };
    let resolve = AlertChange {
        status: AlertStatus::Resolved,
        assignee: Some("ana"),
        by: "operator:ana",
        at_ms: 9_000,
        note: Some(&reason),
    };
    assert_eq!(
        store
            .change_alert(seq, 1, &resolve, &audit("alert.resolve", "alert:1"))
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        store
            .change_alert(seq, 1, &resolve, &audit("alert.resolve", "alert:1"))
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .change_alert(seq, -3, &resolve, &audit("alert.resolve", "alert:1"))
            .unwrap(),
        None
    );
    let triage = store.alert(seq).unwrap().unwrap().triage;
    assert_eq!(
        triage,
        AlertTriage {
            status: AlertStatus::Resolved,
            assignee: Some("ana".into()),
            version: 2,
            updated_at_ms: Some(9_000),
            updated_by: Some("operator:ana".into()),
        }
    );
    assert_eq!(
        store.alert(seq).unwrap().unwrap().notes,
        std::slice::from_ref(&reason),
        "the reason is stored with the change that won, and only with it"
    );
    let missing = store.change_alert(
        i64::MAX,
        0,
        &acknowledge_by("operator:ana"),
        &audit("alert.acknowledge", "alert:x"),
    );
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    assert_eq!(
        recorded(store)[before..],
        [
            pair("alert.acknowledge", "alert:1"),
            pair("alert.resolve", "alert:1")
        ],
        "one entry per change, none for a conflict or a missing alert"
    );
}

/// Two changes based on the same version, made at once: exactly one wins, and exactly one
/// audit entry is stored.
pub fn change_alert_concurrently(fixture: &mut Fixture) {
    let store = fixture.store().clone();
    let alerts = forty_alerts(store.as_ref());
    let seq = alerts[0].seq;
    let before = recorded(store.as_ref()).len();
    for expected in 0..4_i64 {
        let barrier = std::sync::Barrier::new(4);
        let outcomes: Vec<Option<i64>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|worker| {
                    let store = store.clone();
                    let barrier = &barrier;
                    scope.spawn(move || {
                        let by = format!("operator:w{worker}");
                        let status = if expected % 2 == 0 {
                            AlertStatus::Dismissed
                        } else {
                            AlertStatus::Open
                        };
                        barrier.wait();
                        store
                            .change_alert(
                                seq,
                                expected,
                                &AlertChange {
                                    status,
                                    assignee: None,
                                    by: &by,
                                    at_ms: 1,
                                    note: None,
                                },
                                &audit("alert.change", &by),
                            )
                            .unwrap()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .collect()
        });
        let winners: Vec<i64> = outcomes.into_iter().flatten().collect();
        assert_eq!(winners, [expected + 1], "exactly one change wins");
    }
    assert_eq!(store.alert(seq).unwrap().unwrap().triage.version, 4);
    assert_eq!(
        recorded(store.as_ref()).len() - before,
        4,
        "one entry per winner"
    );
}

pub fn add_alert_note(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let alerts = forty_alerts(store);
    let seq = alerts[2].seq;
    let before = recorded(store).len();
    store
        .add_alert_note(
            seq,
            &note("operator:ana", "called the user"),
            &audit("alert.note", "alert:n"),
        )
        .unwrap();
    let unicode = "复核：".repeat(600);
    store
        .add_alert_note(
            seq,
            &note("operator:bo", &unicode),
            &audit("alert.note", "alert:n"),
        )
        .unwrap();
    let missing = store.add_alert_note(i64::MAX, &note("x", "y"), &audit("alert.note", "alert:x"));
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    let detail = store.alert(seq).unwrap().unwrap();
    assert_eq!(
        detail.notes,
        [
            note("operator:ana", "called the user"),
            note("operator:bo", &unicode)
        ]
    );
    assert_eq!(
        detail.triage,
        AlertTriage::untouched(),
        "a note changes no state"
    );
    assert_eq!(
        recorded(store)[before..],
        [pair("alert.note", "alert:n"), pair("alert.note", "alert:n")]
    );
}

// ---- audit outbox ----

pub fn queue_audit_entry(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let mut entry = audit("decision.unmask", "decision:d1");
    entry.class = RecordClass::DataAccess;
    entry.content.detail =
        serde_json::json!({ "fields": ["email", "phone"], "count": 2, "nested": { "ok": true } });
    store.queue_audit_entry(&entry).unwrap();
    let queued = store.queued_audit_entries(10).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].1, entry, "stored whole");
}

pub fn queued_audit_entries(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.queued_audit_entries(10).unwrap().is_empty());
    for n in 0..5 {
        store
            .queue_audit_entry(&audit("access", &n.to_string()))
            .unwrap();
    }
    let first = store.queued_audit_entries(3).unwrap();
    let objects: Vec<&str> = first
        .iter()
        .map(|(_, entry)| entry.content.object.as_str())
        .collect();
    assert_eq!(objects, ["0", "1", "2"], "oldest first, at most the limit");
    assert!(
        first.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "ids grow"
    );
}

pub fn delete_queued_audit_entries(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    for n in 0..4 {
        store
            .queue_audit_entry(&audit("access", &n.to_string()))
            .unwrap();
    }
    let queued = store.queued_audit_entries(10).unwrap();
    store
        .delete_queued_audit_entries(&[queued[0].0, queued[2].0])
        .unwrap();
    store.delete_queued_audit_entries(&[]).unwrap();
    store.delete_queued_audit_entries(&[queued[0].0]).unwrap();
    let left: Vec<String> = store
        .queued_audit_entries(10)
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.content.object)
        .collect();
    assert_eq!(left, ["1", "3"]);
}

// ---- snapshots ----

pub fn write_snapshot(fixture: &mut Fixture) {
    let node_a = fixture.snapshots("node-a");
    let node_b = fixture.snapshots("node-b");
    node_a.write_snapshot(b"state").unwrap();
    node_a.write_snapshot(b"state two").unwrap();
    node_b.write_snapshot(&[0u8, 255, 1]).unwrap();
    assert_eq!(
        node_a.read_snapshot().unwrap().unwrap(),
        b"state two",
        "replaced"
    );
    assert_eq!(
        node_b.read_snapshot().unwrap().unwrap(),
        [0u8, 255, 1],
        "per node"
    );
    let large = vec![0x5a; 4 << 20];
    node_a.write_snapshot(&large).unwrap();
    assert_eq!(
        fixture
            .snapshots("node-a")
            .read_snapshot()
            .unwrap()
            .unwrap(),
        large
    );
}

pub fn read_snapshot(fixture: &mut Fixture) {
    assert!(fixture
        .snapshots("node-a")
        .read_snapshot()
        .unwrap()
        .is_none());
    fixture.snapshots("node-a").write_snapshot(b"x").unwrap();
    assert!(fixture
        .snapshots("node-b")
        .read_snapshot()
        .unwrap()
        .is_none());
    fixture.reopen();
    assert_eq!(
        fixture
            .snapshots("node-a")
            .read_snapshot()
            .unwrap()
            .unwrap(),
        b"x"
    );
}

// ---- tasks ----

fn new_task(id: &str, at: i64) -> NewTask {
    NewTask {
        id: id.into(),
        kind: TaskKind::ListImport,
        requested_by: "key:k1:feed".into(),
        parameters: serde_json::json!({ "list": "ip_block", "lines": 3 }),
        created_at_ms: at,
    }
}

fn lease(worker: &str, now_ms: i64) -> Lease<'_> {
    Lease {
        worker,
        now_ms,
        duration_ms: 1_000,
    }
}

fn create(store: &dyn Store, id: &str, at: i64) {
    store
        .create_task(
            &new_task(id, at),
            &audit("task.submit", &format!("task:{id}")),
        )
        .unwrap();
}

fn task_ids(tasks: Vec<TaskRecord>) -> Vec<String> {
    tasks.into_iter().map(|task| task.id).collect()
}

pub fn create_task(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    create(store, "t1", 10);
    let stored = store.task("t1").unwrap().unwrap();
    assert_eq!(stored.status, TaskStatus::Queued);
    assert_eq!(stored.kind, TaskKind::ListImport);
    assert_eq!((stored.done, stored.total), (0, 0));
    assert_eq!(stored.created_at_ms, 10);
    assert_eq!(stored.requested_by, "key:k1:feed");
    assert_eq!(stored.parameters["lines"], 3);
    assert_eq!(
        (stored.claimed_by, stored.lease_until_ms, stored.result),
        (None, None, None)
    );
    assert!(matches!(
        store.create_task(&new_task("t1", 11), &audit("task.submit", "again")),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        recorded(store),
        [pair("task.submit", "task:t1")],
        "none for the refused one"
    );
}

pub fn task(fixture: &mut Fixture) {
    assert!(fixture.store().task("nope").unwrap().is_none());
    create(fixture.store().as_ref(), "t1", 10);
    fixture.reopen();
    let stored = fixture.store().task("t1").unwrap().unwrap();
    assert_eq!(stored.id, "t1");
    assert_eq!(stored.parameters["list"], "ip_block");
}

pub fn recent_tasks(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    for (id, at) in [("a", 1), ("b", 2), ("c", 3)] {
        create(store, id, at);
    }
    store
        .create_task(
            &NewTask {
                requested_by: "operator:ana".into(),
                ..new_task("d", 4)
            },
            &audit("task.submit", "task:d"),
        )
        .unwrap();
    assert_eq!(
        task_ids(store.recent_tasks(None, 2).unwrap()),
        ["d", "c"],
        "newest first"
    );
    assert_eq!(
        task_ids(store.recent_tasks(Some("key:k1:feed"), 10).unwrap()),
        ["c", "b", "a"]
    );
    assert!(store.recent_tasks(Some("nobody"), 10).unwrap().is_empty());
}

pub fn claim_next_task(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.claim_next_task(&lease("a", 5)).unwrap().is_none());
    create(store, "t1", 1);
    create(store, "t2", 2);
    let first = store.claim_next_task(&lease("a", 10)).unwrap().unwrap();
    assert_eq!(first.id, "t1", "oldest first");
    assert_eq!(first.status, TaskStatus::Running);
    assert_eq!(first.started_at_ms, Some(10));
    assert_eq!(first.claimed_by.as_deref(), Some("a"));
    assert_eq!(first.lease_until_ms, Some(1_010));
    assert_eq!(
        store.claim_next_task(&lease("b", 11)).unwrap().unwrap().id,
        "t2"
    );
    assert!(
        store.claim_next_task(&lease("b", 1_009)).unwrap().is_none(),
        "t1 is held until its lease runs out"
    );
    // t1's worker went silent: once its lease has run out, another worker takes it over.
    let taken = store.claim_next_task(&lease("b", 1_010)).unwrap().unwrap();
    assert_eq!(taken.id, "t1");
    assert_eq!(taken.claimed_by.as_deref(), Some("b"));
    assert_eq!(taken.started_at_ms, Some(1_010));
    assert!(matches!(
        store.update_task_progress("t1", &lease("a", 1_011), 1, 3, None),
        Err(StoreError::Conflict(_))
    ));
    assert!(
        recorded(store)
            .iter()
            .all(|(action, _)| action == "task.submit"),
        "not audited"
    );
}

pub fn update_task_progress(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    create(store, "t1", 1);
    assert!(
        matches!(
            store.update_task_progress("t1", &lease("a", 2), 1, 3, None),
            Err(StoreError::Conflict(_))
        ),
        "a queued task is nobody's"
    );
    store.claim_next_task(&lease("a", 2)).unwrap().unwrap();
    let checkpoint = serde_json::json!({ "lines": 1 });
    assert!(!store
        .update_task_progress("t1", &lease("a", 900), 1, 3, Some(&checkpoint))
        .unwrap());
    let running = store.task("t1").unwrap().unwrap();
    assert_eq!((running.done, running.total), (1, 3));
    assert_eq!(running.result, Some(checkpoint.clone()));
    assert_eq!(running.lease_until_ms, Some(1_900), "renewed");
    assert!(
        store.claim_next_task(&lease("b", 1_500)).unwrap().is_none(),
        "the renewed lease holds"
    );
    assert!(!store
        .update_task_progress("t1", &lease("a", 901), 2, 3, None)
        .unwrap());
    assert_eq!(
        store.task("t1").unwrap().unwrap().result,
        Some(checkpoint),
        "kept"
    );
    assert!(matches!(
        store.update_task_progress("zz", &lease("a", 902), 1, 1, None),
        Err(StoreError::NotFound(_))
    ));
    store
        .request_task_cancel("t1", 903, &audit("task.cancel", "task:t1"))
        .unwrap();
    assert!(store
        .update_task_progress("t1", &lease("a", 904), 3, 3, None)
        .unwrap());
}

pub fn finish_task(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    create(store, "t1", 1);
    store.claim_next_task(&lease("a", 2)).unwrap().unwrap();
    assert!(matches!(
        store.finish_task(
            "t1",
            "b",
            &TaskOutcome::Failed("x".into()),
            3,
            &audit("task.finish", "by b")
        ),
        Err(StoreError::Conflict(_))
    ));
    store
        .finish_task(
            "t1",
            "a",
            &TaskOutcome::Succeeded(serde_json::json!({ "added": 3 })),
            4,
            &audit("task.finish", "task:t1"),
        )
        .unwrap();
    let finished = store.task("t1").unwrap().unwrap();
    assert_eq!(finished.status, TaskStatus::Succeeded);
    assert_eq!(finished.finished_at_ms, Some(4));
    assert_eq!(finished.result.unwrap()["added"], 3);
    assert!(matches!(
        store.finish_task(
            "t1",
            "a",
            &TaskOutcome::Failed("x".into()),
            5,
            &audit("again", "")
        ),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.finish_task(
            "zz",
            "a",
            &TaskOutcome::Failed("x".into()),
            5,
            &audit("zz", "")
        ),
        Err(StoreError::NotFound(_))
    ));
    create(store, "t2", 6);
    store.claim_next_task(&lease("a", 7)).unwrap().unwrap();
    store
        .finish_task(
            "t2",
            "a",
            &TaskOutcome::Failed("broke".into()),
            8,
            &audit("task.finish", "task:t2"),
        )
        .unwrap();
    let failed = store.task("t2").unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.error.as_deref()),
        (TaskStatus::Failed, Some("broke"))
    );
    assert!(
        store
            .claim_next_task(&lease("b", 10_000))
            .unwrap()
            .is_none(),
        "ended tasks stay ended"
    );
    assert_eq!(
        recorded(store),
        [
            pair("task.submit", "task:t1"),
            pair("task.finish", "task:t1"),
            pair("task.submit", "task:t2"),
            pair("task.finish", "task:t2"),
        ]
    );
}

pub fn request_task_cancel(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    create(store, "a", 1);
    create(store, "b", 2);
    assert_eq!(
        store.claim_next_task(&lease("w", 3)).unwrap().unwrap().id,
        "a"
    );
    assert_eq!(
        store
            .request_task_cancel("b", 4, &audit("task.cancel", "task:b"))
            .unwrap(),
        CancelOutcome::Cancelled
    );
    let cancelled = store.task("b").unwrap().unwrap();
    assert_eq!(
        (
            cancelled.status,
            cancelled.finished_at_ms,
            cancelled.cancel_requested
        ),
        (TaskStatus::Cancelled, Some(4), true)
    );
    assert_eq!(
        store
            .request_task_cancel("a", 5, &audit("task.cancel", "task:a"))
            .unwrap(),
        CancelOutcome::Requested
    );
    let flagged = store.task("a").unwrap().unwrap();
    assert_eq!(
        (flagged.status, flagged.cancel_requested),
        (TaskStatus::Running, true)
    );
    assert_eq!(
        store
            .request_task_cancel("b", 6, &audit("task.cancel", "again"))
            .unwrap(),
        CancelOutcome::AlreadyFinished(TaskStatus::Cancelled)
    );
    assert!(matches!(
        store.request_task_cancel("zz", 6, &audit("task.cancel", "zz")),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        recorded(store),
        [
            pair("task.submit", "task:a"),
            pair("task.submit", "task:b"),
            pair("task.cancel", "task:b"),
            pair("task.cancel", "task:a"),
        ],
        "nothing for an ended task"
    );
}

pub fn requeue_running_tasks(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    for (id, at) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] {
        create(store, id, at);
    }
    store.claim_next_task(&lease("node-1", 5)).unwrap();
    store
        .finish_task(
            "a",
            "node-1",
            &TaskOutcome::Succeeded(serde_json::Value::Null),
            6,
            &audit("task.finish", "a"),
        )
        .unwrap();
    store.claim_next_task(&lease("node-1", 7)).unwrap();
    store.claim_next_task(&lease("node-2", 8)).unwrap();
    fixture.reopen();
    let store = fixture.store().as_ref();
    // node-1 restarted: what it held goes back to the queue; node-2's task stays its own.
    let requeued = store.requeue_running_tasks("node-1").unwrap();
    assert_eq!(task_ids(requeued.clone()), ["b"]);
    assert_eq!(requeued[0].status, TaskStatus::Queued);
    let b = store.task("b").unwrap().unwrap();
    assert_eq!((b.status, b.claimed_by), (TaskStatus::Queued, None));
    assert_eq!(
        store.task("c").unwrap().unwrap().claimed_by.as_deref(),
        Some("node-2")
    );
    assert!(store.requeue_running_tasks("node-1").unwrap().is_empty());
}

pub fn unfinished_tasks(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    for (id, at) in [("a", 1), ("b", 2), ("c", 3)] {
        create(store, id, at);
    }
    store.claim_next_task(&lease("w", 4)).unwrap();
    store
        .finish_task(
            "a",
            "w",
            &TaskOutcome::Succeeded(serde_json::Value::Null),
            5,
            &audit("task.finish", "a"),
        )
        .unwrap();
    store.claim_next_task(&lease("w", 6)).unwrap();
    let unfinished = store.unfinished_tasks().unwrap();
    assert_eq!(task_ids(unfinished.clone()), ["b", "c"], "oldest first");
    assert_eq!(unfinished[0].status, TaskStatus::Running);
    assert_eq!(unfinished[1].status, TaskStatus::Queued);
}

pub fn put_task_input(fixture: &mut Fixture) {
    let text = "192.0.2.1\n192.0.2.2\n\u{00e9}t\u{00e9}\n".repeat(1_000);
    fixture.store().put_task_input("t1", &text).unwrap();
    fixture.store().put_task_input("t2", "other").unwrap();
    fixture.reopen();
    assert_eq!(
        fixture.store().task_input("t1").unwrap().as_deref(),
        Some(text.as_str())
    );
    fixture.store().put_task_input("t2", "replaced").unwrap();
    assert_eq!(
        fixture.store().task_input("t2").unwrap().as_deref(),
        Some("replaced")
    );
}

pub fn task_input(fixture: &mut Fixture) {
    assert_eq!(fixture.store().task_input("none").unwrap(), None);
    fixture.store().put_task_input("t1", "").unwrap();
    assert_eq!(
        fixture.store().task_input("t1").unwrap().as_deref(),
        Some("")
    );
}

pub fn remove_task_input(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    store.put_task_input("t1", "x").unwrap();
    store.put_task_input("t2", "y").unwrap();
    store.remove_task_input("t1").unwrap();
    store.remove_task_input("t1").unwrap();
    store.remove_task_input("never").unwrap();
    assert_eq!(store.task_input("t1").unwrap(), None);
    assert_eq!(store.task_input("t2").unwrap().as_deref(), Some("y"));
}

// ---- schedule ----

fn job(name: &str, interval_ms: i64, last: Option<i64>, next: i64) -> ScheduledJob {
    ScheduledJob {
        name: name.into(),
        interval_ms,
        last_run_at_ms: last,
        next_due_at_ms: next,
    }
}

pub fn scheduled_jobs(fixture: &mut Fixture) {
    assert!(fixture.store().scheduled_jobs().unwrap().is_empty());
    let retention = job("retention", 3_600_000, Some(100), 3_600_100);
    let expiry = job("expiry@node-a", 5_000, None, 5_000);
    fixture.store().put_scheduled_job(&retention).unwrap();
    fixture.store().put_scheduled_job(&expiry).unwrap();
    fixture.reopen();
    assert_eq!(
        fixture.store().scheduled_jobs().unwrap(),
        [expiry, retention],
        "by name"
    );
}

pub fn put_scheduled_job(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    store
        .put_scheduled_job(&job("snapshot", 30_000, None, 30_000))
        .unwrap();
    let moved = job("snapshot", 10_000, Some(40_000), 50_000);
    store.put_scheduled_job(&moved).unwrap();
    assert_eq!(store.scheduled_jobs().unwrap(), [moved], "replaced");
    assert!(recorded(store).is_empty(), "bookkeeping is not audited");
}

pub fn claim_scheduled_job(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    store
        .put_scheduled_job(&job("retention", 1_000, None, 5_000))
        .unwrap();
    assert_eq!(
        store
            .claim_scheduled_job("retention", 5_000, 4_999)
            .unwrap(),
        None,
        "not due yet"
    );
    assert_eq!(
        store
            .claim_scheduled_job("retention", 5_000, 7_000)
            .unwrap(),
        Some(job("retention", 1_000, Some(7_000), 8_000)),
        "overdue: runs once, next due one interval after the run"
    );
    assert_eq!(
        store
            .claim_scheduled_job("retention", 5_000, 7_000)
            .unwrap(),
        None,
        "that due time was claimed"
    );
    assert_eq!(
        store.claim_scheduled_job("unknown", 0, 7_000).unwrap(),
        None
    );
    assert_eq!(
        store
            .claim_scheduled_job("retention", 8_000, 8_000)
            .unwrap(),
        Some(job("retention", 1_000, Some(8_000), 9_000))
    );
    assert_eq!(
        store.scheduled_jobs().unwrap(),
        [job("retention", 1_000, Some(8_000), 9_000)]
    );
}

/// Makes one `#[test]` per suite function for the backend whose fixture `$fixture` makes.
macro_rules! store_test_suite {
    ($fixture:path) => {
        $crate::suite::store_test_suite!(@tests $fixture;
            insert_api_key, api_key, api_keys, revoke_api_key,
            insert_policy_version, approve_policy_version, activate_policy_version,
            active_policy, policy_version, policy_versions,
            ensure_list, lists, upsert_list_entries, remove_list_entry, list_entries,
            for_each_list_entry, purge_expired_list_entries, list_changes_after, last_list_change,
            append_decisions, decision, query_decisions, query_decisions_by_rule,
            query_decisions_pages, count_decisions, query_alerts,
            purge_decisions_before, decision_count, reencrypt_decisions,
            alert, alert_queue, count_alerts, change_alert, change_alert_concurrently,
            add_alert_note, purge_decisions_before_drops_alert_triage,
            create_incident, update_incident, update_incident_concurrently, link_alerts_once,
            open_incident_by_dedup_key, list_incidents, incident_history,
            insert_operator, operator_, operators, disable_operator, insert_session, last_totp_step, session,
            touch_session, end_session, end_sessions_of, sessions_of,
            insert_grant, grant, approve_grant, grants,
            keyring, rotate_data_key,
            queue_audit_entry, queued_audit_entries, delete_queued_audit_entries,
            write_snapshot, read_snapshot,
            create_task, task, recent_tasks, claim_next_task, update_task_progress, finish_task,
            request_task_cancel, requeue_running_tasks, unfinished_tasks,
            put_task_input, task_input, remove_task_input,
            scheduled_jobs, put_scheduled_job, claim_scheduled_job,
            record_situation_minute, situation_minutes, situation_top_rules,
            purge_situation_before);
    };
    (@tests $fixture:path; $($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let mut fixture = $fixture();
                $crate::suite::$test(&mut fixture);
            }
        )*
    };
}
pub(crate) use store_test_suite;
