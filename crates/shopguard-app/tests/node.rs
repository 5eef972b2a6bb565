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
