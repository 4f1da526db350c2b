//! `GET /jobs/{company_slug}/sitemap.xml` and `GET /jobs/{company_slug}/feed.xml` (CONTRACT §13): every
//! offer that takes applications, for search engines and job boards.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quick_xml::escape::escape;

use super::json_ld::employment_type;
use super::markdown::render_description;
use super::response::{FrameAncestors, not_found_page};
use super::urls::{jobs_url, offer_url};
use super::views::PageContext;
use crate::db;
use crate::db::companies::Company;
use crate::domain::timestamp;
use crate::http::AppState;

/// The sitemap protocol's limit for one file.
const SITEMAP_MAX_URLS: i64 = 50_000;
/// Each feed entry renders its description: a bound on one request's work.
const FEED_MAX_JOBS: i64 = 5_000;

async fn company_or_404(state: &AppState, slug: &str) -> Result<Company, Response> {
    match db::companies::find_by_slug(&state.db, slug).await {
        Ok(Some(company)) => Ok(company),
        Ok(None) => Err(not_found_page(&PageContext::new(state, None, None), None, "")),
        Err(error) => {
            tracing::error!(%error, "loading a company for its feed failed");
            Err(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
    }
}

fn xml(body: String, company: &Company) -> Response {
    let mut response =
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"))], body).into_response();
    response.extensions_mut().insert(FrameAncestors(company.embed_origins.clone()));
    response
}

pub async fn sitemap(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    let company = match company_or_404(&state, &slug).await {
        Ok(company) => company,
        Err(response) => return response,
    };
    let offers = match db::job_offers::all_published(&state.db, company.id, SITEMAP_MAX_URLS).await {
        Ok(offers) => offers,
        Err(error) => {
            tracing::error!(%error, "loading offers for a sitemap failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    body.push_str(&format!("<url><loc>{}</loc></url>\n", escape(jobs_url(&state.public_base_url, &company.slug))));
    for offer in &offers {
        body.push_str(&format!(
            "<url><loc>{}</loc><lastmod>{}</lastmod></url>\n",
            escape(offer_url(&state.public_base_url, &company.slug, offer.id)),
            timestamp::format(&offer.updated_at)
        ));
    }
    body.push_str("</urlset>\n");
    xml(body, &company)
}

/// The Indeed XML job feed: `<source>` of `<job>`, values in CDATA.
pub async fn job_feed(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    let company = match company_or_404(&state, &slug).await {
        Ok(company) => company,
        Err(response) => return response,
    };
    let offers = match db::job_offers::all_published(&state.db, company.id, FEED_MAX_JOBS).await {
        Ok(offers) => offers,
        Err(error) => {
            tracing::error!(%error, "loading offers for a job feed failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let mut body = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<source>\n");
    body.push_str(&format!("<publisher>{}</publisher>\n", cdata(&company.name)));
    body.push_str(&format!(
        "<publisherurl>{}</publisherurl>\n",
        cdata(&jobs_url(&state.public_base_url, &company.slug))
    ));
    if let Some(newest) = offers.iter().map(|o| o.updated_at).max() {
        body.push_str(&format!("<lastBuildDate>{}</lastBuildDate>\n", newest.to_rfc2822()));
    }
    for offer in &offers {
        let posted = offer.published_at.unwrap_or(offer.updated_at);
        let city = offer.location.as_deref().and_then(|l| l.split(',').next()).map(str::trim).unwrap_or("");
        let jobtype = match employment_type(offer.job_type.as_deref()) {
            "FULL_TIME" => "fulltime",
            "TEMPORARY" => "temporary",
            "CONTRACTOR" => "contract",
            "INTERN" => "internship",
            _ => offer.job_type.as_deref().unwrap_or(""),
        };
        body.push_str("<job>\n");
        for (tag, value) in [
            ("title", offer.title.as_str()),
            ("date", &posted.to_rfc2822()),
            ("referencenumber", &offer.id.to_string()),
            ("url", &offer_url(&state.public_base_url, &company.slug, offer.id)),
            ("company", &company.name),
            ("city", city),
            ("description", &render_description(&offer.description)),
            ("jobtype", jobtype),
        ] {
            body.push_str(&format!("<{tag}>{}</{tag}>\n", cdata(value)));
        }
        body.push_str("</job>\n");
    }
    body.push_str("</source>\n");
    xml(body, &company)
}

/// A CDATA section holding `text`; a `]]>` inside is split across two sections.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

#[cfg(test)]
mod tests {
    use super::cdata;

    #[test]
    fn cdata_cannot_be_closed_early() {
        assert_eq!(cdata("a]]>b"), "<![CDATA[a]]]]><![CDATA[>b]]>");
    }
}
