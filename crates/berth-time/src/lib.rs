//! The one time representation of berth.
//!
//! Every service stores instants as `BIGINT` **microseconds since the Unix
//! epoch** ([`Micros`]) and renders them in the wire format of its API with
//! the functions here. Calendar arithmetic and parsing are `jiff`'s; nothing
//! here panics, whatever the input (a property test holds that).

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Microseconds since 1970-01-01T00:00:00Z: how every table stores time.
pub type Micros = i64;

/// Now, in microseconds since the epoch.
pub fn now() -> Micros {
    Timestamp::now().as_microsecond()
}

/// Seconds since the epoch of a stored instant (rounded down).
pub fn to_seconds(us: Micros) -> i64 {
    us.div_euclid(1_000_000)
}

/// A stored instant from seconds since the epoch (saturating).
pub fn from_seconds(s: i64) -> Micros {
    s.saturating_mul(1_000_000)
}

/// A stored instant from milliseconds since the epoch (saturating).
pub fn from_millis(ms: i64) -> Micros {
    ms.saturating_mul(1_000)
}

fn ts(us: Micros) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(if us < 0 { Timestamp::MIN } else { Timestamp::MAX })
}

fn civil(us: Micros) -> DateTime {
    ts(us).to_zoned(TimeZone::UTC).datetime()
}

/// `2015-11-06T15:32:17Z` (Glance's and Nova's `created`/`updated`).
pub fn iso_seconds_z(us: Micros) -> String {
    civil(us).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `2015-11-06T15:32:17.893769Z` (Keystone's token times).
pub fn iso_micros_z(us: Micros) -> String {
    civil(us).strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

/// `2015-11-06T15:32:17.893769` (Nova's `launched_at`, service `updated_at`).
pub fn iso_micros(us: Micros) -> String {
    civil(us).strftime("%Y-%m-%dT%H:%M:%S.%6f").to_string()
}

/// `Fri, 06 Nov 2015 15:32:17 GMT` (HTTP `Last-Modified`).
pub fn http_date(us: Micros) -> String {
    civil(us).strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Why a time filter was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid ISO 8601 date-time {:?}", self.0)
    }
}

impl std::error::Error for ParseError {}

/// Parse an ISO 8601 instant as the OpenStack APIs accept them in filters
/// (`changes-since`, `created_at=gte:...`, `expires_at`): a date
/// (`2015-11-06`), or a date and time with `T` or a space, optional seconds
/// and fraction, and an optional `Z` or `±HH:MM` offset (none means UTC).
pub fn parse_iso8601(s: &str) -> Result<Micros, ParseError> {
    let t = s.trim();
    let err = || ParseError(s.chars().take(64).collect());
    if t.is_empty() || !t.is_ascii() {
        return Err(err());
    }
    if let Ok(x) = t.parse::<Timestamp>() {
        return Ok(x.as_microsecond());
    }
    let dt = t.parse::<DateTime>().or_else(|_| t.parse::<Date>().map(|d| d.to_datetime(jiff::civil::Time::midnight())));
    match dt {
        Ok(dt) => dt.to_zoned(TimeZone::UTC).map(|z| z.timestamp().as_microsecond()).map_err(|_| err()),
        Err(_) => Err(err()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: Micros = 1_700_000_000_123_456; // 2023-11-14T22:13:20.123456Z

    #[test]
    fn formats() {
        assert_eq!(iso_seconds_z(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_seconds_z(T), "2023-11-14T22:13:20Z");
        assert_eq!(iso_micros_z(T), "2023-11-14T22:13:20.123456Z");
        assert_eq!(iso_micros(T), "2023-11-14T22:13:20.123456");
        assert_eq!(http_date(T), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(iso_seconds_z(-1), "1969-12-31T23:59:59Z");
        // Out of the representable range: clamped, not a panic.
        assert!(iso_seconds_z(i64::MAX).starts_with("9999-12-"));
        assert!(iso_seconds_z(i64::MIN).starts_with("-9999-01-"));
    }

    #[test]
    fn parses_the_forms_clients_send() {
        let want = 1_700_000_000_000_000;
        for s in [
            "2023-11-14T22:13:20Z",
            "2023-11-14T22:13:20",
            "2023-11-14 22:13:20",
            "2023-11-14T22:13:20+00:00",
            "2023-11-14T23:13:20+01:00",
            "2023-11-14T22:13:20.000000",
            " 2023-11-14T22:13:20Z ",
        ] {
            assert_eq!(parse_iso8601(s), Ok(want), "{s}");
        }
        assert_eq!(parse_iso8601("2023-11-14T22:13:20.123456Z"), Ok(T));
        assert_eq!(parse_iso8601("2023-11-14T22:13Z"), Ok(want - 20_000_000));
        assert_eq!(parse_iso8601("2023-11-14"), Ok(1_699_920_000_000_000));
        assert_eq!(to_seconds(T), 1_700_000_000);
        assert_eq!(from_seconds(1_700_000_000), want);
        assert_eq!(from_millis(1_700_000_000_000), want);
    }

    #[test]
    fn refuses_malformed_input() {
        for s in [
            "",
            "garbage",
            "2023-11-14T22:13:20.\u{e9}\u{e9}",
            "2015-11-06+a\u{e9}b",
            "2023-13-01",
            "2023-02-30T00:00:00Z",
            "2023-11-14T25:00:00Z",
            "2023-11-14T22:13:20+99:00",
            "99999-01-01",
            "2023-11-14T22:13:20Z\u{0}",
        ] {
            assert!(parse_iso8601(s).is_err(), "{s:?} should be refused");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,40}") {
            let _ = parse_iso8601(&s);
        }

        #[test]
        fn parsing_near_valid_input_never_panics(
            prefix in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]?[0-9:.]{0,15}",
            suffix in "\\PC{0,6}",
        ) {
            let _ = parse_iso8601(&format!("{prefix}{suffix}"));
        }

        #[test]
        fn formats_round_trip(us in -62_000_000_000_000_000i64..250_000_000_000_000_000i64) {
            let parsed = parse_iso8601(&iso_micros_z(us)).unwrap();
            prop_assert_eq!(parsed, us);
            prop_assert_eq!(parse_iso8601(&iso_seconds_z(us)).unwrap(), us.div_euclid(1_000_000) * 1_000_000);
        }
    }
}
