//! Operator sessions that end: logout, logout everywhere, ending one session, and the idle
//! limit, on a clock the tests move instead of waiting (decision 0036).

use std::sync::Arc;

use shopguard_app::clock::{now_ms, Clock};
use shopguard_app::login_limits::LoginLimits;
use shopguard_app::operators::{OperatorService, SESSION_CACHE_TTL, TOUCH_INTERVAL_MS};
use shopguard_app::{App, Config, Principal, ServiceError};
use shopguard_core::audit::RecordClass;
use shopguard_core::credentials;
use shopguard_core::rbac::Role;
use shopguard_storage::audit_log::AuditQuery;
use shopguard_storage::operators::OperatorRecord;

const POLICY: &str = "[policy]\nname = \"operators-test\"\n";
const PASSWORD: &str = "violet-harbour-trumpet-91";
const MINUTE: i64 = 60_000;

struct Node {
    _folder: tempfile::TempDir,
    app: Arc<App>,
    clock: Clock,
}

impl Node {
    fn open() -> Node {
        let folder = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: folder.path().to_owned(),
            ..Config::default()
        };
        let app = App::open(config, POLICY).unwrap().app;
        Node {
            _folder: folder,
            app,
            clock: Clock::manual(now_ms()),
        }
    }

    /// An operator service of this node (or of another node on the same store) on the
    /// test's clock, with this idle limit.
    fn service(&self, idle_minutes: u32) -> OperatorService {
        OperatorService::new(
            self.app.store().clone(),
            self.app.audit.clone(),
            8,
            LoginLimits {
                attempts_per_username: 100,
                failures_per_address: 100,
                failures_per_node: 100,
            },
        )
        .with_idle_minutes(idle_minutes)
        .with_clock(self.clock.clone())
    }

    fn create(&self, username: &str, roles: &[Role]) -> Vec<u8> {
        let totp_secret = credentials::new_totp_secret();
        self.app
            .store()
            .insert_operator(
                &OperatorRecord {
                    username: username.into(),
                    password_hash: credentials::hash_password(PASSWORD).unwrap(),
                    totp_secret: totp_secret.clone(),
                    roles: roles.to_vec(),
                    created_at_ms: 0,
                    disabled_at_ms: None,
                },
                &self.app.audit.entry(
                    RecordClass::AccessControl,
                    &shopguard_app::Actor::System,
                    "operator.create",
                    format!("operator:{username}"),
                    serde_json::Value::Null,
                ),
            )
            .unwrap();
        totp_secret
    }

    /// Logs in with the code of the clock's time step, from 192.0.2.1; the token.
    fn login(&self, service: &OperatorService, username: &str, secret: &[u8]) -> String {
        let code = credentials::totp_code(secret, (self.clock.now_ms() / 1_000) as u64).unwrap();
        let login = service
            .login(
                username,
                PASSWORD,
                &code,
                Some("192.0.2.1".parse().unwrap()),
            )
            .unwrap();
        assert!(login.token.contains(&login.session_id));
        login.token
    }

    /// The next TOTP step: a later login of the same operator needs a later code.
    fn next_step(&self) {
        self.clock.advance(30_000);
    }

    fn actions(&self) -> Vec<String> {
        self.app.audit.settle().unwrap();
        let mut actions: Vec<String> = self
            .app
            .audit
            .query(&AuditQuery {
                class: Some(RecordClass::Login),
                limit: 100,
                ..AuditQuery::default()
            })
            .unwrap()
            .into_iter()
            .map(|entry| entry.content.unwrap().action)
            .collect();
        actions.reverse();
        actions
    }
}

fn principal(service: &OperatorService, token: &str) -> Option<Arc<Principal>> {
    let (id, secret) = credentials::split_session_token(token).unwrap();
    service.session_principal(id, secret).unwrap()
}

fn session_id(token: &str) -> &str {
    credentials::split_session_token(token).unwrap().0
}

#[test]
fn a_session_idle_for_the_limit_is_refused_and_activity_is_recorded_once_a_minute() {
    let node = Node::open();
    let service = node.service(30);
    let secret = node.create("ana", &[Role::Analyst]);
    let token = node.login(&service, "ana", &secret);
    let stored = node
        .app
        .store()
        .session(session_id(&token))
        .unwrap()
        .unwrap();
    assert_eq!(stored.client.as_deref(), Some("192.0.2.1"));
    let created = stored.created_at_ms;
    assert_eq!(stored.last_seen_at_ms, created);

    let ana = principal(&service, &token).expect("a fresh session");
    assert_eq!(ana.session_id.as_deref(), Some(session_id(&token)));
    node.clock.advance(29 * MINUTE);
    assert!(principal(&service, &token).is_some(), "29 minutes idle");
    let last_seen = |node: &Node| {
        node.app
            .store()
            .session(session_id(&token))
            .unwrap()
            .unwrap()
            .last_seen_at_ms
    };
    assert_eq!(last_seen(&node), created + 29 * MINUTE, "activity recorded");
    node.clock.advance(10_000);
    assert!(principal(&service, &token).is_some());
    assert_eq!(
        last_seen(&node),
        created + 29 * MINUTE,
        "not again within a minute"
    );
    node.clock.advance(TOUCH_INTERVAL_MS);
    assert!(principal(&service, &token).is_some());
    assert_eq!(
        last_seen(&node),
        node.clock.now_ms(),
        "a minute later, again"
    );
    node.clock.advance(30 * MINUTE);
    assert!(principal(&service, &token).is_none(), "30 minutes idle");
    node.clock.advance(-29 * MINUTE);
    assert!(
        principal(&service, &token).is_some(),
        "refused for idleness, not ended: the test clock going back revives it"
    );
}

#[test]
fn without_an_idle_limit_only_the_expiry_ends_a_session() {
    let node = Node::open();
    let service = node.service(0);
    let secret = node.create("ana", &[Role::Analyst]);
    let token = node.login(&service, "ana", &secret);
    node.clock.advance(7 * 60 * MINUTE);
    assert!(principal(&service, &token).is_some(), "7 hours idle");
    node.clock.advance(61 * MINUTE);
    assert!(principal(&service, &token).is_none(), "8 hours: expired");
}

#[test]
fn logout_ends_the_session_at_once_here_and_within_the_ttl_on_another_node() {
    let node = Node::open();
    let here = node.service(30);
    let elsewhere = node.service(30);
    let secret = node.create("ana", &[Role::Analyst]);
    let token = node.login(&here, "ana", &secret);
    let ana = principal(&here, &token).unwrap();
    assert!(principal(&elsewhere, &token).is_some(), "cached there too");
    here.logout(&ana).unwrap();
    assert!(principal(&here, &token).is_none(), "at once on this node");
    assert!(
        principal(&elsewhere, &token).is_some(),
        "served from the other node's cache"
    );
    node.clock
        .advance(SESSION_CACHE_TTL.as_millis() as i64 + 100);
    assert!(principal(&elsewhere, &token).is_none(), "within the TTL");
    here.logout(&ana).unwrap();
    assert_eq!(
        node.actions(),
        ["operator.login", "operator.logout"],
        "audited once"
    );
    let stored = node
        .app
        .store()
        .session(session_id(&token))
        .unwrap()
        .unwrap();
    assert!(stored.ended_at_ms.is_some());
}

#[test]
fn logout_everywhere_ends_every_session_of_the_caller_only() {
    let node = Node::open();
    let service = node.service(30);
    let ana_secret = node.create("ana", &[Role::Analyst]);
    let bob_secret = node.create("bob", &[Role::Analyst]);
    let first = node.login(&service, "ana", &ana_secret);
    node.next_step();
    let second = node.login(&service, "ana", &ana_secret);
    let bob = node.login(&service, "bob", &bob_secret);
    let ana = principal(&service, &second).unwrap();
    let listed = service.sessions(&ana).unwrap();
    let ids: Vec<&str> = listed.iter().map(|s| s.session_id.as_str()).collect();
    assert_eq!(
        ids,
        [session_id(&second), session_id(&first)],
        "newest first"
    );
    assert_eq!(service.logout_everywhere(&ana).unwrap(), 2);
    for token in [&first, &second] {
        assert!(principal(&service, token).is_none());
    }
    assert!(principal(&service, &bob).is_some(), "bob's session stays");
    assert!(
        service.sessions(&ana).unwrap().is_empty(),
        "ended ones are not listed"
    );
    let actions = node.actions();
    assert_eq!(
        actions.last().map(String::as_str),
        Some("operator.logout_everywhere")
    );
}

#[test]
fn an_operator_ends_their_own_sessions_and_an_administrator_anyone_s() {
    let node = Node::open();
    let service = node.service(30);
    let ana_secret = node.create("ana", &[Role::Analyst]);
    let bob_secret = node.create("bob", &[Role::Analyst]);
    let boss_secret = node.create("boss", &[Role::Administrator]);
    let ana_token = node.login(&service, "ana", &ana_secret);
    node.next_step();
    let ana_other = node.login(&service, "ana", &ana_secret);
    let bob_token = node.login(&service, "bob", &bob_secret);
    let boss_token = node.login(&service, "boss", &boss_secret);
    let ana = principal(&service, &ana_token).unwrap();
    let boss = principal(&service, &boss_token).unwrap();

    let refused = service.end_session(session_id(&bob_token), &ana);
    assert!(
        matches!(refused, Err(ServiceError::Forbidden { .. })),
        "{refused:?}"
    );
    let unknown = service.end_session("0123456789abcdef", &ana);
    assert!(
        matches!(unknown, Err(ServiceError::NotFound(_))),
        "{unknown:?}"
    );
    let garbage = service.end_session("../\u{0}", &ana);
    assert!(
        matches!(garbage, Err(ServiceError::NotFound(_))),
        "{garbage:?}"
    );

    service.end_session(session_id(&ana_other), &ana).unwrap();
    assert!(principal(&service, &ana_other).is_none());
    assert!(
        principal(&service, &ana_token).is_some(),
        "the calling one stays"
    );
    let again = service.end_session(session_id(&ana_other), &ana);
    assert!(matches!(again, Err(ServiceError::NotFound(_))), "{again:?}");

    service.end_session(session_id(&bob_token), &boss).unwrap();
    assert!(
        principal(&service, &bob_token).is_none(),
        "ended by an administrator"
    );
    let ends = node
        .actions()
        .into_iter()
        .filter(|action| action == "operator.session_end")
        .count();
    assert_eq!(ends, 2);
}

#[test]
fn api_keys_have_no_session_to_end() {
    let node = Node::open();
    let service = node.service(30);
    let key = Principal::new(
        shopguard_app::Actor::ApiKey {
            id: "k1".into(),
            name: "checkout".into(),
        },
        vec![shopguard_core::rbac::Scope::Admin],
    );
    for refused in [
        service.logout(&key).err(),
        service.logout_everywhere(&key).err(),
        service.sessions(&key).err(),
        service.end_session("0123456789abcdef", &key).err(),
    ] {
        assert!(
            matches!(refused, Some(ServiceError::Forbidden { .. })),
            "{refused:?}"
        );
    }
}
