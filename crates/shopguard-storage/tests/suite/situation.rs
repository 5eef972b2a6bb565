//! The situation's history ([`shopguard_storage::SituationStore`]).

use shopguard_storage::situation::MAX_RULE_ID_BYTES;
use shopguard_storage::{SituationMinute, SituationRule};

use super::Fixture;

fn minute(at: i64, events: i64, deny: i64, rules: &[(&str, bool, i64)]) -> SituationMinute {
    SituationMinute {
        minute: at,
        events,
        allow: events - deny,
        challenge: 0,
        review: 0,
        deny,
        passed: 1,
        failed: 0,
        rules: rules
            .iter()
            .map(|(id, shadow, matches)| ((*id).to_owned(), *shadow, *matches))
            .collect(),
    }
}

pub fn record_situation_minute(fixture: &mut Fixture) {
    let store = fixture.store().clone();
    store
        .record_situation_minute("a", &minute(100, 10, 2, &[("r1", false, 3)]))
        .unwrap();
    // Written again (a retry, or the node's recount): replaced, not added.
    store
        .record_situation_minute("a", &minute(100, 12, 3, &[("r1", false, 4)]))
        .unwrap();
    store
        .record_situation_minute(
            "b",
            &minute(100, 5, 1, &[("r1", false, 1), ("r2", true, 2)]),
        )
        .unwrap();
    let too_long = "x".repeat(MAX_RULE_ID_BYTES + 1);
    store
        .record_situation_minute("a", &minute(101, 7, 0, &[(&too_long, false, 1)]))
        .unwrap();
    drop(store); // the embedded decision log admits one opener
    fixture.reopen();
    let store = fixture.store().clone();
    let minutes = store.situation_minutes(0, 1_000).unwrap();
    assert_eq!(minutes.len(), 2);
    assert_eq!(
        (
            minutes[0].minute,
            minutes[0].events,
            minutes[0].deny,
            minutes[0].allow,
            minutes[0].passed
        ),
        (100, 17, 4, 13, 2),
        "summed over the nodes, the replaced count counted once"
    );
    assert_eq!((minutes[1].minute, minutes[1].events), (101, 7));
    assert_eq!(
        store.situation_top_rules(0, 1_000, 10).unwrap(),
        vec![
            SituationRule {
                rule_id: "r1".into(),
                shadow: false,
                matches: 5
            },
            SituationRule {
                rule_id: "r2".into(),
                shadow: true,
                matches: 2
            },
        ],
        "the over-long rule id is left out"
    );
}

pub fn situation_minutes(fixture: &mut Fixture) {
    let store = fixture.store().clone();
    assert!(store.situation_minutes(0, i64::MAX).unwrap().is_empty());
    for at in [10, 11, 13, 20] {
        store
            .record_situation_minute("a", &minute(at, at, 0, &[]))
            .unwrap();
    }
    let found: Vec<i64> = store
        .situation_minutes(11, 20)
        .unwrap()
        .iter()
        .map(|held| held.minute)
        .collect();
    assert_eq!(
        found,
        vec![11, 13],
        "from inclusive, until exclusive, oldest first, gaps absent"
    );
}

pub fn situation_top_rules(fixture: &mut Fixture) {
    let store = fixture.store().clone();
    store
        .record_situation_minute(
            "a",
            &minute(1, 9, 0, &[("b", false, 2), ("a", false, 2), ("c", true, 1)]),
        )
        .unwrap();
    store
        .record_situation_minute("a", &minute(2, 9, 0, &[("c", true, 5), ("a", true, 1)]))
        .unwrap();
    store
        .record_situation_minute("a", &minute(9, 9, 0, &[("z", false, 100)]))
        .unwrap();
    let top = store.situation_top_rules(1, 3, 3).unwrap();
    assert_eq!(
        top,
        vec![
            SituationRule {
                rule_id: "c".into(),
                shadow: true,
                matches: 6
            },
            SituationRule {
                rule_id: "a".into(),
                shadow: false,
                matches: 2
            },
            SituationRule {
                rule_id: "b".into(),
                shadow: false,
                matches: 2
            },
        ],
        "most first, ties by id, a rule's shadow and enforced matches apart, the range respected"
    );
}

pub fn purge_situation_before(fixture: &mut Fixture) {
    let store = fixture.store().clone();
    for at in [1, 2, 3] {
        store
            .record_situation_minute("a", &minute(at, 1, 0, &[("r", false, 1)]))
            .unwrap();
        store
            .record_situation_minute("b", &minute(at, 1, 0, &[]))
            .unwrap();
    }
    assert_eq!(store.purge_situation_before(3).unwrap(), 4);
    let left: Vec<i64> = store
        .situation_minutes(0, 10)
        .unwrap()
        .iter()
        .map(|held| held.minute)
        .collect();
    assert_eq!(left, vec![3]);
    assert_eq!(store.situation_top_rules(0, 10, 10).unwrap()[0].matches, 1);
    assert_eq!(store.purge_situation_before(3).unwrap(), 0);
}
