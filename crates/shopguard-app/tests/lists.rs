//! The list service against a second node on the same store.

use std::sync::Arc;

use shopguard_app::audit::{AuditRetention, AuditService};
use shopguard_app::lists::EntryTerms;
use shopguard_app::{Actor, App, Config, ListService};
use shopguard_core::{Engine, ListRegistry};

const POLICY: &str = r#"
[policy]
name = "lists-test"
[[lists]]
name = "ip_block"
kind = "ip"
[[rules]]
id = "blocked"
when = "in_list('ip_block', event.ip)"
outcome = "deny"
reason = "blocked ip"
"#;

#[test]
fn entries_changed_through_one_node_reach_another_on_its_next_sync() {
    let folder = tempfile::tempdir().unwrap();
    let app = App::open(
        Config {
            data_dir: folder.path().to_owned(),
            ..Config::default()
        },
        POLICY,
    )
    .unwrap()
    .app;
    // A second node: its own engine (lists loaded from the store) over the same store.
    let registry = Arc::new(ListRegistry::new());
    let other_engine = Arc::new(Engine::new(POLICY, 1, registry.clone()).unwrap());
    let audit = Arc::new(AuditService::new(
        None,
        app.store().clone(),
        AuditRetention {
            default_days: 365,
            by_class: Default::default(),
        },
    ));
    let followed = app.store().last_list_change().unwrap();
    let other = ListService::new(other_engine.clone(), app.store().clone(), audit, followed);
    let actor = Actor::System;
    let now = shopguard_app::clock::now_ms();
    let blocked =
        |engine: &Engine, ip: &str| engine.lists().get("ip_block").unwrap().contains(ip, now);

    app.lists
        .add_entry(
            "ip_block",
            "198.51.100.7",
            &EntryTerms {
                ttl_seconds: Some(600),
                ..EntryTerms::because("fraud ring")
            },
            &actor,
        )
        .unwrap();
    app.lists
        .import(
            "ip_block",
            "203.0.113.0/24\n192.0.2.1\n",
            &EntryTerms::because("feed"),
            &actor,
            &mut |_, _| {},
        )
        .unwrap();
    assert!(
        !blocked(&other_engine, "198.51.100.7"),
        "not before the sync"
    );
    assert_eq!(other.sync().unwrap(), 3);
    assert!(blocked(&other_engine, "198.51.100.7"));
    assert!(blocked(&other_engine, "203.0.113.99"));
    assert!(blocked(&other_engine, "192.0.2.1"));
    assert_eq!(other.sync().unwrap(), 0, "nothing new");

    app.lists
        .remove_entry("ip_block", "198.51.100.7", &actor)
        .unwrap();
    assert_eq!(other.sync().unwrap(), 1);
    assert!(!blocked(&other_engine, "198.51.100.7"));
    assert!(blocked(&other_engine, "192.0.2.1"));
}
