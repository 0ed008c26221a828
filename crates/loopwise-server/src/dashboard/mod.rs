//! The web dashboard at `/`: server-rendered HTML pages that work without JavaScript, with
//! their stylesheet and one small script embedded in the binary (nothing from a CDN).
//!
//! Pages: the overview (`/`), the leaderboard (`/leaderboard`), a service (`/services/{name}`),
//! a team (`/teams/{name}`), a tribe (`/tribes/{name}`), the incidents (`/incidents`) and one
//! incident (`/incidents/{source}/{id}`). Every page takes the report's filters as its query
//! (`window` or `since`/`until`, `benchmark`, `environment`, `team`, `tribe`, `service`), so
//! its figures are the API's for the same query. Everything shown goes through maud, which
//! escapes it; the Content-Security-Policy allows no inline script or style on top of that.
//!
//! Reads follow the API's rule: public when `public_reads` is set, else a read-scope token,
//! given once on `/login` and kept in an HttpOnly cookie.

mod charts;
pub mod format;
mod gather;
mod pages;

use crate::AppState;
use crate::auth::hash_token;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use loopwise_core::rollup::{Interval, SeriesBuilder};
use loopwise_core::time::{SECONDS_PER_DAY, Window};
use loopwise_engine::{QueryText, ReportQuery};
use loopwise_store::{StoreError, TokenScope};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use std::time::Instant;

/// The dashboard's routes, merged into the server's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/leaderboard", get(leaderboard))
        .route("/services/{service}", get(service))
        .route("/teams/{team}", get(team))
        .route("/tribes/{tribe}", get(tribe))
        .route("/incidents", get(incidents))
        .route("/incidents/{source}/{id}", get(incident))
        .route("/definitions", get(definitions))
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/assets/style.css", get(stylesheet))
        .route("/assets/dashboard.js", get(script))
}

const STYLESHEET: &str = include_str!("../../assets/style.css");
const SCRIPT: &str = include_str!("../../assets/dashboard.js");
/// Bumped with the crate version, so browsers fetch new assets after an upgrade.
const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");
const SESSION_COOKIE: &str = "loopwise_token";

/// Windows up to this many days have daily trends; longer ones weekly.
pub const SHORT_WINDOW_DAYS: f64 = 31.0;

/// The window presets of the filter form: (query value, label, days).
pub const WINDOW_PRESETS: [(&str, &str, i64); 6] = [
    ("7d", "last 7 days", 7),
    ("30d", "last 30 days", 30),
    ("90d", "last 90 days", 90),
    ("180d", "last 180 days", 180),
    ("365d", "last year", 365),
    ("730d", "last two years", 730),
];

/// The query every page understands. Empty values (an untouched form field) mean "not given".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    pub window: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub team: Option<String>,
    pub tribe: Option<String>,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub benchmark: Option<String>,
    /// Leaderboard: grouping, sort column and order, and a text filter.
    pub group_by: Option<String>,
    pub sort: Option<String>,
    pub order: Option<String>,
    pub q: Option<String>,
}

/// A query value, unless empty (an untouched form field).
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl PageQuery {
    /// The query's pairs that carry from page to page (window and benchmark, environment),
    /// for links.
    pub fn carried(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        for (name, value) in [
            ("window", &self.window),
            ("since", &self.since),
            ("until", &self.until),
            ("environment", &self.environment),
            ("benchmark", &self.benchmark),
        ] {
            if let Some(value) = given(value) {
                pairs.push((name, value.to_string()));
            }
        }
        pairs
    }

    /// Every given pair, for links back to the same page with one thing changed.
    pub fn all_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = self.carried();
        for (name, value) in [
            ("team", &self.team),
            ("tribe", &self.tribe),
            ("service", &self.service),
            ("group_by", &self.group_by),
            ("sort", &self.sort),
            ("order", &self.order),
            ("q", &self.q),
        ] {
            if let Some(value) = given(value) {
                pairs.push((name, value.to_string()));
            }
        }
        pairs
    }
}

/// `path?name=value&…`, with the values percent-encoded.
pub fn url(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return path.to_string();
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    format!("{path}?{}", query.finish())
}

/// Characters a path segment keeps as they are (RFC 3986 unreserved); all else is encoded, so
/// a name with `/`, `?`, `#` or spaces stays one segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, SEGMENT).to_string()
}

/// What a page handler works with: the validated query and the server state.
#[derive(Debug)]
pub struct Context {
    pub state: AppState,
    pub page: PageQuery,
    pub report: ReportQuery,
    /// An empty weekly series over the window, to be filled.
    /// The buckets of the cards' trends: by the day for a window of up to
    /// [`SHORT_WINDOW_DAYS`], by the week beyond.
    pub series: SeriesBuilder,
    /// Which window preset is chosen (for the form), if any.
    pub preset: Option<&'static str>,
    pub now: i64,
}

/// A page: its title, its place in the navigation, and its content.
#[derive(Debug)]
pub struct Page {
    pub title: String,
    pub nav: Nav,
    pub body: Markup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Leaderboard,
    Incidents,
    None,
}

/// A page that could not be shown: its status and a message for people.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl From<loopwise_engine::EngineError> for PageError {
    fn from(error: loopwise_engine::EngineError) -> Self {
        match error {
            loopwise_engine::EngineError::Store(error) => error.into(),
            // A page about a service nobody knows is not found; an unknown filter is a bad
            // request, as in the page's query parsing.
            unknown @ loopwise_engine::EngineError::Unknown { field, .. } => {
                if field == "service" {
                    Self::not_found(unknown.to_string())
                } else {
                    Self::bad_request(unknown.to_string())
                }
            }
        }
    }
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Open { .. } | StoreError::Database(_) => {
                tracing::error!(%error, "store unavailable");
                Self {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: "the database is unavailable; try again in a moment".to_string(),
                }
            }
            other => {
                tracing::error!(error = %other, "dashboard failure");
                Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: "internal error".to_string(),
                }
            }
        }
    }
}

impl From<crate::error::AppError> for PageError {
    fn from(error: crate::error::AppError) -> Self {
        let message = match &error.field {
            Some(field) => format!("{field}: {}", error.message),
            None => error.message,
        };
        Self {
            status: error.status,
            message,
        }
    }
}

/// Validates the page query into the report's query and an empty weekly series: parsed once,
/// by the engine's parser, as the API's and the command line's queries are.
fn context(state: AppState, page: PageQuery, now: i64) -> Result<Context, PageError> {
    let text = QueryText {
        service: page.service.clone(),
        team: page.team.clone(),
        tribe: page.tribe.clone(),
        environment: page.environment.clone(),
        since: page.since.clone(),
        until: page.until.clone(),
        benchmark: page.benchmark.clone(),
        group_by: None,
    };
    let mut report = state.engine.parse_query(&text, now).map_err(|error| {
        let message = format!("{}: {}", error.field, error.message);
        match error.field {
            // A page about a service, team or tribe nobody knows is not found.
            "service" | "team" | "tribe" => PageError::not_found(message),
            _ => PageError::bad_request(message),
        }
    })?;
    let mut preset = None;
    if !is_custom(&page) {
        let name = match given(&page.window) {
            Some("custom") => {
                return Err(PageError::bad_request(
                    "window: a custom window needs since (and, optionally, until)",
                ));
            }
            other => other.unwrap_or("90d"),
        };
        let (value, _, days) = WINDOW_PRESETS
            .iter()
            .find(|(value, _, _)| *value == name)
            .ok_or_else(|| {
                PageError::bad_request(format!(
                    "window: unknown window {name:?}; choose one of: {}",
                    WINDOW_PRESETS.map(|(value, _, _)| value).join(", ")
                ))
            })?;
        let until = report.window.until;
        report.window = Window::new(until.saturating_sub(days * SECONDS_PER_DAY), until)
            .map_err(|e| PageError::bad_request(format!("window: {e}")))?;
        preset = Some(*value);
    }
    // Short windows are drawn by the day: a month has too few weeks to show a trend.
    let interval = if report.window.length_days() <= SHORT_WINDOW_DAYS {
        Interval::Day
    } else {
        Interval::Week
    };
    let series = SeriesBuilder::new(report.window, interval)
        .map_err(|e| PageError::bad_request(format!("since: {e}")))?;
    Ok(Context {
        state,
        page,
        report,
        series,
        preset,
        now,
    })
}

/// A custom window: `since` given, and no preset chosen over it (the form carries the custom
/// `since` along; choosing a preset in it then means that preset).
pub fn is_custom(page: &PageQuery) -> bool {
    given(&page.since).is_some() && given(&page.window).is_none_or(|window| window == "custom")
}

/// The token in the session cookie, if it allows reading.
fn session_allows_reads(state: &AppState, headers: &HeaderMap) -> Result<bool, PageError> {
    if state.config.public_reads {
        return Ok(true);
    }
    let Some(secret) = session_cookie(headers) else {
        return Ok(false);
    };
    let token = state.store.token_by_hash(&hash_token(&secret))?;
    Ok(token.is_some_and(|token| token.scope.allows(TokenScope::Read)))
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// Headers every dashboard answer carries: no inline script or style, no framing, no sniffing.
fn secure(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// Renders a page built by `build` on a blocking thread (gathering reads the store), with its
/// server time in a `Server-Timing` header; answers the login page when reads need a token.
async fn render(
    state: AppState,
    headers: HeaderMap,
    path: String,
    query: Result<Query<PageQuery>, QueryRejection>,
    build: impl FnOnce(&Context) -> Result<Page, PageError> + Send + 'static,
) -> Response {
    let started = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || {
        if !session_allows_reads(&state, &headers)? {
            return Ok(None);
        }
        let Query(page) = query.map_err(|e| PageError::bad_request(e.body_text()))?;
        let context = context(state, page, crate::unix_now())?;
        let page = build(&context)?;
        Ok::<_, PageError>(Some((page, context.page)))
    })
    .await;
    let elapsed = started.elapsed();
    let mut response = match outcome {
        Ok(Ok(Some((page, query)))) => {
            let markup = layout(&page, Some(&query), elapsed);
            (
                [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
                markup,
            )
                .into_response()
        }
        Ok(Ok(None)) => login_page(&path, None, StatusCode::UNAUTHORIZED),
        Ok(Err(error)) => error_page(&error),
        Err(join) => error_page(&PageError::from(StoreError::Database(join.to_string()))),
    };
    if let Ok(value) = HeaderValue::from_str(&format!(
        "render;dur={:.2}",
        started.elapsed().as_secs_f64() * 1000.0
    )) {
        response.headers_mut().insert("server-timing", value);
    }
    secure(&mut response);
    response
}

fn error_page(error: &PageError) -> Response {
    let title = error
        .status
        .canonical_reason()
        .unwrap_or("Error")
        .to_string();
    let page = Page {
        title: title.clone(),
        nav: Nav::None,
        body: html! {
            h1 { (title) }
            p.error role="alert" { (error.message) }
            p { a href="/" { "Back to the overview" } }
        },
    };
    let mut response = (error.status, layout(&page, None, Default::default())).into_response();
    if error.status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    secure(&mut response);
    response
}

/// The frame of every page: navigation, content, footer.
fn layout(page: &Page, query: Option<&PageQuery>, elapsed: std::time::Duration) -> Markup {
    let carried = query.map(PageQuery::carried).unwrap_or_default();
    let nav = |target: Nav, path: &str, label: &str| {
        html! {
            @if page.nav == target {
                a href=(url(path, &carried)) aria-current="page" { (label) }
            } @else {
                a href=(url(path, &carried)) { (label) }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (page.title) " · loopwise" }
                // No favicon request (it would 404, and the page needs none).
                link rel="icon" href="data:,";
                link rel="stylesheet" href={"/assets/style.css?v=" (ASSET_VERSION)};
                script src={"/assets/dashboard.js?v=" (ASSET_VERSION)} defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "loopwise" }
                    nav aria-label="Main" {
                        (nav(Nav::Overview, "/", "Overview"))
                        (nav(Nav::Leaderboard, "/leaderboard", "Leaderboard"))
                        (nav(Nav::Incidents, "/incidents", "Incidents"))
                    }
                }
                main #main tabindex="-1" { (page.body) }
                footer {
                    "loopwise " (ASSET_VERSION) " · rendered in "
                    (format!("{:.0}", elapsed.as_secs_f64() * 1000.0)) " ms · "
                    a href="/api/v1/openapi.json" { "API" }
                }
            }
        }
    }
}

/// The window's bounds as the page says them.
/// `2026-09-08 to 2026-12-06`: the first and the last day the window includes.
pub fn window_text(window: Window) -> String {
    format!(
        "{} to {}",
        format::date(window.since),
        format::date(window.until - 1)
    )
}

/// How the window's ends read: whole UTC days, or a last day cut at a time of day.
pub fn window_ends_text(window: Window) -> String {
    let time_of_day = window.until.rem_euclid(SECONDS_PER_DAY);
    if time_of_day == 0 {
        "UTC, both days included".to_string()
    } else {
        format!(
            "UTC, the last day up to {:02}:{:02}",
            time_of_day / 3_600,
            time_of_day % 3_600 / 60
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// Where the sign-in page sends the reader back to: this page, with its query.
fn next_of(uri: &Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_string(), |path| path.as_str().to_string())
}

async fn overview(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    render(state, headers, next_of(&uri), query, pages::overview).await
}

async fn leaderboard(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    render(state, headers, next_of(&uri), query, pages::leaderboard).await
}

/// The page's query narrowed to the one service, team or tribe its path names (`set`): the
/// path decides, so a filter for another one in the query is dropped.
fn narrowed(
    query: Result<Query<PageQuery>, QueryRejection>,
    set: impl FnOnce(&mut PageQuery),
) -> Result<Query<PageQuery>, QueryRejection> {
    query.map(|Query(mut page)| {
        page.service = None;
        page.team = None;
        page.tribe = None;
        set(&mut page);
        Query(page)
    })
}

async fn service(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    Path(service): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let query = narrowed(query, |page| page.service = Some(service));
    render(state, headers, next_of(&uri), query, pages::service).await
}

async fn team(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    Path(team): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let query = narrowed(query, |page| page.team = Some(team));
    render(state, headers, next_of(&uri), query, pages::team).await
}

async fn tribe(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    Path(tribe): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let query = narrowed(query, |page| page.tribe = Some(tribe));
    render(state, headers, next_of(&uri), query, pages::tribe).await
}

async fn incidents(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    render(state, headers, next_of(&uri), query, pages::incidents).await
}

async fn incident(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    Path((source, id)): Path<(String, String)>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let path = next_of(&uri);
    render(state, headers, path, query, move |context| {
        pages::incident(context, &source, &id)
    })
    .await
}

async fn definitions(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    render(state, headers, next_of(&uri), query, pages::definitions).await
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        body,
    )
        .into_response();
    secure(&mut response);
    response
}

// ---------------------------------------------------------------------------------------------
// Signing in (only when reads are not public)

#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

/// Where to go after signing in: a path of this site only (never `//host` or a URL).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

fn login_page(next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let page = Page {
        title: "Sign in".to_string(),
        nav: Nav::None,
        body: html! {
            h1 { "Sign in" }
            p { "This server's reports need a token with the read scope. Create one with "
                code { "loopwise token create --scope read --name NAME" } "." }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            form.login method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label for="token" { "Read token" }
                input #token type="password" name="token" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        },
    };
    let mut response = (status, layout(&page, None, Default::default())).into_response();
    secure(&mut response);
    response
}

async fn login_form(State(state): State<AppState>, Query(query): Query<LoginQuery>) -> Response {
    let next = safe_next(query.next.as_deref());
    if state.config.public_reads {
        return redirect(&next, None);
    }
    login_page(&next, None, StatusCode::OK)
}

async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let next = safe_next(form.next.as_deref());
    let secret = form.token.trim().to_string();
    let store = state.store.clone();
    let hash = hash_token(&secret);
    let token = tokio::task::spawn_blocking(move || store.token_by_hash(&hash)).await;
    match token {
        Ok(Ok(Some(token))) if token.scope.allows(TokenScope::Read) => {
            // The token itself is the session: revoking it ends every session made with it.
            let cookie = format!(
                "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000"
            );
            redirect(&next, Some(cookie))
        }
        Ok(Ok(_)) => login_page(
            &next,
            Some("That token is unknown, revoked, or lacks the read scope."),
            StatusCode::UNAUTHORIZED,
        ),
        Ok(Err(error)) => error_page(&PageError::from(error)),
        Err(join) => error_page(&PageError::from(StoreError::Database(join.to_string()))),
    }
}

async fn logout() -> Response {
    redirect(
        "/login",
        Some(format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        )),
    )
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    secure(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_one_path_segment() {
        assert_eq!(segment("checkout-api"), "checkout-api");
        assert_eq!(
            segment("<script>alert(1)</script>"),
            "%3Cscript%3Ealert%281%29%3C%2Fscript%3E"
        );
        assert_eq!(segment("a b/c?d#e&f"), "a%20b%2Fc%3Fd%23e%26f");
    }

    #[test]
    fn only_local_paths_follow_a_sign_in() {
        assert_eq!(
            safe_next(Some("/teams/payments?window=30d")),
            "/teams/payments?window=30d"
        );
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; loopwise_token=lw_abc ; other=1"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("lw_abc"));
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn urls_encode_their_values() {
        assert_eq!(
            url(
                "/leaderboard",
                &[("q", "a&b c".to_string()), ("sort", "cfr".to_string())]
            ),
            "/leaderboard?q=a%26b+c&sort=cfr"
        );
        assert_eq!(url("/", &[]), "/");
    }
}
