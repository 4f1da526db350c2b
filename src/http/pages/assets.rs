//! What pages load besides themselves, all from the same origin (CONTRACT §13): the stylesheet, a company's
//! accent colours, and its logo.

use std::sync::LazyLock;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::response::{not_found_page, query_value};
use super::views::PageContext;
use crate::db;
use crate::domain::company_page::AccentColor;
use crate::http::AppState;

const STYLESHEET: &str = include_str!("../../../static/pages.css");

/// Part of the stylesheet's URL, so a new stylesheet is a new URL and the old one may be cached for good.
pub static STYLESHEET_VERSION: LazyLock<String> =
    LazyLock::new(|| Sha256::digest(STYLESHEET.as_bytes())[..6].iter().map(|b| format!("{b:02x}")).collect());

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub async fn stylesheet(RawQuery(query): RawQuery) -> Response {
    let current = query_value(query.as_deref(), "v").is_some_and(|v| v == *STYLESHEET_VERSION);
    css(STYLESHEET.to_owned(), if current { IMMUTABLE } else { "no-cache" })
}

/// `/jobs/_assets/accent/1d4ed8.css`: the three colour variables of the stylesheet. The colour is in the
/// URL, so the answer never changes and needs no database.
pub async fn accent_stylesheet(Path(file): Path<String>) -> Response {
    let accent = file
        .strip_suffix(".css")
        .filter(|hex| hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .and_then(|hex| AccentColor::parse(hex).ok());
    let Some(accent) = accent else {
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/css; charset=utf-8")], "").into_response();
    };
    css(accent_css(&accent), IMMUTABLE)
}

fn css(body: String, cache_control: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache_control)),
        ],
        body,
    )
        .into_response()
}

/// The accent for buttons and rules, a text colour readable on it, and a shade of it readable as link text on
/// white (WCAG AA, 4.5:1): a company's pale brand colour must not make its pages fail accessibility.
pub fn accent_css(accent: &AccentColor) -> String {
    let rgb = parse_rgb(accent.as_str());
    let white = [255.0, 255.0, 255.0];
    let on_accent = if contrast(rgb, white) >= 4.5 { "#ffffff" } else { "#111111" };
    let mut ink = rgb;
    while contrast(ink, white) < 4.6 {
        ink = ink.map(|c| c * 0.9);
    }
    format!(
        ":root{{--accent:{};--on-accent:{on_accent};--accent-ink:#{:02x}{:02x}{:02x}}}\n",
        accent.as_str(),
        ink[0].round() as u8,
        ink[1].round() as u8,
        ink[2].round() as u8
    )
}

fn parse_rgb(hex: &str) -> [f64; 3] {
    let hex = hex.trim_start_matches('#');
    let channel = |i: usize| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("00"), 16).map_or(0.0, f64::from);
    [channel(0), channel(2), channel(4)]
}

fn luminance(rgb: [f64; 3]) -> f64 {
    let linear = rgb.map(|c| {
        let c = c / 255.0;
        if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    });
    0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
}

fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// `/jobs/{slug}/logo?v=…`: the company's logo, kept in the database (CONTRACT §13: nothing from elsewhere).
pub async fn logo(State(state): State<AppState>, Path(slug): Path<String>, RawQuery(query): RawQuery) -> Response {
    let ctx = PageContext::new(&state, None, None);
    let company = match db::companies::find_by_slug(&state.db, &slug).await {
        Ok(Some(company)) => company,
        Ok(None) => return not_found_page(&ctx, None, ""),
        Err(error) => {
            tracing::error!(%error, "loading a company for its logo failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let (bytes, content_type) = match db::companies::logo(&state.db, company.id).await {
        Ok(Some(logo)) => logo,
        Ok(None) => return not_found_page(&ctx, Some(&company), ""),
        Err(error) => {
            tracing::error!(%error, "loading a logo failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let current = query_value(query.as_deref(), "v").is_some_and(|v| Some(v) == company.logo_version);
    let content_type = HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("image/png"));
    let cache = HeaderValue::from_static(if current { IMMUTABLE } else { "no-cache" });
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, cache)], bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pale_accents_get_dark_button_text_and_a_darker_link_shade() {
        let css = accent_css(&AccentColor::parse("#ffd60a").unwrap());
        assert!(css.contains("--on-accent:#111111"), "{css}");
        let ink = css.split("--accent-ink:").nth(1).unwrap().trim_end_matches(['}', '\n']);
        assert!(contrast(parse_rgb(ink), [255.0; 3]) >= 4.5, "{css}");
        let dark = accent_css(&AccentColor::parse("#1d4ed8").unwrap());
        assert!(dark.contains("--on-accent:#ffffff") && dark.contains("--accent-ink:#1d4ed8"), "{dark}");
    }
}
