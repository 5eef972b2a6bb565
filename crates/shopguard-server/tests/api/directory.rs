//! The directory and the playbooks over HTTP: members and external contacts with masked
//! contacts and audited unmasking, versions and conflicts, scopes, input checks, the
//! escalation chain, playbook versions, activation and the cumulative tasks by level.

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use shopguard_storage::Scope;

use crate::TestApp;

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value) {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    app.raw(method, path, Some(key), "application/json", bytes)
        .await
}

fn member(name: &str, group: &str, role: &str) -> Value {
    json!({
        "display_name": name,
        "group": group,
        "role": role,
        "contacts": { "email": format!("{}@example.com", name.to_lowercase()), "phone": "+86 13812341234", "im": "wx_handle" },
    })
}

#[tokio::test]
async fn members_are_added_changed_and_offboarded_with_contacts_masked() {
    let app = TestApp::spawn().await;
    let writer = app.key(&[Scope::IncidentsRead, Scope::DirectoryWrite]);
    let viewer = app.key(&[Scope::IncidentsRead]);

    let (status, lead) = send(
        &app,
        Method::POST,
        "/v1/directory/members",
        &writer,
        member("Lei", "response", "leader"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{lead}");
    assert_eq!(lead["version"], 1);
    assert_eq!(lead["group_label_zh"], "应急响应小组");
    assert_eq!(
        lead["contacts"]["email"], "l***@example.com",
        "masked in the answer too"
    );
    assert_eq!(lead["contacts"]["phone"], "+86 138****1234");
    let lead_id = lead["id"].as_str().unwrap().to_owned();

    let mut spare = member("Mei", "response", "member");
    spare["backup"] = json!(lead_id);
    let (status, spare) = send(&app, Method::POST, "/v1/directory/members", &writer, spare).await;
    assert_eq!(status, StatusCode::CREATED, "{spare}");
    let spare_id = spare["id"].as_str().unwrap().to_owned();

    // A second active leader of the same group is refused.
    let (status, error) = send(
        &app,
        Method::POST,
        "/v1/directory/members",
        &writer,
        member("Han", "response", "leader"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");

    // A viewer reads, masked; cannot write.
    let (status, list) = send(
        &app,
        Method::GET,
        "/v1/directory/members",
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["members"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains("lei@example.com"));
    let (status, error) = send(
        &app,
        Method::POST,
        "/v1/directory/members",
        &viewer,
        member("Bo", "legal", "leader"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error["code"], "insufficient_scope");
    let (status, _) = send(
        &app,
        Method::PATCH,
        &format!("/v1/directory/members/{lead_id}"),
        &viewer,
        json!({"version": 1, "display_name": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Change the name and the phone; the stale version is refused.
    let path = format!("/v1/directory/members/{lead_id}");
    let (status, changed) = send(
        &app,
        Method::PATCH,
        &path,
        &writer,
        json!({"version": 1, "display_name": "李雷", "contacts": {"phone": "13900001111"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["display_name"], "李雷");
    assert_eq!(
        changed["contacts"]["email"], "l***@example.com",
        "untouched"
    );
    let (status, conflict) = send(
        &app,
        Method::PATCH,
        &path,
        &writer,
        json!({"version": 1, "display_name": "again"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["code"], "conflict");

    // A masked value sent back is refused rather than stored.
    let (status, error) = send(
        &app,
        Method::PATCH,
        &path,
        &writer,
        json!({"version": 2, "contacts": {"email": "l***@example.com"}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "contacts.email");

    // The leader is the spare's backup: not offboarded until the spare has another.
    let (status, error) = send(
        &app,
        Method::PATCH,
        &path,
        &writer,
        json!({"version": 2, "active": false}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    let (status, _) = send(
        &app,
        Method::PATCH,
        &format!("/v1/directory/members/{spare_id}"),
        &writer,
        json!({"version": 1, "backup": ""}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, gone) = send(
        &app,
        Method::PATCH,
        &path,
        &writer,
        json!({"version": 2, "active": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["active"], false);
    let (_, list) = send(
        &app,
        Method::GET,
        "/v1/directory/members",
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(
        list["members"].as_array().unwrap().len(),
        2,
        "kept for history"
    );

    // Every change is in the audit log, without the contact values.
    let auditor = app.key(&[Scope::AuditRead]);
    let (_, entries) = send(
        &app,
        Method::GET,
        "/v1/audit/entries?action=directory.member.update",
        &auditor,
        Value::Null,
    )
    .await;
    let entries = entries["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(
        entries.last().unwrap()["content"]["detail"]["contacts_changed"],
        json!(["phone"])
    );
    let (_, all) = send(
        &app,
        Method::GET,
        "/v1/audit/entries?limit=1000",
        &auditor,
        Value::Null,
    )
    .await;
    assert!(!all.to_string().contains("13900001111"));
    assert!(!all.to_string().contains("lei@example.com"));
    let (_, offboard) = send(
        &app,
        Method::GET,
        "/v1/audit/entries?action=directory.member.deactivate",
        &auditor,
        Value::Null,
    )
    .await;
    assert_eq!(offboard["entries"].as_array().unwrap().len(), 1);
    assert_eq!(offboard["entries"][0]["class"], "configuration");
}

#[tokio::test]
async fn contacts_are_unmasked_only_with_pii_unmask_and_each_time_is_audited() {
    let app = TestApp::spawn().await;
    let writer = app.key(&[Scope::IncidentsRead, Scope::DirectoryWrite]);
    let (_, lead) = send(
        &app,
        Method::POST,
        "/v1/directory/members",
        &writer,
        member("Lei", "legal", "leader"),
    )
    .await;
    let path = format!(
        "/v1/directory/members/{}/contacts",
        lead["id"].as_str().unwrap()
    );

    let reader = app.key(&[Scope::IncidentsRead]);
    let (status, masked) = send(&app, Method::GET, &path, &reader, Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        masked,
        json!({"contacts": {"email": "l***@example.com", "phone": "+86 138****1234", "im": "w********"}, "unmasked": false})
    );
    let (status, refused) = send(
        &app,
        Method::GET,
        &format!("{path}?unmask=true"),
        &reader,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(refused["field"], "unmask");

    let unmasker = app.key(&[Scope::IncidentsRead, Scope::PiiUnmask]);
    let (status, clear) = send(
        &app,
        Method::GET,
        &format!("{path}?unmask=true"),
        &unmasker,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(clear["unmasked"], true);
    assert_eq!(clear["contacts"]["email"], "lei@example.com");

    // External contacts too.
    let (status, police) = send(
        &app,
        Method::POST,
        "/v1/directory/contacts",
        &writer,
        json!({
            "kind": "law_enforcement", "organisation": "网警支队", "name": "值班室",
            "contacts": {"phone": "0571-87280000"}, "notes": "24h"
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{police}");
    assert_eq!(police["kind_label_zh"], "执法机关");
    assert_eq!(police["contacts"]["phone"], "0571-****0000");
    let id = police["id"].as_str().unwrap();
    let (_, clear) = send(
        &app,
        Method::GET,
        &format!("/v1/directory/contacts/{id}/contacts?unmask=true"),
        &unmasker,
        Value::Null,
    )
    .await;
    assert_eq!(clear["contacts"]["phone"], "0571-87280000");

    let auditor = app.key(&[Scope::AuditRead]);
    let (_, unmasks) = send(
        &app,
        Method::GET,
        "/v1/audit/entries?action=pii.unmask",
        &auditor,
        Value::Null,
    )
    .await;
    let objects: Vec<&str> = unmasks["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["content"]["object"].as_str().unwrap())
        .collect();
    assert_eq!(objects.len(), 2, "{objects:?}");
    assert!(objects.contains(&format!("directory.contact:{id}").as_str()));
}

#[tokio::test]
async fn directory_input_is_checked_with_the_field_named() {
    let app = TestApp::spawn().await;
    let writer = app.key(&[Scope::IncidentsRead, Scope::DirectoryWrite]);
    for (body, field) in [
        (
            json!({"display_name": " ", "group": "legal", "role": "member"}),
            "display_name",
        ),
        (
            json!({"display_name": "x".repeat(101), "group": "legal", "role": "member"}),
            "display_name",
        ),
        (
            json!({"display_name": "A", "group": "legal", "role": "member", "contacts": {"email": "not-an-email"}}),
            "contacts.email",
        ),
        (
            json!({"display_name": "A", "group": "legal", "role": "member", "contacts": {"phone": "call me"}}),
            "contacts.phone",
        ),
        (
            json!({"display_name": "A", "group": "legal", "role": "member", "backup": "nobody"}),
            "backup",
        ),
        (
            json!({"display_name": "A", "group": "legal", "role": "member", "operator": "ghost"}),
            "operator",
        ),
    ] {
        let (status, error) = send(
            &app,
            Method::POST,
            "/v1/directory/members",
            &writer,
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {error}");
        assert_eq!(error["field"], field, "{body} -> {error}");
    }
    for body in [
        json!({"display_name": "A", "group": "users", "role": "member"}),
        json!({"display_name": "A", "group": "legal", "role": "boss"}),
        json!({"display_name": "A", "group": "legal", "role": "member", "extra": 1}),
    ] {
        let (status, _) = send(
            &app,
            Method::POST,
            "/v1/directory/members",
            &writer,
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, _) = send(
        &app,
        Method::GET,
        "/v1/directory/members/nobody",
        &writer,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(
        &app,
        Method::PATCH,
        "/v1/directory/members/nobody",
        &writer,
        json!({"version": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(
        &app,
        Method::GET,
        "/v1/directory/escalation/nobody",
        &writer,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn escalation_goes_to_the_leader_the_deputy_then_the_leadership_leader() {
    let app = TestApp::spawn().await;
    let writer = app.key(&[Scope::IncidentsRead, Scope::DirectoryWrite]);
    for (name, group, role) in [
        ("Cio", "leadership", "leader"),
        ("Ciso", "response", "leader"),
        ("Tech", "response", "deputy"),
        ("Eng", "response", "member"),
    ] {
        let (status, _) = send(
            &app,
            Method::POST,
            "/v1/directory/members",
            &writer,
            member(name, group, role),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, chain) = send(
        &app,
        Method::GET,
        "/v1/directory/escalation/response",
        &writer,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = chain["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ciso", "Tech", "Cio"]);
    assert_eq!(chain["chain"][0]["contacts"]["email"], "c***@example.com");
    let (_, chain) = send(
        &app,
        Method::GET,
        "/v1/directory/escalation/legal",
        &writer,
        Value::Null,
    )
    .await;
    assert_eq!(
        chain["chain"].as_array().unwrap().len(),
        1,
        "only the leadership leader"
    );
}

fn playbook_body(name: &str, due: u32) -> Value {
    json!({
        "comment": "faster level I",
        "playbook": {
            "name": name,
            "level_iv": [{"key": "watch", "title_zh": "加强监控", "title_en": "Watch", "group": "response", "due_after_minutes": 60}],
            "level_iii": [{"key": "bcp", "title_zh": "启动业务连续性计划", "title_en": "Continuity", "group": "leadership", "due_after_minutes": 60}],
            "level_ii": [{"key": "press", "title_zh": "新闻稿", "title_en": "Press statement", "group": "user_communication", "due_after_minutes": 720,
                          "requires_approval_by": ["leadership", "user_communication", "response"]}],
            "level_i": [{"key": "escalate", "title_zh": "上报", "title_en": "Escalate", "group": "leadership", "due_after_minutes": due}]
        }
    })
}

#[tokio::test]
async fn playbooks_are_versioned_activated_by_compare_and_set_and_accumulate_by_level() {
    let app = TestApp::spawn().await;
    let viewer = app.key(&[Scope::IncidentsRead]);
    let writer = app.key(&[Scope::IncidentsRead, Scope::DirectoryWrite]);

    // The built-in playbook is version 1, active, from the first read.
    let (status, active) = send(
        &app,
        Method::GET,
        "/v1/playbooks/active",
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{active}");
    assert_eq!(active["version"], 1);
    assert_eq!(active["active"], true);
    assert_eq!(active["activated_by"], "system");
    let (_, tasks) = send(
        &app,
        Method::GET,
        "/v1/playbooks/active/tasks?level=IV",
        &viewer,
        Value::Null,
    )
    .await;
    let level_iv = tasks["tasks"].as_array().unwrap().len();
    let (status, tasks) = send(
        &app,
        Method::GET,
        "/v1/playbooks/active/tasks?level=II",
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let keys: Vec<&str> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["task"]["key"].as_str().unwrap())
        .collect();
    assert!(keys.len() > level_iv);
    assert_eq!(keys.last(), Some(&"press_statement"));
    assert_eq!(tasks["tasks"][0]["level"], "IV");

    // A viewer cannot add or activate.
    let (status, _) = send(
        &app,
        Method::POST,
        "/v1/playbooks",
        &viewer,
        playbook_body("mine", 15),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, created) = send(
        &app,
        Method::POST,
        "/v1/playbooks",
        &writer,
        playbook_body("mine", 15),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["version"], 2);
    assert_eq!(created["active"], false);

    let (status, _) = send(
        &app,
        Method::POST,
        "/v1/playbooks/2/activate",
        &viewer,
        json!({"expected_active": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, now) = send(
        &app,
        Method::POST,
        "/v1/playbooks/2/activate",
        &writer,
        json!({"expected_active": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{now}");
    assert_eq!(now["version"], 2);
    let (status, stale) = send(
        &app,
        Method::POST,
        "/v1/playbooks/1/activate",
        &writer,
        json!({"expected_active": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    let (status, _) = send(
        &app,
        Method::POST,
        "/v1/playbooks/9/activate",
        &writer,
        json!({"expected_active": 2}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, tasks) = send(
        &app,
        Method::GET,
        "/v1/playbooks/active/tasks?level=I",
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(tasks["version"], 2);
    let keys: Vec<&str> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["task"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["watch", "bcp", "press", "escalate"]);
    let (_, tasks) = send(
        &app,
        Method::GET,
        "/v1/playbooks/active/tasks?level=III",
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 2);

    let (_, list) = send(&app, Method::GET, "/v1/playbooks", &viewer, Value::Null).await;
    assert_eq!(list["active_version"], 2);
    assert_eq!(list["versions"].as_array().unwrap().len(), 2);
    let (status, one) = send(&app, Method::GET, "/v1/playbooks/1", &viewer, Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["active"], false);
    let (status, _) = send(&app, Method::GET, "/v1/playbooks/7", &viewer, Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let auditor = app.key(&[Scope::AuditRead]);
    for action in ["playbook.seed", "playbook.create", "playbook.activate"] {
        let (_, entries) = send(
            &app,
            Method::GET,
            &format!("/v1/audit/entries?action={action}"),
            &auditor,
            Value::Null,
        )
        .await;
        assert_eq!(entries["entries"].as_array().unwrap().len(), 1, "{action}");
        assert_eq!(entries["entries"][0]["class"], "configuration");
    }
}

#[tokio::test]
async fn invalid_playbooks_and_levels_are_refused() {
    let app = TestApp::spawn().await;
    let writer = app.key(&[Scope::IncidentsRead, Scope::DirectoryWrite]);
    let (status, error) = send(
        &app,
        Method::POST,
        "/v1/playbooks",
        &writer,
        playbook_body("bad", 0),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("level_i[0].due_after_minutes"),
        "{error}"
    );
    let mut duplicate = playbook_body("dup", 10);
    duplicate["playbook"]["level_i"][0]["key"] = json!("watch");
    let (status, error) = send(&app, Method::POST, "/v1/playbooks", &writer, duplicate).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["message"].as_str().unwrap().contains("used twice"),
        "{error}"
    );
    let mut unknown = playbook_body("x", 10);
    unknown["playbook"]["level_v"] = json!([]);
    let (status, _) = send(&app, Method::POST, "/v1/playbooks", &writer, unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for query in ["level=V", "level=", ""] {
        let (status, _) = send(
            &app,
            Method::GET,
            &format!("/v1/playbooks/active/tasks?{query}"),
            &writer,
            Value::Null,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }
    let (_, list) = send(&app, Method::GET, "/v1/playbooks", &writer, Value::Null).await;
    assert_eq!(
        list["versions"].as_array().unwrap().len(),
        1,
        "nothing stored"
    );
}
