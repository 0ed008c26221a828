//! `GET /metrics`: Prometheus text exposition of the DORA figures per (service, environment) and
//! of the server's own requests. Written by hand: the format is a few lines of text, and the
//! figures come from the same report the API answers.

use crate::AppState;
use crate::error::AppError;
use crate::report::build_blocking;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use loopwise_core::time::Window;
use loopwise_engine::ReportQuery;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

/// Upper bounds of the request latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Debug, Default)]
struct RouteStats {
    count: u64,
    sum_seconds: f64,
    /// Counts per bucket of `LATENCY_BUCKETS` (not cumulative).
    buckets: [u64; LATENCY_BUCKETS.len()],
}

/// The server's own request metrics.
#[derive(Debug, Default)]
pub struct RequestMetrics {
    /// (method, route) → stats; (method, route, status) → count.
    latency: Mutex<BTreeMap<(String, String), RouteStats>>,
    responses: Mutex<BTreeMap<(String, String, u16), u64>>,
}

impl RequestMetrics {
    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let key = (method.to_string(), route.to_string());
        if let Ok(mut latency) = self.latency.lock() {
            let stats = latency.entry(key.clone()).or_default();
            stats.count += 1;
            stats.sum_seconds += seconds;
            if let Some(bucket) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
                stats.buckets[bucket] += 1;
            }
        }
        if let Ok(mut responses) = self.responses.lock() {
            *responses.entry((key.0, key.1, status)).or_default() += 1;
        }
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP loopwise_http_requests_total HTTP requests answered, by route and status."
        );
        let _ = writeln!(out, "# TYPE loopwise_http_requests_total counter");
        if let Ok(responses) = self.responses.lock() {
            for ((method, route, status), count) in responses.iter() {
                let _ = writeln!(
                    out,
                    "loopwise_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                    escape(method),
                    escape(route)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP loopwise_http_request_duration_seconds Time to answer HTTP requests."
        );
        let _ = writeln!(
            out,
            "# TYPE loopwise_http_request_duration_seconds histogram"
        );
        if let Ok(latency) = self.latency.lock() {
            for ((method, route), stats) in latency.iter() {
                let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
                let mut cumulative = 0;
                for (bound, count) in LATENCY_BUCKETS.iter().zip(stats.buckets) {
                    cumulative += count;
                    let _ = writeln!(
                        out,
                        "loopwise_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    out,
                    "loopwise_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    stats.count
                );
                let _ = writeln!(
                    out,
                    "loopwise_http_request_duration_seconds_sum{{{labels}}} {}",
                    stats.sum_seconds
                );
                let _ = writeln!(
                    out,
                    "loopwise_http_request_duration_seconds_count{{{labels}}} {}",
                    stats.count
                );
            }
        }
    }
}

/// Label values escaped as the exposition format asks.
pub(crate) fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: times every request under its route pattern (not its raw path, which would let
/// clients create unbounded label values).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    state.requests.record(&method, &route, status, seconds);
    // One line per request at debug (info would cost the ingest path a write per event);
    // server errors always, with the route but never the body or headers.
    if status >= 500 {
        tracing::warn!(%method, %route, status, seconds, "request failed");
    } else {
        tracing::debug!(%method, %route, status, seconds, "request");
    }
    response
}

/// Builds the all-time report once, at start, so that the first reader does not wait: each
/// chain is read from the facts kept in the store, or derived from its history where they are
/// not current (the log says how many of each). Afterwards reports derive only what was
/// written since.
pub(crate) fn warm_report_cache(state: &AppState) {
    let started = std::time::Instant::now();
    let now = crate::unix_now();
    let query = ReportQuery::organisation(Window {
        since: i64::MIN / 2,
        until: now + 1,
    });
    match state.engine.report(state.store.as_ref(), &query) {
        Ok(report) => {
            let derivations = state.engine.derivations();
            tracing::info!(
                chains = report.services.len(),
                derived = derivations.derived,
                read_kept = derivations.read_kept,
                elapsed = ?started.elapsed(),
                "warmed the report cache"
            )
        }
        Err(error) => tracing::warn!(%error, "cannot warm the report cache"),
    }
}

/// Prometheus text exposition: DORA figures per (service, environment) and the server's own
/// request counters and latency histograms.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus exposition format 0.0.4", body = String, content_type = "text/plain; version=0.0.4"),
    )
)]
pub async fn get_metrics(State(state): State<AppState>) -> Result<Response, AppError> {
    let now = crate::unix_now();
    let query = ReportQuery::organisation;
    // Counters cover all time (monotonic as long as history is only added); the quantiles and
    // rates cover the last 90 days, the window the report defaults to.
    let all_time = query(Window {
        since: i64::MIN / 2,
        until: now + 1,
    });
    let recent = query(Window::last_90_days(now + 1));
    let (total, window) = build_blocking(&state, move |store, engine| {
        Ok::<_, loopwise_engine::EngineError>((
            engine.report(store, &all_time)?,
            engine.report(store, &recent)?,
        ))
    })
    .await?;

    let mut out = String::new();
    let series = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    let labels = |service: &str, environment: &str| {
        format!(
            "service=\"{}\",environment=\"{}\"",
            escape(service),
            escape(environment)
        )
    };
    series(
        &mut out,
        "loopwise_deployments_total",
        "counter",
        "Successful production deployments stored.",
    );
    for s in &total.services {
        let _ = writeln!(
            out,
            "loopwise_deployments_total{{{}}} {}",
            labels(&s.service, &s.environment),
            s.deployments.count
        );
    }
    series(
        &mut out,
        "loopwise_failed_deployments_total",
        "counter",
        "Deployments that failed or needed remediation.",
    );
    for s in &total.services {
        let _ = writeln!(
            out,
            "loopwise_failed_deployments_total{{{}}} {}",
            labels(&s.service, &s.environment),
            s.change_failure_rate.failed
        );
    }
    series(
        &mut out,
        "loopwise_lead_time_seconds",
        "summary",
        "Lead time for changes over the last 90 days.",
    );
    for s in &window.services {
        let l = labels(&s.service, &s.environment);
        for (quantile, value) in [
            ("0.5", s.lead_time.median_seconds),
            ("0.9", s.lead_time.p90_seconds),
        ] {
            if let Some(value) = value {
                let _ = writeln!(
                    out,
                    "loopwise_lead_time_seconds{{{l},quantile=\"{quantile}\"}} {value}"
                );
            }
        }
        if let Some(mean) = s.lead_time.mean_seconds {
            let _ = writeln!(
                out,
                "loopwise_lead_time_seconds_sum{{{l}}} {}",
                mean * s.lead_time.changes as f64
            );
        }
        let _ = writeln!(
            out,
            "loopwise_lead_time_seconds_count{{{l}}} {}",
            s.lead_time.changes
        );
    }
    series(
        &mut out,
        "loopwise_recovery_time_seconds",
        "summary",
        "Failed deployment recovery time over the last 90 days.",
    );
    for s in &window.services {
        let l = labels(&s.service, &s.environment);
        for (quantile, value) in [
            ("0.5", s.recovery_time.median_seconds),
            ("0.9", s.recovery_time.p90_seconds),
        ] {
            if let Some(value) = value {
                let _ = writeln!(
                    out,
                    "loopwise_recovery_time_seconds{{{l},quantile=\"{quantile}\"}} {value}"
                );
            }
        }
        let _ = writeln!(
            out,
            "loopwise_recovery_time_seconds_count{{{l}}} {}",
            s.recovery_time.recovered
        );
    }
    series(
        &mut out,
        "loopwise_change_failure_rate",
        "gauge",
        "Failed deployments / deployments, last 90 days.",
    );
    for s in &window.services {
        if let Some(rate) = s.change_failure_rate.rate {
            let _ = writeln!(
                out,
                "loopwise_change_failure_rate{{{}}} {rate}",
                labels(&s.service, &s.environment)
            );
        }
    }
    series(
        &mut out,
        "loopwise_rework_rate",
        "gauge",
        "Unplanned remediation deployments / deployments, last 90 days.",
    );
    for s in &window.services {
        if let Some(rate) = s.rework_rate.rate {
            let _ = writeln!(
                out,
                "loopwise_rework_rate{{{}}} {rate}",
                labels(&s.service, &s.environment)
            );
        }
    }
    state.mirrors.render(&mut out);
    state.requests.render(&mut out);
    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let metrics = RequestMetrics::default();
        metrics.record("POST", "/api/v1/events", 200, 0.003);
        metrics.record("POST", "/api/v1/events", 200, 0.7);
        metrics.record("GET", "a\"b", 404, 2.0);
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out.contains("loopwise_http_requests_total{method=\"POST\",route=\"/api/v1/events\",status=\"200\"} 2"));
        assert!(out.contains("route=\"/api/v1/events\",le=\"0.0025\"} 0"));
        assert!(out.contains("route=\"/api/v1/events\",le=\"0.005\"} 1"));
        assert!(out.contains("route=\"/api/v1/events\",le=\"1\"} 2"));
        assert!(out.contains("route=\"a\\\"b\",le=\"+Inf\"} 1"), "{out}");
        assert!(
            out.contains("route=\"a\\\"b\",le=\"1\"} 0"),
            "beyond the last bucket: {out}"
        );
    }
}
