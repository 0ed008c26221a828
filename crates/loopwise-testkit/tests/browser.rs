//! The headless-Chromium driver against a few small pages served by a tiny HTTP server of the
//! test's own. Without Chromium each test prints SKIPPED and passes, except in CI.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use loopwise_testkit::browser::{BrowserError, Page};
use loopwise_testkit::require_browser;
use serde_json::json;

const TABLE: &str = r#"<!doctype html>
<html><head><title>Table</title><style>body { margin: 0; font-family: sans-serif } .tall { height: 2000px }</style></head>
<body>
<h1>Deployments</h1>
<table id="figures">
  <tr><th><a id="sort" href="/second?sort=name">Service</a></th><th>Count</th></tr>
  <tr><td>api</td><td class="count">3</td></tr>
  <tr><td>web</td><td class="count">12</td></tr>
</table>
<p><a id="next" href="/second">Second page</a></p>
<button id="toggle" onclick="document.getElementById('status').textContent = 'toggled'">Toggle</button>
<button id="scripted" onclick="setTimeout(() => { location.href = '/second?by=script'; }, 10)">Go by script</button>
<p id="status">idle</p>
<div class="tall"></div>
</body></html>"#;

const SECOND: &str = r#"<!doctype html>
<html><head><title>Second</title></head><body><h1>Second page</h1></body></html>"#;

const FORM: &str = r#"<!doctype html>
<html><head><title>Form</title></head><body>
<form id="filter" method="get" action="/search">
  <input id="q" name="q" value="old">
  <select id="env" name="env"><option value="staging">staging</option><option value="prod">prod</option></select>
  <button id="go" type="submit">Filter</button>
</form>
</body></html>"#;

const ALERT: &str = r#"<!doctype html>
<html><head><title>Alert</title></head><body><script>alert(1)</script><p id="after">after the alert</p></body></html>"#;

const JS_ERROR: &str = r#"<!doctype html>
<html><head><title>Broken</title></head><body>
<script>console.error("bad figure", 42);</script>
<script>noSuchFunction();</script>
<p id="still">still rendered</p>
</body></html>"#;

/// Serves the pages above on 127.0.0.1 from a thread per connection; `/search` echoes its query
/// string. Runs until the test process ends.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test server");
    let address = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    format!("http://{address}")
}

fn answer(mut stream: TcpStream) {
    // Chromium opens speculative connections that may never send a request.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|read| read > 2) {
        header.clear();
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (status, body) = match path {
        "/" => ("200 OK", TABLE.to_string()),
        "/second" => ("200 OK", SECOND.to_string()),
        "/form" => ("200 OK", FORM.to_string()),
        "/search" => (
            "200 OK",
            format!("<!doctype html><title>Search</title><h1 id=\"query\">{query}</h1>"),
        ),
        "/alert" => ("200 OK", ALERT.to_string()),
        "/js-error" => ("200 OK", JS_ERROR.to_string()),
        "/favicon.ico" => ("204 No Content", String::new()),
        _ => (
            "404 Not Found",
            "<!doctype html><title>404</title>".to_string(),
        ),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

fn open(page: &mut Page, url: &str) {
    page.goto(url)
        .unwrap_or_else(|error| panic!("goto {url}: {error}"));
}

#[test]
fn reads_text_attributes_and_counts() {
    let browser = require_browser!();
    let base = serve();
    let mut page = browser.new_page().unwrap();
    open(&mut page, &format!("{base}/"));
    assert_eq!(page.text("h1").unwrap(), "Deployments");
    assert_eq!(page.texts("td.count").unwrap(), ["3", "12"]);
    assert_eq!(page.count("#figures tr").unwrap(), 3);
    assert_eq!(page.count(".nothing").unwrap(), 0);
    assert_eq!(
        page.attribute("#sort", "href").unwrap().as_deref(),
        Some("/second?sort=name")
    );
    assert_eq!(page.attribute("#sort", "title").unwrap(), None);
    match page.text("#missing") {
        Err(BrowserError::Element { selector, problem }) => {
            assert_eq!(selector, "#missing");
            assert!(problem.contains("no element"), "{problem}");
        }
        other => panic!("expected a missing-element error, got {other:?}"),
    }
    assert_eq!(page.url().unwrap(), format!("{base}/"));
    assert_eq!(page.console_errors().unwrap(), Vec::<String>::new());
}

#[test]
fn a_click_on_a_link_navigates_and_a_click_on_a_button_does_not() {
    let browser = require_browser!();
    let base = serve();
    let mut page = browser.new_page().unwrap();
    open(&mut page, &format!("{base}/"));

    let started = Instant::now();
    page.click("#toggle").unwrap();
    assert_eq!(page.text("#status").unwrap(), "toggled");
    assert_eq!(page.url().unwrap(), format!("{base}/"));
    eprintln!("a click without navigation took {:?}", started.elapsed());

    // A navigation a script starts is caught within the grace period.
    page.click("#scripted").unwrap();
    assert_eq!(page.url().unwrap(), format!("{base}/second?by=script"));
    assert_eq!(page.text("h1").unwrap(), "Second page");

    // Link clicks are recognised as navigations, so no grace period is needed to wait for them.
    page.set_navigation_grace(Duration::ZERO);
    open(&mut page, &format!("{base}/"));
    page.click("#sort").unwrap();
    assert_eq!(page.url().unwrap(), format!("{base}/second?sort=name"));
    assert_eq!(page.text("h1").unwrap(), "Second page");

    open(&mut page, &format!("{base}/"));
    // Below the fold after the tall block? No: #next is above it, but scrolling must not hurt.
    page.click("#next").unwrap();
    assert_eq!(page.url().unwrap(), format!("{base}/second"));
    assert!(matches!(
        page.click("#toggle"),
        Err(BrowserError::Element { .. })
    ));
}

#[test]
fn fill_and_submit_a_get_form() {
    let browser = require_browser!();
    let base = serve();
    let mut page = browser.new_page().unwrap();
    // Submissions are recognised as navigations, so no grace period is needed to wait for them.
    page.set_navigation_grace(Duration::ZERO);

    open(&mut page, &format!("{base}/form"));
    page.fill("#q", "café & co").unwrap();
    page.select_option("#env", "prod").unwrap();
    page.submit("#filter").unwrap();
    assert_eq!(
        page.url().unwrap(),
        format!("{base}/search?q=caf%C3%A9+%26+co&env=prod")
    );
    assert_eq!(page.text("#query").unwrap(), "q=caf%C3%A9+%26+co&env=prod");

    // Enter in the text field submits too (implicit submission), as a user would.
    open(&mut page, &format!("{base}/form"));
    page.fill("#q", "lead time").unwrap();
    page.press_key("Enter").unwrap();
    assert_eq!(
        page.url().unwrap(),
        format!("{base}/search?q=lead+time&env=staging")
    );

    // And a real click on the submit button.
    open(&mut page, &format!("{base}/form"));
    page.fill("#q", "x").unwrap();
    page.click("#go").unwrap();
    assert_eq!(
        page.url().unwrap(),
        format!("{base}/search?q=x&env=staging")
    );
}

#[test]
fn tab_moves_the_focus() {
    let browser = require_browser!();
    let base = serve();
    let mut page = browser.new_page().unwrap();
    open(&mut page, &format!("{base}/form"));
    let focused = |page: &mut Page| page.evaluate("document.activeElement.id").unwrap();
    assert_eq!(focused(&mut page), json!(""));
    page.press_key("Tab").unwrap();
    assert_eq!(focused(&mut page), json!("q"));
    page.press_key("Tab").unwrap();
    assert_eq!(focused(&mut page), json!("env"));
    page.press_key("Tab").unwrap();
    assert_eq!(focused(&mut page), json!("go"));
    page.press_key("Shift+Tab").unwrap();
    assert_eq!(focused(&mut page), json!("env"));
}

#[test]
fn evaluate_returns_json_values_and_exceptions_as_errors() {
    let browser = require_browser!();
    let mut page = browser.new_page().unwrap();
    assert_eq!(page.evaluate("1 + 2").unwrap(), json!(3));
    assert_eq!(page.evaluate("0.5 * 3").unwrap(), json!(1.5));
    assert_eq!(
        page.evaluate("'lead' + ' time'").unwrap(),
        json!("lead time")
    );
    assert_eq!(
        page.evaluate("({ tiers: ['elite', 2, null], ok: true })")
            .unwrap(),
        json!({ "tiers": ["elite", 2, null], "ok": true })
    );
    assert_eq!(page.evaluate("undefined").unwrap(), json!(null));
    assert_eq!(page.evaluate("NaN").unwrap(), json!("NaN"));
    assert_eq!(
        page.evaluate("new Promise((resolve) => setTimeout(() => resolve(42), 20))")
            .unwrap(),
        json!(42)
    );
    match page.evaluate("throw new Error('boom')") {
        Err(BrowserError::Javascript(message)) => assert!(message.contains("boom"), "{message}"),
        other => panic!("expected a JavaScript error, got {other:?}"),
    }
    match page.evaluate("Promise.reject(new TypeError('rejected'))") {
        Err(BrowserError::Javascript(message)) => {
            assert!(message.contains("rejected"), "{message}")
        }
        other => panic!("expected a JavaScript error, got {other:?}"),
    }
    assert_eq!(
        page.wait_for("new Promise((r) => setTimeout(() => r('late'), 50))")
            .unwrap(),
        json!("late")
    );
}

#[test]
fn a_screenshot_is_a_full_page_png_of_the_viewport_width() {
    let browser = require_browser!();
    let base = serve();
    let mut page = browser.new_page().unwrap();
    page.set_viewport(800, 600).unwrap();
    open(&mut page, &format!("{base}/"));
    let path = page.screenshot("browser-driver-table.png").unwrap();
    let png = std::fs::read(&path).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!(width, 800);
    // The page is taller than the viewport (a 2000 px block): the whole of it is there.
    assert!(height > 2000, "height {height}");

    let absolute = std::env::temp_dir().join(format!("loopwise-shot-{}.png", std::process::id()));
    assert_eq!(page.screenshot(&absolute).unwrap(), absolute);
    assert!(Path::new(&absolute).is_file());
    std::fs::remove_file(&absolute).unwrap();
}

#[test]
fn dialogs_are_recorded_and_dismissed() {
    let browser = require_browser!();
    let base = serve();
    let mut page = browser.new_page().unwrap();
    open(&mut page, &format!("{base}/"));
    assert_eq!(page.dialogs_opened().unwrap(), Vec::<String>::new());
    open(&mut page, &format!("{base}/alert"));
    // The page went on past the alert: it was dismissed.
    assert_eq!(page.text("#after").unwrap(), "after the alert");
    assert_eq!(page.dialogs_opened().unwrap(), ["alert: 1"]);
    page.evaluate("confirm('sure?')").unwrap();
    assert_eq!(
        page.dialogs_opened().unwrap(),
        ["alert: 1", "confirm: sure?"]
    );
}

#[test]
fn console_errors_and_exceptions_are_recorded() {
    let browser = require_browser!();
    let base = serve();
    let mut page = browser.new_page().unwrap();
    open(&mut page, &format!("{base}/"));
    assert_eq!(page.console_errors().unwrap(), Vec::<String>::new());
    open(&mut page, &format!("{base}/js-error"));
    assert_eq!(page.text("#still").unwrap(), "still rendered");
    let errors = page.console_errors().unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0], "console.error: bad figure 42");
    assert!(
        errors[1].contains("noSuchFunction is not defined") && errors[1].contains("/js-error:"),
        "{errors:?}"
    );
    // A failed subresource load is a browser log error.
    page.evaluate(
        "new Promise((r) => { const i = new Image(); i.onerror = r; i.src = '/missing.png'; })",
    )
    .unwrap();
    let errors = page.console_errors().unwrap();
    assert!(
        errors.iter().any(|error| error.contains("404")),
        "{errors:?}"
    );
}

#[test]
fn dropping_the_browser_ends_chromium_and_removes_its_profile() {
    let browser = require_browser!();
    let base = serve();
    let pid = browser.pid();
    let profile = browser.profile_dir().to_path_buf();
    let mut page = browser.new_page().unwrap();
    open(&mut page, &format!("{base}/"));
    let proc_dir = Path::new("/proc").join(pid.to_string());
    assert!(proc_dir.exists());
    assert!(profile.is_dir());
    drop(page);
    drop(browser);
    assert!(!proc_dir.exists(), "chromium {pid} still runs");
    assert!(!profile.exists(), "{} is left", profile.display());
    // Its helper processes (zygotes, renderers) name the profile on their command line, or
    // were children of the browser: none may be left behind.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = helpers_of(&profile, pid);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes whose command line names `profile` or whose parent was `browser_pid`.
fn helpers_of(profile: &Path, browser_pid: u32) -> Vec<String> {
    let profile = profile.to_string_lossy().into_owned();
    let mut left = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(command) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let command = String::from_utf8_lossy(&command).replace('\0', " ");
        let parent = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| {
                let after_name = stat.rsplit_once(')')?.1.to_string();
                after_name.split_whitespace().nth(1)?.parse::<u32>().ok()
            });
        if command.contains(&profile) || parent == Some(browser_pid) {
            left.push(format!(
                "{}: {command}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    left
}
