//! How a page leaves: `text/html` with the headers of CONTRACT §13 (CSP without inline script,
//! `frame-ancestors` from the company's embed origins, `nosniff`, the referrer policy), `ETag` and 304 for GETs,
//! and the 404 / 405 / 410 / 429 / 500 pages.

use askama::Template;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::i18n::Lang;
use super::views::{Chrome, MessagePage, PageContext};
use crate::db::companies::Company;

static CSP: HeaderName = HeaderName::from_static("content-security-policy");
static ROBOTS: HeaderName = HeaderName::from_static("x-robots-tag");
/// Pages are at most a few tens of KB; a larger body is not buffered for its ETag.
const MAX_ETAG_BODY: usize = 4 * 1024 * 1024;

/// The origins a page may be framed by, set by a handler for the middleware to write into the CSP.
#[derive(Clone, Default)]
pub struct FrameAncestors(pub Vec<String>);

/// CONTRACT §13: no inline script (no script at all), nothing from another origin, framed only by the
/// company's own origins.
pub fn content_security_policy(embed_origins: &[String]) -> String {
    let mut policy = String::from(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'self'",
    );
    for origin in embed_origins {
        policy.push(' ');
        policy.push_str(origin);
    }
    policy
}

/// A rendered page and how it must be answered.
pub struct Page {
    pub status: StatusCode,
    pub html: String,
    pub frame_ancestors: Vec<String>,
    pub noindex: bool,
}

impl Page {
    pub fn ok(html: String, company: Option<&Company>) -> Self {
        Page::with_status(StatusCode::OK, html, company)
    }

    pub fn with_status(status: StatusCode, html: String, company: Option<&Company>) -> Self {
        Page {
            status,
            html,
            frame_ancestors: company.map(|c| c.embed_origins.clone()).unwrap_or_default(),
            noindex: false,
        }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.html).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        if self.noindex {
            headers.insert(ROBOTS.clone(), HeaderValue::from_static("noindex"));
        }
        response.extensions_mut().insert(FrameAncestors(self.frame_ancestors));
        response
    }
}

/// A template failed to render (it cannot, short of a bug): answered with a plain 500 page.
pub struct RenderFailed;

/// Renders a template.
pub fn render(template: &impl Template) -> Result<String, RenderFailed> {
    template.render().map_err(|error| {
        tracing::error!(%error, "rendering a page failed");
        RenderFailed
    })
}

impl IntoResponse for RenderFailed {
    fn into_response(self) -> Response {
        plain_server_error()
    }
}

fn plain_server_error() -> Response {
    let html = "<!DOCTYPE html><html lang=\"en\"><meta charset=\"utf-8\"><title>Error</title>\
                <h1>Something went wrong</h1><p>Please retry in a few minutes.</p></html>";
    Page::with_status(StatusCode::INTERNAL_SERVER_ERROR, html.to_owned(), None).into_response()
}

/// A message page: 404, 410, 429, 500 or 400.
pub struct Message<'a> {
    pub status: StatusCode,
    pub heading: &'a str,
    pub subject: Option<String>,
    pub body: &'a str,
    pub extra: Option<String>,
    /// Back to the company's list, when there is a company.
    pub link_to_list: bool,
}

pub fn message_page(ctx: &PageContext, company: Option<&Company>, path: &str, message: Message<'_>) -> Response {
    let title = match company {
        Some(c) => format!("{} – {}", message.heading, c.name),
        None => message.heading.to_owned(),
    };
    let noindex = message.status != StatusCode::OK;
    let mut chrome = Chrome::new(ctx, company, title, path);
    if noindex {
        chrome = chrome.noindex();
    }
    let page = MessagePage {
        chrome,
        heading: message.heading.to_owned(),
        subject: message.subject,
        body: message.body.to_owned(),
        extra: message.extra,
        link_url: company.filter(|_| message.link_to_list).map(|c| ctx.link(&format!("/{}", c.slug))),
        link_label: ctx.t().see_open_positions,
    };
    match render(&page) {
        Ok(html) => {
            let mut page = Page::with_status(message.status, html, company);
            page.noindex = noindex;
            page.into_response()
        }
        Err(failed) => failed.into_response(),
    }
}

pub fn not_found_page(ctx: &PageContext, company: Option<&Company>, path: &str) -> Response {
    let t = ctx.t();
    message_page(
        ctx,
        company,
        path,
        Message {
            status: StatusCode::NOT_FOUND,
            heading: t.not_found_title,
            subject: None,
            body: t.not_found_body,
            extra: None,
            link_to_list: true,
        },
    )
}

/// A failure of ours: the cause goes to the log, the candidate reads that nothing was saved.
pub fn server_error_page(ctx: &PageContext, company: Option<&Company>, path: &str, cause: anyhow::Error) -> Response {
    tracing::error!(error = format!("{cause:#}"), "a hosted page failed");
    let t = ctx.t();
    message_page(
        ctx,
        company,
        path,
        Message {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            heading: t.server_error_title,
            subject: None,
            body: t.server_error_body,
            extra: None,
            link_to_list: false,
        },
    )
}

/// Unknown paths under `/jobs`: the 404 page, in French unless `?lang=en` (there is no company to ask).
pub async fn not_found_fallback(state: axum::extract::State<crate::http::AppState>, request: Request) -> Response {
    let lang = lang_of_query(request.uri().query());
    let ctx = PageContext::new(&state, lang.map(Lang::code), None);
    not_found_page(&ctx, None, "")
}

pub async fn method_not_allowed(state: axum::extract::State<crate::http::AppState>, request: Request) -> Response {
    let lang = lang_of_query(request.uri().query());
    let ctx = PageContext::new(&state, lang.map(Lang::code), None);
    let t = ctx.t();
    message_page(
        &ctx,
        None,
        "",
        Message {
            status: StatusCode::METHOD_NOT_ALLOWED,
            heading: t.bad_request_title,
            subject: None,
            body: t.not_found_body,
            extra: None,
            link_to_list: false,
        },
    )
}

pub fn lang_of_query(query: Option<&str>) -> Option<Lang> {
    query_value(query, "lang").and_then(|v| Lang::parse(&v))
}

/// The first value of a query parameter.
pub fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes()).find(|(n, _)| n == name).map(|(_, v)| v.into_owned())
}

/// Around every route under `/jobs`: the §13 headers on every answer, and `ETag` / 304 on successful GETs.
pub async fn page_headers(request: Request, next: Next) -> Response {
    let conditional = matches!(*request.method(), Method::GET | Method::HEAD)
        .then(|| request.headers().get(header::IF_NONE_MATCH).cloned())
        .flatten();
    let is_get = matches!(*request.method(), Method::GET | Method::HEAD);
    let mut response = next.run(request).await;

    let frame_ancestors = response.extensions_mut().remove::<FrameAncestors>().unwrap_or_default();
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy(&frame_ancestors.0)) {
        headers.insert(CSP.clone(), policy);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages change when offers do: always revalidate, cheaply, with the ETag.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }

    if !is_get || response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_ETAG_BODY).await {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(%error, "reading a page's body for its ETag failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let etag = format!("\"{}\"", hex(&Sha256::digest(&bytes)[..16]));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        parts.headers.insert(header::ETAG, value);
    }
    if conditional.as_ref().is_some_and(|value| etag_matches(value, &etag)) {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// `If-None-Match`: a list of tags (weak ones compared weakly) or `*`.
fn etag_matches(if_none_match: &HeaderValue, etag: &str) -> bool {
    let Ok(value) = if_none_match.to_str() else { return false };
    value.split(',').map(str::trim).any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_lists_embed_origins_after_self() {
        let policy = content_security_policy(&["https://careers.acme.com".to_owned()]);
        assert!(policy.ends_with("frame-ancestors 'self' https://careers.acme.com"), "{policy}");
        assert!(!policy.contains("unsafe-inline") && !policy.contains("script-src"), "{policy}");
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let tag = "\"abc\"";
        assert!(etag_matches(&HeaderValue::from_static("\"x\", \"abc\""), tag));
        assert!(etag_matches(&HeaderValue::from_static("W/\"abc\""), tag));
        assert!(etag_matches(&HeaderValue::from_static("*"), tag));
        assert!(!etag_matches(&HeaderValue::from_static("\"abd\""), tag));
    }
}
