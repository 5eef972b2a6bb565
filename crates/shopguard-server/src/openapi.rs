//! The OpenAPI document, generated from the handlers' annotations, with the answers every
//! route shares added to each operation (so no handler has to repeat them):
//! - a route that needs credentials may answer `401` (none or unknown), `403` (scope
//!   missing) and `429` (the caller's rate limit);
//! - a route with parameters or a body may answer `400` (a parameter or the body is
//!   invalid); one with a body also `413` (too large).
//!
//! Every one of them is an `ApiError`.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::routes;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "'Bearer sg_<key id>_<secret>'; scopes: events:write, decisions:read, audit:read, pii:unmask, lists:write, policy:write, policy:approve, alerts:write, incidents:read, incidents:report, incidents:write, incidents:approve, directory:write, admin",
            ))),
        );
    }
}

/// The OpenAPI description, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "shopguard", description = "Security operations and transaction risk control for e-commerce platforms"),
    paths(
        routes::events::post_event,
        routes::events::post_batch,
        routes::events::post_challenge_result,
        routes::decisions::list_decisions,
        routes::decisions::get_decision,
        routes::alerts::list_alerts,
        routes::alerts::get_alert,
        routes::alerts::acknowledge,
        routes::alerts::resolve,
        routes::alerts::dismiss,
        routes::alerts::reopen,
        routes::alerts::assign,
        routes::alerts::add_note,
        routes::incidents::list_incidents,
        routes::incidents::report_incident,
        routes::incidents::from_alerts,
        routes::incidents::grading,
        routes::incidents::get_incident,
        routes::incidents::patch_incident,
        routes::incidents::triage,
        routes::incidents::grade,
        routes::incidents::override_level,
        routes::incidents::transition,
        routes::incidents::reassess,
        routes::incidents::escalate,
        routes::incidents::assign,
        routes::incidents::history,
        routes::incidents::diff,
        routes::directory::list_members,
        routes::directory::create_member,
        routes::directory::get_member,
        routes::directory::update_member,
        routes::directory::member_contacts,
        routes::directory::list_contacts,
        routes::directory::create_contact,
        routes::directory::get_contact,
        routes::directory::update_contact,
        routes::directory::contact_contacts,
        routes::directory::escalation,
        routes::playbooks::list_versions,
        routes::playbooks::get_active,
        routes::playbooks::active_tasks,
        routes::playbooks::get_version,
        routes::playbooks::create_version,
        routes::playbooks::activate,
        routes::policy::get_policy,
        routes::policy::list_versions,
        routes::policy::check_policy,
        routes::policy::put_policy,
        routes::policy::rollback,
        routes::policy::approve,
        routes::policy::replay,
        routes::lists::list_lists,
        routes::lists::create_list,
        routes::lists::list_entries,
        routes::lists::add_entry,
        routes::lists::remove_entry,
        routes::lists::import_entries,
        routes::audit::list_entries,
        routes::audit::get_entry,
        routes::audit::consistency,
        routes::audit::list_checkpoints,
        routes::audit::create_checkpoint,
        routes::audit::retention,
        routes::data_keys::rotate,
        routes::data_keys::reencrypt,
        routes::tasks::list_tasks,
        routes::tasks::get_task,
        routes::tasks::cancel_task,
        routes::operators::login,
        routes::operators::logout,
        routes::operators::list_sessions,
        routes::operators::end_session,
        routes::operators::request_grant,
        routes::operators::approve_grant,
        routes::operators::list_grants,
        routes::operators::disable_operator,
        routes::ops::healthz,
        routes::ops::metrics,
        routes::docs::errors,
    ),
    modifiers(&BearerKey, &CommonAnswers)
)]
pub struct ApiDoc;

/// Adds the shared answers (see the module documentation) to every operation that lacks them.
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_common_answers(operation);
            }
        }
    }
}

fn add_common_answers(operation: &mut Operation) {
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let has_parameters = operation
        .parameters
        .as_ref()
        .is_some_and(|parameters| !parameters.is_empty());
    let has_body = operation.request_body.is_some();
    let mut answers: Vec<(&str, &str)> = Vec::new();
    if has_parameters || has_body {
        answers.push(("400", "a parameter or the body is invalid"));
    }
    if secured {
        answers.push(("401", "no valid API key or session token was given"));
        answers.push(("403", "the credentials lack the scope this route needs"));
        answers.push(("429", "too many requests from this caller; retry later"));
    }
    if has_body {
        answers.push(("413", "the body is larger than this route allows"));
    }
    for (status, description) in answers {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| {
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ApiError")))
                            .build(),
                    )
                    .build()
                    .into()
            });
    }
}
