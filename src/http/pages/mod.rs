//! The HTML edge: hosted job pages and the apply form (CONTRACT §13), beside the JSON edge of `/api`.
//!
//! Everything here answers HTML (or XML, CSS, an image), never the JSON envelope of §1: unknown paths under
//! `/jobs` get the 404 page, a wrong method a 405 page. The layers around these routes, outermost first:
//! security headers + `ETag`/304 ([`response::page_headers`]) → handler; the apply form's POST adds the
//! §3 rate limiter and the §8 API log, with a refused request shown as the 429 page.
//!
//! Templates live in `templates/pages/` and are checked at compile time (askama); the stylesheet is
//! `static/pages.css`, served from the same origin.

mod apply;
mod assets;
mod feeds;
pub mod i18n;
pub mod json_ld;
mod listing;
pub mod markdown;
mod offer;
mod response;
pub mod urls;
mod views;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use super::AppState;
use super::{api_log, rate_limit};

/// Routes relative to `/jobs`.
pub fn router(state: AppState) -> Router<AppState> {
    let apply = post(apply::submit_application)
        .layer(middleware::from_fn_with_state(state.clone(), api_log::record_request))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit::limit_by_client_ip))
        .layer(middleware::from_fn_with_state(state.clone(), apply::too_many_requests_page));
    Router::new()
        .route("/_assets/pages.css", get(assets::stylesheet))
        .route("/_assets/accent/{file}", get(assets::accent_stylesheet))
        .route("/{slug}", get(listing::company_page))
        .route("/{slug}/sitemap.xml", get(feeds::sitemap))
        .route("/{slug}/feed.xml", get(feeds::job_feed))
        .route("/{slug}/logo", get(assets::logo))
        .route("/{slug}/{offer_id}", get(offer::offer_page))
        .route("/{slug}/{offer_id}/applied", get(offer::applied_page))
        .route("/{slug}/{offer_id}/apply", apply)
        .fallback(response::not_found_fallback)
        .method_not_allowed_fallback(response::method_not_allowed)
        .layer(middleware::from_fn(response::page_headers))
}
