//! The addresses of the hosted pages (CONTRACT §13), from `PUBLIC_BASE_URL` (§10).
//!
//! Absolute URLs (the CLI's output, JSON-LD, the sitemap and the feed, canonical links) start with the whole
//! base. Links inside a page start with the base's path only (empty unless a proxy serves the server under a
//! prefix), so a page works at whatever host name it was reached by.

use uuid::Uuid;

/// `{base}/jobs/{slug}`: the company's list of offers.
pub fn jobs_url(public_base_url: &str, slug: &str) -> String {
    format!("{}/jobs/{slug}", public_base_url.trim_end_matches('/'))
}

/// `{base}/jobs/{slug}/{offer_id}`: an offer's page.
pub fn offer_url(public_base_url: &str, slug: &str, offer_id: Uuid) -> String {
    format!("{}/{offer_id}", jobs_url(public_base_url, slug))
}

/// The path part of the base (`/careers` in `https://acme.com/careers`), without a trailing `/`.
pub fn base_path(public_base_url: &str) -> String {
    url::Url::parse(public_base_url).map(|u| u.path().trim_end_matches('/').to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_the_base_without_double_slashes() {
        let id = Uuid::nil();
        assert_eq!(jobs_url("https://jobs.acme.com", "acme"), "https://jobs.acme.com/jobs/acme");
        assert_eq!(
            offer_url("https://acme.com/careers/", "acme", id),
            format!("https://acme.com/careers/jobs/acme/{id}")
        );
        assert_eq!(base_path("https://acme.com/careers"), "/careers");
        assert_eq!(base_path("http://127.0.0.1:8080"), "");
    }
}
