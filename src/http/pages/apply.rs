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

use super::offer::{
    FormErrors, FormValues, OfferLookup, closed_page, find_offer, form_view, offer_response, size_limit,
};
use super::response::{Message, message_page, not_found_page, query_value, server_error_page};
use super::views::PageContext;
use crate::db::companies::Company;
use crate::db::job_offers::JobOffer;
use crate::http::AppState;
use crate::http::application_form::{ContentTypeCheck, FormError, check_content_type, read_form_fields};
use crate::service::intake::{ApplicationFields, Door, Field, IntakeError, NewSubmission, Outcome, Refusal, TextValue};

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
    let unreadable = || FormErrors { form: Some(t.msg_form_unreadable.into()), ..FormErrors::default() };

    let ContentTypeCheck::Multipart(boundary) = check_content_type(request.headers()) else {
        return door.refused(FormValues::default(), unreadable());
    };
    let intake = &state.intake;
    let read = read_form_fields(
        request.into_body(),
        boundary,
        intake.max_cv_bytes(),
        intake.spool_dir(),
        &[CONSENT_FIELD, HONEYPOT_FIELD],
    )
    .await;
    let (mut fields, extras) = match read {
        Ok(read) => read,
        Err(FormError::Invalid) => return door.refused(FormValues::default(), unreadable()),
        Err(FormError::CvTooLarge) => {
            let refusal = Refusal::CvTooLarge { max_bytes: intake.max_cv_bytes() };
            return door.refused(FormValues::default(), door.errors_for(&[refusal], true));
        }
        Err(FormError::FieldTooLong(field)) => {
            return door.refused(FormValues::default(), door.errors_for(&[Refusal::TooLong(field)], true));
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
    let extra =
        |name: &str| extras.iter().find(|(n, _)| *n == name).map(|(_, v)| v.value.trim()).filter(|v| !v.is_empty());
    // CONTRACT §13: a filled honeypot gets the thank-you page and nothing is created.
    if extra(HONEYPOT_FIELD).is_some() {
        tracing::info!(job_offer_id = %offer.id, "honeypot filled; nothing created");
        return door.see_thank_you(false);
    }
    let consent = extra(CONSENT_FIELD).is_some();
    let values = kept_values(&fields, consent);

    // The offer is the one of the URL; the form does not post it.
    fields.text.retain(|(field, _)| *field != Field::JobOfferId);
    fields.text.push((Field::JobOfferId, TextValue { value: offer.id.to_string(), too_long: false }));
    // CONTRACT §13: the same checks as the API (§6), every refusal shown at once, in the page's language.
    let checked = match intake.check_application(company.id, fields).await {
        Ok(checked) => checked,
        Err(error) => return door.intake_failed(error),
    };
    let refusals = match &checked {
        Ok(_) => Vec::new(),
        Err(refusals) => refusals.clone(),
    };
    if refusals.iter().any(|r| matches!(r, Refusal::OfferNotFound | Refusal::OfferOfAnotherCompany)) {
        return not_found_page(&ctx, Some(&company), "");
    }
    if refusals.contains(&Refusal::OfferNotOpen) {
        return closed_page(&ctx, &company, &offer);
    }
    let errors = door.errors_for(&refusals, consent);
    let (Ok(checked), true) = (checked, errors.is_empty()) else {
        return door.refused(values, errors);
    };

    let submission = NewSubmission::from_checked(Door::ApplyForm, checked, form_source(utm_source.as_deref()));
    match intake.submit(submission).await {
        Ok(Outcome::Created(_)) => door.see_thank_you(false),
        Ok(Outcome::AlreadyExists(_)) => door.see_thank_you(true),
        // The offer closed between the check and the processing.
        Ok(Outcome::Failed(_)) => closed_page(&ctx, &company, &offer),
        Err(error) => door.intake_failed(error),
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
fn kept_values(fields: &ApplicationFields, consent: bool) -> FormValues {
    let value =
        |field: Field| fields.text.iter().find(|(f, _)| *f == field).map(|(_, v)| v.value.clone()).unwrap_or_default();
    FormValues {
        first_name: value(Field::FirstName),
        last_name: value(Field::LastName),
        email: value(Field::Email),
        phone: value(Field::Phone),
        linkedin_url: value(Field::LinkedinUrl),
        cover_letter: value(Field::CoverLetter),
        consent,
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

    /// Ties `message` to `field`, keeping the first message a field got.
    fn tie(&mut self, field: Field, message: String) {
        let slot = match field {
            Field::FirstName => &mut self.first_name,
            Field::LastName => &mut self.last_name,
            Field::Email => &mut self.email,
            Field::Phone => &mut self.phone,
            Field::LinkedinUrl => &mut self.linkedin_url,
            Field::CoverLetter => &mut self.cover_letter,
            Field::Cv => &mut self.cv,
            Field::JobOfferId => &mut self.form,
        };
        slot.get_or_insert(message);
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

    /// The intake's refusals (CONTRACT §6) in the page's language, each tied to its field, and the form's own
    /// rule: the consent box.
    fn errors_for(&self, refusals: &[Refusal], consent: bool) -> FormErrors {
        let t = self.ctx.t();
        let mut errors = FormErrors::default();
        for refusal in refusals {
            let (field, message) = match refusal {
                Refusal::Missing(Field::FirstName) => (Field::FirstName, t.msg_first_name_required.to_owned()),
                Refusal::Missing(Field::LastName) => (Field::LastName, t.msg_last_name_required.to_owned()),
                Refusal::Missing(Field::Email) => (Field::Email, t.msg_email_required.to_owned()),
                Refusal::Missing(Field::Cv) => (Field::Cv, t.msg_cv_required.to_owned()),
                Refusal::Missing(_) | Refusal::MalformedJobOfferId => {
                    (Field::JobOfferId, t.msg_form_unreadable.to_owned())
                }
                Refusal::EmailInvalid => (Field::Email, t.msg_email_invalid.to_owned()),
                // A browser sends an empty `cv` part when no file was chosen: ask for the file.
                Refusal::CvEmpty => (Field::Cv, t.msg_cv_required.to_owned()),
                Refusal::CvTooLarge { max_bytes } => {
                    (Field::Cv, format!("{} {}", t.msg_cv_too_large, size_limit(*max_bytes, self.ctx.lang)))
                }
                Refusal::CvUnsupportedFormat => (Field::Cv, t.msg_cv_format.to_owned()),
                Refusal::OfferNotFound | Refusal::OfferOfAnotherCompany | Refusal::OfferNotOpen => {
                    (Field::JobOfferId, t.msg_offer_closed.to_owned())
                }
                Refusal::TooLong(field) => (*field, t.msg_too_long.to_owned()),
                Refusal::InvalidCharacters(field) => (*field, t.msg_invalid_characters.to_owned()),
            };
            errors.tie(field, message);
        }
        if !consent {
            errors.consent = Some(t.msg_consent_required.to_owned());
        }
        errors
    }

    /// A failure of the pipeline: nothing was saved, the candidate may retry.
    fn intake_failed(&self, error: IntakeError) -> Response {
        let t = self.ctx.t();
        let status = match &error {
            IntakeError::StillProcessing | IntakeError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
            IntakeError::Upload(_) | IntakeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        tracing::error!(error = format!("{:#}", anyhow::Error::new(error)), "an application from the form failed");
        let mut response = message_page(
            self.ctx,
            Some(self.company),
            "",
            Message {
                status,
                heading: t.server_error_title,
                subject: None,
                body: t.server_error_body,
                extra: None,
                link_to_list: false,
            },
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
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
