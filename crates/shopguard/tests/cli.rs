//! The command line, run as a user would: `shopguard audit verify` and `keys create` on a data
//! folder.

use std::process::Command;

#[path = "cli/acknowledgements.rs"]
mod acknowledgements;

use shopguard_core::audit::{AuditContent, RecordClass};
use shopguard_storage::audit_log::{AuditLog, NewAuditEntry};
use shopguard_storage::embedded::EmbeddedStore;
use shopguard_storage::{
    ApiKeyStore, AuditOutbox, DecisionStore, ListStore, OperatorStore, PolicyStore,
};

/// The actions in a data folder's audit log, oldest first (no node may hold it).
fn audit_actions(data: &std::path::Path) -> Vec<String> {
    let audit = AuditLog::open(data).unwrap();
    let mut entries = audit
        .query(&shopguard_storage::audit_log::AuditQuery {
            limit: 1_000,
            ..Default::default()
        })
        .unwrap();
    entries.reverse();
    entries
        .into_iter()
        .map(|entry| entry.content.unwrap().action)
        .collect()
}

/// An audit entry for test fixtures written straight into storage.
fn fixture_audit(action: &str) -> NewAuditEntry {
    NewAuditEntry {
        at_ms: 1,
        class: RecordClass::Configuration,
        content: AuditContent {
            actor: "system".into(),
            action: action.into(),
            object: "fixture".into(),
            detail: serde_json::Value::Null,
        },
    }
}

fn shopguard(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_shopguard"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn audit_verify_passes_an_intact_log_and_names_an_edited_entry() {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().to_str().unwrap();
    {
        let log = AuditLog::open(folder.path()).unwrap();
        let entries: Vec<NewAuditEntry> = (0..20)
            .map(|n| NewAuditEntry {
                at_ms: n,
                class: RecordClass::Configuration,
                content: AuditContent {
                    actor: "alice".into(),
                    action: "policy.replace".into(),
                    object: format!("policy:{n}"),
                    detail: serde_json::Value::Null,
                },
            })
            .collect();
        log.append(&entries).unwrap();
        let checkpoint = log.checkpoint(1).unwrap();
        std::fs::write(
            folder.path().join("kept.json"),
            serde_json::to_string(&checkpoint).unwrap(),
        )
        .unwrap();
    }
    let (ok, text) = shopguard(&["audit", "verify", "--data-dir", data]);
    assert!(ok, "{text}");
    assert!(
        text.contains("20 entries") && text.contains("intact"),
        "{text}"
    );

    let (ok, key_text) = shopguard(&["audit", "public-key", "--data-dir", data]);
    assert!(ok, "{key_text}");
    let public_key = key_text
        .lines()
        .find_map(|line| line.strip_prefix("public key "))
        .unwrap()
        .trim()
        .to_owned();

    // Someone edits "alice" into "carol" in the stored file itself: same length, and the
    // frame checksum is left wrong, as a careless edit would.
    let segment = folder.path().join("audit").join("entries-00000000.log");
    let bytes = std::fs::read(&segment).unwrap();
    let position = bytes
        .windows(5)
        .enumerate()
        .filter(|(_, window)| window == b"alice")
        .nth(7)
        .unwrap()
        .0;
    let mut edited = bytes.clone();
    edited[position..position + 5].copy_from_slice(b"carol");
    std::fs::write(&segment, edited).unwrap();
    let kept = folder.path().join("kept.json");
    let (ok, text) = shopguard(&[
        "audit",
        "verify",
        "--data-dir",
        data,
        "--checkpoint",
        kept.to_str().unwrap(),
        "--public-key",
        &public_key,
    ]);
    assert!(!ok, "{text}");
    assert!(text.contains("TAMPERED: first bad entry 7"), "{text}");

    let (ok, text) = shopguard(&["audit", "verify", "--data-dir", data, "--public-key", "abc"]);
    assert!(!ok);
    assert!(text.contains("64 hex digits"), "{text}");
}

#[test]
fn keys_created_on_the_command_line_are_audited_or_queued_for_the_node() {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().to_str().unwrap();
    let create = |name: &str| {
        shopguard(&[
            "keys",
            "create",
            "--name",
            name,
            "--scope",
            "events:write",
            "--data-dir",
            data,
        ])
    };
    // No node holds the audit log: the entry goes straight in.
    let (ok, text) = create("checkout");
    assert!(ok, "{text}");
    assert!(text.starts_with("sg_"), "{text}");
    {
        let audit = AuditLog::open(folder.path()).unwrap();
        let entries = audit
            .query(&shopguard_storage::audit_log::AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(entries.len(), 1);
        let content = entries[0].content.as_ref().unwrap();
        assert_eq!(content.action, "key.create");
        assert!(content.actor.starts_with("cli:"), "{}", content.actor);
        assert_eq!(entries[0].class, RecordClass::AccessControl);
        // While this process holds the log (as a running node would), the command's entry
        // waits in the outbox for the node.
        let (ok, text) = create("refunds");
        assert!(ok, "{text}");
        let store = EmbeddedStore::open_for_administration(folder.path()).unwrap();
        let queued = store.queued_audit_entries(10).unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].1.content.action, "key.create");
    }
    let (ok, text) = shopguard(&[
        "keys",
        "create",
        "--name",
        "x",
        "--scope",
        "nope",
        "--data-dir",
        data,
    ]);
    assert!(!ok);
    assert!(
        text.contains("invalid value 'nope'") && text.contains("policy:approve"),
        "an unknown scope is refused and every scope named: {text}"
    );
}

#[test]
fn a_backup_restores_into_a_fresh_folder_with_every_record_and_the_audit_chain() {
    use shopguard_core::{Engine, Event, EventInput, EventKind, ListRegistry};
    use shopguard_storage::{api_keys, DecisionQuery, DecisionRecord, LogBatch, Scope};

    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().join("data");
    let engine = Engine::new(
        include_str!("../../../examples/marketplace.toml"),
        1,
        std::sync::Arc::new(ListRegistry::new()),
    )
    .unwrap();
    let decisions: Vec<DecisionRecord> = (0..300i64)
        .map(|n| {
            let event = Event::try_from_input(
                EventInput {
                    kind: Some(EventKind::LoginFailed),
                    user_id: Some(format!("user{}", n % 10)),
                    ip: Some(format!("192.0.2.{}", n % 50)),
                    failure_reason: Some("bad_password".into()),
                    occurred_at_ms: Some(1_767_225_600_000 + n * 1_000),
                    ..EventInput::default()
                },
                1_767_225_600_000 + n * 1_000,
                || format!("event-{n}"),
            )
            .unwrap();
            let decision = engine.decide(&event, format!("decision-{n:04}"));
            DecisionRecord { decision, event }
        })
        .collect();
    {
        let store = EmbeddedStore::open(&data).unwrap();
        for list in engine.lists().all() {
            store
                .ensure_list(
                    &shopguard_storage::ListRecord {
                        name: list.name().to_owned(),
                        kind: list.kind(),
                        description: String::new(),
                        created_at_ms: 0,
                    },
                    &fixture_audit("list.create"),
                )
                .unwrap();
        }
        store
            .insert_api_key(
                &api_keys::generate("checkout", vec![Scope::EventsWrite], 1).record,
                &fixture_audit("key.create"),
            )
            .unwrap();
        store
            .insert_policy_version(
                &shopguard_storage::NewPolicyVersion {
                    source: "[policy]\nname = 'x'\n",
                    author: "alice",
                    comment: "first",
                    at_ms: 1,
                    pending_approval: false,
                },
                &|_| fixture_audit("policy.store"),
            )
            .unwrap();
        for records in decisions.chunks(64) {
            let batch = LogBatch::of(store.log_sealer(), records).unwrap();
            store.append_decisions(&[batch]).unwrap();
        }
        let audit = AuditLog::open(&data).unwrap();
        for n in 0..30 {
            audit
                .append(&[NewAuditEntry {
                    at_ms: n,
                    class: RecordClass::ListChange,
                    content: AuditContent {
                        actor: "bob".into(),
                        action: "list.entry.add".into(),
                        object: "list:ip_block".into(),
                        detail: serde_json::json!({ "n": n }),
                    },
                }])
                .unwrap();
            if n == 20 {
                audit.checkpoint(5).unwrap();
            }
        }
        // The store and the audit log stay open, as on a running node.
        let backup = folder.path().join("backup");
        let (ok, text) = shopguard(&[
            "backup",
            "--data-dir",
            data.to_str().unwrap(),
            "--out",
            backup.to_str().unwrap(),
        ]);
        assert!(ok, "{text}");
        assert!(text.contains("300 decisions, 30 audit entries"), "{text}");
    }

    let backup = folder.path().join("backup");
    let restored = folder.path().join("restored");
    assert!(
        !backup.join("master.key").exists(),
        "backups never hold the master key"
    );
    let (ok, text) = shopguard(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(!ok && text.contains("master key"), "{text}");
    let master = data.join("master.key");
    let (ok, text) = shopguard(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
        "--master-key-file",
        master.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("audit log verified (30 entries, 1 checkpoints)"),
        "{text}"
    );

    let original = EmbeddedStore::open(&data).unwrap();
    let copy = EmbeddedStore::open(&restored).unwrap();
    assert_eq!(copy.decision_count().unwrap(), 300);
    let everything = DecisionQuery {
        limit: 1_000,
        ..DecisionQuery::default()
    };
    assert_eq!(
        copy.query_decisions(&everything).unwrap(),
        original.query_decisions(&everything).unwrap()
    );
    assert_eq!(copy.api_keys().unwrap(), original.api_keys().unwrap());
    assert_eq!(
        copy.policy_versions().unwrap(),
        original.policy_versions().unwrap()
    );
    assert_eq!(
        copy.query_alerts(None, None, 1_000).unwrap(),
        original.query_alerts(None, None, 1_000).unwrap()
    );
    let mut list_entries = 0;
    for list in original.lists().unwrap() {
        let entries = original.list_entries(&list.name, None, 1_000).unwrap();
        list_entries += entries.len();
        assert_eq!(copy.list_entries(&list.name, None, 1_000).unwrap(), entries);
    }
    assert!(list_entries > 0, "rule actions added list entries");
    let copied_audit = AuditLog::open(&restored).unwrap();
    let original_audit = AuditLog::open(&data).unwrap();
    assert_eq!(
        copied_audit.root(30).unwrap(),
        original_audit.root(30).unwrap()
    );
    assert_eq!(copied_audit.query(&Default::default()).unwrap().len(), 1);
    assert!(copied_audit
        .verify(
            &original_audit.public_key(),
            &original_audit.checkpoints().unwrap()
        )
        .unwrap()
        .is_intact());

    // A restore into a folder that is in use, and a tampered backup, are refused.
    let (ok, text) = shopguard(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(!ok && text.contains("not empty"), "{text}");
    let segment = std::fs::read_dir(backup.join("decisions"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "log"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 1;
    std::fs::write(&segment, bytes).unwrap();
    let elsewhere = folder.path().join("elsewhere");
    let (ok, text) = shopguard(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        elsewhere.to_str().unwrap(),
    ]);
    assert!(!ok, "{text}");
    assert!(text.contains("does not match the manifest"), "{text}");
    assert!(!elsewhere.exists(), "nothing restored");
}

#[test]
fn operators_are_created_with_a_strong_password_and_a_totp_secret() {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().to_str().unwrap();
    let weak = folder.path().join("weak");
    std::fs::write(&weak, "password1234\n").unwrap();
    let (ok, text) = shopguard(&[
        "operators",
        "create",
        "--username",
        "ana",
        "--role",
        "analyst",
        "--password-file",
        weak.to_str().unwrap(),
        "--data-dir",
        data,
    ]);
    assert!(!ok && text.contains("too easy to guess"), "{text}");
    let strong = folder.path().join("strong");
    std::fs::write(&strong, "violet-harbour-trumpet-91\n").unwrap();
    let (ok, text) = shopguard(&[
        "operators",
        "create",
        "--username",
        "otto",
        "--role",
        "auditor",
        "--role",
        "analyst",
        "--password-file",
        strong.to_str().unwrap(),
        "--data-dir",
        data,
    ]);
    assert!(
        !ok && text.contains("an auditor holds no other role"),
        "{text}"
    );
    let (ok, text) = shopguard(&[
        "operators",
        "create",
        "--username",
        "ana",
        "--role",
        "analyst",
        "--role",
        "responder",
        "--password-file",
        strong.to_str().unwrap(),
        "--data-dir",
        data,
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("otpauth://totp/shopguard:ana?secret="),
        "{text}"
    );
    let (ok, text) = shopguard(&["operators", "list", "--data-dir", data]);
    assert!(ok && text.contains("analyst,responder"), "{text}");
    let store = EmbeddedStore::open_for_administration(folder.path()).unwrap();
    let stored = store.operator("ana").unwrap().unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));
    assert_eq!(stored.totp_secret.len(), 20);
    drop(store);
    assert_eq!(audit_actions(folder.path()), vec!["operator.create"]);
    let (ok, text) = shopguard(&[
        "operators",
        "disable",
        "--username",
        "ana",
        "--data-dir",
        data,
    ]);
    assert!(ok, "{text}");
    let (ok, text) = shopguard(&["operators", "list", "--data-dir", data]);
    assert!(ok && text.contains("disabled"), "{text}");
    let (ok, text) = shopguard(&[
        "operators",
        "disable",
        "--username",
        "ana",
        "--data-dir",
        data,
    ]);
    assert!(!ok && text.contains("no active operator"), "{text}");
}

#[test]
fn data_keys_rotate_and_reencrypt_on_a_stopped_node() {
    use shopguard_core::{Engine, Event, EventInput, EventKind, ListRegistry};
    use shopguard_storage::{DecisionRecord, LogBatch};

    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().to_str().unwrap();
    {
        let engine = Engine::new(
            include_str!("../../../examples/marketplace.toml"),
            1,
            std::sync::Arc::new(ListRegistry::new()),
        )
        .unwrap();
        let event = Event::try_from_input(
            EventInput {
                kind: Some(EventKind::Register),
                user_id: Some("mei".into()),
                ip: Some("192.0.2.5".into()),
                phone: Some("13812341234".into()),
                occurred_at_ms: Some(1_000),
                ..EventInput::default()
            },
            1_000,
            || "e1".into(),
        )
        .unwrap();
        let decision = engine.decide(&event, "d1".into());
        let store = EmbeddedStore::open(folder.path()).unwrap();
        store
            .append_decisions(&[LogBatch::of(
                store.log_sealer(),
                &[DecisionRecord { decision, event }],
            )
            .unwrap()])
            .unwrap();
    }
    let (ok, text) = shopguard(&["data-keys", "rotate", "--data-dir", data]);
    assert!(ok && text.contains("data key 2 now encrypts"), "{text}");
    let (ok, text) = shopguard(&["data-keys", "reencrypt", "--data-dir", data]);
    assert!(
        ok && text.contains("1 logged decisions re-encrypted"),
        "{text}"
    );
    let store = EmbeddedStore::open(folder.path()).unwrap();
    assert_eq!(
        store
            .decision("d1")
            .unwrap()
            .unwrap()
            .event
            .phone
            .as_deref(),
        Some("13812341234")
    );
    drop(store);
    assert_eq!(
        audit_actions(folder.path()),
        vec!["data_key.rotate", "data_key.reencrypt"]
    );
}

/// A minimal HTTP/1.1 exchange over a fresh connection: status and body.
fn http(address: &str, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

/// Starts `shopguard serve` on a free port; returns the child and its address.
fn serve(data: &str) -> (std::process::Child, String) {
    serve_with(data, &[])
}

/// [`serve`] with these environment variables.
fn serve_with(data: &str, environment: &[(&str, &str)]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_shopguard"))
        .args(["serve", "--data-dir", data, "--listen", "127.0.0.1:0"])
        .envs(environment.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("shopguard listening on http://")
                .map(str::to_owned)
        })
        .unwrap();
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

#[test]
fn acknowledged_audit_entries_survive_a_kill_9() {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().to_str().unwrap();
    let (mut first, address) = serve(data);
    let key = std::fs::read_to_string(folder.path().join("admin-api-key"))
        .unwrap()
        .trim()
        .to_owned();
    // The node's own start (policy, lists, the bootstrap key) is audited first.
    let (status, body) = http(&address, "GET", "/v1/audit/retention", &key, "");
    assert_eq!(status, 200, "{body}");
    let at_start = serde_json::from_str::<serde_json::Value>(&body).unwrap()["audit_entries"]
        .as_u64()
        .unwrap();
    for n in 0..40 {
        let (status, body) = http(
            &address,
            "POST",
            "/v1/lists/ip_block/entries",
            &key,
            &format!(r#"{{"value":"198.51.100.{n}","reason":"crash test"}}"#),
        );
        assert_eq!(status, 201, "{body}");
    }
    let (status, _) = http(&address, "POST", "/v1/audit/checkpoints", &key, "");
    assert_eq!(status, 200);
    for n in 40..60 {
        let (status, _) = http(
            &address,
            "POST",
            "/v1/lists/ip_block/entries",
            &key,
            &format!(r#"{{"value":"198.51.100.{n}","reason":"after the checkpoint"}}"#),
        );
        assert_eq!(status, 201);
    }
    // No graceful stop: SIGKILL, as a power cut or the OOM killer would.
    first.kill().unwrap();
    first.wait().unwrap();

    let (ok, text) = shopguard(&["audit", "verify", "--data-dir", data]);
    assert!(ok, "{text}");
    // 60 list additions and the checkpoint request, each acknowledged after its fsync.
    assert!(
        text.contains(&format!("{} entries", at_start + 61)),
        "{text}"
    );

    let (mut second, address) = serve(data);
    let (status, body) = http(
        &address,
        "GET",
        "/v1/lists/ip_block/entries?limit=1000",
        &key,
        "",
    );
    assert_eq!(status, 200);
    let entries: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        entries["entries"].as_array().unwrap().len(),
        60,
        "every acknowledged entry"
    );
    let (status, body) = http(
        &address,
        "GET",
        "/v1/audit/entries?action=list.entry.add&limit=1000",
        &key,
        "",
    );
    assert_eq!(status, 200);
    let audited: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(audited["entries"].as_array().unwrap().len(), 60);
    second.kill().unwrap();
    second.wait().unwrap();
}

#[test]
fn the_load_generator_drives_a_real_server_and_counts_refusals() {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().to_str().unwrap();
    let (mut server, address) = serve(data);
    let key = std::fs::read_to_string(folder.path().join("admin-api-key"))
        .unwrap()
        .trim()
        .to_owned();
    let load = |mode: &str, key: &str| {
        let (ok, text) = shopguard(&[
            "load",
            "--mode",
            mode,
            "--address",
            &address,
            "--api-key",
            key,
            "--seconds",
            "1",
            "--users",
            "200",
            "--connections",
            "2",
            "--batch-size",
            "50",
            "--seed",
            "7",
        ]);
        assert!(ok, "{text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let events = load("events", &key);
    assert!(events["requests"].as_u64().unwrap() > 0, "{events}");
    assert_eq!(events["errors"], 0, "{events}");
    let batches = load("batch", &key);
    assert!(
        batches["events_per_second"].as_f64().unwrap()
            > batches["requests_per_second"].as_f64().unwrap(),
        "{batches}"
    );
    assert_eq!(batches["errors"], 0, "{batches}");
    // The decisions the generator asked for are in the log.
    let (status, body) = http(&address, "GET", "/v1/decisions?limit=5", &key, "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("decision_id"), "{body}");
    // A wrong key: every request refused with 401, counted, never taken for a success.
    let refused = load("events", "sg_0000000000000000_wrong");
    assert_eq!(refused["requests"], 0, "{refused}");
    assert!(
        refused["error_statuses"]["401"].as_u64().unwrap() > 0,
        "{refused}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

/// How soon a change through one node must be live on another: the nodes read the
/// database's changes every second; the rest is this test's polling and a loaded machine.
const SYNC_BOUND: std::time::Duration = std::time::Duration::from_millis(2_000);

/// Polls `check` every 100 ms for up to `limit`; returns how long it took to hold.
fn within(
    limit: std::time::Duration,
    mut check: impl FnMut() -> bool,
) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if check() {
            return Some(started.elapsed());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    None
}

/// Two nodes on one PostgreSQL schema: the README's first steps work against either, and a
/// policy, list or key change made through one is live on the other within a second (plus
/// the polling step of this test).
#[test]
fn two_nodes_on_one_postgresql_agree_on_policies_lists_and_keys() {
    let url = std::env::var("SHOPGUARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("sg_cli_{}", std::process::id());
    struct DropSchema(String, String);
    impl Drop for DropSchema {
        fn drop(&mut self) {
            let _ = shopguard_storage::postgres::PostgresStore::drop_schema(&self.0, &self.1);
        }
    }
    let _cleanup = DropSchema(url.clone(), schema.clone());
    let master = "11".repeat(32);
    let folder_a = tempfile::tempdir().unwrap();
    let folder_b = tempfile::tempdir().unwrap();
    let (data_a, data_b) = (
        folder_a.path().to_str().unwrap(),
        folder_b.path().to_str().unwrap(),
    );
    let shared = [
        ("SHOPGUARD_DATABASE_URL", url.as_str()),
        ("SHOPGUARD_DATABASE_SCHEMA", schema.as_str()),
        ("SHOPGUARD_MASTER_KEY", master.as_str()),
    ];
    let with_node = |node: &'static str| {
        let mut environment = shared.to_vec();
        environment.push(("SHOPGUARD_NODE_ID", node));
        environment
    };
    /// Kills the node when the test ends, passed or failed.
    struct Node(std::process::Child);
    impl Drop for Node {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let (node_a, address_a) = serve_with(data_a, &with_node("a"));
    let node_a = Node(node_a);
    // Nodes of one deployment share the audit signing key.
    std::fs::copy(
        folder_a.path().join("audit-signing.key"),
        folder_b.path().join("audit-signing.key"),
    )
    .unwrap();
    let (node_b, address_b) = serve_with(data_b, &with_node("b"));
    let node_b = Node(node_b);
    let admin = std::fs::read_to_string(folder_a.path().join("admin-api-key"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        !folder_b.path().join("admin-api-key").exists(),
        "one bootstrap key"
    );

    // An event in, a decision out, on either node with the same key.
    let login = r#"{"kind":"login_failed","user_id":"alice","ip":"203.0.113.7","failure_reason":"bad_password"}"#;
    for address in [&address_a, &address_b] {
        let (status, body) = http(address, "POST", "/v1/events", &admin, login);
        assert_eq!(status, 200, "{body}");
    }

    // A key made on the command line against the database works on both nodes.
    let output = Command::new(env!("CARGO_BIN_EXE_shopguard"))
        .args([
            "keys",
            "create",
            "--name",
            "checkout",
            "--scope",
            "events:write",
            "--data-dir",
            data_a,
        ])
        .envs(shared.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let checkout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(within(std::time::Duration::from_secs(3), || {
        http(&address_b, "POST", "/v1/events", &checkout, login).0 == 200
    })
    .is_some());

    // A policy pushed through node A is live on node B.
    let policy = include_str!("../../../examples/marketplace.toml")
        .replace("name = \"marketplace\"", "name = \"marketplace-2\"");
    let (status, body) = http(
        &address_a,
        "PUT",
        "/v1/policy?comment=second",
        &admin,
        &policy,
    );
    assert!(status == 200, "{status} {body}");
    let took = within(std::time::Duration::from_secs(3), || {
        let (_, body) = http(&address_b, "GET", "/v1/policy", &admin, "");
        body.contains("\"version\":2")
    });
    assert!(took.is_some_and(|took| took < SYNC_BOUND), "{took:?}");

    // A list entry added through node A blocks on node B.
    let (status, body) = http(
        &address_a,
        "POST",
        "/v1/lists/ip_block/entries",
        &admin,
        r#"{"value":"198.51.100.9","reason":"fraud ring"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let blocked = r#"{"kind":"login_succeeded","user_id":"bob","ip":"198.51.100.9"}"#;
    let took = within(std::time::Duration::from_secs(3), || {
        http(&address_b, "POST", "/v1/events", &admin, blocked)
            .1
            .contains("\"outcome\":\"deny\"")
    });
    assert!(took.is_some_and(|took| took < SYNC_BOUND), "{took:?}");

    // A key revoked through node A is refused by node B.
    let key_id = &checkout[3..19];
    let output = Command::new(env!("CARGO_BIN_EXE_shopguard"))
        .args(["keys", "revoke", key_id, "--data-dir", data_a])
        .envs(shared.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let took = within(std::time::Duration::from_secs(3), || {
        http(&address_b, "POST", "/v1/events", &checkout, login).0 == 401
    });
    assert!(took.is_some_and(|took| took < SYNC_BOUND), "{took:?}");

    drop(node_a);
    drop(node_b);

    // The audit log in the database verifies, with every change of both nodes in it.
    let output = Command::new(env!("CARGO_BIN_EXE_shopguard"))
        .args(["audit", "verify", "--data-dir", data_a])
        .envs(shared.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("intact"), "{text}");
    assert!(text.contains("PostgreSQL schema"), "{text}");
}

// Issue 17: an auditor pulls the checkpoints out of a data folder into a file of their own,
// and a tail cut below them (tree rebuilt, stored checkpoints deleted) is caught with it.
#[test]
fn audit_checkpoints_export_keeps_checkpoints_that_catch_a_cut_tail() {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().to_str().unwrap();
    let entries: Vec<NewAuditEntry> = (0..30)
        .map(|n| NewAuditEntry {
            at_ms: n,
            class: RecordClass::Configuration,
            content: AuditContent {
                actor: "alice".into(),
                action: "policy.replace".into(),
                object: format!("policy:{n}"),
                detail: serde_json::Value::Null,
            },
        })
        .collect();
    {
        let log = AuditLog::open(folder.path()).unwrap();
        log.append(&entries[..20]).unwrap();
        log.checkpoint(1).unwrap();
    }
    let kept = folder.path().join("kept.json");
    let kept_path = kept.to_str().unwrap();
    let export = [
        "audit",
        "checkpoints",
        "export",
        "--data-dir",
        data,
        "--out",
        kept_path,
    ];
    let (ok, text) = shopguard(&export);
    assert!(ok, "{text}");
    assert!(text.contains("1 checkpoints (1 new)"), "{text}");
    {
        let log = AuditLog::open(folder.path()).unwrap();
        log.append(&entries[20..]).unwrap();
        log.checkpoint(2).unwrap();
    }
    // A second export adds the new checkpoint to those kept.
    let (ok, text) = shopguard(&export);
    assert!(ok, "{text}");
    assert!(text.contains("2 checkpoints (1 new)"), "{text}");

    // The tail is cut below both, the tree rebuilt and the stored checkpoints deleted.
    let audit = folder.path().join("audit");
    let segment = audit.join("entries-00000000.log");
    let file = std::fs::File::open(&segment).unwrap();
    let mut payloads = Vec::new();
    shopguard_storage::frames::scan_frames(&file, |_, payload| {
        payloads.push(payload.to_vec());
        Ok(())
    })
    .unwrap();
    let mut bytes = Vec::new();
    for payload in &payloads[..15] {
        shopguard_storage::frames::push_frame(&mut bytes, payload);
    }
    std::fs::write(&segment, bytes).unwrap();
    std::fs::remove_file(audit.join("checkpoints.log")).unwrap();
    for level in 0..6 {
        let _ = std::fs::remove_file(audit.join(format!("tree-{level:02}.bin")));
    }
    drop(AuditLog::open(folder.path()).unwrap());
    let (ok, text) = shopguard(&["audit", "verify", "--data-dir", data]);
    assert!(
        ok,
        "without the kept checkpoints the cut is invisible: {text}"
    );
    let (ok, text) = shopguard(&[
        "audit",
        "verify",
        "--data-dir",
        data,
        "--checkpoint",
        kept_path,
    ]);
    assert!(!ok, "{text}");
    assert!(text.contains("TAMPERED: first bad entry 15"), "{text}");
    // The first kept checkpoint past the cut names it (the one of 20 entries).
    assert!(text.contains("covers 20"), "{text}");
}

/// A PostgreSQL node backed up with `pg_dump` while it holds keys, a policy and decisions:
/// the backup checks, a damaged copy does not, and the restore into a new schema and data
/// folder holds the same records, opens its sealed fields with the master key, and its audit
/// log verifies. Restoring over a schema that has tables is refused.
#[test]
fn a_postgresql_backup_restores_into_a_new_schema_with_every_record_and_the_audit_log() {
    use shopguard_core::{Engine, Event, EventInput, EventKind, ListRegistry};
    use shopguard_storage::keyring::LocalMasterKey;
    use shopguard_storage::postgres::PostgresStore;
    use shopguard_storage::{DataKeyStore, DecisionRecord, LogBatch};

    let url = std::env::var("SHOPGUARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let (source, target) = (
        format!("sg_cli_backup_{}", std::process::id()),
        format!("sg_cli_restored_{}", std::process::id()),
    );
    struct DropSchemas(String, Vec<String>);
    impl Drop for DropSchemas {
        fn drop(&mut self) {
            for schema in &self.1 {
                let _ = PostgresStore::drop_schema(&self.0, schema);
            }
        }
    }
    let _cleanup = DropSchemas(url.clone(), vec![source.clone(), target.clone()]);
    let master = "22".repeat(32);
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().join("node");
    let out = folder.path().join("backup");
    let restored = folder.path().join("restored");
    let run = |schema: &str, args: &[&str]| -> (bool, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_shopguard"))
            .args(args)
            .env("SHOPGUARD_DATABASE_URL", &url)
            .env("SHOPGUARD_DATABASE_SCHEMA", schema)
            .env("SHOPGUARD_MASTER_KEY", &master)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    let (data_arg, out_arg, restored_arg) = (
        data.to_str().unwrap(),
        out.to_str().unwrap(),
        restored.to_str().unwrap(),
    );

    // A key through the command line (audited into the database's log), decisions and a
    // policy version through the store.
    let (ok, text) = run(
        &source,
        &[
            "keys",
            "create",
            "--name",
            "checkout",
            "--scope",
            "events:write",
            "--data-dir",
            data_arg,
        ],
    );
    assert!(ok, "{text}");
    let engine = Engine::new(
        include_str!("../../../examples/marketplace.toml"),
        1,
        std::sync::Arc::new(ListRegistry::new()),
    )
    .unwrap();
    let records: Vec<DecisionRecord> = (0..50i64)
        .map(|n| {
            let at = 1_767_225_600_000 + n * 1_000;
            let event = Event::try_from_input(
                EventInput {
                    kind: Some(EventKind::Register),
                    user_id: Some(format!("user{n}")),
                    ip: Some(format!("192.0.2.{n}")),
                    email: Some(format!("user{n}@example.com")),
                    occurred_at_ms: Some(at),
                    ..EventInput::default()
                },
                at,
                || format!("event-{n}"),
            )
            .unwrap();
            let decision = engine.decide(&event, format!("decision-{n:04}"));
            DecisionRecord { decision, event }
        })
        .collect();
    {
        let key = LocalMasterKey::from_bytes(&[0x22; 32]);
        let store = PostgresStore::open(&url, &source, Box::new(key)).unwrap();
        let batch = LogBatch::of(Some(store.keyring().unwrap()), &records).unwrap();
        store.append_decisions(&[batch]).unwrap();
        store
            .insert_policy_version(
                &shopguard_storage::NewPolicyVersion {
                    source: "[policy]\nname = 'x'\n",
                    author: "alice",
                    comment: "first",
                    at_ms: 1,
                    pending_approval: false,
                },
                &|_| fixture_audit("policy.store"),
            )
            .unwrap();
    }
    // The policy's entry waits in the outbox; a command that opens the node moves it in.
    let (ok, text) = run(&source, &["keys", "list", "--data-dir", data_arg]);
    assert!(ok, "{text}");

    let (ok, text) = run(
        &source,
        &["backup", "--data-dir", data_arg, "--out", out_arg],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("backed up PostgreSQL schema {source}")),
        "{text}"
    );
    assert!(text.contains("50 decisions"), "{text}");
    let sql = std::fs::read_to_string(out.join("database.sql")).unwrap();
    assert!(sql.contains("PostgreSQL database dump"), "a pg_dump file");
    assert!(
        !sql.contains("user7@example.com"),
        "personal fields stay sealed in the dump"
    );
    assert!(
        !out.join("master.key").exists(),
        "the master key is never in a backup"
    );

    let (ok, text) = run(
        &target,
        &[
            "restore",
            "--from",
            out_arg,
            "--data-dir",
            restored_arg,
            "--check-only",
        ],
    );
    assert!(ok && text.contains("backup intact"), "{text}");
    let damaged = folder.path().join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    for name in ["MANIFEST.json", "audit-signing.key"] {
        std::fs::copy(out.join(name), damaged.join(name)).unwrap();
    }
    std::fs::write(
        damaged.join("database.sql"),
        sql.replacen("decision-0007", "decision-9007", 1),
    )
    .unwrap();
    let (ok, text) = run(
        &target,
        &[
            "restore",
            "--from",
            damaged.to_str().unwrap(),
            "--data-dir",
            restored_arg,
            "--check-only",
        ],
    );
    assert!(
        !ok && text.contains("database.sql does not match"),
        "{text}"
    );

    let (ok, text) = run(
        &target,
        &["restore", "--from", out_arg, "--data-dir", restored_arg],
    );
    assert!(ok, "{text}");
    assert!(text.contains("audit log verified"), "{text}");
    let key = LocalMasterKey::from_bytes(&[0x22; 32]);
    let store = PostgresStore::open(&url, &target, Box::new(key)).unwrap();
    assert_eq!(store.decision_count().unwrap(), 50);
    assert_eq!(
        store.decision("decision-0007").unwrap().unwrap(),
        records[7]
    );
    assert_eq!(store.api_keys().unwrap()[0].name, "checkout");
    assert_eq!(store.policy_versions().unwrap().len(), 1);
    drop(store);
    let (ok, text) = run(&target, &["audit", "verify", "--data-dir", restored_arg]);
    assert!(ok && text.contains("intact"), "{text}");

    let again = folder.path().join("again");
    let (ok, text) = run(
        &target,
        &[
            "restore",
            "--from",
            out_arg,
            "--data-dir",
            again.to_str().unwrap(),
        ],
    );
    assert!(!ok && text.contains("not empty"), "{text}");
}

#[test]
fn the_directory_and_the_playbook_are_kept_from_the_command_line() {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().to_str().unwrap();
    let (mut server, address) = serve(data);
    let key = std::fs::read_to_string(folder.path().join("admin-api-key"))
        .unwrap()
        .trim()
        .to_owned();
    let base = format!("http://{address}");
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--server", &base, "--api-key", &key]);
        shopguard(&all)
    };
    let (ok, text) = run(&[
        "directory",
        "add",
        "--name",
        "Li Lei",
        "--group",
        "response",
        "--role",
        "leader",
        "--email",
        "li.lei@example.com",
        "--phone",
        "+86 13812341234",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("l***@example.com"), "masked: {text}");
    let (ok, text) = run(&[
        "directory",
        "add",
        "--name",
        "Han",
        "--group",
        "response",
        "--role",
        "leader",
    ]);
    assert!(!ok && text.contains("409"), "a second leader: {text}");
    let (ok, text) = run(&["directory", "escalation", "response"]);
    assert!(ok && text.contains("1. Li Lei (response leader)"), "{text}");
    let (ok, text) = run(&[
        "directory",
        "add-contact",
        "--kind",
        "law_enforcement",
        "--organisation",
        "网警支队",
        "--name",
        "值班室",
        "--phone",
        "0571-87280000",
    ]);
    assert!(ok, "{text}");
    let (ok, text) = run(&["directory", "contacts"]);
    assert!(
        ok && text.contains("law_enforcement") && !text.contains("87280000"),
        "{text}"
    );

    let (ok, text) = run(&["playbook", "show", "--level", "II"]);
    assert!(
        ok && text.contains("press_statement") && !text.contains("escalate_senior_management"),
        "{text}"
    );
    let (ok, exported) = run(&["playbook", "export"]);
    assert!(ok, "{exported}");
    let edited = exported.replace("\"due_after_minutes\": 30", "\"due_after_minutes\": 15");
    assert_ne!(
        edited, exported,
        "level I's escalation is due after 30 minutes"
    );
    let file = folder.path().join("playbook.json");
    std::fs::write(&file, edited).unwrap();
    let (ok, text) = run(&[
        "playbook",
        "import",
        file.to_str().unwrap(),
        "--comment",
        "faster",
    ]);
    assert!(ok && text.contains("added playbook version 2"), "{text}");
    let (ok, text) = run(&["playbook", "activate", "2", "--expected-active", "2"]);
    assert!(!ok && text.contains("409"), "stale: {text}");
    let (ok, text) = run(&["playbook", "activate", "2", "--expected-active", "1"]);
    assert!(
        ok && text.contains("playbook version 2 is active"),
        "{text}"
    );
    let (ok, text) = run(&["playbook", "show", "--level", "I"]);
    assert!(ok && text.contains("due +15 min"), "{text}");
    server.kill().unwrap();
    server.wait().unwrap();
}
