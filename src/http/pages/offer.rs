//! `GET /jobs/{company_slug}/{offer_id}` (the offer and its apply form) and `GET …/applied` (the thank-you
//! page), CONTRACT §13.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::i18n::Lang;
use super::json_ld::{JobPostingLinks, job_posting, script_text};
use super::markdown::render_description;
use super::response::{Message, Page, message_page, not_found_page, query_value, render, server_error_page};
use super::urls::{jobs_url, offer_url};
use super::views::{AppliedPage, Chrome, FieldView, FormView, OfferPage, PageContext, Problem};
use crate::db;
use crate::db::companies::Company;
use crate::db::job_offers::JobOffer;
use crate::domain::strict_uuid::parse_strict_uuid;
use crate::domain::timestamp;
use crate::http::AppState;

/// The offer behind a page's URL, as the pages see it.
pub enum OfferLookup {
    /// `open` or `active`: the page, with its form.
    Open(Company, JobOffer),
    /// Any other status but `draft`: the 410 page.
    Closed(Company, JobOffer),
    /// Unknown company, unknown offer, another company's offer, or a draft: the 404 page.
    NotFound(Option<Company>),
}

/// CONTRACT §13: a draft, another company's offer or an unknown one → 404; not open/active → 410.
pub async fn find_offer(db: &sqlx::PgPool, slug: &str, raw_offer_id: &str) -> sqlx::Result<OfferLookup> {
    let Some(company) = db::companies::find_by_slug(db, slug).await? else {
        return Ok(OfferLookup::NotFound(None));
    };
    let Some(offer_id) = parse_strict_uuid(raw_offer_id) else {
        return Ok(OfferLookup::NotFound(Some(company)));
    };
    let offer = match db::job_offers::find(db, offer_id).await? {
        Some(offer) if offer.company_id == company.id && offer.status != "draft" => offer,
        _ => return Ok(OfferLookup::NotFound(Some(company))),
    };
    Ok(if matches!(offer.status.as_str(), "open" | "active") {
        OfferLookup::Open(company, offer)
    } else {
        OfferLookup::Closed(company, offer)
    })
}

pub async fn offer_page(
    State(state): State<AppState>,
    Path((slug, offer_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let requested_lang = query_value(query.as_deref(), "lang");
    let lookup = find_offer(&state.db, &slug, &offer_id).await;
    let company = match &lookup {
        Ok(OfferLookup::Open(c, _) | OfferLookup::Closed(c, _) | OfferLookup::NotFound(Some(c))) => Some(c),
        _ => None,
    };
    let ctx = PageContext::new(&state, requested_lang.as_deref(), company);
    match lookup {
        Ok(OfferLookup::Open(company, offer)) => {
            let form = empty_form(&ctx, &state, &company, &offer, query_value(query.as_deref(), "utm_source"));
            offer_response(&ctx, &company, &offer, form, StatusCode::OK)
        }
        Ok(OfferLookup::Closed(company, offer)) => closed_page(&ctx, &company, &offer),
        Ok(OfferLookup::NotFound(company)) => not_found_page(&ctx, company.as_ref(), ""),
        Err(error) => server_error_page(&ctx, None, "", error.into()),
    }
}

/// The offer page, with `form` as it must be shown (empty, or refused with the candidate's values).
pub fn offer_response(
    ctx: &PageContext,
    company: &Company,
    offer: &JobOffer,
    form: FormView,
    status: StatusCode,
) -> Response {
    let t = ctx.t();
    let path = format!("/{}/{}", company.slug, offer.id);
    let description = render_description(&offer.description);
    let offer_url = offer_url(&ctx.base_url, &company.slug, offer.id);
    let company_url = jobs_url(&ctx.base_url, &company.slug);
    let logo_url = company.logo_version.as_deref().map(|v| format!("{company_url}/logo?v={v}"));
    let posting: Value = job_posting(
        company,
        offer,
        &description,
        &JobPostingLinks { offer_url: &offer_url, company_url: &company_url, logo_url: logo_url.as_deref() },
    );
    let title = if form.problems.is_empty() {
        format!("{} – {}", offer.title, company.name)
    } else {
        format!("{} {} – {}", t.error_prefix, offer.title, company.name)
    };
    let mut chrome = Chrome::new(ctx, Some(company), title, &path);
    chrome.canonical = Some(offer_url);
    let view = OfferPage {
        chrome,
        json_ld: script_text(&posting),
        list_url: ctx.link(&format!("/{}", company.slug)),
        title: offer.title.clone(),
        location: offer.location.clone().filter(|l| !l.trim().is_empty()),
        job_type: offer.job_type.clone().filter(|j| !j.trim().is_empty()),
        posted_label: offer.published_at.as_ref().map(|at| ctx.lang.date(at)),
        posted_iso: offer.published_at.as_ref().map(timestamp::format).unwrap_or_default(),
        description,
        form,
    };
    match render(&view) {
        Ok(html) => Page::with_status(status, html, Some(company)).into_response(),
        Err(failed) => failed.into_response(),
    }
}

/// CONTRACT §13: 410, no form, no JSON-LD, `noindex`.
pub fn closed_page(ctx: &PageContext, company: &Company, offer: &JobOffer) -> Response {
    let t = ctx.t();
    message_page(
        ctx,
        Some(company),
        &format!("/{}/{}", company.slug, offer.id),
        Message {
            status: StatusCode::GONE,
            heading: t.closed_title,
            subject: Some(offer.title.clone()),
            body: t.closed_body,
            extra: None,
            link_to_list: true,
        },
    )
}

/// The values the form starts with, or comes back with after a refusal.
#[derive(Debug, Default, Clone)]
pub struct FormValues {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub linkedin_url: String,
    pub cover_letter: String,
    pub consent: bool,
}

/// Messages per field, in the page's language; `form` is for what no field explains.
#[derive(Debug, Default, Clone)]
pub struct FormErrors {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub linkedin_url: Option<String>,
    pub cover_letter: Option<String>,
    pub cv: Option<String>,
    pub consent: Option<String>,
    pub form: Option<String>,
}

pub fn empty_form(
    ctx: &PageContext,
    state: &AppState,
    company: &Company,
    offer: &JobOffer,
    utm_source: Option<String>,
) -> FormView {
    form_view(ctx, state, company, offer, utm_source, FormValues::default(), FormErrors::default())
}

/// The form's fields in page order, with values kept and each message tied to its field.
pub fn form_view(
    ctx: &PageContext,
    state: &AppState,
    company: &Company,
    offer: &JobOffer,
    utm_source: Option<String>,
    values: FormValues,
    errors: FormErrors,
) -> FormView {
    let t = ctx.t();
    let mut action = form_urlencoded::Serializer::new(String::new());
    if let Some(source) = utm_source.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        action.append_pair("utm_source", source);
    }
    let action = action.finish();
    let path = format!("/{}/{}/apply", company.slug, offer.id);
    let action = if action.is_empty() { ctx.link(&path) } else { ctx.link(&format!("{path}?{action}")) };

    let field = |name, label, input_type, autocomplete, value: String, error: &Option<String>| FieldView {
        name,
        label,
        input_type,
        autocomplete,
        value,
        error: error.clone(),
    };
    let names = vec![
        field("first_name", t.first_name, "text", "given-name", values.first_name, &errors.first_name),
        field("last_name", t.last_name, "text", "family-name", values.last_name, &errors.last_name),
        field("email", t.email, "email", "email", values.email, &errors.email),
    ];
    let optional = vec![
        field("phone", t.phone, "tel", "tel", values.phone, &errors.phone),
        field("linkedin_url", t.linkedin_url, "url", "url", values.linkedin_url, &errors.linkedin_url),
        field("cover_letter", t.cover_letter, "textarea", "off", values.cover_letter, &errors.cover_letter),
    ];
    let mut problems = Vec::new();
    if let Some(message) = &errors.form {
        problems.push(Problem { anchor: "apply", message: message.clone() });
    }
    for view in names.iter().chain(optional.iter()) {
        if let Some(message) = &view.error {
            problems.push(Problem { anchor: view.name, message: message.clone() });
        }
    }
    if let Some(message) = &errors.cv {
        problems.push(Problem { anchor: "cv", message: message.clone() });
    }
    if let Some(message) = &errors.consent {
        problems.push(Problem { anchor: "consent", message: message.clone() });
    }
    FormView {
        action,
        names,
        optional,
        cv_hint: format!("{}, {}", t.cv_hint, size_limit(state.intake.max_cv_bytes(), ctx.lang)),
        cv_error: errors.cv,
        consent_checked: values.consent,
        consent_error: errors.consent,
        problems,
    }
}

/// `10 Mo max.` / `10 MB max.` (MiB, as `MAX_CV_BYTES` counts them).
pub fn size_limit(bytes: u64, lang: Lang) -> String {
    let megabytes = bytes as f64 / (1024.0 * 1024.0);
    let number = if (megabytes - megabytes.round()).abs() < 0.05 {
        format!("{}", megabytes.round() as u64)
    } else {
        format!("{megabytes:.1}")
    };
    match lang {
        Lang::Fr => format!("{} Mo max.", number.replace('.', ",")),
        Lang::En => format!("{number} MB max."),
    }
}

/// The thank-you page; `?existing=1` when the candidate had already applied (CONTRACT §13).
pub async fn applied_page(
    State(state): State<AppState>,
    Path((slug, offer_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let requested_lang = query_value(query.as_deref(), "lang");
    let lookup = find_offer(&state.db, &slug, &offer_id).await;
    let (company, offer) = match lookup {
        Ok(OfferLookup::Open(company, offer) | OfferLookup::Closed(company, offer)) => (company, offer),
        Ok(OfferLookup::NotFound(company)) => {
            let ctx = PageContext::new(&state, requested_lang.as_deref(), company.as_ref());
            return not_found_page(&ctx, company.as_ref(), "");
        }
        Err(error) => {
            let ctx = PageContext::new(&state, requested_lang.as_deref(), None);
            return server_error_page(&ctx, None, "", error.into());
        }
    };
    let ctx = PageContext::new(&state, requested_lang.as_deref(), Some(&company));
    let t = ctx.t();
    let path = format!("/{}/{}/applied", company.slug, offer.id);
    let offer_title = match ctx.lang {
        Lang::Fr => format!("«\u{a0}{}\u{a0}»", offer.title),
        Lang::En => format!("“{}”", offer.title),
    };
    let view = AppliedPage {
        chrome: Chrome::new(&ctx, Some(&company), format!("{} – {}", t.applied_title, company.name), &path).noindex(),
        offer_title,
        existing: query_value(query.as_deref(), "existing").is_some_and(|v| v == "1"),
        list_url: ctx.link(&format!("/{}", company.slug)),
    };
    match render(&view) {
        Ok(html) => {
            let mut page = Page::ok(html, Some(&company));
            page.noindex = true;
            page.into_response()
        }
        Err(failed) => failed.into_response(),
    }
}
