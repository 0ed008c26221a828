//! Time in the core: whole seconds since the Unix epoch, UTC.
//!
//! Git records seconds, and every metric is a difference of two instants, so an `i64` of seconds
//! is exact and cheap to keep in the large per-commit arrays. Parsing of untrusted text happens
//! at the edges (the binary and the importers) with `jiff`; nothing here can panic on input.

use serde::Serialize;

/// Seconds since 1970-01-01T00:00:00Z.
pub type Timestamp = i64;

pub const SECONDS_PER_HOUR: i64 = 3_600;
pub const SECONDS_PER_DAY: i64 = 86_400;
pub const SECONDS_PER_WEEK: i64 = 7 * SECONDS_PER_DAY;

/// A half-open interval `[since, until)` of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since: Timestamp,
    pub until: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("the window is empty: --since ({since}) must be before --until ({until})")]
    Empty { since: String, until: String },
}

impl Window {
    /// A window; rejects `since >= until`.
    pub fn new(since: Timestamp, until: Timestamp) -> Result<Self, WindowError> {
        if since >= until {
            return Err(WindowError::Empty {
                since: format_rfc3339(since),
                until: format_rfc3339(until),
            });
        }
        Ok(Self { since, until })
    }

    /// The default window: the 90 days ending at `now`.
    pub fn last_90_days(now: Timestamp) -> Self {
        Self {
            since: now - 90 * SECONDS_PER_DAY,
            until: now,
        }
    }

    pub fn contains(&self, instant: Timestamp) -> bool {
        self.since <= instant && instant < self.until
    }

    pub fn length_seconds(&self) -> i64 {
        self.until - self.since
    }

    pub fn length_days(&self) -> f64 {
        self.length_seconds() as f64 / SECONDS_PER_DAY as f64
    }
}

/// The UTC calendar date of an instant (jiff's calendar), clamped to the years jiff knows
/// (-9999 to 9999), so untrusted instants never panic.
pub fn utc_date(instant: Timestamp) -> jiff::civil::Date {
    let clamped = instant.clamp(
        jiff::Timestamp::MIN.as_second(),
        jiff::Timestamp::MAX.as_second(),
    );
    jiff::Timestamp::from_second(clamped)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// Midnight UTC at the start of `date`.
pub fn midnight(date: jiff::civil::Date) -> Timestamp {
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map_or(jiff::Timestamp::MIN.as_second(), |zoned| {
            zoned.timestamp().as_second()
        })
}

/// Monday 00:00 UTC of the calendar week holding `instant`.
pub fn week_start(instant: Timestamp) -> Timestamp {
    // 1970-01-01 was a Thursday: day + 3 counts from a Monday.
    let day = instant.div_euclid(SECONDS_PER_DAY);
    (day - (day + 3).rem_euclid(7)).saturating_mul(SECONDS_PER_DAY)
}

/// RFC 3339 text of an instant, e.g. `2024-01-01T00:00:00Z`; out-of-range values are clamped
/// by `jiff`'s own range rather than panicking.
pub fn format_rfc3339(instant: Timestamp) -> String {
    match jiff::Timestamp::from_second(instant) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => instant.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid time {text:?}: expected an RFC 3339 timestamp (2024-05-01T12:00:00Z), a date (2024-05-01, midnight UTC) or Unix seconds"
)]
pub struct TimeError {
    pub text: String,
}

/// Parses an instant from untrusted text: RFC 3339 with an offset, a calendar date (midnight
/// UTC), or whole Unix seconds. Never panics.
pub fn parse_instant(text: &str) -> Result<Timestamp, TimeError> {
    let trimmed = text.trim();
    let error = || TimeError {
        text: text.to_string(),
    };
    if trimmed.is_empty() {
        return Err(error());
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit())
        || (trimmed.starts_with('-')
            && trimmed.len() > 1
            && trimmed[1..].bytes().all(|b| b.is_ascii_digit()))
    {
        let seconds: i64 = trimmed.parse().map_err(|_| error())?;
        return jiff::Timestamp::from_second(seconds)
            .map(|ts| ts.as_second())
            .map_err(|_| error());
    }
    if let Ok(timestamp) = trimmed.parse::<jiff::Timestamp>() {
        return Ok(timestamp.as_second());
    }
    // Only a plain YYYY-MM-DD: jiff would also accept a date with a time and no offset, whose
    // time zone is unknowable.
    if trimmed.len() == 10
        && let Ok(date) = trimmed.parse::<jiff::civil::Date>()
    {
        return date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp().as_second())
            .map_err(|_| error());
    }
    Err(error())
}

/// The window as it appears in reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WindowText {
    pub since: String,
    pub until: String,
}

impl From<Window> for WindowText {
    fn from(window: Window) -> Self {
        Self {
            since: format_rfc3339(window.since),
            until: format_rfc3339(window.until),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_window_is_rejected() {
        assert!(Window::new(10, 10).is_err());
        assert!(Window::new(11, 10).is_err());
        assert!(Window::new(10, 11).is_ok());
    }

    #[test]
    fn window_is_half_open() {
        let window = Window::new(100, 200).unwrap();
        assert!(window.contains(100));
        assert!(window.contains(199));
        assert!(!window.contains(200));
        assert!(!window.contains(99));
    }

    #[test]
    fn parses_instants() {
        assert_eq!(parse_instant("2024-01-01"), Ok(1_704_067_200));
        assert_eq!(parse_instant("2024-01-01T00:00:00Z"), Ok(1_704_067_200));
        assert_eq!(
            parse_instant("2024-01-01T02:00:00+02:00"),
            Ok(1_704_067_200)
        );
        assert_eq!(parse_instant(" 1704067200 "), Ok(1_704_067_200));
        assert_eq!(parse_instant("-5"), Ok(-5));
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-01-01T25:00:00Z",
            "99999999999999999999",
            "2024-01-01 12:00",
            "-",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad:?} should be rejected");
        }
        let error = parse_instant("soon").unwrap_err();
        assert!(error.to_string().starts_with("invalid time \"soon\""));
    }

    #[test]
    fn formats_utc() {
        assert_eq!(format_rfc3339(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(i64::MAX), i64::MAX.to_string());
    }
}
