//! The directory and the playbooks: one test per method of [`DirectoryStore`] and
//! [`PlaybookStore`], run against every backend by `directory_test_suite!`.

use shopguard_core::directory::{Contacts, ExternalContactType, GroupRole, Member, ResponseGroup};
use shopguard_core::playbook::{default_playbook, Playbook};
use shopguard_storage::{ChangeBy, ExternalContact, NewPlaybookVersion, Store, StoreError};

use super::{audit, pair, recorded, Fixture};

fn by(at_ms: i64) -> ChangeBy<'static> {
    ChangeBy {
        by: "operator:admin",
        at_ms,
    }
}

fn member(id: &str, group: ResponseGroup, role: GroupRole, backup: Option<&str>) -> Member {
    Member {
        id: id.into(),
        display_name: format!("Member {id}"),
        operator: Some(format!("op_{id}")),
        group,
        role,
        backup: backup.map(str::to_owned),
        contacts: Contacts {
            email: Some(format!("{id}@example.com")),
            phone: Some("+86 13812341234".into()),
            im: Some(format!("wx_{id}")),
        },
        active: true,
    }
}

fn contact(id: &str, kind: ExternalContactType) -> ExternalContact {
    ExternalContact {
        id: id.into(),
        kind,
        organisation: "杭州市公安局网警支队".into(),
        name: "值班室".into(),
        contacts: Contacts {
            email: None,
            phone: Some("0571-87280000".into()),
            im: None,
        },
        notes: "24h duty desk".into(),
        active: true,
    }
}

/// Adds a member, checking its audit entry.
fn add(store: &dyn Store, member: &Member) {
    store
        .insert_directory_member(
            member,
            by(1_000),
            &audit("directory.member.create", &member.id),
        )
        .unwrap();
}

pub fn insert_directory_member(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let lead = member("lead", ResponseGroup::Response, GroupRole::Leader, None);
    add(store, &lead);
    let backup = member(
        "spare",
        ResponseGroup::Response,
        GroupRole::Member,
        Some("lead"),
    );
    add(store, &backup);
    assert_eq!(
        recorded(store),
        [
            pair("directory.member.create", "lead"),
            pair("directory.member.create", "spare")
        ]
    );
    // The id is taken: a conflict, nothing recorded.
    let error = store
        .insert_directory_member(&lead, by(2_000), &audit("directory.member.create", "again"))
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
    // A backup that does not exist is refused by the schema too.
    let orphan = member(
        "orphan",
        ResponseGroup::Legal,
        GroupRole::Member,
        Some("nobody"),
    );
    assert!(store
        .insert_directory_member(
            &orphan,
            by(2_000),
            &audit("directory.member.create", "orphan")
        )
        .is_err());
    assert_eq!(recorded(store).len(), 2);
    let read = store.directory_member("spare").unwrap().unwrap();
    assert_eq!(read.member, backup, "contacts read back in the clear");
    assert_eq!(read.version, 1);
    assert_eq!((read.created_at_ms, read.updated_at_ms), (1_000, 1_000));
    assert_eq!(read.updated_by, "operator:admin");
}

pub fn directory_members(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.directory_members().unwrap().is_empty());
    add(
        store,
        &member("m2", ResponseGroup::Legal, GroupRole::Member, None),
    );
    add(
        store,
        &member("m1", ResponseGroup::Legal, GroupRole::Leader, None),
    );
    add(
        store,
        &member("cio", ResponseGroup::Leadership, GroupRole::Leader, None),
    );
    let ids: Vec<String> = store
        .directory_members()
        .unwrap()
        .into_iter()
        .map(|record| record.member.id)
        .collect();
    assert_eq!(ids, ["cio", "m1", "m2"], "by group code, then role code");
    // Contacts survive a restart (sealed with a data key the store keeps).
    fixture.reopen();
    let store = fixture.store().as_ref();
    assert_eq!(
        store
            .directory_member("cio")
            .unwrap()
            .unwrap()
            .member
            .contacts
            .email
            .as_deref(),
        Some("cio@example.com")
    );
}

pub fn directory_member(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert_eq!(store.directory_member("nobody").unwrap(), None);
    add(
        store,
        &member(
            "a",
            ResponseGroup::UserCommunication,
            GroupRole::Deputy,
            None,
        ),
    );
    let read = store.directory_member("a").unwrap().unwrap();
    assert_eq!(read.member.group, ResponseGroup::UserCommunication);
    assert_eq!(read.member.role, GroupRole::Deputy);
}

pub fn update_directory_member(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    add(
        store,
        &member("a", ResponseGroup::Response, GroupRole::Leader, None),
    );
    add(
        store,
        &member("b", ResponseGroup::Response, GroupRole::Member, None),
    );
    let before = recorded(store).len();
    let mut changed = member("a", ResponseGroup::Response, GroupRole::Leader, Some("b"));
    changed.contacts.phone = None;
    changed.display_name = "李雷".into();
    let update = audit("directory.member.update", "a");
    assert_eq!(
        store
            .update_directory_member(&changed, 1, by(5_000), &update)
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        store
            .update_directory_member(&changed, 1, by(6_000), &update)
            .unwrap(),
        None,
        "stale version"
    );
    assert_eq!(
        recorded(store).len(),
        before + 1,
        "only the change that happened"
    );
    let read = store.directory_member("a").unwrap().unwrap();
    assert_eq!(read.member, changed);
    assert_eq!(
        (read.version, read.updated_at_ms, read.created_at_ms),
        (2, 5_000, 1_000)
    );
    // Deactivate (offboarding keeps the row).
    changed.active = false;
    assert_eq!(
        store
            .update_directory_member(&changed, 2, by(7_000), &update)
            .unwrap(),
        Some(3)
    );
    assert!(!store.directory_member("a").unwrap().unwrap().member.active);
    let missing = member("zz", ResponseGroup::Legal, GroupRole::Member, None);
    assert!(matches!(
        store.update_directory_member(&missing, 1, by(8_000), &update),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(recorded(store).len(), before + 2);
}

pub fn insert_external_contact(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let police = contact("police", ExternalContactType::LawEnforcement);
    store
        .insert_external_contact(
            &police,
            by(1_000),
            &audit("directory.contact.create", "police"),
        )
        .unwrap();
    assert!(matches!(
        store.insert_external_contact(&police, by(1_000), &audit("directory.contact.create", "x")),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        recorded(store),
        [pair("directory.contact.create", "police")]
    );
    let read = store.external_contact("police").unwrap().unwrap();
    assert_eq!(read.contact, police);
    assert_eq!(read.version, 1);
}

pub fn external_contacts(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert!(store.external_contacts().unwrap().is_empty());
    for (id, kind) in [
        ("press", ExternalContactType::PublicRelationsMedia),
        ("cert", ExternalContactType::EmergencyResponseOrg),
        ("vendor", ExternalContactType::ContractedSupport),
    ] {
        store
            .insert_external_contact(&contact(id, kind), by(1_000), &audit("c", id))
            .unwrap();
    }
    let ids: Vec<String> = store
        .external_contacts()
        .unwrap()
        .into_iter()
        .map(|record| record.contact.id)
        .collect();
    assert_eq!(ids, ["vendor", "cert", "press"], "by type code");
    assert_eq!(store.external_contact("nobody").unwrap(), None);
}

pub fn update_external_contact(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let mut regulator = contact("cac", ExternalContactType::Regulator);
    store
        .insert_external_contact(&regulator, by(1_000), &audit("c", "cac"))
        .unwrap();
    regulator.contacts.email = Some("report@cac.example.cn".into());
    regulator.active = false;
    let update = audit("directory.contact.update", "cac");
    assert_eq!(
        store
            .update_external_contact(&regulator, 1, by(2_000), &update)
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        store
            .update_external_contact(&regulator, 1, by(3_000), &update)
            .unwrap(),
        None
    );
    assert_eq!(
        store.external_contact("cac").unwrap().unwrap().contact,
        regulator
    );
    assert!(matches!(
        store.update_external_contact(
            &contact("nope", ExternalContactType::Regulator),
            1,
            by(1),
            &update
        ),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        recorded(store),
        [pair("c", "cac"), pair("directory.contact.update", "cac")]
    );
}

fn new_version<'a>(playbook: &'a Playbook, comment: &'a str) -> NewPlaybookVersion<'a> {
    NewPlaybookVersion {
        playbook,
        author: "operator:admin",
        at_ms: 4_000,
        comment,
    }
}

pub fn seed_playbook(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    assert_eq!(store.active_playbook().unwrap(), None);
    assert!(store.playbook_versions().unwrap().is_empty());
    let playbook = default_playbook();
    assert!(store
        .seed_playbook(
            &new_version(&playbook, "built-in"),
            &audit("playbook.seed", "playbook:1")
        )
        .unwrap());
    assert!(!store
        .seed_playbook(
            &new_version(&playbook, "built-in"),
            &audit("playbook.seed", "playbook:1")
        )
        .unwrap());
    assert_eq!(recorded(store), [pair("playbook.seed", "playbook:1")]);
    let active = store.active_playbook().unwrap().unwrap();
    assert_eq!(
        (active.version, active.activated_by.as_str()),
        (1, "operator:admin")
    );
    let stored = store.playbook_version(1).unwrap().unwrap();
    assert_eq!(stored.playbook, playbook);
    assert_eq!(stored.comment, "built-in");
}

pub fn insert_playbook_version(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let mut playbook = default_playbook();
    store
        .seed_playbook(
            &new_version(&playbook, ""),
            &audit("playbook.seed", "playbook:1"),
        )
        .unwrap();
    playbook.name = "faster".into();
    playbook.level_i[0].due_after_minutes = 10;
    let version = store
        .insert_playbook_version(
            &new_version(&playbook, "tighter"),
            &audit("playbook.create", "playbook"),
        )
        .unwrap();
    assert_eq!(version, 2);
    assert_eq!(
        store.active_playbook().unwrap().unwrap().version,
        1,
        "not activated"
    );
    let versions = store.playbook_versions().unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(versions[0].playbook, playbook);
    assert_eq!(versions[0].comment, "tighter");
    assert_eq!(store.playbook_version(3).unwrap(), None);
    let entries = store.queued_audit_entries(100).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[1].1.content.detail["version"], 2,
        "the number it got is recorded"
    );
}

pub fn activate_playbook_version(fixture: &mut Fixture) {
    let store = fixture.store().as_ref();
    let playbook = default_playbook();
    let first = store
        .insert_playbook_version(&new_version(&playbook, ""), &audit("playbook.create", "1"))
        .unwrap();
    let second = store
        .insert_playbook_version(&new_version(&playbook, ""), &audit("playbook.create", "2"))
        .unwrap();
    let activate = audit("playbook.activate", "playbook");
    assert!(store
        .activate_playbook_version(first, None, "operator:a", 5_000, &activate)
        .unwrap());
    assert!(
        !store
            .activate_playbook_version(second, None, "operator:b", 5_000, &activate)
            .unwrap(),
        "one is active already"
    );
    assert!(store
        .activate_playbook_version(second, Some(first), "operator:b", 6_000, &activate)
        .unwrap());
    assert!(
        !store
            .activate_playbook_version(first, Some(first), "operator:c", 7_000, &activate)
            .unwrap(),
        "stale"
    );
    assert!(matches!(
        store.activate_playbook_version(99, Some(second), "operator:c", 7_000, &activate),
        Err(StoreError::NotFound(_))
    ));
    let active = store.active_playbook().unwrap().unwrap();
    assert_eq!(
        (
            active.version,
            active.activated_at_ms,
            active.activated_by.as_str()
        ),
        (second, 6_000, "operator:b")
    );
    assert_eq!(recorded(store).len(), 4, "two versions and two activations");
}

macro_rules! directory_test_suite {
    ($fixture:path) => {
        $crate::suite::directory::directory_test_suite!(@tests $fixture;
            insert_directory_member, directory_members, directory_member,
            update_directory_member, insert_external_contact, external_contacts,
            update_external_contact, seed_playbook, insert_playbook_version,
            activate_playbook_version);
    };
    (@tests $fixture:path; $($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let mut fixture = $fixture();
                $crate::suite::directory::$test(&mut fixture);
            }
        )*
    };
}
pub(crate) use directory_test_suite;
