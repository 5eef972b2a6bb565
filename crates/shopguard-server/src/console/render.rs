//! Rendering: the template environment (templates embedded in the binary, strict about
//! undefined values), the functions templates call (`t`, `num`, `pct`, `time`), and [`Ui`],
//! what every signed-in page handler gets: who is asking, in which language and time zone,
//! and the means to answer with a page or an error in place.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::value::Value;
use minijinja::{context, Environment, State, UndefinedBehavior};
use serde::Serialize;
use shopguard_app::{App, Principal, ServiceResult};
use shopguard_storage::Scope;

use super::auth::{self, Cookies};
use super::i18n::{self, Catalogs, Locale};
use super::situation::Situation;
use crate::error::AppError;
use crate::state::AppState;

/// What a console handler answers: a page, or an error page (or fragment) in its place.
pub(crate) type Reply = Result<Response, Response>;

/// The console's shared parts: templates, catalogues, the situation recorder.
pub struct Console {
    env: Environment<'static>,
    /// Both message catalogues.
    pub(crate) catalogs: Arc<Catalogs>,
    /// The live counters behind the situation page.
    pub(crate) situation: Arc<Situation>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

/// Every template, by name (embedded at build time).
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("login.html", include_str!("templates/login.html")),
    ("error.html", include_str!("templates/error.html")),
    (
        "error_fragment.html",
        include_str!("templates/error_fragment.html"),
    ),
    ("situation.html", include_str!("templates/situation.html")),
    ("incidents.html", include_str!("templates/incidents.html")),
    ("incident.html", include_str!("templates/incident.html")),
    (
        "incident_new.html",
        include_str!("templates/incident_new.html"),
    ),
    (
        "situation_top.html",
        include_str!("templates/situation_top.html"),
    ),
    ("decisions.html", include_str!("templates/decisions.html")),
    ("decision.html", include_str!("templates/decision.html")),
    ("entity.html", include_str!("templates/entity.html")),
    ("lists.html", include_str!("templates/lists.html")),
    ("list.html", include_str!("templates/list.html")),
    ("policy.html", include_str!("templates/policy.html")),
    (
        "policy_version.html",
        include_str!("templates/policy_version.html"),
    ),
    (
        "policy_edit.html",
        include_str!("templates/policy_edit.html"),
    ),
    (
        "policy_check.html",
        include_str!("templates/policy_check.html"),
    ),
    (
        "policy_replay.html",
        include_str!("templates/policy_replay.html"),
    ),
    ("audit.html", include_str!("templates/audit.html")),
    (
        "audit_verify.html",
        include_str!("templates/audit_verify.html"),
    ),
    ("tasks.html", include_str!("templates/tasks.html")),
    (
        "audit_proof.html",
        include_str!("templates/audit_proof.html"),
    ),
    (
        "audit_consistency.html",
        include_str!("templates/audit_consistency.html"),
    ),
    (
        "list_import.html",
        include_str!("templates/list_import.html"),
    ),
    ("alerts.html", include_str!("templates/alerts.html")),
    ("alert.html", include_str!("templates/alert.html")),
    ("operators.html", include_str!("templates/operators.html")),
];

fn locale_of(state: &State) -> Locale {
    state
        .lookup("base")
        .and_then(|base| base.get_attr("lang").ok())
        .and_then(|lang| lang.as_str().and_then(Locale::from_tag))
        .unwrap_or(Locale::En)
}

fn zone_of(state: &State) -> jiff::tz::TimeZone {
    state
        .lookup("base")
        .and_then(|base| base.get_attr("tz").ok())
        .and_then(|tz| tz.as_str().map(i18n::time_zone))
        .unwrap_or(jiff::tz::TimeZone::UTC)
}

impl Console {
    /// The console over a node's state: parses the templates and catalogues (a defect in
    /// either is a build defect; the tests render every page).
    pub fn new(_state: &AppState, situation: Arc<Situation>) -> Console {
        let catalogs = Arc::new(Catalogs::load().expect("the embedded catalogues parse"));
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("the embedded templates parse");
        }
        let texts = catalogs.clone();
        env.add_function("t", move |state: &State, key: &str| -> String {
            texts.text(locale_of(state), key).to_owned()
        });
        env.add_function("num", |value: i64| -> String {
            i18n::format_number(i128::from(value))
        });
        env.add_function("pct", |part: u64, whole: u64| -> String {
            i18n::format_percent(part, whole)
        });
        env.add_function("time", |state: &State, ms: i64| -> String {
            i18n::format_time(locale_of(state), ms, &zone_of(state))
        });
        env.add_filter("urlencode_component", |text: &str| -> String {
            auth::encode_component(text)
        });
        Console {
            env,
            catalogs,
            situation,
        }
    }

    /// Renders `template` with the page's values and the frame's.
    pub(crate) fn render(
        &self,
        template: &str,
        base: &Base,
        page: Value,
    ) -> Result<String, String> {
        self.env
            .get_template(template)
            .and_then(|template| template.render(context! { base => base, page => page }))
            .map_err(|error| format!("{error:#}"))
    }
}

/// What the frame of every page shows: language, time zone, who is signed in and what they
/// may do, the CSRF token for its forms.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Base {
    pub lang: &'static str,
    pub tz: String,
    pub user: Option<String>,
    pub csrf: String,
    pub path: String,
    pub can: Can,
}

/// The scopes the signed-in operator holds, as the templates ask about them.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct Can {
    pub decisions: bool,
    pub lists_write: bool,
    pub policy_write: bool,
    pub policy_approve: bool,
    pub audit: bool,
    pub unmask: bool,
    pub admin: bool,
    pub incidents: bool,
}

impl Can {
    fn of(principal: &Principal) -> Can {
        Can {
            decisions: principal.grants(Scope::DecisionsRead),
            incidents: principal.grants(Scope::IncidentsRead),
            lists_write: principal.grants(Scope::ListsWrite),
            policy_write: principal.grants(Scope::PolicyWrite),
            policy_approve: principal.grants(Scope::PolicyApprove),
            audit: principal.grants(Scope::AuditRead),
            unmask: principal.grants(Scope::PiiUnmask),
            admin: principal.grants(Scope::Admin),
        }
    }
}

/// The language and time zone of a request: the `sg_lang` cookie or `Accept-Language`;
/// the `sg_tz` cookie (set by the console's script from the browser) or UTC.
#[derive(Clone, Debug)]
pub(crate) struct Prefs {
    pub locale: Locale,
    pub tz: String,
}

impl Prefs {
    pub(crate) fn of(parts: &Parts, cookies: &Cookies) -> Prefs {
        let locale = cookies
            .get("sg_lang")
            .and_then(Locale::from_tag)
            .unwrap_or_else(|| {
                Locale::negotiate(
                    parts
                        .headers
                        .get(axum::http::header::ACCEPT_LANGUAGE)
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or(""),
                )
            });
        let tz = cookies
            .get("sg_tz")
            .filter(|name| name.len() <= 64 && jiff::tz::TimeZone::get(name).is_ok())
            .unwrap_or("UTC")
            .to_owned();
        Prefs { locale, tz }
    }
}

/// A signed-in console request: the operator, their preferences and the console.
pub(crate) struct Ui {
    pub console: Arc<Console>,
    pub state: AppState,
    pub principal: Arc<Principal>,
    pub prefs: Prefs,
    pub htmx: bool,
    base: Base,
    token: String,
}

impl Ui {
    /// Whether the page is in Chinese (for labels the core carries in both languages).
    pub fn chinese(&self) -> bool {
        self.base.lang.starts_with("zh")
    }
}

impl FromRequestParts<AppState> for Ui {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Ui, Response> {
        let console = parts
            .extensions
            .get::<Arc<Console>>()
            .cloned()
            .ok_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        let cookies = Cookies::of(parts);
        let prefs = Prefs::of(parts, &cookies);
        let htmx = parts.headers.contains_key("hx-request");
        let path = parts
            .uri
            .path_and_query()
            .map_or("/console", |path| path.as_str())
            .to_owned();
        let Some(token) = cookies.get(auth::SESSION_COOKIE).map(str::to_owned) else {
            return Err(super::to_login(&path, htmx));
        };
        let principal = match auth::session_principal(state, &token).await {
            Ok(Some(principal)) => principal,
            Ok(None) => return Err(super::to_login(&path, htmx)),
            Err(error) => return Err(error.into_response()),
        };
        let base = Base {
            lang: prefs.locale.tag(),
            tz: prefs.tz.clone(),
            user: principal.actor.operator().map(str::to_owned),
            csrf: auth::csrf_token(&token),
            path,
            can: Can::of(&principal),
        };
        Ok(Ui {
            console,
            state: state.clone(),
            principal,
            prefs,
            htmx,
            base,
            token,
        })
    }
}

impl Ui {
    /// The page `template` with the page's values, `200 OK`.
    pub fn page(&self, template: &str, page: Value) -> Reply {
        self.page_with(StatusCode::OK, template, page)
    }

    /// The page `template` with a status.
    pub fn page_with(&self, status: StatusCode, template: &str, page: Value) -> Reply {
        match self.console.render(template, &self.base, page) {
            Ok(html) => Ok((status, Html(html)).into_response()),
            Err(error) => Err(self.fail(AppError::internal(error))),
        }
    }

    /// An error shown in place: the error page, or for an htmx request a fragment that the
    /// page shows where the answer would have gone.
    pub fn fail(&self, error: impl Into<AppError>) -> Response {
        render_error(&self.console, &self.base, self.htmx, error.into())
    }

    /// Refuses (403, in place) unless the operator holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Response> {
        if self.principal.grants(scope) {
            return Ok(());
        }
        Err(self.fail(AppError::new(
            shopguard_api_types::ErrorCode::InsufficientScope,
            format!(
                "{} ({scope})",
                self.console
                    .catalogs
                    .text(self.prefs.locale, "error.forbidden")
            ),
        )))
    }

    /// Checks a form's CSRF token (a field named `csrf`, or htmx's `X-CSRF-Token` header
    /// passed in as the same string); a mismatch is refused with 403.
    pub fn verify_csrf(&self, presented: &str) -> Result<(), Response> {
        if auth::csrf_matches(&self.token, presented) {
            return Ok(());
        }
        Err(self.fail(AppError::new(
            shopguard_api_types::ErrorCode::InsufficientScope,
            self.console.catalogs.text(self.prefs.locale, "error.csrf"),
        )))
    }

    /// The text of `key` in the request's language.
    pub fn text(&self, key: &str) -> String {
        self.console
            .catalogs
            .text(self.prefs.locale, key)
            .to_owned()
    }

    /// Runs a use case on a blocking thread; its error becomes an error page.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&App) -> ServiceResult<T> + Send + 'static,
    ) -> Result<T, Response> {
        self.state.run(work).await.map_err(|error| self.fail(error))
    }
}

/// An error as a page (or, for htmx, as a fragment), with the error's HTTP status.
pub(crate) fn render_error(
    console: &Console,
    base: &Base,
    htmx: bool,
    error: AppError,
) -> Response {
    let status =
        StatusCode::from_u16(error.0.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let page = context! {
        status => status.as_u16(),
        code => error.0.code.as_str(),
        message => error.0.message.clone(),
    };
    let template = if htmx {
        "error_fragment.html"
    } else {
        "error.html"
    };
    match console.render(template, base, page) {
        // htmx swaps error answers too: the console's script lets it (status 400-599).
        Ok(html) => (status, Html(html)).into_response(),
        Err(detail) => {
            tracing::error!(error = %detail, "rendering the console's error page");
            (status, error.0.message).into_response()
        }
    }
}

/// The frame of a page shown to someone not signed in (the login page).
pub(crate) fn guest_base(prefs: &Prefs, csrf: String, path: String) -> Base {
    Base {
        lang: prefs.locale.tag(),
        tz: prefs.tz.clone(),
        user: None,
        csrf,
        path,
        can: Can::default(),
    }
}

#[cfg(test)]
mod tests {
    /// A template file that is not embedded renders as "template not found" only when a page
    /// asks for it: every file in `templates/` must be in [`super::TEMPLATES`].
    #[test]
    fn every_template_file_is_embedded() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/src/console/templates");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".html"))
            .collect();
        files.sort();
        let mut embedded: Vec<String> = super::TEMPLATES
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect();
        embedded.sort();
        assert_eq!(files, embedded);
    }
}
