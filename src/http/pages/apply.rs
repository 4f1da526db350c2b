//! `POST /jobs/{company_slug}/{offer_id}/apply`: the hosted apply form (CONTRACT §13).
//!
//! This door only reads its wire format (the streamed multipart reader shared with the API) and renders its
//! answers: post/redirect/get to the thank-you page, or the form again (400) with the candidate's text values
//! and one message per field, in the page's language. What is refused is decided by the intake's checks and
//! pipeline, the same as `POST /api/job_applications` (§6). The form adds two rules of its own: the consent
//! checkbox, and the honeypot (filled → the thank-you page, nothing created).

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::i18n::Texts;
use super::offer::{
    FormErrors, FormValues, OfferLookup, closed_page, find_offer, form_view, offer_response, size_limit,
};
use super::response::{Message, message_page, not_found_page, query_value, server_error_page};
use super::views::PageContext;
use crate::cv::{CvRejection, detect_cv_format};
use crate::db::companies::Company;
use crate::db::job_offers::JobOffer;
use crate::domain::candidate::CandidateEmail;
use crate::http::AppState;
use crate::http::application_form::{
    ApplicationForm, ContentTypeCheck, FormError, check_content_type, read_form_fields,
};
use crate::service::intake::{IntakeError, Outcome, SpooledCv, Submission};

/// CONTRACT §13: `source` when the page's URL has no `utm_source`.
pub const DEFAULT_FORM_SOURCE: &str = "job_link";
const CONSENT_FIELD: &str = "consent";
/// Hidden from people by the stylesheet; robots that fill every field fill it.
const HONEYPOT_FIELD: &str = "website";
const MAX_SOURCE_CHARS: usize = 100;

pub async fn submit_application(
    State(state): State<AppState>,
    Path((slug, offer_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let requested_lang = query_value(query.as_deref(), "lang");
    let utm_source = query_value(query.as_deref(), "utm_source");
    let (company, offer) = match find_offer(&state.db, &slug, &offer_id).await {
        Ok(OfferLookup::Open(company, offer)) => (company, offer),
        Ok(OfferLookup::Closed(company, offer)) => {
            let ctx = PageContext::new(&state, requested_lang.as_deref(), Some(&company));
            return closed_page(&ctx, &company, &offer);
        }
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
    let door = FormDoor { ctx: &ctx, state: &state, company: &company, offer: &offer, utm_source: utm_source.clone() };

    let ContentTypeCheck::Multipart(boundary) = check_content_type(request.headers()) else {
        return door.refused(
            FormValues::default(),
            FormErrors { form: Some(t.msg_form_unreadable.into()), ..FormErrors::default() },
        );
    };
    let read = read_form_fields(
        request.into_body(),
        boundary,
        state.max_cv_bytes,
        &state.spool_dir,
        &[CONSENT_FIELD, HONEYPOT_FIELD],
    )
    .await;
    let mut form = match read {
        Ok(form) => form,
        Err(FormError::Invalid) => {
            return door.refused(
                FormValues::default(),
                FormErrors { form: Some(t.msg_form_unreadable.into()), ..FormErrors::default() },
            );
        }
        Err(FormError::CvTooLarge) => {
            return door
                .refused(FormValues::default(), FormErrors { cv: Some(door.cv_too_large()), ..FormErrors::default() });
        }
        Err(FormError::FieldTooLong(field)) => {
            let mut errors = FormErrors::default();
            errors.set(field, t.msg_too_long.into(), t);
            return door.refused(FormValues::default(), errors);
        }
        Err(FormError::BodyTooLarge) => {
            return message_page(
                &ctx,
                Some(&company),
                "",
                Message {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    heading: t.bad_request_title,
                    subject: None,
                    body: t.msg_form_unreadable,
                    extra: None,
                    link_to_list: true,
                },
            );
        }
        Err(FormError::Spool(error)) => {
            return server_error_page(&ctx, Some(&company), "", anyhow::Error::new(error).context("spooling a CV"));
        }
    };
    let values = kept_values(&form);

    // CONTRACT §13: a filled honeypot gets the thank-you page and nothing is created.
    if form.text(HONEYPOT_FIELD).is_some() {
        tracing::info!(job_offer_id = %offer.id, "honeypot filled; nothing created");
        return door.see_thank_you(false);
    }

    let cv = form.cv.take();
    let mut errors = FormErrors::default();
    if form.text("first_name").is_none() {
        errors.first_name = Some(t.msg_first_name_required.into());
    }
    if form.text("last_name").is_none() {
        errors.last_name = Some(t.msg_last_name_required.into());
    }
    let email = match form.text("email") {
        None => {
            errors.email = Some(t.msg_email_required.into());
            None
        }
        Some(raw) => {
            let parsed = CandidateEmail::parse(raw);
            if parsed.is_none() {
                errors.email = Some(t.msg_email_invalid.into());
            }
            parsed
        }
    };
    let cv = match cv {
        None => {
            errors.cv = Some(t.msg_cv_required.into());
            None
        }
        Some(cv) if cv.too_large => {
            errors.cv = Some(door.cv_too_large());
            None
        }
        Some(cv) if cv.size == 0 => {
            errors.cv = Some(t.msg_cv_empty.into());
            None
        }
        Some(cv) => {
            let cv_path = cv.file.to_path_buf();
            match tokio::task::spawn_blocking(move || detect_cv_format(&cv_path)).await {
                Ok(Ok(format)) => Some(SpooledCv { file: cv.file, format, size_bytes: cv.size }),
                Ok(Err(CvRejection::Io(error))) => {
                    return server_error_page(
                        &ctx,
                        Some(&company),
                        "",
                        anyhow::Error::new(error).context("reading a spooled CV"),
                    );
                }
                Ok(Err(CvRejection::Empty)) => {
                    errors.cv = Some(t.msg_cv_empty.into());
                    None
                }
                Ok(Err(CvRejection::Unsupported)) => {
                    errors.cv = Some(t.msg_cv_format.into());
                    None
                }
                Err(join_error) => {
                    return server_error_page(
                        &ctx,
                        Some(&company),
                        "",
                        anyhow::anyhow!("CV format detection failed: {join_error}"),
                    );
                }
            }
        }
    };
    if let Some(field) = form.first_too_long() {
        errors.set(field, t.msg_too_long.into(), t);
    }
    if form.text(CONSENT_FIELD).is_none() {
        errors.consent = Some(t.msg_consent_required.into());
    }
    let (Some(email), Some(cv), true) = (email, cv, errors.is_empty()) else {
        return door.refused(values, errors);
    };

    let optional = |name: &str| form.text(name).map(str::to_owned);
    let submission = Submission {
        offer: offer.clone(),
        email,
        first_name: form.text("first_name").unwrap_or_default().to_owned(),
        last_name: form.text("last_name").unwrap_or_default().to_owned(),
        phone: optional("phone"),
        linkedin_url: optional("linkedin_url"),
        cover_letter: form.fields.get("cover_letter").map(|f| f.value.clone()).unwrap_or_default(),
        source: form_source(utm_source.as_deref()),
        cv,
    };
    // As the API: the pipeline runs in its own task, so a candidate who closes the tab does not cut it halfway.
    let intake = state.intake.clone();
    let outcome = state.intake_tasks.spawn(async move { intake.submit(submission).await }).await;
    match outcome {
        Ok(Ok(Outcome::Created(_))) => door.see_thank_you(false),
        Ok(Ok(Outcome::AlreadyExists(_))) => door.see_thank_you(true),
        Ok(Err(IntakeError::StillProcessing)) => {
            let mut response = message_page(
                &ctx,
                Some(&company),
                "",
                Message {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    heading: t.server_error_title,
                    subject: None,
                    body: t.server_error_body,
                    extra: None,
                    link_to_list: false,
                },
            );
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
        Ok(Err(error)) => server_error_page(&ctx, Some(&company), "", anyhow::Error::new(error)),
        Err(join_error) => {
            server_error_page(&ctx, Some(&company), "", anyhow::anyhow!("the intake task failed: {join_error}"))
        }
    }
}

/// CONTRACT §13: the page's `utm_source`, else `job_link`. Control characters are dropped and the length
/// bounded: the value is stored and shown to recruiters.
pub fn form_source(utm_source: Option<&str>) -> String {
    let cleaned: String = utm_source.unwrap_or("").chars().filter(|c| !c.is_control()).take(MAX_SOURCE_CHARS).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() { DEFAULT_FORM_SOURCE.to_owned() } else { cleaned.to_owned() }
}

/// The text values to show again after a refusal (never the file: browsers cannot prefill one).
fn kept_values(form: &ApplicationForm) -> FormValues {
    let value = |name: &str| form.fields.get(name).map(|f| f.value.clone()).unwrap_or_default();
    FormValues {
        first_name: value("first_name"),
        last_name: value("last_name"),
        email: value("email"),
        phone: value("phone"),
        linkedin_url: value("linkedin_url"),
        cover_letter: value("cover_letter"),
        consent: form.text(CONSENT_FIELD).is_some(),
    }
}

impl FormErrors {
    fn is_empty(&self) -> bool {
        [
            &self.first_name,
            &self.last_name,
            &self.email,
            &self.phone,
            &self.linkedin_url,
            &self.cover_letter,
            &self.cv,
            &self.consent,
            &self.form,
        ]
        .iter()
        .all(|e| e.is_none())
    }

    /// The message for the field the multipart reader or the intake named.
    fn set(&mut self, field: &str, message: String, t: &Texts) {
        let slot = match field {
            "first_name" => &mut self.first_name,
            "last_name" => &mut self.last_name,
            "email" => &mut self.email,
            "phone" => &mut self.phone,
            "linkedin_url" => &mut self.linkedin_url,
            "cover_letter" => &mut self.cover_letter,
            "cv" => &mut self.cv,
            CONSENT_FIELD => &mut self.consent,
            _ => {
                self.form = Some(t.msg_form_unreadable.to_owned());
                return;
            }
        };
        *slot = Some(message);
    }
}

/// One request's offer and page, for its answers.
struct FormDoor<'a> {
    ctx: &'a PageContext,
    state: &'a AppState,
    company: &'a Company,
    offer: &'a JobOffer,
    utm_source: Option<String>,
}

impl FormDoor<'_> {
    /// 400: the offer page again, its form holding the candidate's values and the messages.
    fn refused(&self, values: FormValues, errors: FormErrors) -> Response {
        let form = form_view(self.ctx, self.state, self.company, self.offer, self.utm_source.clone(), values, errors);
        offer_response(self.ctx, self.company, self.offer, form, StatusCode::BAD_REQUEST)
    }

    fn cv_too_large(&self) -> String {
        format!("{} {}", self.ctx.t().msg_cv_too_large, size_limit(self.state.max_cv_bytes, self.ctx.lang))
    }

    /// Post/redirect/get: 303 to the thank-you page.
    fn see_thank_you(&self, existing: bool) -> Response {
        let mut location = self.ctx.link(&format!("/{}/{}/applied", self.company.slug, self.offer.id));
        if existing {
            location.push(if location.contains('?') { '&' } else { '?' });
            location.push_str("existing=1");
        }
        match HeaderValue::from_str(&location) {
            Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
            Err(error) => server_error_page(self.ctx, Some(self.company), "", anyhow::anyhow!("bad redirect: {error}")),
        }
    }
}

/// Around the form's POST, outside the §3 limiter: a refused request gets the 429 page (with the limiter's
/// `Retry-After` and `X-RateLimit-*` headers) instead of the API's JSON, and no form.
pub async fn too_many_requests_page(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let query = request.uri().query().map(str::to_owned);
    // …/{slug}/{offer_id}/apply
    let slug = request.uri().path().rsplit('/').nth(2).unwrap_or("").to_owned();
    let response = next.run(request).await;
    if response.status() != StatusCode::TOO_MANY_REQUESTS {
        return response;
    }
    let requested_lang = query_value(query.as_deref(), "lang");
    let company = crate::db::companies::find_by_slug(&state.db, &slug).await.ok().flatten();
    let ctx = PageContext::new(&state, requested_lang.as_deref(), company.as_ref());
    let t = ctx.t();
    let mut page = message_page(
        &ctx,
        company.as_ref(),
        "",
        Message {
            status: StatusCode::TOO_MANY_REQUESTS,
            heading: t.too_many_title,
            subject: None,
            body: t.too_many_body,
            extra: None,
            link_to_list: true,
        },
    );
    for (name, value) in response.headers() {
        let name_str = name.as_str();
        if name == header::RETRY_AFTER || name_str.starts_with("x-ratelimit-") {
            page.headers_mut().insert(name.clone(), value.clone());
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::form_source;

    #[test]
    fn source_is_utm_source_else_job_link() {
        assert_eq!(form_source(Some("linkedin")), "linkedin");
        assert_eq!(form_source(Some("  ")), "job_link");
        assert_eq!(form_source(None), "job_link");
        assert_eq!(form_source(Some("a\u{0}b")), "ab");
        assert_eq!(form_source(Some(&"x".repeat(500))).len(), 100);
    }
}
