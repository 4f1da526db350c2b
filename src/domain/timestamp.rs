//! Timestamps on the wire: RFC 3339 in UTC with `Z`, second precision (CONTRACT §1).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serializer;

pub fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(at))
}

pub fn serialize_option<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// An RFC 3339 date-time, or a plain `YYYY-MM-DD` meaning that day's 00:00:00Z (CONTRACT §4).
pub fn parse_date_or_datetime(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Some(at.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_second_precision_and_z() {
        let at = DateTime::parse_from_rfc3339("2024-01-15T11:00:00.123456+01:00").unwrap();
        assert_eq!(format(&at.with_timezone(&Utc)), "2024-01-15T10:00:00Z");
    }

    #[test]
    fn parses_dates_and_datetimes() {
        assert_eq!(format(&parse_date_or_datetime("2024-01-15").unwrap()), "2024-01-15T00:00:00Z");
        assert_eq!(format(&parse_date_or_datetime("2024-01-15T10:00:00+02:00").unwrap()), "2024-01-15T08:00:00Z");
        for bad in ["yesterday", "2024-13-01", "2024-01-15T25:00:00Z", ""] {
            assert!(parse_date_or_datetime(bad).is_none(), "{bad}");
        }
    }
}
