//! CV scoring: the [`Scorer`] interface and its two implementations, the offline [`BuiltinScorer`] and
//! the [`OpenAiScorer`] for OpenAI-compatible chat APIs (CONTRACT §6 "Scoring").
//!
//! A scorer only rates; what happens to a rating (auto-reject, re-scoring after a failure) is decided by
//! the intake pipeline.

mod builtin;
mod openai;

pub use builtin::BuiltinScorer;
pub use openai::{OpenAiScorer, OpenAiSettings};

/// The parts of a job offer a scorer compares a CV against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferForScoring {
    pub title: String,
    pub description: String,
}

/// A scorer's verdict on one CV for one offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    /// 0..=100 (CONTRACT §6); every scorer guarantees the range.
    pub rating: u8,
    pub ai_resume_summary: String,
    pub first_impression_text: String,
}

/// Why a CV could not be scored. The Display text is meant to follow "AI scoring failed: " in a client-visible
/// message, so it never holds the API key nor the text of the AI service's answer.
#[derive(Debug, thiserror::Error)]
pub enum ScoringError {
    #[error("the CV has no text to score")]
    EmptyCv,
    #[error("the offer has no key terms to score against")]
    NoOfferKeywords,
    #[error("invalid scorer settings: {0}")]
    InvalidSettings(&'static str),
    #[error("the AI service could not be reached ({kind}) after {attempts} attempt(s)")]
    Unreachable {
        kind: &'static str,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    /// `detail` is the `error.type`/`error.code` of an OpenAI-style error body (e.g. `invalid_api_key`),
    /// never the free-text message, which may quote part of the key.
    #[error("the AI service answered HTTP {status}{} after {attempts} attempt(s)", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    HttpStatus { status: u16, detail: Option<String>, attempts: u32 },
    #[error("the AI service's answer is not a valid score: {0}")]
    InvalidAnswer(String),
}

/// Turns an offer and a CV's extracted text into a [`Score`].
#[async_trait::async_trait]
pub trait Scorer: Send + Sync + 'static {
    /// A stable name for logs and settings (`builtin`, `openai`).
    fn name(&self) -> &'static str;

    async fn score(&self, offer: &OfferForScoring, cv_text: &str) -> Result<Score, ScoringError>;
}

impl ScoringError {
    /// Whether scoring the same CV again later may succeed. Outages, bad answers and refusals (an expired
    /// key an operator will fix) may pass; a CV or an offer with nothing to compare will not.
    pub fn is_retriable(&self) -> bool {
        !matches!(self, ScoringError::EmptyCv | ScoringError::NoOfferKeywords)
    }
}
