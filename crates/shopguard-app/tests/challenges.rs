//! A challenge's reported result, as a decision's page shows it: found in the decision log
//! by `DecisionService::challenge_result` (decision 0046), on the embedded store and on
//! PostgreSQL (at `SHOPGUARD_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; a fresh schema, dropped at the end).

use std::time::{Duration, Instant};

use shopguard_app::{App, Config};
use shopguard_core::{Event, EventInput, EventKind};
use shopguard_storage::postgres::PostgresStore;
use shopguard_storage::DecisionRecord;

/// Every failed login is challenged with a captcha.
const POLICY: &str = r#"[policy]
name = "challenge-test"

[[rules]]
id = "captcha_on_failure"
when = "event.kind == 'login_failed'"
outcome = "challenge"
challenge = "captcha"
score = 10
reason = "a failed login"
"#;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn failed_login(user: &str, at_ms: i64, n: u32) -> Event {
    Event::try_from_input(
        EventInput {
            kind: Some(EventKind::LoginFailed),
            user_id: Some(user.into()),
            ip: Some("192.0.2.9".into()),
            occurred_at_ms: Some(at_ms),
            ..EventInput::default()
        },
        at_ms,
        || format!("event-{user}-{n}"),
    )
    .unwrap()
}

/// Logs a decided event and waits until it is stored; returns the record.
fn log(app: &App, record: DecisionRecord) -> DecisionRecord {
    let decisions = app.decisions().unwrap();
    let id = record.decision.decision_id.clone();
    let mut batch = decisions.batch(1);
    batch.push(&record).unwrap();
    decisions.submit_waiting(batch).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(stored) = app.store().decision(&id).unwrap() {
            return stored;
        }
        assert!(Instant::now() < deadline, "decision {id} was not logged");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn decide_and_log(app: &App, event: Event) -> DecisionRecord {
    let decision = app
        .decisions()
        .unwrap()
        .decide(&event, event.occurred_at_ms);
    log(app, DecisionRecord { decision, event })
}

fn the_reported_result_is_found_and_only_for_its_decision(app: &App) {
    let decisions = app.decisions().unwrap();
    let start = now_ms();
    let reported = decide_and_log(app, failed_login("carol", start, 1));
    assert!(
        reported.decision.challenge.is_some(),
        "the policy challenges"
    );
    let unreported = decide_and_log(app, failed_login("carol", start + 1, 2));
    // An allowed decision asked for nothing.
    let mut allowed = failed_login("carol", start + 2, 3);
    allowed.kind = EventKind::LoginSucceeded;
    let allowed = decide_and_log(app, allowed);
    assert_eq!(decisions.challenge_result(&allowed).unwrap(), None);
    assert_eq!(decisions.challenge_result(&reported).unwrap(), None);

    let (event, decision) = decisions
        .report_challenge(&reported.decision.decision_id, false, now_ms())
        .unwrap();
    let report = log(app, DecisionRecord { decision, event });
    let result = decisions
        .challenge_result(&reported)
        .unwrap()
        .expect("the reported result is found");
    assert_eq!(result.decision_id, report.decision.decision_id);
    assert_eq!(result.challenge.as_deref(), Some("captcha"));
    assert!(!result.passed);
    assert_eq!(result.at_ms, report.event.occurred_at_ms);
    // The other challenge of the same user has no report of its own.
    assert_eq!(decisions.challenge_result(&unreported).unwrap(), None);
}

#[test]
fn embedded() {
    let folder = tempfile::tempdir().unwrap();
    let opened = App::open(
        Config {
            data_dir: folder.path().to_owned(),
            ..Config::default()
        },
        POLICY,
    )
    .unwrap();
    the_reported_result_is_found_and_only_for_its_decision(&opened.app);
}

#[test]
fn postgres() {
    let url = std::env::var("SHOPGUARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!(
        "sg_challenge_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let folder = tempfile::tempdir().unwrap();
    let outcome = std::panic::catch_unwind(|| {
        let opened = App::open(
            Config {
                data_dir: folder.path().to_owned(),
                database_url: Some(url.clone()),
                database_schema: schema.clone(),
                ..Config::default()
            },
            POLICY,
        )
        .unwrap();
        the_reported_result_is_found_and_only_for_its_decision(&opened.app);
    });
    if let Err(error) = PostgresStore::drop_schema(&url, &schema) {
        eprintln!("could not drop test schema {schema}: {error}");
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
