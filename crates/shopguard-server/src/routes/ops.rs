//! `/healthz`, `/metrics`, `/openapi.json`, and the benchmark-only `/v1/noop`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use bytes::Bytes;
use shopguard_api_types::Health;
use utoipa::OpenApi;

use crate::state::AppState;

/// Liveness and a little state.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        policy_version: state.app.engine.policy().version,
        decisions_queued: state.app.decisions().map_or(0, |decisions| {
            decisions
                .log()
                .stats()
                .queued
                .load(std::sync::atomic::Ordering::Relaxed)
        }),
    })
}

/// Prometheus metrics (no personal data; open like `/healthz`).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Ok(decisions) = state.app.decisions() {
        state.metrics.read_log_stats(decisions.log().stats());
    }
    state
        .metrics
        .feature_keys
        .set(state.app.engine.feature_key_count() as i64);
    state
        .metrics
        .policy_version
        .set(state.app.engine.policy().version as i64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// The OpenAPI document of this API.
pub async fn openapi() -> impl IntoResponse {
    Json(crate::ApiDoc::openapi())
}

/// Reads the body and answers `{}`: the HTTP stack's own cost, for benchmarks. Served only
/// when `enable_noop_endpoint` is set.
pub async fn noop(_body: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], "{}")
}
