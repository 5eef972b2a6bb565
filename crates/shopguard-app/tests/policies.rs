//! The policy service under concurrent changes, and against a second node on the same
//! store.

use std::sync::Arc;

use shopguard_app::audit::{AuditRetention, AuditService};
use shopguard_app::{Actor, App, Config, PolicyService, ServiceError};
use shopguard_core::{Engine, ListRegistry};

const POLICY: &str = r#"
[policy]
name = "test"
[[rules]]
id = "big"
when = "event.kind == 'payment' && event.amount > 100.0"
outcome = "review"
reason = "large payment"
"#;

fn variant(n: usize) -> String {
    POLICY.replace("100.0", &format!("{}.0", 100 + n))
}

fn open(folder: &std::path::Path) -> Arc<App> {
    let config = Config {
        data_dir: folder.to_owned(),
        ..Config::default()
    };
    App::open(config, POLICY).unwrap().app
}

fn actor(n: usize) -> Actor {
    Actor::ApiKey {
        id: format!("k{n}"),
        name: format!("writer-{n}"),
    }
}

/// Regression: `put_policy`, `approve` and `rollback` used to install into the engine and
/// record the live version in storage in separate steps with no lock, so two concurrent
/// changes could leave the engine on one version and storage on another (and a restart
/// would then load the other).
#[test]
fn concurrent_changes_leave_engine_and_storage_on_one_version() {
    let folder = tempfile::tempdir().unwrap();
    let app = open(folder.path());
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let app = app.clone();
            std::thread::spawn(move || {
                for round in 0..12 {
                    let writer = actor(thread);
                    if round % 3 == 2 {
                        let _ = app.policies.rollback(1, &writer);
                    } else {
                        app.policies
                            .propose(&variant(thread * 100 + round), &writer, "race")
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let stored = app.store().active_policy().unwrap().unwrap();
    assert_eq!(app.policies.live_version(), stored.version);
    assert_eq!(app.engine.policy().version, stored.version);
}

#[test]
fn a_change_made_meanwhile_by_another_node_is_not_overwritten_and_is_caught_up() {
    let folder = tempfile::tempdir().unwrap();
    let app = open(folder.path());
    // A second node: its own engine and services over the same store.
    let other_engine = Arc::new(Engine::new(POLICY, 1, Arc::new(ListRegistry::new())).unwrap());
    let other_audit = Arc::new(AuditService::new(
        None,
        app.store().clone(),
        AuditRetention {
            default_days: 365,
            by_class: Default::default(),
        },
    ));
    let other = PolicyService::new(other_engine.clone(), app.store().clone(), other_audit, true);

    let proposal = app
        .policies
        .propose(&variant(1), &actor(1), "first")
        .unwrap();
    assert!(!proposal.pending_approval);
    assert_eq!(proposal.version, 2);

    // The other node still runs version 1: its rollback compares against 1 and must fail,
    // leaving version 2 live in storage.
    let error = other.rollback(1, &actor(2)).unwrap_err();
    assert!(matches!(error, ServiceError::Conflict(_)), "{error:?}");
    assert_eq!(app.store().active_policy().unwrap().unwrap().version, 2);
    assert_eq!(other_engine.policy().version, 1);

    // Catching up puts it on version 2; a second sync changes nothing.
    assert_eq!(other.sync().unwrap(), Some(2));
    assert_eq!(other_engine.policy().version, 2);
    assert_eq!(other.sync().unwrap(), None);
    // Now its rollback goes through.
    other.rollback(1, &actor(2)).unwrap();
    assert_eq!(app.store().active_policy().unwrap().unwrap().version, 1);
}

#[test]
fn nobody_approves_their_own_punitive_rules_and_approval_makes_live() {
    let folder = tempfile::tempdir().unwrap();
    let app = open(folder.path());
    let punitive = format!(
        "{POLICY}\n[[rules]]\nid = \"deny_huge\"\nwhen = \"event.kind == 'payment' && event.amount > 9000.0\"\noutcome = \"deny\"\nreason = \"huge\"\n"
    );
    let proposal = app.policies.propose(&punitive, &actor(1), "deny").unwrap();
    assert!(proposal.pending_approval);
    assert_eq!(proposal.punitive_rules, vec!["deny_huge".to_owned()]);
    assert_eq!(app.policies.live_version(), 1);
    let own = app
        .policies
        .approve(proposal.version, &actor(1))
        .unwrap_err();
    assert!(matches!(own, ServiceError::Forbidden { .. }), "{own:?}");
    let approved = app.policies.approve(proposal.version, &actor(2)).unwrap();
    assert_eq!(approved.approved_by.as_deref(), Some("key:k2:writer-2"));
    assert_eq!(app.policies.live_version(), proposal.version);
    let again = app
        .policies
        .approve(proposal.version, &actor(3))
        .unwrap_err();
    assert!(matches!(again, ServiceError::Conflict(_)), "{again:?}");
}

#[test]
fn every_policy_change_is_in_the_audit_log_when_the_call_returns() {
    let folder = tempfile::tempdir().unwrap();
    let app = open(folder.path());
    let before = app.audit.size();
    let proposal = app
        .policies
        .propose(&variant(7), &actor(1), "audited")
        .unwrap();
    let entries = app
        .audit
        .query(&shopguard_storage::audit_log::AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(app.audit.size(), before + 2);
    let actions: Vec<&str> = entries
        .iter()
        .take(2)
        .map(|entry| entry.content.as_ref().unwrap().action.as_str())
        .collect();
    assert_eq!(actions, ["policy.activate", "policy.store"]);
    let object = format!("policy:{}", proposal.version);
    assert!(entries
        .iter()
        .take(2)
        .all(|entry| entry.content.as_ref().unwrap().object == object));
    assert!(entries
        .iter()
        .take(2)
        .all(|entry| entry.content.as_ref().unwrap().actor == "key:k1:writer-1"));
}
