//! Signing in and out of the console, cookies, CSRF tokens and the language/time-zone
//! preferences.
//!
//! - The session is the operator service's session (password + TOTP, as `POST
//!   /v1/auth/login`); its token lives in the `sg_session` cookie: `HttpOnly`,
//!   `SameSite=Strict`, `Path=/console`, and `Secure` when the request came over TLS (a
//!   proxy's `X-Forwarded-Proto: https`).
//! - A form's CSRF token is derived from the session token (SHA-256 under a label), so it
//!   needs no storage and changes with every session; a page reads it from the frame, and
//!   the console's script sends it as `X-CSRF-Token` on htmx requests. The login form, before
//!   there is a session, uses a random value in a short-lived cookie (double submit).

use std::sync::Arc;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use minijinja::context;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use shopguard_app::Principal;
use shopguard_core::credentials;

use super::i18n::Locale;
use super::render::{guest_base, render_error, Prefs};
use super::{Console, Ui};
use crate::error::AppError;
use crate::extract::ClientAddress;
use crate::state::AppState;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "sg_session";
/// The login form's double-submit cookie.
const LOGIN_COOKIE: &str = "sg_login";

/// The request's cookies (at most 64 are read).
pub(crate) struct Cookies(Vec<(String, String)>);

impl Cookies {
    /// The cookies of a request.
    pub(crate) fn of(parts: &Parts) -> Cookies {
        Cookies::from_headers(&parts.headers)
    }

    fn from_headers(headers: &HeaderMap) -> Cookies {
        let pairs = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|line| line.split(';'))
            .take(64)
            .filter_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                Some((name.trim().to_owned(), value.trim().to_owned()))
            })
            .collect();
        Cookies(pairs)
    }

    /// The value of cookie `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(held, _)| held == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The operator behind a session token, as the API's bearer authentication finds them.
pub(crate) async fn session_principal(
    state: &AppState,
    token: &str,
) -> Result<Option<Arc<Principal>>, AppError> {
    let Some((session_id, secret)) = credentials::split_session_token(token) else {
        return Ok(None);
    };
    if let Some(principal) = state.app.operators.cached_principal(session_id, secret) {
        return Ok(Some(principal));
    }
    let (session_id, secret) = (session_id.to_owned(), secret.to_owned());
    state
        .run(move |app| app.operators.session_principal(&session_id, &secret))
        .await
}

/// The CSRF token of a session: SHA-256 of the token under a label, in hex.
pub(crate) fn csrf_token(session_token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"shopguard console csrf\0");
    hasher.update(session_token.as_bytes());
    hex::encode(hasher.finalize())
}

/// Whether `presented` is the session's CSRF token (constant time).
pub(crate) fn csrf_matches(session_token: &str, presented: &str) -> bool {
    credentials::constant_time_equal(csrf_token(session_token).as_bytes(), presented.as_bytes())
}

/// `text` percent-encoded for a URL's query component.
pub(crate) fn encode_component(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Whether the request came over TLS (directly or through a proxy that says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value with the console's attributes.
fn cookie(
    name: &str,
    value: &str,
    max_age: Option<u64>,
    http_only: bool,
    tls: bool,
) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/console; SameSite=Strict");
    if http_only {
        text.push_str("; HttpOnly");
    }
    if tls {
        text.push_str("; Secure");
    }
    if let Some(seconds) = max_age {
        text.push_str(&format!("; Max-Age={seconds}"));
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Where to go after signing in: a console path only (never another site).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with("/console")
                && !path.contains("//")
                && !path.contains('\\')
                && !path.starts_with("/console/login")
                && path.len() <= 2_048 =>
        {
            path.to_owned()
        }
        _ => "/console/situation".to_owned(),
    }
}

/// What someone not signed in is shown: the request's preferences and cookies.
pub(crate) struct Guest {
    prefs: Prefs,
    cookies: Cookies,
    tls: bool,
    console: Arc<Console>,
}

impl FromRequestParts<AppState> for Guest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Guest, Response> {
        let Extension(console) = Extension::<Arc<Console>>::from_request_parts(parts, _state)
            .await
            .map_err(IntoResponse::into_response)?;
        let cookies = Cookies::of(parts);
        Ok(Guest {
            prefs: Prefs::of(parts, &cookies),
            tls: over_tls(&parts.headers),
            cookies,
            console,
        })
    }
}

/// `?next=` of the login page.
#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

fn login_form(guest: &Guest, status: StatusCode, next: &str, error: Option<String>) -> Response {
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let nonce = hex::encode(nonce);
    let base = guest_base(&guest.prefs, nonce.clone(), "/console/login".into());
    let page = context! { next => next, error => error };
    let mut response = match guest.console.render("login.html", &base, page) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(detail) => {
            return render_error(&guest.console, &base, false, AppError::internal(detail))
        }
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie(LOGIN_COOKIE, &nonce, Some(900), true, guest.tls),
    );
    response
}

/// `GET /console/login`: the sign-in form.
pub(crate) async fn login_page(guest: Guest, Query(query): Query<NextQuery>) -> Response {
    let next = safe_next(query.next.as_deref());
    login_form(&guest, StatusCode::OK, &next, None)
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    username: String,
    password: String,
    code: String,
    csrf: String,
    next: Option<String>,
}

/// `POST /console/login`: signs in through the operator service (password and TOTP code;
/// every attempt audited and limited there), then sets the session cookie.
pub(crate) async fn login(
    guest: Guest,
    axum::extract::State(state): axum::extract::State<AppState>,
    ClientAddress(client): ClientAddress,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let expected = guest.cookies.get(LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty()
        || !credentials::constant_time_equal(expected.as_bytes(), form.csrf.as_bytes())
    {
        let message = guest
            .console
            .catalogs
            .text(guest.prefs.locale, "login.expired");
        return login_form(
            &guest,
            StatusCode::FORBIDDEN,
            &next,
            Some(message.to_owned()),
        );
    }
    let attempt = state
        .run(move |app| {
            app.operators
                .login(&form.username, &form.password, form.code.trim(), client)
        })
        .await;
    match attempt {
        Ok(login) => {
            let mut response = Redirect::to(&next).into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                cookie(SESSION_COOKIE, &login.token, None, true, guest.tls),
            );
            headers.append(
                header::SET_COOKIE,
                cookie(LOGIN_COOKIE, "", Some(0), true, guest.tls),
            );
            response
        }
        Err(error) => {
            let key = match error.0.code {
                shopguard_api_types::ErrorCode::RateLimited
                | shopguard_api_types::ErrorCode::LoginThrottled => "login.throttled",
                shopguard_api_types::ErrorCode::LoginFailed
                | shopguard_api_types::ErrorCode::MissingOrInvalidApiKey => "login.failed",
                _ => "error.internal",
            };
            let status =
                StatusCode::from_u16(error.0.code.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            let message = guest.console.catalogs.text(guest.prefs.locale, key);
            login_form(&guest, status, &next, Some(message.to_owned()))
        }
    }
}

/// A form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    pub csrf: String,
}

/// `POST /console/logout`: ends the session (also in storage, so the cookie is worthless
/// everywhere) and clears the cookie.
pub(crate) async fn logout(ui: Ui, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if let Err(refused) = ui.verify_csrf(&form.csrf) {
        return refused;
    }
    let principal = ui.principal.clone();
    if let Err(failed) = ui.run(move |app| app.operators.logout(&principal)).await {
        return failed;
    }
    let mut response = Redirect::to("/console/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie(SESSION_COOKIE, "", Some(0), true, over_tls(&headers)),
    );
    response
}

/// The preferences form: language and time zone.
#[derive(Debug, Deserialize)]
pub(crate) struct PreferencesForm {
    lang: Option<String>,
    tz: Option<String>,
    back: Option<String>,
}

/// `POST /console/preferences`: sets the language (and time zone) cookies and goes back.
/// Works signed out too (the login page's language switch); it changes nothing stored.
pub(crate) async fn preferences(guest: Guest, Form(form): Form<PreferencesForm>) -> Response {
    let back = match form.back.as_deref() {
        Some("/console/login") => "/console/login".to_owned(),
        other => safe_next(other),
    };
    let mut response = Redirect::to(&back).into_response();
    let year = Some(365 * 24 * 3_600);
    if let Some(locale) = form.lang.as_deref().and_then(Locale::from_tag) {
        response.headers_mut().append(
            header::SET_COOKIE,
            cookie("sg_lang", locale.tag(), year, false, guest.tls),
        );
    }
    if let Some(tz) = form
        .tz
        .as_deref()
        .filter(|tz| tz.len() <= 64 && jiff::tz::TimeZone::get(tz).is_ok())
    {
        response.headers_mut().append(
            header::SET_COOKIE,
            cookie("sg_tz", tz, year, false, guest.tls),
        );
    }
    response
}
