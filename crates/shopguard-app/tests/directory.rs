//! The directory and playbook services over a node on the embedded backend: who answers for
//! a group, the escalation chain with contacts in the clear for the services that deliver,
//! masked views, scopes, and audit entries that never spell contact values.

use shopguard_app::directory::{ContactsPatch, MemberPatch, NewMember};
use shopguard_app::{Actor, App, Config, Principal, ServiceError};
use shopguard_core::directory::{Contacts, GroupRole, ResponseGroup};
use shopguard_core::playbook::{tasks_added_when_raised, ResponseLevel};
use shopguard_storage::audit_log::AuditQuery;
use shopguard_storage::Scope;

const POLICY: &str = r#"
[policy]
name = "directory-test"
[[rules]]
id = "never"
when = "event.amount > 1000000000.0"
outcome = "review"
reason = "never"
"#;

fn node() -> (std::sync::Arc<App>, tempfile::TempDir) {
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
    (app, folder)
}

fn admin() -> Principal {
    Principal::new(
        Actor::Operator {
            username: "boss".into(),
        },
        vec![Scope::Admin],
    )
}

fn new_member(
    name: &str,
    group: ResponseGroup,
    role: GroupRole,
    backup: Option<&str>,
) -> NewMember {
    NewMember {
        display_name: name.into(),
        operator: None,
        group,
        role,
        backup: backup.map(str::to_owned),
        contacts: Contacts {
            email: Some(format!("{}@example.com", name.to_lowercase())),
            phone: Some("13812341234".into()),
            im: None,
        },
    }
}

#[test]
fn the_services_find_who_answers_and_whom_to_escalate_to_with_real_contacts() {
    let (app, _folder) = node();
    let caller = admin();
    let directory = &app.directory;
    let cio = directory
        .create_member(
            &new_member("Cio", ResponseGroup::Leadership, GroupRole::Leader, None),
            &caller,
        )
        .unwrap();
    let lead = directory
        .create_member(
            &new_member("Lead", ResponseGroup::Legal, GroupRole::Leader, None),
            &caller,
        )
        .unwrap();
    let spare = directory
        .create_member(
            &new_member("Spare", ResponseGroup::Legal, GroupRole::Member, None),
            &caller,
        )
        .unwrap();
    assert_eq!(
        lead.member.contacts.email.as_deref(),
        Some("l***@example.com"),
        "answers are masked"
    );

    let responsible = directory
        .responsible_for(ResponseGroup::Legal)
        .unwrap()
        .unwrap();
    assert_eq!(responsible.id, lead.member.id);
    assert_eq!(
        responsible.contacts.email.as_deref(),
        Some("lead@example.com"),
        "in the clear for delivery"
    );
    let chain = directory.escalation_chain(ResponseGroup::Legal).unwrap();
    let ids: Vec<&str> = chain.iter().map(|member| member.id.as_str()).collect();
    assert_eq!(ids, [lead.member.id.as_str(), cio.member.id.as_str()]);

    // The leader names a backup and leaves: the backup answers for the group.
    let patch = MemberPatch {
        backup: Some(spare.member.id.clone()),
        ..MemberPatch::default()
    };
    let lead = directory
        .update_member(&lead.member.id, &patch, 1, &caller)
        .unwrap();
    let leave = MemberPatch {
        active: Some(false),
        contacts: Some(ContactsPatch {
            phone: Some(String::new()),
            ..ContactsPatch::default()
        }),
        ..MemberPatch::default()
    };
    directory
        .update_member(&lead.member.id, &leave, lead.version, &caller)
        .unwrap();
    let responsible = directory
        .responsible_for(ResponseGroup::Legal)
        .unwrap()
        .unwrap();
    assert_eq!(responsible.id, spare.member.id);
    assert_eq!(
        directory
            .escalation_chain(ResponseGroup::Legal)
            .unwrap()
            .len(),
        1,
        "only the CIO"
    );
    assert_eq!(
        directory.responsible_for(ResponseGroup::Response).unwrap(),
        None
    );

    // A stale version is a conflict; a viewer reads but does not write.
    let stale = directory.update_member(&lead.member.id, &patch, 1, &caller);
    assert!(matches!(stale, Err(ServiceError::Conflict(_))), "{stale:?}");
    let viewer = Principal::new(Actor::System, vec![Scope::IncidentsRead]);
    assert_eq!(directory.members(&viewer).unwrap().len(), 3);
    assert!(matches!(
        directory.create_member(
            &new_member("X", ResponseGroup::Legal, GroupRole::Member, None),
            &viewer
        ),
        Err(ServiceError::Forbidden { .. })
    ));
    let (contacts, unmasked) = directory
        .member_contacts(&spare.member.id, Some(false), &viewer)
        .unwrap();
    assert!(!unmasked);
    assert_eq!(contacts.phone.as_deref(), Some("138****1234"));

    // The audit log names what changed, never the values.
    app.audit.settle().unwrap();
    let entries = app
        .audit
        .query(&AuditQuery {
            limit: 1_000,
            ..AuditQuery::default()
        })
        .unwrap();
    let text = serde_json::to_string(&entries).unwrap();
    assert!(text.contains("directory.member.deactivate"));
    assert!(
        !text.contains("13812341234") && !text.contains("lead@example.com"),
        "{text}"
    );
}

#[test]
fn the_incident_service_gets_the_tasks_a_raised_level_adds() {
    let (app, _folder) = node();
    let active = app.playbooks.active_version().unwrap();
    assert_eq!(
        active.version.version, 1,
        "the built-in playbook, seeded on first use"
    );
    let added = tasks_added_when_raised(
        &active.version.playbook,
        ResponseLevel::III,
        ResponseLevel::I,
    );
    let keys: Vec<&str> = added.iter().map(|task| task.task.key.as_str()).collect();
    assert_eq!(keys, ["press_statement", "escalate_senior_management"]);
    // Seeding happens once, however often it is asked for.
    assert_eq!(app.playbooks.active_version().unwrap().version.version, 1);
    let viewer = Principal::new(Actor::System, vec![Scope::IncidentsRead]);
    let (versions, active) = app.playbooks.versions(&viewer).unwrap();
    assert_eq!((versions.len(), active), (1, 1));
}
