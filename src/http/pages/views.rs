//! The templates' data: one struct per page in `templates/pages/`, and [`Chrome`], what every page shows
//! around its content (language, company name, logo, accent colour, the other language's link).
//! Values are escaped by the templates; only the sanitised description and the JSON-LD are written as is.

use askama::Template;

use super::i18n::{Lang, Texts};
use super::urls;
use crate::db::companies::Company;
use crate::http::AppState;

/// The language and link bases of one request.
#[derive(Debug, Clone)]
pub struct PageContext {
    pub lang: Lang,
    /// `?lang=` was given: links keep it, so the candidate stays in the language they chose.
    pub lang_explicit: bool,
    /// `PUBLIC_BASE_URL`, for absolute URLs.
    pub base_url: String,
    /// Its path, for links inside pages.
    pub base_path: String,
}

impl PageContext {
    pub fn new(state: &AppState, requested_lang: Option<&str>, company: Option<&Company>) -> Self {
        let (lang, lang_explicit) = Lang::choose(requested_lang, company.map(|c| c.locale.as_str()));
        PageContext {
            lang,
            lang_explicit,
            base_url: state.public_base_url.to_string(),
            base_path: urls::base_path(&state.public_base_url),
        }
    }

    pub fn t(&self) -> &'static Texts {
        self.lang.texts()
    }

    /// A path under `/jobs` as a link of this page: the base's path before it, `?lang=` after it when chosen.
    pub fn link(&self, path: &str) -> String {
        let mut link = format!("{}/jobs{path}", self.base_path);
        if self.lang_explicit {
            link.push(if link.contains('?') { '&' } else { '?' });
            link.push_str("lang=");
            link.push_str(self.lang.code());
        }
        link
    }

    /// The value of a hidden `lang` field for forms that navigate (the list's filters).
    pub fn lang_param(&self) -> Option<&'static str> {
        self.lang_explicit.then(|| self.lang.code())
    }
}

/// Around every page.
pub struct Chrome {
    pub lang: &'static str,
    pub t: &'static Texts,
    pub title: String,
    pub noindex: bool,
    pub canonical: Option<String>,
    pub stylesheet_url: String,
    pub accent_url: Option<String>,
    pub company_name: String,
    pub home_url: Option<String>,
    pub logo_url: Option<String>,
    pub other_lang_url: String,
}

impl Chrome {
    /// `path` is the page's own path under `/jobs`, for the link to the other language.
    pub fn new(ctx: &PageContext, company: Option<&Company>, title: String, path: &str) -> Self {
        let other = match ctx.lang {
            Lang::Fr => Lang::En,
            Lang::En => Lang::Fr,
        };
        Chrome {
            lang: ctx.lang.code(),
            t: ctx.t(),
            title,
            noindex: false,
            canonical: None,
            stylesheet_url: format!(
                "{}/jobs/_assets/pages.css?v={}",
                ctx.base_path,
                &*super::assets::STYLESHEET_VERSION
            ),
            accent_url: company
                .and_then(|c| c.accent_color.as_deref())
                .map(|hex| format!("{}/jobs/_assets/accent/{}.css", ctx.base_path, hex.trim_start_matches('#'))),
            company_name: company.map(|c| c.name.clone()).unwrap_or_default(),
            home_url: company.map(|c| ctx.link(&format!("/{}", c.slug))),
            logo_url: company.and_then(|c| {
                c.logo_version.as_deref().map(|v| format!("{}/jobs/{}/logo?v={v}", ctx.base_path, c.slug))
            }),
            other_lang_url: format!("{}/jobs{path}?lang={}", ctx.base_path, other.code()),
        }
    }

    pub fn noindex(mut self) -> Self {
        self.noindex = true;
        self
    }
}

pub struct OfferSummary {
    pub title: String,
    pub url: String,
    pub location: Option<String>,
    pub job_type: Option<String>,
    pub posted_label: Option<String>,
    pub posted_iso: String,
}

pub struct JobTypeOption {
    pub value: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "pages/list.html")]
pub struct ListPage {
    pub chrome: Chrome,
    pub total: i64,
    pub list_url: String,
    pub lang_param: Option<&'static str>,
    pub location: String,
    pub job_types: Vec<JobTypeOption>,
    pub filtered: bool,
    pub clear_url: String,
    pub offers: Vec<OfferSummary>,
    pub page: i64,
    pub total_pages: i64,
    pub previous_url: Option<String>,
    pub next_url: Option<String>,
}

/// One entry of the error summary: a link to the field (or to the form) and the message.
pub struct Problem {
    pub anchor: &'static str,
    pub message: String,
}

pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    pub input_type: &'static str,
    pub autocomplete: &'static str,
    pub value: String,
    pub error: Option<String>,
}

pub struct FormView {
    pub action: String,
    pub problems: Vec<Problem>,
    /// first_name, last_name, email.
    pub names: Vec<FieldView>,
    /// phone, linkedin_url, cover_letter.
    pub optional: Vec<FieldView>,
    pub cv_hint: String,
    pub cv_error: Option<String>,
    pub consent_checked: bool,
    pub consent_error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/offer.html")]
pub struct OfferPage {
    pub chrome: Chrome,
    pub json_ld: String,
    pub list_url: String,
    pub title: String,
    pub location: Option<String>,
    pub job_type: Option<String>,
    pub posted_label: Option<String>,
    pub posted_iso: String,
    pub description: String,
    pub form: FormView,
}

#[derive(Template)]
#[template(path = "pages/applied.html")]
pub struct AppliedPage {
    pub chrome: Chrome,
    pub offer_title: String,
    pub existing: bool,
    pub list_url: String,
}

/// 404, 410, 429, 500 and 400 pages.
#[derive(Template)]
#[template(path = "pages/message.html")]
pub struct MessagePage {
    pub chrome: Chrome,
    pub heading: String,
    pub subject: Option<String>,
    pub body: String,
    pub extra: Option<String>,
    pub link_url: Option<String>,
    pub link_label: &'static str,
}
