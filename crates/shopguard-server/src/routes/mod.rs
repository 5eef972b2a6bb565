//! The router: one module of thin handlers per resource.

pub mod alerts;
pub mod audit;
pub mod data_keys;
pub mod decisions;
pub mod directory;
pub mod docs;
pub mod events;
pub mod incidents;
pub mod lists;
pub mod operators;
pub mod ops;
pub mod playbooks;
pub mod policy;
pub mod tasks;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use shopguard_api_types::{ErrorCode, ERRORS_DOC_PATH};

use crate::error::AppError;
use crate::metrics::RouteLabel;
use crate::state::AppState;

async fn record_latency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    state
        .metrics
        .http_latency
        .get_or_create(&RouteLabel {
            route,
            status: response.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such route; see /openapi.json")
}

async fn method_not_allowed() -> AppError {
    AppError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take this method; see /openapi.json for the methods it takes",
    )
}

/// The whole HTTP API over `state`.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    let mut api = Router::new()
        .route("/v1/events", post(events::post_event))
        .route("/v1/events/batch", post(events::post_batch))
        .route("/v1/decisions", get(decisions::list_decisions))
        .route("/v1/decisions/{decision_id}", get(decisions::get_decision))
        .route(
            "/v1/decisions/{decision_id}/challenge",
            post(events::post_challenge_result),
        )
        .route("/v1/alerts", get(alerts::list_alerts))
        .route("/v1/alerts/{seq}", get(alerts::get_alert))
        .route("/v1/alerts/{seq}/acknowledge", post(alerts::acknowledge))
        .route("/v1/alerts/{seq}/resolve", post(alerts::resolve))
        .route("/v1/alerts/{seq}/dismiss", post(alerts::dismiss))
        .route("/v1/alerts/{seq}/reopen", post(alerts::reopen))
        .route("/v1/alerts/{seq}/assign", post(alerts::assign))
        .route("/v1/alerts/{seq}/notes", post(alerts::add_note))
        .route(
            "/v1/incidents",
            get(incidents::list_incidents).post(incidents::report_incident),
        )
        .route("/v1/incidents/from-alerts", post(incidents::from_alerts))
        .route("/v1/incidents/grading", get(incidents::grading))
        .route(
            "/v1/incidents/{id}",
            get(incidents::get_incident).patch(incidents::patch_incident),
        )
        .route("/v1/incidents/{id}/triage", post(incidents::triage))
        .route("/v1/incidents/{id}/grade", post(incidents::grade))
        .route(
            "/v1/incidents/{id}/override",
            post(incidents::override_level),
        )
        .route("/v1/incidents/{id}/transition", post(incidents::transition))
        .route("/v1/incidents/{id}/reassess", post(incidents::reassess))
        .route("/v1/incidents/{id}/escalate", post(incidents::escalate))
        .route("/v1/incidents/{id}/assign", post(incidents::assign))
        .route("/v1/incidents/{id}/history", get(incidents::history))
        .route("/v1/incidents/{id}/diff", get(incidents::diff))
        .route(
            "/v1/directory/members",
            get(directory::list_members).post(directory::create_member),
        )
        .route(
            "/v1/directory/members/{id}",
            get(directory::get_member).patch(directory::update_member),
        )
        .route(
            "/v1/directory/members/{id}/contacts",
            get(directory::member_contacts),
        )
        .route(
            "/v1/directory/contacts",
            get(directory::list_contacts).post(directory::create_contact),
        )
        .route(
            "/v1/directory/contacts/{id}",
            get(directory::get_contact).patch(directory::update_contact),
        )
        .route(
            "/v1/directory/contacts/{id}/contacts",
            get(directory::contact_contacts),
        )
        .route(
            "/v1/directory/escalation/{group}",
            get(directory::escalation),
        )
        .route(
            "/v1/playbooks",
            get(playbooks::list_versions).post(playbooks::create_version),
        )
        .route("/v1/playbooks/active", get(playbooks::get_active))
        .route("/v1/playbooks/active/tasks", get(playbooks::active_tasks))
        .route("/v1/playbooks/{version}", get(playbooks::get_version))
        .route(
            "/v1/playbooks/{version}/activate",
            post(playbooks::activate),
        )
        .route(
            "/v1/policy",
            get(policy::get_policy).put(policy::put_policy),
        )
        .route("/v1/policy/versions", get(policy::list_versions))
        .route(
            "/v1/policy/versions/{version}/approve",
            post(policy::approve),
        )
        .route("/v1/policy/check", post(policy::check_policy))
        .route("/v1/policy/rollback", post(policy::rollback))
        .route("/v1/policy/replay", post(policy::replay))
        .route("/v1/lists", get(lists::list_lists).post(lists::create_list))
        .route(
            "/v1/lists/{name}/entries",
            get(lists::list_entries)
                .post(lists::add_entry)
                .delete(lists::remove_entry),
        )
        .route("/v1/audit/entries", get(audit::list_entries))
        .route("/v1/audit/entries/{seq}", get(audit::get_entry))
        .route("/v1/audit/consistency", get(audit::consistency))
        .route(
            "/v1/audit/checkpoints",
            get(audit::list_checkpoints).post(audit::create_checkpoint),
        )
        .route("/v1/audit/retention", get(audit::retention))
        .route("/v1/data-keys/rotate", post(data_keys::rotate))
        .route("/v1/auth/login", post(operators::login))
        .route("/v1/auth/logout", post(operators::logout))
        .route("/v1/auth/sessions", get(operators::list_sessions))
        .route(
            "/v1/auth/sessions/{session_id}",
            delete(operators::end_session),
        )
        .route(
            "/v1/grants",
            get(operators::list_grants).post(operators::request_grant),
        )
        .route("/v1/grants/{id}/approve", post(operators::approve_grant))
        .route(
            "/v1/operators/{username}/disable",
            post(operators::disable_operator),
        )
        .route("/v1/data-keys/reencrypt", post(data_keys::reencrypt))
        .route("/v1/tasks", get(tasks::list_tasks))
        .route("/v1/tasks/{id}", get(tasks::get_task))
        .route("/v1/tasks/{id}/cancel", post(tasks::cancel_task))
        .layer(DefaultBodyLimit::max(body_limit))
        .route(
            "/v1/lists/{name}/import",
            post(lists::import_entries).layer(DefaultBodyLimit::max(body_limit.saturating_mul(16))),
        )
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route(ERRORS_DOC_PATH, get(docs::errors));
    if state.config.enable_noop_endpoint {
        api = api.route(
            "/v1/noop",
            post(ops::noop).layer(DefaultBodyLimit::max(body_limit)),
        );
    }
    if state.config.console {
        api = api.merge(crate::console::router(&state, state.situation.clone()));
    }
    api.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_latency,
        ))
        .with_state(state)
}
