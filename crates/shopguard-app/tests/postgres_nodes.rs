//! Two nodes (two `App`s, each with its own data folder and the deployment's one master
//! key) on one PostgreSQL schema: what one node changes reaches the other through the
//! maintenance tick's sync calls.
//!
//! PostgreSQL is found at `SHOPGUARD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test takes a fresh schema and drops it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shopguard_app::{Actor, App, Config, Principal};
use shopguard_core::{Event, EventInput, EventKind};
use shopguard_storage::keyring::Keyring;
use shopguard_storage::postgres::PostgresStore;
use shopguard_storage::{DecisionRecord, Scope};

const POLICY: &str = "[policy]\nname = \"test\"\n";

fn postgres_url() -> String {
    std::env::var("SHOPGUARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh schema, dropped when the test ends.
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn new() -> Schema {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Schema {
            url: postgres_url(),
            name: format!("sg_app_{}_{nanos}", std::process::id()),
        }
    }

    fn config(&self, folder: &std::path::Path, node: &str) -> Config {
        Config {
            data_dir: folder.to_owned(),
            database_url: Some(self.url.clone()),
            database_schema: self.name.clone(),
            node_id: Some(node.to_owned()),
            ..Config::default()
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Err(error) = PostgresStore::drop_schema(&self.url, &self.name) {
            eprintln!("could not drop test schema {}: {error}", self.name);
        }
    }
}

/// Opens node A, then node B with A's master key (nodes of one deployment share it).
fn two_nodes(
    schema: &Schema,
    a: &tempfile::TempDir,
    b: &tempfile::TempDir,
) -> (Arc<App>, Arc<App>) {
    let first = App::open(schema.config(a.path(), "node-a"), POLICY)
        .unwrap()
        .app;
    for secret in ["master.key", "audit-signing.key"] {
        std::fs::copy(a.path().join(secret), b.path().join(secret)).unwrap();
    }
    let second = App::open(schema.config(b.path(), "node-b"), POLICY)
        .unwrap()
        .app;
    (first, second)
}

fn registration(email: &str, at_ms: i64) -> Event {
    Event::try_from_input(
        EventInput {
            kind: Some(EventKind::Register),
            user_id: Some(format!("user-{at_ms}")),
            ip: Some("192.0.2.7".into()),
            email: Some(email.into()),
            occurred_at_ms: Some(at_ms),
            ..EventInput::default()
        },
        at_ms,
        || format!("event-{at_ms}"),
    )
    .unwrap()
}

/// Decides and logs one event on `app`; waits until it is stored; returns its id.
fn log_one(app: &App, event: Event) -> String {
    let decisions = app.decisions().unwrap();
    let decision = decisions.decide(&event, event.occurred_at_ms);
    let id = decision.decision_id.clone();
    let mut batch = decisions.batch(1);
    batch.push(&DecisionRecord { decision, event }).unwrap();
    decisions.submit_waiting(batch).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.store().decision(&id).unwrap().is_none() {
        assert!(Instant::now() < deadline, "decision {id} was not logged");
        std::thread::sleep(Duration::from_millis(20));
    }
    id
}

/// The data key that sealed a stored decision's email, read from its row.
fn sealing_key(schema: &Schema, decision_id: &str) -> u32 {
    let mut client = postgres::Client::connect(&schema.url, postgres::NoTls).unwrap();
    let record: Vec<u8> = client
        .query_one(
            &format!(
                "SELECT record FROM {}.decisions WHERE decision_id = $1",
                schema.name
            ),
            &[&decision_id],
        )
        .unwrap()
        .get(0);
    let text = String::from_utf8_lossy(&record);
    let start = text.find("enc1.").expect("a sealed field");
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    Keyring::key_of(&token).expect("a key id")
}

/// A rotation on node A is picked up by node B's next sync: B then seals with the new key,
/// and each node opens what the other sealed, under the old key and the new.
#[test]
fn a_data_key_rotated_on_one_node_seals_on_the_other_after_its_sync() {
    let schema = Schema::new();
    let (folder_a, folder_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = two_nodes(&schema, &folder_a, &folder_b);
    let admin = Principal::new(Actor::System, vec![Scope::Admin]);

    let before = log_one(&b, registration("old@example.com", 1_000));
    assert_eq!(sealing_key(&schema, &before), 1);

    assert_eq!(a.data_keys.rotate(&Actor::System).unwrap(), 2);
    assert_eq!(a.data_keys.sync().unwrap(), None, "A has it already");
    assert_eq!(b.data_keys.sync().unwrap(), Some(2));
    assert_eq!(b.data_keys.sync().unwrap(), None, "nothing more to pick up");

    let after_b = log_one(&b, registration("new-b@example.com", 2_000));
    let after_a = log_one(&a, registration("new-a@example.com", 3_000));
    assert_eq!(
        sealing_key(&schema, &after_b),
        2,
        "B seals with the new key"
    );
    assert_eq!(sealing_key(&schema, &after_a), 2);

    for node in [&a, &b] {
        let decisions = node.decisions().unwrap();
        for (id, email) in [
            (&before, "old@example.com"),
            (&after_b, "new-b@example.com"),
            (&after_a, "new-a@example.com"),
        ] {
            let record = decisions.get(id, &admin).unwrap();
            assert_eq!(record.event.email.as_deref(), Some(email));
        }
    }
}
