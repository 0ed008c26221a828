//! The web dashboard in a real headless Chromium, against the real binary serving a demo
//! database: every page loads without a script error, the key figures it shows equal the API's
//! for the same query, sorting and filtering work by mouse and keyboard, hostile names stay
//! text, everything works with page scripts switched off, and each page leaves a screenshot in the test artifacts (`target/test-artifacts/`, or
//! `LOOPWISE_ARTIFACTS`). Without Chromium the tests say SKIPPED (and fail when `CI` is set).

use loopwise_testkit::browser::{Page, require_browser};
use loopwise_testkit::process::{ServeProcess, create_token, loopwise_command};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The demo's history ends here; pages and API are asked for the 90 days before it.
const WINDOW: &str = "until=2026-12-01";

fn loopwise(home: &Path) -> Command {
    let mut command = loopwise_command(env!("CARGO_BIN_EXE_loopwise"), home);
    command.current_dir(home);
    command
}

/// A demo database served by `loopwise serve` with the demo's own configuration.
struct Demo {
    _home: tempfile::TempDir,
    server: ServeProcess,
}

impl Demo {
    fn start() -> Demo {
        let home = tempfile::tempdir().expect("a home");
        let filled = loopwise(home.path())
            .args([
                "demo",
                "--no-serve",
                "--db",
                "demo.db",
                "--end",
                "2026-12-01",
            ])
            .output()
            .expect("run loopwise demo");
        assert!(
            filled.status.success(),
            "{}",
            String::from_utf8_lossy(&filled.stderr)
        );
        let mut serve = loopwise(home.path());
        serve.args([
            "serve",
            "--db",
            "demo.db",
            "--config",
            "demo.toml",
            "--listen",
            "127.0.0.1:0",
        ]);
        let server = ServeProcess::spawn(serve);
        Demo {
            _home: home,
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    fn api(&self, path: &str) -> Value {
        self.server.get_json(path)
    }
}

/// Opens `path`, checks it loaded cleanly, and saves a screenshot named `name`.
fn visit(page: &mut Page, demo: &Demo, path: &str, name: &str) {
    page.goto(&demo.url(path)).expect("load the page");
    let status = page
        .evaluate("document.querySelector('p.error') ? 'error' : 'ok'")
        .expect("evaluate");
    assert_eq!(status, "ok", "{path} shows an error");
    page.screenshot(format!("dashboard-{name}.png"))
        .expect("screenshot");
    assert_eq!(
        page.console_errors().expect("console"),
        Vec::<String>::new(),
        "{path}"
    );
    assert_eq!(
        page.dialogs_opened().expect("dialogs"),
        Vec::<String>::new(),
        "{path}"
    );
}

/// The raw value on the card of `metric`, as the page holds it.
fn card(page: &mut Page, metric: &str) -> Option<f64> {
    page.attribute(
        &format!("[data-metric='{metric}'] data.figure"),
        "data-value",
    )
    .expect("read the card")
    .filter(|text| !text.is_empty())
    .map(|text| text.parse().expect("a number"))
}

fn assert_close(shown: Option<f64>, api: &Value, what: &str) {
    match (shown, api.as_f64()) {
        (Some(shown), Some(api)) => assert!(
            (shown - api).abs() <= 1e-9 * api.abs().max(1.0),
            "{what}: page {shown}, API {api}"
        ),
        (shown, api) => assert_eq!(shown, api, "{what}"),
    }
}

/// The five cards against a leaderboard row (or a report's service) of the API.
fn cards_equal(page: &mut Page, figures: &Value, what: &str) {
    assert_close(
        card(page, "deployment_frequency"),
        &figures["deployments"]["per_week"],
        &format!("{what} frequency"),
    );
    assert_close(
        card(page, "lead_time"),
        &figures["lead_time"]["median_seconds"],
        &format!("{what} lead time"),
    );
    assert_close(
        card(page, "change_failure_rate"),
        &figures["change_failure_rate"]["rate"],
        &format!("{what} failure rate"),
    );
    assert_close(
        card(page, "recovery_time"),
        &figures["recovery_time"]["median_seconds"],
        &format!("{what} recovery"),
    );
    assert_close(
        card(page, "rework_rate"),
        &figures["rework_rate"]["rate"],
        &format!("{what} rework"),
    );
}

/// The groups the leaderboard page shows, top to bottom.
fn shown_groups(page: &mut Page) -> Vec<String> {
    page.texts("#leaderboard tbody th[data-column='group']")
        .expect("the leaderboard's groups")
}

/// The groups of an API leaderboard, in its order.
fn api_groups(board: &Value) -> Vec<String> {
    board["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["group"].as_str().expect("group").to_string())
        .collect()
}

#[test]
fn every_page_shows_the_apis_figures() {
    let Some(browser) = require_browser() else {
        return;
    };
    let demo = Demo::start();
    let mut page = browser.new_page().expect("a page");

    // The organisation: every production chain pooled, which is the leaderboard's one
    // `production` environment row.
    visit(&mut page, &demo, &format!("/?{WINDOW}"), "overview");
    let board = demo.api(&format!(
        "/api/v1/leaderboard?group_by=environment&{WINDOW}"
    ));
    assert_eq!(board["rows"].as_array().unwrap().len(), 1, "{board}");
    cards_equal(&mut page, &board["rows"][0], "organisation");
    // The weekly trend of deployments is the API's series, point by point.
    let series = demo.api(&format!(
        "/api/v1/metrics/deployment_frequency?interval=week&{WINDOW}"
    ));
    let shown: Vec<(String, f64)> = serde_json::from_value(
        page.evaluate("[...document.querySelectorAll('#trend-deployment_frequency circle')].map(c => [c.dataset.date, Number(c.dataset.value)])")
            .expect("the trend"),
    )
    .expect("pairs");
    let expected: Vec<(String, f64)> = series
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|point| {
            Some((
                point["date"].as_str()?.to_string(),
                point["value"].as_f64()?,
            ))
        })
        .collect();
    assert_eq!(shown, expected);
    // The default window ends on a Tuesday: its last week is cut, drawn hollow and left off
    // the line, not as a whole week.
    let last = page
        .evaluate(
            "(() => { const svg = document.querySelector('#trend-deployment_frequency'); \
             const point = [...svg.querySelectorAll('circle')].pop(); \
             const line = [...svg.querySelectorAll('polyline')].pop().getAttribute('points').trim().split(' ').pop(); \
             return [point.getAttribute('class'), Number(point.getAttribute('cx')), Number(line.split(',')[0])]; })()",
        )
        .expect("the last point");
    assert_eq!(last[0], "point partial", "{last}");
    assert!(
        last[2].as_f64().unwrap() < last[1].as_f64().unwrap(),
        "the line stops before the cut week: {last}"
    );
    // The demo has a squad that speeds up while failing more: the warning is on the page.
    assert!(
        page.count("[data-divergence]").unwrap() >= 1,
        "a divergence warning"
    );

    // The definitions every card links to.
    visit(
        &mut page,
        &demo,
        &format!("/definitions?{WINDOW}"),
        "definitions",
    );
    assert!(page.count("section#lead_time").unwrap() == 1);

    // Every tribe and squad page against its leaderboard row.
    for (group_by, prefix) in [("tribe", "tribes"), ("team", "teams")] {
        let board = demo.api(&format!("/api/v1/leaderboard?group_by={group_by}&{WINDOW}"));
        for row in board["rows"].as_array().unwrap() {
            let name = row["group"].as_str().unwrap();
            if name == "unassigned" {
                continue;
            }
            let path = format!("/{prefix}/{}?{WINDOW}", encode(name));
            visit(
                &mut page,
                &demo,
                &path,
                &format!("{group_by}-{}", file_name(name)),
            );
            cards_equal(&mut page, row, name);
        }
    }

    // Every service page against the report; the histogram's median and p90 are the report's.
    let report = demo.api(&format!("/api/v1/report?{WINDOW}"));
    let services = report["services"].as_array().unwrap();
    assert!(services.len() >= 25, "the demo has a few dozen services");
    for service in services {
        let name = service["service"].as_str().unwrap();
        let path = format!("/services/{}?{WINDOW}", encode(name));
        visit(
            &mut page,
            &demo,
            &path,
            &format!("service-{}", file_name(name)),
        );
        cards_equal(&mut page, service, name);
        // Legend symbols are the size of the text around them, not of the chart.
        let legend = page
            .evaluate("Math.max(...[...document.querySelectorAll('figcaption svg, figcaption span[class^=legend]')].map(e => e.getBoundingClientRect().height))")
            .unwrap();
        assert!(
            legend.as_f64().unwrap() <= 20.0,
            "{name}: a legend symbol {legend} px high"
        );
        let median = page
            .attribute("#lead-time-histogram", "data-median")
            .unwrap()
            .unwrap();
        assert_close(
            median.parse().ok(),
            &service["lead_time"]["median_seconds"],
            "histogram median",
        );
        let p90 = page
            .attribute("#lead-time-histogram", "data-p90")
            .unwrap()
            .unwrap();
        assert_close(
            p90.parse().ok(),
            &service["lead_time"]["p90_seconds"],
            "histogram p90",
        );
        let incidents = page.count("#incidents tbody tr").unwrap();
        let linked = service["incidents"].as_array().map_or(0, Vec::len);
        assert_eq!(incidents, linked.min(50), "{name}: incidents listed");
    }

    // The incidents, and one incident page through a real click.
    visit(
        &mut page,
        &demo,
        &format!("/incidents?{WINDOW}"),
        "incidents",
    );
    page.click("#incidents tbody tr:first-child a")
        .expect("open an incident");
    assert!(page.url().unwrap().contains("/incidents/demo/"));
    page.screenshot("dashboard-incident.png").unwrap();
    assert!(page.text("#link-rule").unwrap().len() > 5);
    assert_eq!(page.console_errors().unwrap(), Vec::<String>::new());
}

#[test]
fn the_leaderboard_sorts_and_filters_by_mouse_and_keyboard() {
    let Some(browser) = require_browser() else {
        return;
    };
    let demo = Demo::start();
    let mut page = browser.new_page().expect("a page");
    visit(
        &mut page,
        &demo,
        &format!("/leaderboard?group_by=service&{WINDOW}"),
        "leaderboard",
    );
    let api = demo.api(&format!("/api/v1/leaderboard?group_by=service&{WINDOW}"));
    let rows = api["rows"].as_array().unwrap();
    // Without a sort, the API's order.
    assert_eq!(shown_groups(&mut page), api_groups(&api));

    let column = |page: &mut Page, name: &str| -> Vec<Option<f64>> {
        page.evaluate(&format!(
            "[...document.querySelectorAll(\"#leaderboard tbody td[data-column='{name}']\")].map(td => td.dataset.value === '' ? null : Number(td.dataset.value))"
        ))
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(Value::as_f64)
        .collect()
    };
    // A click on the heading sorts ascending, a second click descending; rows without the
    // figure stay last.
    page.click("a[data-sort='cfr']")
        .expect("sort by change failure rate");
    assert!(page.url().unwrap().contains("sort=cfr"));
    let ascending = column(&mut page, "cfr");
    let known: Vec<f64> = ascending.iter().flatten().copied().collect();
    assert!(known.windows(2).all(|w| w[0] <= w[1]), "{ascending:?}");
    assert_eq!(
        page.attribute("th[data-column='cfr']", "aria-sort")
            .unwrap()
            .as_deref(),
        Some("ascending")
    );
    // The rank follows the order shown: 1, 2, 3 … down the sorted rows.
    let ranks: Vec<String> = page
        .texts("#leaderboard tbody td[data-column='rank']")
        .unwrap();
    let expected: Vec<String> = (1..=ranks.len()).map(|rank| rank.to_string()).collect();
    assert_eq!(ranks, expected);
    page.screenshot("dashboard-leaderboard-sorted.png").unwrap();
    page.click("a[data-sort='cfr']").expect("sort again");
    let descending = column(&mut page, "cfr");
    let known: Vec<f64> = descending.iter().flatten().copied().collect();
    assert!(known.windows(2).all(|w| w[0] >= w[1]), "{descending:?}");
    assert_eq!(ascending.len(), descending.len());
    // The figures are the API's whatever the order.
    let mut from_api: Vec<f64> = rows
        .iter()
        .filter_map(|r| r["change_failure_rate"]["rate"].as_f64())
        .collect();
    from_api.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(known, from_api);

    // The lead-time heading by keyboard: focus the link and press Enter.
    page.evaluate("document.querySelector(\"a[data-sort='lead_time']\").focus()")
        .unwrap();
    page.press_key("Enter")
        .expect("Enter on the focused heading");
    assert!(page.url().unwrap().contains("sort=lead_time"));
    let lead = column(&mut page, "lead_time");
    let known: Vec<f64> = lead.iter().flatten().copied().collect();
    assert!(known.windows(2).all(|w| w[0] <= w[1]));
    let missing_first = lead.iter().position(Option::is_none).unwrap_or(lead.len());
    assert!(
        lead[missing_first..].iter().all(Option::is_none),
        "no figure goes last"
    );

    // Filtering by text: typed into the form and submitted.
    page.fill("#filter-q", "search").unwrap();
    page.submit("#filters").unwrap();
    let shown = shown_groups(&mut page);
    assert!(!shown.is_empty() && shown.len() < rows.len(), "{shown:?}");
    assert!(shown.iter().any(|group| group == "search-api"), "{shown:?}");
    // Each row shown names the text somewhere: its service, squad or tribe.
    let texts = page.texts("#leaderboard tbody tr").unwrap();
    assert!(
        texts
            .iter()
            .all(|row| row.to_lowercase().contains("search")),
        "{texts:?}"
    );
    page.screenshot("dashboard-leaderboard-filtered.png")
        .unwrap();

    // Filtering by tribe, grouped by squad: choosing the option applies it (the script), and
    // the rows are the API's for that tribe.
    page.goto(&demo.url(&format!("/leaderboard?group_by=squad&{WINDOW}")))
        .unwrap();
    page.select_option("#filter-tribe", "commerce").unwrap();
    page.wait_for("location.search.includes('tribe=commerce')")
        .unwrap();
    page.wait_for("document.readyState === 'complete'").unwrap();
    let shown = shown_groups(&mut page);
    let api = demo.api(&format!(
        "/api/v1/leaderboard?group_by=squad&tribe=commerce&{WINDOW}"
    ));
    let expected = api_groups(&api);
    assert_eq!(shown, expected);

    // Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    page.goto(&demo.url(&format!("/?{WINDOW}"))).unwrap();
    page.press_key("Tab").unwrap();
    assert_eq!(
        page.evaluate("document.activeElement.className").unwrap(),
        "skip"
    );
    page.press_key("Enter").unwrap();
    page.wait_for("location.hash === '#main'").unwrap();

    // A laptop screen: the page fits its width (tables scroll inside their own box).
    page.set_viewport(1280, 800).unwrap();
    page.goto(&demo.url(&format!("/leaderboard?group_by=service&{WINDOW}")))
        .unwrap();
    let overflow = page
        .evaluate("document.documentElement.scrollWidth - window.innerWidth")
        .unwrap();
    assert!(
        overflow.as_f64().unwrap() <= 0.0,
        "horizontal overflow of {overflow} px"
    );
    // Every column, the stability ones and the overall tier included, is inside the viewport
    // without scrolling the table, whatever the grouping.
    for group_by in ["service", "squad", "tribe", "environment"] {
        page.goto(&demo.url(&format!("/leaderboard?group_by={group_by}&{WINDOW}")))
            .unwrap();
        for column in ["cfr", "recovery", "rework", "tier"] {
            let right = page
                .evaluate(&format!(
                    "document.querySelector(\"#leaderboard th[data-column='{column}']\").getBoundingClientRect().right"
                ))
                .unwrap();
            assert!(
                right.as_f64().unwrap() <= 1280.0,
                "{group_by}: the {column} column ends at {right} px"
            );
        }
        let scrolls = page
            .evaluate("(t => t.scrollWidth - t.clientWidth)(document.querySelector('#leaderboard').parentElement)")
            .unwrap();
        assert!(
            scrolls.as_f64().unwrap() <= 0.0,
            "{group_by}: the table scrolls by {scrolls} px"
        );
    }
    page.goto(&demo.url(&format!("/leaderboard?group_by=service&{WINDOW}")))
        .unwrap();
    page.screenshot("dashboard-leaderboard-1280.png").unwrap();
}

/// With page scripts switched off, as a reader who disables JavaScript has them, every control
/// still works: a chosen filter waits for the Apply button (the script that applies it at once
/// does not run), the headings sort, and the figures are the API's.
#[test]
fn the_dashboard_works_with_scripts_switched_off() {
    let Some(browser) = require_browser() else {
        return;
    };
    let demo = Demo::start();
    let mut page = browser.new_page().expect("a page");
    page.call(
        "Emulation.setScriptExecutionDisabled",
        serde_json::json!({ "value": true }),
    )
    .expect("switch page scripts off");
    visit(
        &mut page,
        &demo,
        &format!("/leaderboard?group_by=squad&{WINDOW}"),
        "no-script-leaderboard",
    );
    page.select_option("#filter-tribe", "platform").unwrap();
    // With scripts on, the choice submits the form at once: give it the time to.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        !page.url().unwrap().contains("tribe=platform"),
        "without scripts a choice alone applies nothing"
    );
    page.click("#filters button[type='submit']").expect("Apply");
    assert!(page.url().unwrap().contains("tribe=platform"));
    let shown = shown_groups(&mut page);
    let api = demo.api(&format!(
        "/api/v1/leaderboard?group_by=squad&tribe=platform&{WINDOW}"
    ));
    let expected = api_groups(&api);
    assert!(!expected.is_empty());
    assert_eq!(shown, expected);

    // Sorting is a link: it keeps the filter and orders the rows.
    page.click("a[data-sort='deployments']")
        .expect("sort by deployments");
    let url = page.url().unwrap();
    assert!(
        url.contains("sort=deployments") && url.contains("tribe=platform"),
        "{url}"
    );
    let counts: Vec<f64> = page
        .evaluate(
            "[...document.querySelectorAll(\"#leaderboard tbody td[data-column='deployments']\")].map(td => Number(td.dataset.value))",
        )
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(counts.len(), expected.len());
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");

    // The overview of that tribe, reached through the form, shows the API's figures.
    page.goto(&demo.url(&format!("/?{WINDOW}"))).unwrap();
    page.select_option("#filter-tribe", "platform").unwrap();
    page.click("#filters button[type='submit']").expect("Apply");
    assert!(page.url().unwrap().contains("tribe=platform"));
    let tribes = demo.api(&format!("/api/v1/leaderboard?group_by=tribe&{WINDOW}"));
    let platform = tribes["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["group"] == "platform")
        .expect("the platform tribe")
        .clone();
    cards_equal(&mut page, &platform, "platform without scripts");
    // Narrowed to one tribe, the overview breaks down by that tribe's squads.
    let breakdown: Vec<String> = page
        .evaluate(
            "[...document.querySelectorAll('#breakdown tbody tr')].map(tr => tr.dataset.group)",
        )
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|group| group.as_str().map(str::to_string))
        .collect();
    let mut squads = expected.clone();
    squads.sort();
    assert_eq!(breakdown, squads);
    page.screenshot("dashboard-no-script-overview.png").unwrap();
}

#[test]
fn hostile_names_are_text_in_the_browser() {
    let Some(browser) = require_browser() else {
        return;
    };
    let demo = Demo::start();
    // A service named like markup, posted through the API with an ingest token.
    let token = create_token(
        env!("CARGO_BIN_EXE_loopwise"),
        demo._home.path(),
        "demo.db",
        "ingest",
        "test",
    );
    let hostile = "<script>alert(1)</script>";
    let body = serde_json::json!([
        {"type": "deployment", "id": "x1", "service": hostile, "sha": "a".repeat(40), "finished_at": "2026-11-20T10:00:00Z"},
        {"type": "incident", "id": "x-inc", "service": hostile, "title": "<img src=x onerror=alert(2)>",
         "started_at": "2026-11-20T11:00:00Z", "resolved_at": "2026-11-20T12:00:00Z"}
    ])
    .to_string();
    let posted = demo.server.post_events(&token, "application/json", &body);
    assert_eq!(posted.status, 200, "{}", posted.body);
    let mut page = browser.new_page().unwrap();
    for (path, name) in [
        (
            format!("/leaderboard?group_by=service&q=script&{WINDOW}"),
            "hostile-leaderboard",
        ),
        (
            format!("/services/{}?{WINDOW}", encode(hostile)),
            "hostile-service",
        ),
        (format!("/incidents?{WINDOW}"), "hostile-incidents"),
        (
            format!("/leaderboard?group_by=service&q=books&{WINDOW}"),
            "quoted-leaderboard",
        ),
    ] {
        visit(&mut page, &demo, &path, name);
        assert_eq!(
            page.count("body script:not([src])").unwrap(),
            0,
            "{path}: an inline script"
        );
        assert_eq!(
            page.count("main img").unwrap(),
            0,
            "{path}: an injected image"
        );
    }
    page.goto(&demo.url(&format!("/leaderboard?group_by=service&q=script&{WINDOW}")))
        .unwrap();
    assert_eq!(shown_groups(&mut page), [hostile]);
    page.goto(&demo.url(&format!("/services/{}?{WINDOW}", encode(hostile))))
        .unwrap();
    assert_eq!(page.text("h1").unwrap(), format!("Service {hostile}"));
    // The demo's own service with quotes and an ampersand.
    page.goto(&demo.url(&format!("/leaderboard?group_by=service&q=books&{WINDOW}")))
        .unwrap();
    let quoted = shown_groups(&mut page);
    assert_eq!(quoted.len(), 1);
    assert!(
        quoted[0].contains('"') && quoted[0].contains('&') && quoted[0].contains('\''),
        "{quoted:?}"
    );
    page.click("#leaderboard tbody th[data-column='group'] a")
        .unwrap();
    assert_eq!(page.text("h1").unwrap(), format!("Service {}", quoted[0]));
    assert_eq!(page.dialogs_opened().unwrap(), Vec::<String>::new());
}

/// `name` as one percent-encoded path segment.
fn encode(name: &str) -> String {
    name.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
