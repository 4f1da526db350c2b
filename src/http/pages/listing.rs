//! `GET /jobs/{company_slug}`: the company's offers that take applications (CONTRACT §13), newest first,
//! 20 a page, filtered by `?location=` and `?job_type=` as the JSON listing (§4).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::response::{Message, Page, message_page, not_found_page, query_value, render, server_error_page};
use super::views::{Chrome, JobTypeOption, ListPage, OfferSummary, PageContext};
use crate::db;
use crate::db::job_offers::JobOffer;
use crate::domain::job_offer_query::{DEFAULT_PER_PAGE, JobOfferQuery};
use crate::domain::timestamp;
use crate::http::AppState;

pub async fn company_page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let requested_lang = query_value(query.as_deref(), "lang");
    let company = match db::companies::find_by_slug(&state.db, &slug).await {
        Ok(company) => company,
        Err(error) => {
            let ctx = PageContext::new(&state, requested_lang.as_deref(), None);
            return server_error_page(&ctx, None, "", error.into());
        }
    };
    let ctx = PageContext::new(&state, requested_lang.as_deref(), company.as_ref());
    let Some(company) = company else {
        return not_found_page(&ctx, None, "");
    };
    let path = format!("/{}", company.slug);
    let t = ctx.t();

    let mut listing = match JobOfferQuery::parse(query.as_deref()) {
        Ok(listing) => listing,
        Err(problem) => {
            return message_page(
                &ctx,
                Some(&company),
                &path,
                Message {
                    status: StatusCode::BAD_REQUEST,
                    heading: t.bad_request_title,
                    subject: None,
                    body: &problem,
                    extra: None,
                    link_to_list: true,
                },
            );
        }
    };
    listing.per_page = DEFAULT_PER_PAGE;
    let loaded = async {
        let page = db::job_offers::list_published(&state.db, company.id, &listing).await?;
        let job_types = db::job_offers::published_job_types(&state.db, company.id).await?;
        Ok::<_, sqlx::Error>((page, job_types))
    }
    .await;
    let ((offers, total), job_types) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return server_error_page(&ctx, Some(&company), &path, error.into()),
    };

    let total_pages = (total + DEFAULT_PER_PAGE - 1) / DEFAULT_PER_PAGE;
    let page_url = |page: i64| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(location) = &listing.location {
            query.append_pair("location", location);
        }
        if let Some(job_type) = &listing.job_type {
            query.append_pair("job_type", job_type);
        }
        if page > 1 {
            query.append_pair("page", &page.to_string());
        }
        let query = query.finish();
        if query.is_empty() { ctx.link(&path) } else { ctx.link(&format!("{path}?{query}")) }
    };
    let filtered = listing.location.is_some() || listing.job_type.is_some();
    let mut chrome = Chrome::new(&ctx, Some(&company), format!("{} – {}", t.jobs_at, company.name), &path);
    chrome.canonical = Some(super::urls::jobs_url(&ctx.base_url, &company.slug));
    let view = ListPage {
        chrome,
        total,
        list_url: format!("{}/jobs{path}", ctx.base_path),
        lang_param: ctx.lang_param(),
        location: listing.location.clone().unwrap_or_default(),
        job_types: job_types
            .into_iter()
            .map(|value| JobTypeOption { selected: listing.job_type.as_deref() == Some(value.as_str()), value })
            .collect(),
        filtered,
        clear_url: ctx.link(&path),
        offers: offers.iter().map(|offer| summary(&ctx, &company.slug, offer)).collect(),
        page: listing.page,
        total_pages,
        previous_url: (listing.page > 1 && listing.page <= total_pages.max(1) + 1)
            .then(|| page_url(listing.page.saturating_sub(1).min(total_pages.max(1)))),
        next_url: (listing.page < total_pages).then(|| page_url(listing.page + 1)),
    };
    match render(&view) {
        Ok(html) => Page::ok(html, Some(&company)).into_response(),
        Err(failed) => failed.into_response(),
    }
}

fn summary(ctx: &PageContext, slug: &str, offer: &JobOffer) -> OfferSummary {
    OfferSummary {
        title: offer.title.clone(),
        url: ctx.link(&format!("/{slug}/{}", offer.id)),
        location: offer.location.clone().filter(|l| !l.trim().is_empty()),
        job_type: offer.job_type.clone().filter(|j| !j.trim().is_empty()),
        posted_label: offer.published_at.as_ref().map(|at| ctx.lang.date(at)),
        posted_iso: offer.published_at.as_ref().map(timestamp::format).unwrap_or_default(),
    }
}
