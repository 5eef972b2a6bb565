//! Opening a node: what it refuses, and what it records.

use shopguard_app::{App, Config, OpenError};

const POLICY: &str = "[policy]\nname = \"node-test\"\n";

fn config(folder: &std::path::Path) -> Config {
    Config {
        data_dir: folder.to_owned(),
        ..Config::default()
    }
}

/// Regression: an unreadable snapshot used to be skipped with a warning, and the node started
/// with every velocity count and profile forgotten.
#[test]
fn an_unreadable_engine_snapshot_stops_the_start_and_says_how_to_proceed() {
    let folder = tempfile::tempdir().unwrap();
    drop(App::open(config(folder.path()), POLICY).unwrap());
    let file = shopguard_storage::snapshot::snapshot_path(folder.path());
    std::fs::write(&file, b"SGSNAP09 written by a newer build").unwrap();
    let error = App::open(config(folder.path()), POLICY).unwrap_err();
    assert!(matches!(error, OpenError::Snapshot { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("unreadable"), "{message}");
    assert!(message.contains(&file.display().to_string()), "{message}");
    // Moved aside, the node starts.
    std::fs::rename(&file, file.with_extension("unreadable")).unwrap();
    App::open(config(folder.path()), POLICY).unwrap();
}

#[test]
fn the_first_start_records_the_policy_its_lists_and_the_bootstrap_key() {
    let folder = tempfile::tempdir().unwrap();
    let opened = App::open(config(folder.path()), POLICY).unwrap();
    assert!(opened.bootstrap_key_file.is_some());
    let entries = opened
        .app
        .audit
        .query(&shopguard_storage::audit_log::AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    let mut actions: Vec<String> = entries
        .iter()
        .map(|entry| entry.content.as_ref().unwrap().action.clone())
        .collect();
    actions.reverse();
    assert_eq!(actions, ["policy.store", "policy.activate", "key.create"]);
    assert!(entries
        .iter()
        .all(|entry| entry.content.as_ref().unwrap().actor == "system"));
    drop(opened);
    // A second start with the same policy records nothing new.
    let again = App::open(config(folder.path()), POLICY).unwrap();
    assert!(again.bootstrap_key_file.is_none());
    assert_eq!(again.app.audit.size(), 3);
}

fn record(app: &App, n: u64) {
    let audit = &app.audit;
    audit
        .record(audit.entry(
            shopguard_core::audit::RecordClass::Other,
            &shopguard_app::Actor::System,
            "test.step",
            format!("step:{n}"),
            serde_json::Value::Null,
        ))
        .unwrap();
}

// Issue 17: a graceful stop signed no checkpoint, so the entries after the last periodic one
// could be rewritten together with their leaves and still verify.
#[test]
fn a_stopped_node_has_signed_its_whole_log_and_a_rewritten_last_entry_is_caught() {
    let folder = tempfile::tempdir().unwrap();
    let opened = App::open(config(folder.path()), POLICY).unwrap();
    for n in 0..3 {
        record(&opened.app, n);
    }
    let size = opened.app.audit.size();
    drop(opened);
    let key = shopguard_storage::audit_log::public_key_of(folder.path()).unwrap();
    let report = shopguard_storage::audit_log::verify_data_dir(folder.path(), &key, &[]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, size);

    // Rewrite the last entry (its content and commitment) and its leaf in the tree file.
    let audit = folder.path().join("audit");
    let segment = audit.join("entries-00000000.log");
    let file = std::fs::File::open(&segment).unwrap();
    let mut payloads = Vec::new();
    shopguard_storage::frames::scan_frames(&file, |_, payload| {
        payloads.push(payload.to_vec());
        Ok(())
    })
    .unwrap();
    let last = payloads.last_mut().unwrap();
    let json = String::from_utf8(last[82..].to_vec()).unwrap();
    let edited = json.replace("step:2", "step:9");
    let mut salt = [0u8; 32];
    salt.copy_from_slice(&last[50..82]);
    let commitment = shopguard_core::audit::commitment(&salt, edited.as_bytes());
    last.truncate(82);
    last.extend_from_slice(edited.as_bytes());
    last[17..49].copy_from_slice(&commitment);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&last[..8]);
    let mut at = [0u8; 8];
    at.copy_from_slice(&last[8..16]);
    let class = shopguard_core::audit::RecordClass::from_code(last[16]).unwrap();
    let leaf = shopguard_core::merkle::leaf_hash(&shopguard_core::audit::leaf_data(
        u64::from_le_bytes(seq),
        i64::from_le_bytes(at),
        class,
        &commitment,
    ));
    let mut bytes = Vec::new();
    for payload in &payloads {
        shopguard_storage::frames::push_frame(&mut bytes, payload);
    }
    std::fs::write(&segment, bytes).unwrap();
    let mut leaves = std::fs::read(audit.join("tree-00.bin")).unwrap();
    let end = leaves.len();
    leaves[end - 32..].copy_from_slice(&leaf);
    std::fs::write(audit.join("tree-00.bin"), leaves).unwrap();

    let report = shopguard_storage::audit_log::verify_data_dir(folder.path(), &key, &[]).unwrap();
    let problem = report
        .first_problem
        .expect("the checkpoint signed at the stop catches it");
    assert!(
        problem.what.contains("do not match the checkpoint"),
        "{}",
        problem.what
    );
}

// Issue 17: checkpoints are signed every `audit_checkpoint_every_entries` entries, not only on
// the timer.
#[test]
fn the_log_is_signed_every_few_entries() {
    let folder = tempfile::tempdir().unwrap();
    let opened = App::open(
        Config {
            audit_checkpoint_every_entries: 4,
            ..config(folder.path())
        },
        POLICY,
    )
    .unwrap();
    for n in 0..10 {
        record(&opened.app, n);
    }
    let size = opened.app.audit.size();
    let signed = opened.app.audit.checkpoints().unwrap();
    let last = signed.last().expect("signed while running").size;
    assert!(size - last < 4, "size {size}, last checkpoint {last}");
}
