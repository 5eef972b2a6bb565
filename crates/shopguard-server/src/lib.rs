//! shopguard's HTTP API: thin axum handlers over the application layer's services.
//!
//! [`state::start`] opens a node through `shopguard_app::App::open`;
//! [`routes::router`] builds the API over it; [`serve`] runs it until a shutdown signal,
//! then drains the decision log and writes a final engine snapshot.
#![warn(missing_docs)]

pub mod error;
pub mod extract;
pub mod metrics;
pub mod routes;
pub mod state;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use routes::router;
pub use state::{start, AppState, ServerConfig, StartError, Started};

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "'Bearer sg_<key id>_<secret>'; scopes: events:write, decisions:read, audit:read, pii:unmask, admin",
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
        routes::decisions::list_alerts,
        routes::policy::get_policy,
        routes::policy::list_versions,
        routes::policy::check_policy,
        routes::policy::put_policy,
        routes::policy::rollback,
        routes::policy::approve,
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
        routes::operators::request_grant,
        routes::operators::approve_grant,
        routes::operators::list_grants,
        routes::operators::disable_operator,
        routes::ops::healthz,
        routes::ops::metrics,
        routes::docs::errors,
    ),
    modifiers(&BearerKey)
)]
pub struct ApiDoc;

/// Serves `state` on its configured address until `shutdown` completes; then drains the
/// decision log, signs a checkpoint of the audit log when it grew since the last one, and
/// writes the engine snapshot.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let maintenance = tokio::spawn(state::maintenance_loop(state.clone()));
    let result = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    maintenance.abort();
    let _ = maintenance.await;
    let app = state.app.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(decisions) = app.decisions() {
            decisions.log().close();
        }
        if let Err(error) = app.audit.drain() {
            tracing::error!(error = %error, "moving the last audit entries in failed");
        }
        // Nothing after the last checkpoint is left covered by the tree files alone.
        match app.audit.sign_tail(state::now_ms()) {
            Ok(Some(size)) => tracing::info!(size, "audit checkpoint signed at the stop"),
            Ok(None) => {}
            Err(error) => tracing::error!(error = ?error, "cannot sign the audit log at the stop"),
        }
    })
    .await;
    state::save_snapshot(&state).await;
    // The last reference to the services is dropped off the async threads: a storage
    // driver may block while it closes its connections.
    let _ = tokio::task::spawn_blocking(move || drop(state)).await;
    tracing::info!("shopguard stopped");
    result
}
