//! Where an application comes from (CONTRACT §6 "Source"): the hostname of `Origin`, else of `Referer`,
//! else `career_site`. A `source` field in the body is ignored.

pub const DEFAULT_SOURCE: &str = "career_site";

pub fn application_source(origin: Option<&str>, referer: Option<&str>) -> String {
    [origin, referer].into_iter().flatten().find_map(hostname).unwrap_or_else(|| DEFAULT_SOURCE.to_owned())
}

/// Lowercase hostname without port; `None` for `null` (sandboxed pages send `Origin: null`) or a non-URL.
fn hostname(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.eq_ignore_ascii_case("null") {
        return None;
    }
    let url = url::Url::parse(raw).ok()?;
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::application_source;

    #[test]
    fn origin_then_referer_then_default() {
        assert_eq!(application_source(Some("https://Careers.My-Company.com:8443"), None), "careers.my-company.com");
        assert_eq!(application_source(Some("null"), Some("https://jobs.example.org/apply?x=1")), "jobs.example.org");
        assert_eq!(application_source(None, Some("not a url")), "career_site");
        assert_eq!(application_source(None, None), "career_site");
        assert_eq!(application_source(Some(""), Some("http://[::1]:3000/")), "[::1]");
    }
}
