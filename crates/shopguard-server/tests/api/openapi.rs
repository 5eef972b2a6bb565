//! The OpenAPI document says what the server does (issue 17): query parameters are query
//! parameters, shared error answers are declared, required fields are required, and every
//! body has a schema a client generator can use. (The whole document is also pinned by
//! `contract::openapi_document`; these tests name the properties that must hold.)

use hyper::{Method, StatusCode};
use serde_json::Value;

use crate::TestApp;

async fn document() -> Value {
    let app = TestApp::spawn().await;
    let (status, document) = app
        .raw(Method::GET, "/openapi.json", None, "", Vec::new())
        .await;
    assert_eq!(status, StatusCode::OK);
    document
}

/// Every operation: its method and path, and its definition.
fn operations(document: &Value) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((
                format!("{} {path}", method.to_uppercase()),
                operation.clone(),
            ));
        }
    }
    all
}

#[tokio::test]
async fn only_path_segments_are_path_parameters_and_query_parameters_are_optional() {
    let document = document().await;
    let mut query_parameters = 0;
    for (operation, definition) in operations(&document) {
        for parameter in definition["parameters"].as_array().into_iter().flatten() {
            let name = parameter["name"].as_str().unwrap();
            let in_path = operation.contains(&format!("{{{name}}}"));
            let location = parameter["in"].as_str().unwrap();
            if in_path {
                assert_eq!(location, "path", "{operation}: {name}");
            } else {
                assert_eq!(location, "query", "{operation}: {name} is not in the path");
                query_parameters += 1;
                let required = parameter["required"].as_bool().unwrap_or(false);
                // The only required query parameters: `from` of a consistency proof and of an
                // incident's diff, the `value` to remove from a list and the `level` whose
                // playbook tasks are asked for.
                const REQUIRED: [(&str, &str); 4] = [
                    (" /v1/audit/consistency", "from"),
                    (" /v1/incidents/{id}/diff", "from"),
                    (" /v1/lists/{name}/entries", "value"),
                    (" /v1/playbooks/active/tasks", "level"),
                ];
                let expected = REQUIRED
                    .iter()
                    .any(|(path, wanted)| operation.ends_with(path) && *wanted == name);
                assert_eq!(required, expected, "{operation}: {name}");
            }
        }
    }
    assert!(
        query_parameters >= 30,
        "{query_parameters} query parameters"
    );
    let limit = document["paths"]["/v1/decisions"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|parameter| parameter["name"] == "limit")
        .unwrap()
        .clone();
    assert_eq!(limit["schema"]["minimum"], 1, "{limit}");
    assert_eq!(limit["schema"]["maximum"], 1000, "{limit}");
}

#[tokio::test]
async fn shared_error_answers_are_declared_on_every_operation() {
    let document = document().await;
    for (operation, definition) in operations(&document) {
        let responses = definition["responses"].as_object().unwrap();
        let secured = definition["security"]
            .as_array()
            .is_some_and(|requirements| !requirements.is_empty());
        if secured {
            for status in ["401", "403", "429"] {
                assert!(responses.contains_key(status), "{operation}: no {status}");
            }
        }
        let has_input = definition["requestBody"].is_object()
            || definition["parameters"]
                .as_array()
                .is_some_and(|parameters| !parameters.is_empty());
        if has_input {
            assert!(responses.contains_key("400"), "{operation}: no 400");
        }
        for (status, response) in responses {
            if status.starts_with('4') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ApiError",
                    "{operation}: {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn schemas_say_what_is_required_and_what_may_be_null() {
    let document = document().await;
    let schemas = &document["components"]["schemas"];
    let event = &schemas["EventInput"];
    assert_eq!(
        event["required"],
        serde_json::json!(["kind", "user_id"]),
        "{event}"
    );
    assert_eq!(event["properties"]["user_id"]["type"], "string", "{event}");
    assert_eq!(event["properties"]["user_id"]["minLength"], 1, "{event}");
    let detail = &schemas["AuditContent"]["properties"]["detail"];
    let types = detail["type"].as_array().cloned().unwrap_or_default();
    assert!(
        types.contains(&Value::from("object")) && types.contains(&Value::from("null")),
        "AuditContent.detail is returned as null: {detail}"
    );
    for path in ["/v1/policy/check", "/v1/policy"] {
        let method = if path == "/v1/policy" { "put" } else { "post" };
        let content = &document["paths"][path][method]["requestBody"]["content"];
        for media in ["application/toml", "text/plain"] {
            assert_eq!(
                content[media]["schema"]["$ref"], "#/components/schemas/PolicySource",
                "{path}: {media}: {content}"
            );
        }
    }
    let source = &schemas["PolicySource"];
    assert_eq!(source["type"], "string", "{source}");
    assert!(source["example"].as_str().unwrap().contains("[policy]"));
}

#[tokio::test]
async fn id_fields_carry_the_identifier_rule_as_their_pattern() {
    let document = document().await;
    let event = &document["components"]["schemas"]["EventInput"]["properties"];
    for field in ["user_id", "event_id"] {
        assert_eq!(
            event[field]["pattern"],
            shopguard_core::identifier::PATTERN,
            "{field}"
        );
    }
}
