//! The schema.org `JobPosting` of an offer page (CONTRACT §13), for Google for Jobs and its like.

use serde_json::{Value, json};

use crate::db::companies::Company;
use crate::db::job_offers::JobOffer;

/// CONTRACT §13: CDI→FULL_TIME, CDD→TEMPORARY, Freelance→CONTRACTOR, Stage→INTERN, else OTHER.
pub fn employment_type(job_type: Option<&str>) -> &'static str {
    match job_type.map(|t| t.trim().to_lowercase()).as_deref() {
        Some("cdi") => "FULL_TIME",
        Some("cdd") => "TEMPORARY",
        Some("freelance") => "CONTRACTOR",
        Some("stage") => "INTERN",
        _ => "OTHER",
    }
}

/// Whether a location reads as remote work.
pub fn is_remote(location: &str) -> bool {
    let location = location.to_lowercase();
    ["remote", "télétravail", "teletravail", "full remote", "à distance"].iter().any(|w| location.contains(w))
}

pub struct JobPostingLinks<'a> {
    pub offer_url: &'a str,
    pub company_url: &'a str,
    pub logo_url: Option<&'a str>,
}

/// The JobPosting as a JSON value. `description_html` is the sanitised description.
pub fn job_posting(company: &Company, offer: &JobOffer, description_html: &str, links: &JobPostingLinks) -> Value {
    let posted = offer.published_at.unwrap_or(offer.updated_at);
    let mut organization = json!({"@type": "Organization", "name": company.name, "sameAs": links.company_url});
    if let Some(logo) = links.logo_url {
        organization["logo"] = json!(logo);
    }
    let mut posting = json!({
        "@context": "https://schema.org/",
        "@type": "JobPosting",
        "title": offer.title,
        "description": description_html,
        "datePosted": crate::domain::timestamp::format(&posted),
        "hiringOrganization": organization,
        "employmentType": employment_type(offer.job_type.as_deref()),
        "identifier": {"@type": "PropertyValue", "name": company.name, "value": offer.id.to_string()},
        "directApply": true,
        "url": links.offer_url,
    });
    match offer.location.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        Some(location) if is_remote(location) => posting["jobLocationType"] = json!("TELECOMMUTE"),
        Some(location) => posting["jobLocation"] = json!({"@type": "Place", "address": postal_address(location)}),
        // Nothing known: an address without parts, rather than a claim of remote work.
        None => posting["jobLocation"] = json!({"@type": "Place", "address": {"@type": "PostalAddress"}}),
    }
    posting
}

/// `Paris, France` → locality Paris, country France; a single word is the locality.
fn postal_address(location: &str) -> Value {
    let parts: Vec<&str> = location.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [locality, .., country] => json!({
            "@type": "PostalAddress", "addressLocality": locality, "addressCountry": country,
        }),
        _ => json!({"@type": "PostalAddress", "addressLocality": location}),
    }
}

/// Serialises for a `<script type="application/ld+json">` element: `<`, `>` and `&` are written as JSON
/// escapes, so no `</script>` (or `<!--`) inside a value can end the element early.
pub fn script_text(value: &Value) -> String {
    value.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_types_map_to_schema_org() {
        assert_eq!(employment_type(Some("CDI")), "FULL_TIME");
        assert_eq!(employment_type(Some("cdd")), "TEMPORARY");
        assert_eq!(employment_type(Some("Freelance")), "CONTRACTOR");
        assert_eq!(employment_type(Some("Stage")), "INTERN");
        assert_eq!(employment_type(Some("Alternance")), "OTHER");
        assert_eq!(employment_type(None), "OTHER");
    }

    #[test]
    fn script_text_cannot_close_its_element() {
        let text = script_text(&json!({"title": "</script><script>alert(1)</script> & <!--"}));
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["title"], "</script><script>alert(1)</script> & <!--");
    }

    #[test]
    fn locations_become_addresses_or_remote() {
        assert_eq!(postal_address("Paris, France")["addressCountry"], "France");
        assert_eq!(postal_address("Lyon")["addressLocality"], "Lyon");
        assert!(is_remote("Remote (EU)") && is_remote("Télétravail") && !is_remote("Rennes"));
    }
}
