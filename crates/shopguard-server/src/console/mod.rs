//! The analysts' web console at `/console`: server-rendered pages (minijinja templates
//! embedded in the binary) with htmx 2.0 for partial updates and a small script of our own,
//! in Simplified Chinese and English. Every page and action calls the same application
//! services as the API, after the same scope check; nothing here holds a rule of its own.
//!
//! Security (decision 0039): operator login with password and TOTP; the session token in an
//! `HttpOnly`, `SameSite=Strict` cookie scoped to `/console` (`Secure` behind TLS); a CSRF
//! token on every form and htmx request; a Content-Security-Policy without inline script or
//! style; `Cache-Control: no-store` on every page.

// A console handler answers a page or an error page: both are `Response`s, which axum
// builds and sends at once; boxing the error side would only add an allocation.
#![allow(clippy::result_large_err)]

mod assets;
mod auth;
mod charts;
pub mod i18n;
mod pages;
mod render;
pub mod situation;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::state::AppState;

pub use render::Console;
pub(crate) use render::{Reply, Ui};

/// The Content-Security-Policy of every console answer: scripts, styles and connections only
/// from this origin, no inline script or style, no framing, forms only to this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn home() -> Redirect {
    Redirect::to("/console/situation")
}

/// The console's routes, to be merged into the API router, over the situation recorder the
/// node runs (started with or without the console: every node stores its minutes).
pub fn router(state: &AppState, situation: Arc<situation::Situation>) -> Router<AppState> {
    let console = Arc::new(Console::new(state, situation));
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/static/{file}", get(assets::serve))
        .route("/console/login", get(auth::login_page).post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route("/console/preferences", post(auth::preferences))
        .route("/console/situation", get(pages::situation::page))
        .route("/console/situation/stream", get(pages::situation::stream))
        .route(
            "/console/situation/top-entities",
            get(pages::situation::top_entities),
        )
        .route("/console/alerts", get(pages::alerts::queue))
        .route(
            "/console/alerts/{seq}",
            get(pages::alerts::show).post(pages::alerts::change),
        )
        .route("/console/incidents", get(pages::incidents::queue))
        .route(
            "/console/incidents/new",
            get(pages::incidents::report_form).post(pages::incidents::report),
        )
        .route(
            "/console/incidents/{id}",
            get(pages::incidents::show).post(pages::incidents::act),
        )
        .route("/console/decisions", get(pages::decisions::search))
        .route("/console/decisions/{id}", get(pages::decisions::show))
        .route(
            "/console/decisions/{id}/unmask",
            post(pages::decisions::unmask),
        )
        .route("/console/entity/{kind}/{value}", get(pages::entity::show))
        .route("/console/lists", get(pages::lists::index))
        .route("/console/lists/{name}", get(pages::lists::show))
        .route("/console/lists/{name}/add", post(pages::lists::add))
        .route("/console/list-entries", post(pages::lists::add_named))
        .route("/console/lists/{name}/remove", post(pages::lists::remove))
        .route(
            "/console/lists/{name}/import",
            post(pages::lists::import).layer(axum::extract::DefaultBodyLimit::max(
                3 * pages::lists::IMPORT_MAX_BYTES + 64 * 1024,
            )),
        )
        .route(
            "/console/lists/{name}/import/{task}",
            get(pages::lists::import_progress),
        )
        .route("/console/policy", get(pages::policy::index))
        .route(
            "/console/policy/versions/{version}",
            get(pages::policy::version),
        )
        .route("/console/policy/edit", get(pages::policy::editor))
        .route("/console/policy/check", post(pages::policy::check))
        .route("/console/policy/replay", post(pages::policy::replay))
        .route("/console/policy/submit", post(pages::policy::submit))
        .route(
            "/console/policy/versions/{version}/approve",
            post(pages::policy::approve),
        )
        .route(
            "/console/policy/versions/{version}/rollback",
            post(pages::policy::rollback),
        )
        .route("/console/audit", get(pages::audit::index))
        .route("/console/audit/verify", post(pages::audit::verify))
        .route(
            "/console/audit/entries/{seq}/proof",
            get(pages::audit::proof),
        )
        .route("/console/audit/consistency", get(pages::audit::consistency))
        .route("/console/tasks", get(pages::tasks::index))
        .route("/console/operators", get(pages::operators::index))
        .route(
            "/console/operators/sessions/end-all",
            post(pages::operators::end_all),
        )
        .route(
            "/console/operators/sessions/{id}/end",
            post(pages::operators::end_session),
        )
        .route(
            "/console/operators/grants",
            post(pages::operators::request_grant),
        )
        .route(
            "/console/operators/grants/{id}/approve",
            post(pages::operators::approve_grant),
        )
        .route(
            "/console/operators/{username}/disable",
            post(pages::operators::disable),
        )
        .layer(middleware::from_fn(security_headers))
        .layer(Extension(console))
}

/// A console answer for a request that is not signed in: the login page (with where to go
/// back to), or for an htmx request an `HX-Redirect` to it.
pub(crate) fn to_login(path_and_query: &str, htmx: bool) -> Response {
    let target = format!(
        "/console/login?next={}",
        auth::encode_component(path_and_query)
    );
    if htmx {
        let mut response = axum::http::StatusCode::UNAUTHORIZED.into_response();
        if let Ok(value) = HeaderValue::from_str(&target) {
            response.headers_mut().insert("HX-Redirect", value);
        }
        return response;
    }
    Redirect::to(&target).into_response()
}
