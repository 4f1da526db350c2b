//! The query string of `GET /api/job_offers`, parsed once into a valid [`JobOfferQuery`] (CONTRACT §4).

use chrono::{DateTime, Utc};

use super::control_characters::{ControlCharacters, contains_forbidden_control_character, invalid_text_message};
use super::timestamp::parse_date_or_datetime;

pub const DEFAULT_PER_PAGE: i64 = 20;
pub const MAX_PER_PAGE: i64 = 100;
pub const DEFAULT_STATUS: &str = "open";
/// The text filters, where control characters are refused by name.
const FILTERS: &[&str] = &["status", "location", "job_type", "published_after", "published_before"];

#[derive(Debug, Clone, PartialEq)]
pub struct JobOfferQuery {
    pub page: i64,
    /// The effective page size, after capping at [`MAX_PER_PAGE`].
    pub per_page: i64,
    pub status: String,
    /// Substring to find, case-insensitively; `%` and `_` in it are literal.
    pub location: Option<String>,
    pub job_type: Option<String>,
    pub published_after: Option<DateTime<Utc>>,
    pub published_before: Option<DateTime<Utc>>,
}

impl Default for JobOfferQuery {
    fn default() -> Self {
        JobOfferQuery {
            page: 1,
            per_page: DEFAULT_PER_PAGE,
            status: DEFAULT_STATUS.to_owned(),
            location: None,
            job_type: None,
            published_after: None,
            published_before: None,
        }
    }
}

impl JobOfferQuery {
    /// Parses a raw query string. The error is the client-facing message, naming the parameter.
    ///
    /// Unknown parameters are ignored. An empty value (`location=`) counts as absent, as HTML forms send
    /// empty fields. When a parameter is repeated, its first value is used.
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        let mut query = JobOfferQuery::default();
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if value.trim().is_empty() || seen.iter().any(|s| *s == name) {
                continue;
            }
            seen.push(name.to_string());
            let value = value.into_owned();
            // CONTRACT §11: a NUL or other control character in a filter is the client's mistake, not a 500.
            if FILTERS.contains(&&*name) && contains_forbidden_control_character(&value, ControlCharacters::Forbidden) {
                return Err(invalid_text_message(&name));
            }
            match &*name {
                "page" => query.page = positive_integer("page", &value)?,
                "per_page" => query.per_page = positive_integer("per_page", &value)?.min(MAX_PER_PAGE),
                "status" => query.status = value,
                "location" => query.location = Some(value),
                "job_type" => query.job_type = Some(value),
                "published_after" => query.published_after = Some(date_time("published_after", &value)?),
                "published_before" => query.published_before = Some(date_time("published_before", &value)?),
                _ => {}
            }
        }
        Ok(query)
    }

    /// Rows to skip; saturates, so an absurd page number is simply past the end.
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }

    /// `ILIKE` pattern for the location filter, with `\`, `%` and `_` escaped so they match themselves.
    pub fn location_pattern(&self) -> Option<String> {
        self.location.as_deref().map(|needle| {
            let mut pattern = String::with_capacity(needle.len() + 2);
            pattern.push('%');
            for c in needle.chars() {
                if matches!(c, '\\' | '%' | '_') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern.push('%');
            pattern
        })
    }
}

fn positive_integer(name: &str, value: &str) -> Result<i64, String> {
    match value.trim().parse::<i64>() {
        Ok(n) if n >= 1 => Ok(n),
        // A number too large for i64 is still a positive integer: saturate rather than refuse.
        Err(_) if !value.is_empty() && value.trim().bytes().all(|b| b.is_ascii_digit()) => Ok(i64::MAX),
        _ => Err(format!("{name} must be an integer greater than or equal to 1")),
    }
}

fn date_time(name: &str, value: &str) -> Result<DateTime<Utc>, String> {
    parse_date_or_datetime(value.trim())
        .ok_or_else(|| format!("{name} must be an ISO 8601 date (YYYY-MM-DD) or date-time (RFC 3339)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_without_a_query() {
        assert_eq!(JobOfferQuery::parse(None).unwrap(), JobOfferQuery::default());
    }

    #[test]
    fn per_page_is_capped_not_refused() {
        let q = JobOfferQuery::parse(Some("per_page=500&page=3")).unwrap();
        assert_eq!((q.page, q.per_page, q.offset()), (3, 100, 200));
    }

    #[test]
    fn malformed_values_name_the_parameter() {
        for (raw, name) in [
            ("page=0", "page"),
            ("page=abc", "page"),
            ("page=-2", "page"),
            ("per_page=-1", "per_page"),
            ("per_page=1.5", "per_page"),
            ("published_after=yesterday", "published_after"),
            ("published_before=2024-02-30", "published_before"),
        ] {
            let message = JobOfferQuery::parse(Some(raw)).unwrap_err();
            assert!(message.starts_with(name), "{raw}: {message}");
        }
    }

    #[test]
    fn control_characters_in_a_filter_name_it() {
        for name in FILTERS {
            for bad in ["%00", "Paris%00", "a%1Bb", "x%0Ay", "%09z"] {
                let raw = format!("{name}={bad}");
                assert_eq!(JobOfferQuery::parse(Some(&raw)).unwrap_err(), format!("{name} is invalid"), "{raw}");
            }
        }
        // Elsewhere they are the parameter's own error, or ignored.
        assert!(JobOfferQuery::parse(Some("page=%00")).unwrap_err().starts_with("page must"));
        assert!(JobOfferQuery::parse(Some("unknown=%00")).is_ok());
    }

    #[test]
    fn location_wildcards_are_literal() {
        let q = JobOfferQuery::parse(Some("location=100%25_remote%5C")).unwrap();
        assert_eq!(q.location_pattern().unwrap(), r"%100\%\_remote\\%");
    }

    #[test]
    fn huge_pages_saturate() {
        let q = JobOfferQuery::parse(Some("page=99999999999999999999999")).unwrap();
        assert_eq!(q.page, i64::MAX);
        assert_eq!(q.offset(), i64::MAX);
    }
}
