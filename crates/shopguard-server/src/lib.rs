//! shopguard's HTTP API: thin axum handlers over the application layer's services.
//!
//! [`state::start`] opens a node through `shopguard_app::App::open`;
//! [`routes::router`] builds the API over it; [`serve`] runs it until a shutdown signal,
//! then drains the decision log and writes a final engine snapshot.
#![warn(missing_docs)]

pub mod console;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod state;

pub use openapi::ApiDoc;
pub use routes::router;
pub use state::{start, AppState, ServerConfig, StartError, Started};

/// Serves `state` on its configured address until `shutdown` completes; then drains the
/// decision log, signs a checkpoint of the audit log when it grew since the last one, and
/// writes the engine snapshot.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let maintenance = tokio::spawn(state::maintenance_loop(state.clone()));
    // Every node records its situation and stores its minutes, so that a console on any node
    // shows the traffic of all of them (decision 0047). It ends with the stop, after its
    // current write, and is waited for: nothing holds the services once the node stopped.
    let recorder = tokio::spawn(console::situation::run_recorder(
        state.situation.clone(),
        state.metrics.clone(),
        state.app.clone(),
        state.stopping.subscribe(),
    ));
    // The peer's address reaches handlers that need it (login limits per client address).
    let service =
        router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    // Open event streams end as the stop begins; the graceful stop would wait for them.
    let stopping = state.stopping.clone();
    let shutdown = async move {
        shutdown.await;
        stopping.send_replace(true);
    };
    let result = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await;
    state.stopping.send_replace(true);
    let _ = recorder.await;
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
