//! The command line, run as a user would: `shopguard audit verify` and `keys create` on a data
//! folder.

use std::process::Command;

use shopguard_core::audit::{AuditContent, RecordClass};
use shopguard_storage::audit_log::{AuditLog, NewAuditEntry};
use shopguard_storage::embedded::EmbeddedStore;
use shopguard_storage::Store;

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
fn keys_created_on_the_command_line_are_queued_for_the_audit_log() {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().to_str().unwrap();
    let (ok, text) = shopguard(&[
        "keys",
        "create",
        "--name",
        "checkout",
        "--scope",
        "events:write",
        "--data-dir",
        data,
    ]);
    assert!(ok, "{text}");
    assert!(text.starts_with("sg_"), "{text}");
    let store = EmbeddedStore::open_for_administration(folder.path()).unwrap();
    let queued = store.queued_audit_entries(10).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].1.content.action, "key.create");
    assert_eq!(queued[0].1.class, RecordClass::AccessControl);
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
    assert!(text.contains("unknown scope"), "{text}");
}
