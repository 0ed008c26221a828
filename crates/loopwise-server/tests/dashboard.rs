//! The dashboard's pages over the hand-computed history of `common` (see its comments): the
//! figures they show are the API's and the hand-worked values, names are escaped, sorting,
//! filtering, bad input and signing in behave. Real SQLite store, requests through the router.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use loopwise_server::{AppState, router};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn page(state: &AppState, request: Request<Body>) -> Answer {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn html(state: &AppState, path: &str) -> String {
    let answer = page(state, get(path, None)).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    answer.body
}

/// The value of `attribute` on the first element after `anchor` that has it.
fn attribute_after(html: &str, anchor: &str, attribute: &str) -> String {
    let start = html
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor} not in the page"));
    let rest = &html[start..];
    let needle = format!("{attribute}=\"");
    let at = rest
        .find(&needle)
        .unwrap_or_else(|| panic!("no {attribute} after {anchor}"))
        + needle.len();
    let end = rest[at..].find('"').unwrap();
    rest[at..at + end].to_string()
}

/// The raw value shown on the card of `metric`.
fn card_value(html: &str, metric: &str) -> Option<f64> {
    let text = attribute_after(html, &format!("data-metric=\"{metric}\""), "data-value");
    (!text.is_empty()).then(|| text.parse().unwrap())
}

fn close_to(actual: Option<f64>, expected: Option<f64>, what: &str) {
    match (actual, expected) {
        (Some(a), Some(e)) => assert!(
            (a - e).abs() <= 1e-9 * e.abs().max(1.0),
            "{what}: {a} vs {e}"
        ),
        (a, e) => assert_eq!(a, e, "{what}"),
    }
}

async fn public() -> (tempfile::TempDir, AppState) {
    let (directory, state) = posted().await;
    let mut config = (*state.config).clone();
    config.public_reads = true;
    let state = AppState::new(state.store.clone(), config);
    (directory, state)
}

#[tokio::test]
async fn the_squad_overview_shows_the_leaderboards_figures() {
    let (_directory, state) = public().await;
    let body = html(&state, &format!("/teams/payments?{WINDOW}")).await;
    let board = read(
        &state,
        &format!("/api/v1/leaderboard?group_by=squad&team=payments&{WINDOW}"),
    )
    .await;
    let row = &board["rows"][0];
    assert_eq!(row["group"], "payments");
    let number = |value: &Value| value.as_f64();
    close_to(
        card_value(&body, "deployment_frequency"),
        number(&row["deployments"]["per_week"]),
        "frequency",
    );
    close_to(
        card_value(&body, "lead_time"),
        number(&row["lead_time"]["median_seconds"]),
        "lead time",
    );
    close_to(
        card_value(&body, "change_failure_rate"),
        number(&row["change_failure_rate"]["rate"]),
        "cfr",
    );
    close_to(
        card_value(&body, "recovery_time"),
        number(&row["recovery_time"]["median_seconds"]),
        "recovery",
    );
    close_to(
        card_value(&body, "rework_rate"),
        number(&row["rework_rate"]["rate"]),
        "rework",
    );
    // By hand: checkout d1..d5 and billing b1, b2 are 7 deployments, d3 and b2 failed: 2/7;
    // lead times 86 400, 151 200, 108 000 s (checkout only): median 108 000 s; d4 is the one
    // rework; recovery 21 600 s (d3; b2 never recovered).
    close_to(
        card_value(&body, "change_failure_rate"),
        Some(2.0 / 7.0),
        "cfr by hand",
    );
    close_to(
        card_value(&body, "lead_time"),
        Some(108_000.0),
        "lead time by hand",
    );
    close_to(
        card_value(&body, "rework_rate"),
        Some(1.0 / 7.0),
        "rework by hand",
    );
    close_to(
        card_value(&body, "recovery_time"),
        Some(21_600.0),
        "recovery by hand",
    );
    assert!(body.contains("30.0 h"), "the median lead time reads 30.0 h");
    // The breakdown of a squad is its services.
    assert!(body.contains("data-group=\"checkout\"") && body.contains("data-group=\"billing\""));
    assert!(!body.contains("data-group=\"web\""));
    // Every weekly trend has the window's weeks: 04-01 … 04-29 and 05-06's is cut off (until
    // is exclusive: 5 buckets).
    let trend = &body[body.find("id=\"trend-deployment_frequency\"").unwrap()..];
    let trend = &trend[..trend.find("</svg>").unwrap()];
    assert_eq!(trend.matches("<circle").count(), 5, "{trend}");
}

#[tokio::test]
async fn the_service_page_draws_the_chain_by_hand() {
    let (_directory, state) = public().await;
    let body = html(&state, &format!("/services/checkout?{WINDOW}")).await;
    let report = read(&state, &format!("/api/v1/report?service=checkout&{WINDOW}")).await;
    let service = &report["services"][0];
    close_to(
        card_value(&body, "lead_time"),
        service["lead_time"]["median_seconds"].as_f64(),
        "lead time",
    );
    close_to(
        card_value(&body, "change_failure_rate"),
        service["change_failure_rate"]["rate"].as_f64(),
        "cfr",
    );
    // Lead times 86 400, 108 000, 151 200 s: median 108 000; p90 at rank 1.8: 108 000 + 0.8 ×
    // 43 200 = 142 560. All three fall in the 1–2 d bin.
    assert_eq!(
        attribute_after(&body, "id=\"lead-time-histogram\"", "data-median"),
        "108000"
    );
    assert_eq!(
        attribute_after(&body, "id=\"lead-time-histogram\"", "data-p90"),
        "142560"
    );
    assert_eq!(
        attribute_after(&body, "id=\"lead-time-histogram\"", "data-changes"),
        "3"
    );
    assert_eq!(
        attribute_after(&body, "data-bin=\"1–2 d\"", "data-count"),
        "3"
    );
    // The timeline: d1..d5 in the window; d3 failed, d4 (hotfix) remediates it.
    assert_eq!(
        attribute_after(&body, "id=\"timeline\"", "data-deployments"),
        "5"
    );
    assert_eq!(
        attribute_after(&body, "id=\"timeline\"", "data-failed"),
        "1"
    );
    assert_eq!(
        attribute_after(&body, "id=\"timeline\"", "data-remediations"),
        "1"
    );
    assert!(
        body.contains("class=\"remediates\""),
        "a line joins d3 to d4"
    );
    // inc-1 had no deployment in the 72 h before it: unlinked, by the latest-before rule.
    assert_eq!(
        attribute_after(&body, "data-incident=\"inc-1\"", "data-rule"),
        "unlinked"
    );
    // Recent changes, latest deployment first: d4 shipped c and d, d2 shipped b, d1 the
    // baseline a.
    let changes = &body[body.find("id=\"changes\"").unwrap()..];
    for letter in ['a', 'b', 'c', 'd'] {
        assert!(
            changes.contains(&format!("data-sha=\"{}\"", sha(letter))),
            "{letter}"
        );
    }
    assert_eq!(
        attribute_after(changes, &format!("data-sha=\"{}\"", sha('b')), "data-value"),
        "86400"
    );
    assert!(changes.contains("baseline"));
    // Owned by payments of commerce.
    assert!(body.contains("href=\"/teams/payments") && body.contains("href=\"/tribes/commerce"));
    // What became of each deployment reads beside why it failed: d3's own status failed it.
    let row = |id: &str| {
        let start = body.find(&format!("tr data-deployment=\"{id}\"")).unwrap();
        body[start..start + body[start..].find("</tr>").unwrap()].to_string()
    };
    assert!(row("d3").contains("<td>failed</td>"), "{}", row("d3"));
    assert!(row("d4").contains("<td>succeeded</td>"), "{}", row("d4"));
    assert!(!body.contains("<td>success</td>"));
}

/// The window reads as people think of it: the last day included, and a custom window shown
/// as itself in the picker (choosing a preset there then applies the preset).
#[tokio::test]
async fn the_window_picker_shows_the_window_applied() {
    let (_directory, state) = public().await;
    let custom = html(&state, "/?since=2024-04-01&until=2024-05-06").await;
    assert!(
        custom.contains("2024-04-01 to 2024-05-05") && custom.contains("UTC, both days included"),
        "{custom}"
    );
    assert!(
        custom.contains(
            "<option value=\"custom\" selected>custom: 2024-04-01 to 2024-05-05</option>"
        ),
        "{custom}"
    );
    // The form carries since along; a preset chosen in it wins over it.
    let preset = html(&state, "/?window=7d&since=2024-04-01&until=2024-05-06").await;
    assert!(preset.contains("2024-04-29 to 2024-05-05"), "{preset}");
    assert!(!preset.contains("value=\"custom\""));
    assert!(preset.contains("<option value=\"7d\" selected>"));
    // Resubmitting the custom choice keeps it.
    let again = html(&state, "/?window=custom&since=2024-04-01&until=2024-05-06").await;
    assert!(again.contains("2024-04-01 to 2024-05-05"));
    let answer = page(&state, get("/?window=custom", None)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert!(answer.body.contains("since"));
    // A window ending at a time of day says where the last day stops.
    let cut = html(&state, "/?since=2024-04-01&until=2024-05-06T12:30:00Z").await;
    assert!(cut.contains("UTC, the last day up to 12:30"), "{cut}");
}

#[tokio::test]
async fn the_leaderboard_sorts_and_filters() {
    let (_directory, state) = public().await;
    let rows = |body: &str| -> Vec<String> {
        body.split("<tr data-group=\"")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].to_string())
            .collect()
    };
    // The API's order: successful deployments, most first (web 5, checkout 4, legacy 2,
    // billing 1, search 1), ties by name.
    let body = html(&state, &format!("/leaderboard?group_by=service&{WINDOW}")).await;
    assert_eq!(
        rows(&body),
        ["web", "checkout", "legacy", "billing", "search"]
    );
    // Change failure rate, highest first: billing 1/2, checkout 1/5, then the zeros in rank
    // order.
    let body = html(
        &state,
        &format!("/leaderboard?group_by=service&sort=cfr&order=desc&{WINDOW}"),
    )
    .await;
    assert_eq!(
        rows(&body),
        ["billing", "checkout", "web", "legacy", "search"]
    );
    assert!(body.contains("aria-sort=\"descending\""));
    // The heading links back with the order turned round.
    assert!(body.contains("sort=cfr&amp;order=asc"), "toggle link");
    // Lead time: only checkout has one; the rest go last whichever the order.
    let body = html(
        &state,
        &format!("/leaderboard?group_by=service&sort=lead_time&order=asc&{WINDOW}"),
    )
    .await;
    assert_eq!(rows(&body)[0], "checkout");
    // Names, ascending.
    let body = html(
        &state,
        &format!("/leaderboard?group_by=service&sort=group&{WINDOW}"),
    )
    .await;
    assert_eq!(
        rows(&body),
        ["billing", "checkout", "legacy", "search", "web"]
    );
    // The text filter matches services, squads and tribes.
    let body = html(
        &state,
        &format!("/leaderboard?group_by=service&q=COMMERCE&{WINDOW}"),
    )
    .await;
    assert_eq!(rows(&body), ["web", "checkout", "billing"]);
    assert!(body.contains("Showing 3 of 5"));
    // The report's filters select the chains.
    let body = html(
        &state,
        &format!("/leaderboard?group_by=squad&tribe=growth&{WINDOW}"),
    )
    .await;
    assert_eq!(rows(&body), ["discovery"]);
    // Squad rows carry their tribe and services; figures equal the API's.
    let body = html(&state, &format!("/leaderboard?group_by=squad&{WINDOW}")).await;
    let board = read(
        &state,
        &format!("/api/v1/leaderboard?group_by=squad&{WINDOW}"),
    )
    .await;
    for row in board["rows"].as_array().unwrap() {
        let group = row["group"].as_str().unwrap();
        let anchor = format!("<tr data-group=\"{group}\"");
        let shown = attribute_after(&body, &anchor, "data-rank");
        assert_eq!(shown, row["rank"].to_string());
        let cfr = &body[body.find(&anchor).unwrap()..];
        let value = attribute_after(cfr, "data-column=\"cfr\"", "data-value");
        assert_eq!(
            value,
            row["change_failure_rate"]["rate"]
                .as_f64()
                .map(|v| v.to_string())
                .unwrap_or_default(),
            "{group}"
        );
    }
}

#[tokio::test]
async fn names_with_markup_are_text_everywhere() {
    let (_directory, state) = posted().await;
    let mut config = (*state.config).clone();
    config.public_reads = true;
    let hostile = "<script>alert(1)</script>";
    let quoted = "o'brien \"books\" & co";
    let squad = "<img src=x onerror=alert(2)>";
    let ownership = &config.organisation.ownership;
    let mut teams: Vec<(String, String)> = ownership.teams().clone().into_iter().collect();
    let mut tribes: Vec<(String, String)> = ownership.tribes().clone().into_iter().collect();
    teams.push((hostile.into(), squad.into()));
    teams.push((quoted.into(), squad.into()));
    tribes.push((squad.into(), "\"tribe\" & <b>".into()));
    config.organisation.ownership = loopwise_engine::Ownership::new(teams, tribes).unwrap();
    let state = AppState::new(state.store.clone(), config);
    let events = json!([
        deployment("x1", hostile, &sha('1'), "2024-04-10T00:00:00Z"),
        deployment("x2", quoted, &sha('2'), "2024-04-11T00:00:00Z"),
        {"type": "incident", "id": "<i>inc</i>", "service": hostile, "title": "</td><script>alert(3)</script>",
         "started_at": "2024-04-10T01:00:00Z", "resolved_at": "2024-04-10T02:00:00Z"},
    ]);
    post_events(&state, &events).await;
    let paths = [
        format!("/?{WINDOW}"),
        format!("/leaderboard?group_by=service&{WINDOW}"),
        format!("/leaderboard?group_by=squad&{WINDOW}"),
        format!("/leaderboard?group_by=tribe&q=%3Cb%3E&{WINDOW}"),
        format!("/services/%3Cscript%3Ealert%281%29%3C%2Fscript%3E?{WINDOW}"),
        format!("/services/o%27brien%20%22books%22%20%26%20co?{WINDOW}"),
        format!("/teams/%3Cimg%20src%3Dx%20onerror%3Dalert%282%29%3E?{WINDOW}"),
        format!("/incidents?{WINDOW}"),
        "/incidents/api/%3Ci%3Einc%3C%2Fi%3E".to_string(),
        // Error pages repeat what was asked, escaped too.
        "/services/%3Cscript%3Ealert(9)%3C%2Fscript%3E".to_string(),
        "/leaderboard?sort=%3Cscript%3E".to_string(),
    ];
    for path in &paths {
        let answer = page(&state, get(path, None)).await;
        let body = &answer.body;
        for raw in [
            "<script>alert",
            "<img src=x",
            "<i>inc",
            "<b>",
            "o'brien \"books\" & co",
            "</td><script>",
        ] {
            assert!(!body.contains(raw), "{path} shows {raw:?} unescaped");
        }
        assert!(
            answer.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'"),
            "{path}"
        );
    }
    let body = html(&state, &paths[1]).await;
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "shown as text"
    );
    assert!(
        body.contains("o'brien &quot;books&quot; &amp; co"),
        "quotes and ampersands as text"
    );
    // The links to it encode the name as one path segment.
    assert!(
        body.contains("href=\"/services/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"),
        "link"
    );
    let service = html(&state, &paths[4]).await;
    assert!(service.contains("Service &lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[tokio::test]
async fn speed_bought_with_stability_is_flagged() {
    let (_directory, state) = public().await;
    // Three weeks of "rush": 10 deployments, none failed; 20 with 1 failed; 30 with 3 failed.
    let mut events = Vec::new();
    for (week, (count, failed)) in [(10, 0), (20, 1), (30, 3)].into_iter().enumerate() {
        for n in 0..count {
            let time = 1_713_139_200 + week as i64 * 7 * 86_400 + n * 3_600; // from 2024-04-15
            let mut event = deployment(
                &format!("r{week}-{n}"),
                "rush",
                &sha('8'),
                &time.to_string(),
            );
            event["finished_at"] = json!(loopwise_core::time::format_rfc3339(time));
            if n < failed {
                event["status"] = json!("failure");
            }
            events.push(event);
        }
    }
    post_events(&state, &Value::Array(events)).await;
    let rush = html(&state, "/services/rush?since=2024-04-29&until=2024-05-06").await;
    assert!(
        rush.contains("data-divergence=\"faster-but-less-stable\""),
        "{rush}"
    );
    assert!(rush.contains("10 deployments a week, 0.0% failed"));
    assert!(rush.contains("27 deployments a week, 10.0% failed"));
    // Each card says how it moved against the week before, in words: 27 successful
    // deployments against 19 (27 / 19 = +42%), 3 of 30 failed against 1 of 20, no rework.
    for sentence in [
        "+42% — better than the window before (19 / week)",
        "+5.0 points — worse than the window before (5.0%)",
        "+0.0 points — about the same as the window before (0.0%)",
    ] {
        assert!(rush.contains(sentence), "{sentence:?} in {rush}");
    }
    // Checkout over the same weeks moves nothing that way.
    let checkout = html(
        &state,
        "/services/checkout?since=2024-04-29&until=2024-05-06",
    )
    .await;
    assert!(!checkout.contains("data-divergence"));
}

#[tokio::test]
async fn bad_requests_are_named_and_unknown_pages_are_404() {
    let (_directory, state) = public().await;
    for (path, status, names) in [
        (
            "/leaderboard?sort=velocity",
            StatusCode::BAD_REQUEST,
            "sort",
        ),
        (
            "/leaderboard?order=sideways",
            StatusCode::BAD_REQUEST,
            "order",
        ),
        (
            "/leaderboard?group_by=planet",
            StatusCode::BAD_REQUEST,
            "group_by",
        ),
        ("/?window=3x", StatusCode::BAD_REQUEST, "window"),
        ("/?since=yesterdayish", StatusCode::BAD_REQUEST, "since"),
        (
            "/?benchmark=dora-1999",
            StatusCode::BAD_REQUEST,
            "benchmark",
        ),
        (
            "/?since=1900-01-01&until=2024-01-01",
            StatusCode::BAD_REQUEST,
            "since",
        ),
        ("/services/nowhere", StatusCode::NOT_FOUND, "nowhere"),
        ("/teams/nobody", StatusCode::NOT_FOUND, "nobody"),
        ("/tribes/none", StatusCode::NOT_FOUND, "none"),
        ("/incidents/api/missing", StatusCode::NOT_FOUND, "missing"),
    ] {
        let answer = page(&state, get(path, None)).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert!(answer.body.contains("role=\"alert\""), "{path}");
        assert!(
            answer.body.contains(names),
            "{path} names {names}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn without_public_reads_a_read_token_signs_in() {
    let (_directory, state) = posted().await;
    let answer = page(&state, get("/leaderboard?group_by=tribe", None)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.body.contains("action=\"/login\""));
    // After signing in, back to the page asked for, with its query.
    assert!(
        answer
            .body
            .contains("name=\"next\" value=\"/leaderboard?group_by=tribe\""),
        "{}",
        answer.body
    );
    let login = |token: &str| {
        Request::post("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "token={token}&next=%2Fleaderboard%3Fgroup_by%3Dtribe"
            )))
            .unwrap()
    };
    let refused = page(&state, login("lw_not_a_token")).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(!refused.headers.contains_key("set-cookie"));
    // An ingest token cannot read.
    assert_eq!(
        page(&state, login(INGEST)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let signed = page(&state, login(READ)).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.headers["location"], "/leaderboard?group_by=tribe");
    let cookie = signed.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let request = Request::get("/leaderboard?group_by=tribe")
        .header("cookie", session)
        .body(Body::empty())
        .unwrap();
    let answer = page(&state, request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("data-group=\"commerce\""));
    // Signing out clears the cookie.
    let out = page(
        &state,
        Request::post("/logout").body(Body::empty()).unwrap(),
    )
    .await;
    assert!(
        out.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn assets_are_embedded_and_pages_say_their_render_time() {
    let (_directory, state) = public().await;
    let css = page(&state, get("/assets/style.css", None)).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(css.body.contains("prefers-color-scheme"));
    let js = page(&state, get("/assets/dashboard.js", None)).await;
    assert!(
        js.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let overview = page(&state, get(&format!("/?{WINDOW}"), None)).await;
    let timing = overview.headers["server-timing"].to_str().unwrap();
    assert!(timing.starts_with("render;dur="), "{timing}");
    // No external resource: every src and href is local.
    for attribute in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!overview.body.contains(attribute), "{attribute}");
    }
}

/// A short window is drawn by the day, a longer one by the week; a bucket the window cuts is
/// hollow and off the line, never drawn as a whole one.
#[tokio::test]
async fn short_windows_have_daily_trends() {
    let (_directory, state) = public().await;
    let short = html(&state, "/?since=2024-04-01&until=2024-04-15").await;
    assert!(
        short.contains("one point per day from 2024-04-01 to 2024-04-14"),
        "{short}"
    );
    assert!(short.contains(">day (UTC)<") && short.contains("Successful deployments per day"));
    assert!(!short.contains("point partial"), "whole days only");
    // 35 days from a Monday to a Monday: five whole weeks.
    let long = html(&state, &format!("/?{WINDOW}")).await;
    assert!(
        long.contains("one point per week from 2024-04-01 to 2024-04-29"),
        "{long}"
    );
    assert!(!long.contains("point partial"));
    // From a Wednesday: the first and last weeks are cut, drawn hollow.
    let cut = html(&state, "/?since=2024-04-03&until=2024-05-08").await;
    assert!(cut.contains("point partial") && cut.contains("part of a week, cut by the window"));
}

/// Every card says what its metric means with a link to the definitions page, places its
/// value among the benchmark's bands, and the overall tier reads in words; the breakdown's
/// trend gives direction and size, as the API's figures of the two windows give them.
#[tokio::test]
async fn cards_explain_themselves() {
    let (_directory, state) = public().await;
    let body = html(&state, &format!("/teams/payments?{WINDOW}")).await;
    for metric in [
        "deployment_frequency",
        "lead_time",
        "change_failure_rate",
        "recovery_time",
        "rework_rate",
    ] {
        let card = &body[body.find(&format!("data-metric=\"{metric}\"")).unwrap()..];
        let card = &card[..card.find("</article>").unwrap()];
        assert!(
            card.contains(&format!("href=\"/definitions#{metric}\"")),
            "{card}"
        );
        assert!(card.contains("class=\"meaning\""), "{card}");
        assert!(card.contains("class=\"bands\""), "{card}");
    }
    // The change failure rate, 2 of 7 = 28.6%: the marked band is the leaderboard's tier.
    let board = read(
        &state,
        &format!("/api/v1/leaderboard?group_by=squad&team=payments&{WINDOW}"),
    )
    .await;
    let tier = board["rows"][0]["change_failure_rate"]["tier"]
        .as_str()
        .expect("rated: 7 deployments");
    let cfr_card = &body[body.find("data-metric=\"change_failure_rate\"").unwrap()..];
    let cfr_card = &cfr_card[..cfr_card.find("</article>").unwrap()];
    assert!(
        cfr_card.contains(&format!("aria-current=\"true\" data-tier=\"{tier}\"")),
        "{tier}: {cfr_card}"
    );
    // Overall in words, the method one click away.
    let reason = &body[body.find("id=\"overall-reason\"").unwrap()..];
    let reason = &reason[..reason.find("</span>").unwrap()];
    assert!(
        !reason.contains("distance") && !reason.contains("cluster "),
        "{reason}"
    );
    assert!(body.contains("How the overall tier is worked out"));
    // The definitions page has every metric's anchor.
    let definitions = html(&state, "/definitions").await;
    for anchor in [
        "deployment_frequency",
        "lead_time",
        "change_failure_rate",
        "recovery_time",
        "rework_rate",
        "incidents",
        "tiers",
    ] {
        assert!(
            definitions.contains(&format!("id=\"{anchor}\"")),
            "{anchor}"
        );
    }
    // The trend of each service: deploys and failures against the window before, with sizes,
    // as the API's figures of the two windows give them (three weeks after three weeks).
    let (window, before) = (
        "since=2024-04-15&until=2024-05-06",
        "since=2024-03-25&until=2024-04-15",
    );
    let body = html(&state, &format!("/teams/payments?{window}")).await;
    let mut compared = 0;
    for service in ["checkout", "billing"] {
        let now = read(
            &state,
            &format!("/api/v1/report?service={service}&{window}"),
        )
        .await;
        let then = read(
            &state,
            &format!("/api/v1/report?service={service}&{before}"),
        )
        .await;
        let row = &body[body.find(&format!("tr data-group=\"{service}\"")).unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        let figure =
            |report: &Value, path: [&str; 2]| report["services"][0][path[0]][path[1]].as_f64();
        if figure(&then, ["change_failure_rate", "deployments"]) == Some(0.0) {
            assert!(row.contains("no window before to compare"), "{row}");
            continue;
        }
        compared += 1;
        let (now_speed, then_speed) = (
            figure(&now, ["deployments", "per_week"]).unwrap(),
            figure(&then, ["deployments", "per_week"]).unwrap(),
        );
        if then_speed > 0.0 {
            let relative = (now_speed - then_speed) / then_speed * 100.0;
            assert!(
                row.contains(&format!("{relative:+.0}%")),
                "{relative} in {row}"
            );
        }
        if let (Some(now_rate), Some(then_rate)) = (
            figure(&now, ["change_failure_rate", "rate"]),
            figure(&then, ["change_failure_rate", "rate"]),
        ) {
            let points = (now_rate - then_rate) * 100.0;
            assert!(
                row.contains(&format!("{points:+.1} pts")),
                "{points} in {row}"
            );
        }
    }
    assert!(compared > 0, "a service with a window before was compared");
}
