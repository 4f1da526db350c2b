//! The offline scorer (`AI_SCORER=builtin`, the default; CONTRACT §6): rates a CV by how much of the offer's
//! key terms it mentions. Deterministic, no model, no network: well under a millisecond for a 2-page CV.
//!
//! How it reads text:
//! - words are lowercased, Unicode NFKD-folded with combining marks removed ("Développeur" and "developpeur"
//!   match; the ligature "ﬁ" reads as "fi"), and split on anything that is not a letter or digit, except that
//!   `c++`, `c#` and `f#` stay whole;
//! - tokens without a letter (years, phone numbers), English and French stopwords, and words that every job ad
//!   or CV holds ("experience", "team", "poste") are dropped;
//! - tokens under 3 characters are dropped, except a short list of technical terms (`go`, `ui`, `ml`, `js`,
//!   `c`, `r`, …) that are often the very skill an offer asks for;
//! - words are compared by a crude stem (a plural `s`, then an `-ing` or `-ed` removed, then the first 7
//!   characters kept), so "engineer" and "engineering", "mentor" and "mentored", "PostgreSQL" and "Postgres",
//!   "developer" and "développeur" match.
//!
//! The offer's distinct terms are weighted (title terms 3, description terms 1, +0.5 per repetition up to
//! +1), and the rating is an S-curve of the weighted share of those terms found in the CV: covering a third of
//! an offer's vocabulary (a good match: offers also hold words no CV repeats) rates about 70, half of it about
//! 90, while a CV from another trade, which shares a few generic words with any offer, stays under 30.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

use super::{OfferForScoring, Score, Scorer, ScoringError};

/// The offline, deterministic scorer.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinScorer;

const TITLE_WEIGHT: f64 = 3.0;
const DESCRIPTION_WEIGHT: f64 = 1.0;
const REPETITION_BONUS: f64 = 0.5;
const MAX_REPETITION_BONUS: f64 = 1.0;
/// Shape of the coverage → rating curve; see [`rating_for_coverage`].
const CURVE_MIDPOINT: f64 = 0.22;
const CURVE_STEEPNESS: f64 = 9.0;
const STEM_CHARS: usize = 7;
const SUMMARY_EXCERPT_CHARS: usize = 400;
const LISTED_TERMS: usize = 8;

/// Kept although shorter than 3 characters: an offer asking for Go, ML or C names the skill in those letters.
const SHORT_TECH_TERMS: &[&str] =
    &["go", "ui", "ux", "qa", "ml", "ai", "ia", "ci", "cd", "js", "ts", "bi", "c", "r", "c++", "c#", "f#"];

/// English and French function words, plus words that every offer or CV holds and that say nothing about fit.
/// Compared after folding, so without accents.
const STOPWORDS: &[&str] = &[
    // English
    "the",
    "and",
    "for",
    "with",
    "you",
    "your",
    "our",
    "are",
    "will",
    "who",
    "what",
    "this",
    "that",
    "these",
    "those",
    "from",
    "have",
    "has",
    "had",
    "not",
    "but",
    "all",
    "any",
    "can",
    "into",
    "about",
    "over",
    "their",
    "they",
    "them",
    "than",
    "then",
    "also",
    "such",
    "other",
    "more",
    "most",
    "very",
    "well",
    "must",
    "should",
    "would",
    "could",
    "may",
    "etc",
    "per",
    "via",
    "within",
    "across",
    "including",
    "its",
    "was",
    "were",
    "been",
    "being",
    "how",
    "why",
    "where",
    "when",
    "which",
    "while",
    "each",
    "both",
    "own",
    "out",
    "yet",
    "able",
    "like",
    "using",
    "use",
    "used",
    "her",
    "his",
    "she",
    "him",
    "our",
    "ours",
    "there",
    "here",
    "some",
    "just",
    "only",
    "one",
    "two",
    "three",
    "get",
    "make",
    "help",
    "want",
    "need",
    "every",
    "through",
    "behind",
    "among",
    "upon",
    "both",
    "either",
    "whether",
    "various",
    "related",
    "relevant",
    // verbs and adjectives that job ads use for any trade
    "seek",
    "seeks",
    "seeking",
    "hold",
    "holds",
    "value",
    "valued",
    "write",
    "build",
    "operate",
    "ship",
    "ensure",
    "provide",
    "bring",
    "take",
    "deliver",
    "high",
    "level",
    "new",
    "clean",
    "solid",
    "proven",
    // words of every job ad or CV
    "work",
    "working",
    "team",
    "teams",
    "role",
    "job",
    "position",
    "candidate",
    "experience",
    "experienced",
    "year",
    "years",
    "skill",
    "skills",
    "strong",
    "good",
    "great",
    "excellent",
    "knowledge",
    "ability",
    "looking",
    "join",
    "offer",
    "company",
    "required",
    "requirement",
    "requirements",
    "preferred",
    "responsibilities",
    "responsible",
    "nice",
    "ideal",
    "ideally",
    "based",
    "opportunity",
    "present",
    "month",
    "months",
    "day",
    "days",
    "week",
    "full",
    "time",
    "part",
    "contract",
    "salary",
    "benefits",
    "apply",
    "application",
    "etc",
    "summary",
    "profile",
    "about",
    "resume",
    "page",
    "email",
    "phone",
    // French
    "les",
    "des",
    "une",
    "est",
    "pour",
    "dans",
    "par",
    "sur",
    "avec",
    "que",
    "qui",
    "aux",
    "vous",
    "nous",
    "votre",
    "vos",
    "nos",
    "notre",
    "leur",
    "leurs",
    "son",
    "ses",
    "sont",
    "ont",
    "pas",
    "plus",
    "tout",
    "tous",
    "toute",
    "toutes",
    "mais",
    "comme",
    "cette",
    "ces",
    "cet",
    "elle",
    "elles",
    "ils",
    "etre",
    "avoir",
    "fait",
    "faire",
    "sein",
    "afin",
    "ainsi",
    "chez",
    "entre",
    "dont",
    "tres",
    "bien",
    "aussi",
    "peu",
    "sans",
    "sous",
    "vers",
    "lors",
    "deja",
    "encore",
    "autre",
    "autres",
    "meme",
    "chaque",
    // words of every French job ad or CV
    "poste",
    "equipe",
    "equipes",
    "profil",
    "experiences",
    "ans",
    "annee",
    "annees",
    "competence",
    "competences",
    "connaissance",
    "connaissances",
    "maitrise",
    "recherchons",
    "rejoindre",
    "mission",
    "missions",
    "entreprise",
    "candidat",
    "candidate",
    "souhaite",
    "requis",
    "travail",
    "travailler",
    "emploi",
    "salaire",
    "mois",
    "jour",
    "jours",
    "temps",
    "plein",
    "partiel",
    "cdi",
    "cdd",
];

/// [`STOPWORDS`] as a set: a CV has thousands of tokens.
static STOPWORD_SET: LazyLock<HashSet<&'static str>> = LazyLock::new(|| STOPWORDS.iter().copied().collect());

/// One distinct term of the offer.
struct OfferTerm {
    stem: String,
    /// The term as first written in the offer, lowercased, for the texts shown to a recruiter.
    shown: String,
    weight: f64,
    occurrences: u32,
}

impl BuiltinScorer {
    /// The synchronous core of [`Scorer::score`]; cheap enough to run on the async runtime.
    pub fn score_text(offer: &OfferForScoring, cv_text: &str) -> Result<Score, ScoringError> {
        if cv_text.trim().is_empty() {
            return Err(ScoringError::EmptyCv);
        }
        let terms = offer_terms(offer);
        if terms.is_empty() {
            // An Err rather than a rating of 0: a title like "H/F" must not get every candidate auto-rejected.
            return Err(ScoringError::NoOfferKeywords);
        }
        let cv_stems: HashSet<String> = tokens(cv_text).map(|token| stem(&token.folded)).collect();

        let total_weight: f64 = terms.iter().map(|term| term.weight).sum();
        let (matched, missing): (Vec<&OfferTerm>, Vec<&OfferTerm>) =
            terms.iter().partition(|term| cv_stems.contains(&term.stem));
        let matched_weight: f64 = matched.iter().map(|term| term.weight).sum();
        let rating = rating_for_coverage(matched_weight / total_weight);

        Ok(Score {
            rating,
            ai_resume_summary: resume_summary(cv_text, &matched),
            first_impression_text: first_impression(terms.len(), &matched, &missing),
        })
    }
}

#[async_trait::async_trait]
impl Scorer for BuiltinScorer {
    fn name(&self) -> &'static str {
        "builtin"
    }

    async fn score(&self, offer: &OfferForScoring, cv_text: &str) -> Result<Score, ScoringError> {
        Self::score_text(offer, cv_text)
    }
}

/// A word of a text, as written (lowercased) and as compared (folded).
struct Token {
    shown: String,
    folded: String,
}

fn tokens(text: &str) -> impl Iterator<Item = Token> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '+' || c == '#')).filter(|raw| !raw.is_empty()).filter_map(
        |raw| {
            let lower = raw.to_lowercase();
            let shown = if SHORT_TECH_TERMS.contains(&lower.as_str()) {
                lower.as_str()
            } else {
                lower.trim_matches(['+', '#'])
            };
            let folded: String = if shown.is_ascii() {
                shown.to_owned()
            } else {
                shown.nfkd().filter(|c| !is_combining_mark(*c)).collect()
            };
            keep_token(&folded).then(|| Token { shown: shown.to_owned(), folded })
        },
    )
}

fn keep_token(folded: &str) -> bool {
    if SHORT_TECH_TERMS.contains(&folded) {
        return true;
    }
    folded.chars().count() >= 3 && folded.chars().any(char::is_alphabetic) && !STOPWORD_SET.contains(folded)
}

fn stem(folded: &str) -> String {
    let singular = match folded.strip_suffix('s') {
        Some(rest) if rest.len() >= 3 && !rest.ends_with('s') => rest,
        _ => folded,
    };
    let base = ["ing", "ed"]
        .iter()
        .find_map(|suffix| singular.strip_suffix(suffix).filter(|rest| rest.len() >= 4))
        .unwrap_or(singular);
    base.chars().take(STEM_CHARS).collect()
}

/// The offer's distinct terms in order of first appearance (title first), so every output is deterministic.
fn offer_terms(offer: &OfferForScoring) -> Vec<OfferTerm> {
    let mut terms: Vec<OfferTerm> = Vec::new();
    let mut index_by_stem: BTreeMap<String, usize> = BTreeMap::new();
    let title = tokens(&offer.title).map(|token| (token, TITLE_WEIGHT));
    let description = tokens(&offer.description).map(|token| (token, DESCRIPTION_WEIGHT));
    for (token, weight) in title.chain(description) {
        let stem = stem(&token.folded);
        match index_by_stem.get(&stem) {
            Some(&index) => {
                let term = &mut terms[index];
                term.occurrences += 1;
                term.weight = term.weight.max(weight);
            }
            None => {
                index_by_stem.insert(stem.clone(), terms.len());
                terms.push(OfferTerm { stem, shown: token.shown, weight, occurrences: 1 });
            }
        }
    }
    for term in &mut terms {
        term.weight += (f64::from(term.occurrences - 1) * REPETITION_BONUS).min(MAX_REPETITION_BONUS);
    }
    terms
}

/// Maps the weighted share of offer terms found in the CV (0..=1) to 0..=100 on an S-curve (a logistic
/// rescaled to pass through 0 and 100): 10% → 15, 15% → 26, 30% → 63, 40% → 81, 55% → 95, 80% → 99.
/// Offers hold many words that even a fitting CV never repeats, and every CV shares a few words with any
/// offer, so a linear scale would rate strong matches in the 50s and unrelated CVs in the 10s-20s alike.
/// Measured on the corpus CVs: other trades cover 0–15% of a backend offer, developers 23–92%.
fn rating_for_coverage(coverage: f64) -> u8 {
    let logistic = |x: f64| 1.0 / (1.0 + (-CURVE_STEEPNESS * (x - CURVE_MIDPOINT)).exp());
    let (low, high) = (logistic(0.0), logistic(1.0));
    let scaled = (logistic(coverage.clamp(0.0, 1.0)) - low) / (high - low);
    // The clamp keeps the cast in range whatever the float rounding.
    (scaled * 100.0).round().clamp(0.0, 100.0) as u8
}

/// The heaviest terms first, then in the offer's order.
fn listed(terms: &[&OfferTerm]) -> String {
    let mut sorted = terms.to_vec();
    sorted.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    let mut list: Vec<&str> = sorted.iter().take(LISTED_TERMS).map(|term| term.shown.as_str()).collect();
    if sorted.len() > LISTED_TERMS {
        list.push("…");
    }
    list.join(", ")
}

/// The CV's first meaningful lines (contact lines skipped), capped, then the offer terms it mentions.
fn resume_summary(cv_text: &str, matched: &[&OfferTerm]) -> String {
    let mut excerpt = String::new();
    let meaningful_lines =
        cv_text.lines().map(|line| line.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|line| {
            line.chars().filter(|c| c.is_alphabetic()).count() >= 3
                && !line.contains('@')
                && !line.contains("http")
                && !line.contains("www.")
        });
    for line in meaningful_lines {
        if !excerpt.is_empty() {
            excerpt.push_str(" · ");
        }
        excerpt.push_str(&line);
        if excerpt.chars().count() >= SUMMARY_EXCERPT_CHARS {
            excerpt = excerpt.chars().take(SUMMARY_EXCERPT_CHARS).collect();
            excerpt.push('…');
            break;
        }
    }
    let found = if matched.is_empty() {
        "None of the offer's key terms appear in the CV.".to_owned()
    } else {
        format!("Offer key terms found in the CV: {}.", listed(matched))
    };
    if excerpt.is_empty() { found } else { format!("{excerpt}\n{found}") }
}

fn first_impression(term_count: usize, matched: &[&OfferTerm], missing: &[&OfferTerm]) -> String {
    match (matched.is_empty(), missing.is_empty()) {
        (true, _) => {
            format!("The CV mentions none of the offer's {term_count} key terms (such as {}).", listed(missing))
        }
        (false, true) => format!("The CV mentions all {term_count} key terms of the offer ({}).", listed(matched)),
        (false, false) => format!(
            "The CV mentions {} of the offer's {term_count} key terms, such as {}. Missing: {}.",
            matched.len(),
            listed(matched),
            listed(missing)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn corpus_dir() -> PathBuf {
        crate::test_corpus::corpus_path("")
    }

    fn cv_text(file: &str) -> String {
        let path = corpus_dir().join("cv").join(file);
        pdf_extract::extract_text(&path).unwrap_or_else(|e| panic!("extracting {}: {e}", path.display()))
    }

    fn backend_offer() -> OfferForScoring {
        OfferForScoring {
            title: "Senior Backend Software Engineer".into(),
            description: "We are looking for a backend software engineer to design, build and operate the \
                scalable distributed systems behind our payments platform. You will write clean, tested code \
                in Python, Go or Node.js, design REST APIs and microservices, model data in PostgreSQL and \
                Redis, and ship through CI/CD pipelines with Git, Docker and Kubernetes on AWS. Experience \
                with Kafka, SQL query optimization and cloud infrastructure is a plus. You will review code \
                and mentor junior developers."
                .into(),
        }
    }

    fn climate_offer() -> OfferForScoring {
        OfferForScoring {
            title: "Climate Research Scientist (Geophysics)".into(),
            description: "Our institute seeks a research scientist to measure and model climate change. \
                You hold a PhD in geophysical engineering, geophysics, meteorology or earth sciences, and \
                publish in scientific journals and international conferences. You master statistical \
                analysis and data analytics with MATLAB, R or Mathematica; experience with laser \
                metrology and remote sensing is valued. You will supervise students and write funding \
                proposals."
                .into(),
        }
    }

    /// Software engineers of the corpus (see its MANIFEST and the files themselves).
    const SOFTWARE_CVS: &[&str] = &[
        "resumematcher_modern-two-column.pdf",
        "hrhelper_sample_resume.pdf",
        "resumematcher_john_doe.pdf",
        "awesomecv_resume.pdf",
        "resumematcher_barry_allen_fe.pdf",
    ];
    const PARTIAL_MATCH_CV: &str = "resumematcher_john_doe.pdf";
    /// A geophysicist working on climate change.
    const CLIMATE_CV: &str = "simple-resume-cv_John_Doe.pdf";
    /// Neither: Alice in Wonderland's literary CV, and a CEO's.
    const OTHER_CVS: &[&str] = &["twentyseconds_cv.pdf", "altacv_mmayer.pdf"];

    fn rating(offer: &OfferForScoring, cv: &str) -> u8 {
        BuiltinScorer::score_text(offer, cv).unwrap_or_else(|e| panic!("scoring failed: {e}")).rating
    }

    #[test]
    fn software_cvs_rate_far_higher_for_a_backend_offer_than_for_a_climate_research_offer() {
        for file in SOFTWARE_CVS {
            let cv = cv_text(file);
            let (backend, climate) = (rating(&backend_offer(), &cv), rating(&climate_offer(), &cv));
            assert!(backend >= climate + 25, "{file}: backend {backend}, climate {climate}");
        }
    }

    #[test]
    fn a_geophysicist_cv_rates_far_higher_for_the_climate_offer_than_for_the_backend_offer() {
        let cv = cv_text(CLIMATE_CV);
        let (backend, climate) = (rating(&backend_offer(), &cv), rating(&climate_offer(), &cv));
        assert!(climate >= backend + 25, "climate {climate}, backend {backend}");
        assert!(climate >= 60, "climate {climate}");
    }

    #[test]
    fn for_a_backend_offer_backend_and_web_developers_beat_other_trades_by_25_points() {
        let offer = backend_offer();
        let best_other =
            OTHER_CVS.iter().chain([&CLIMATE_CV]).map(|file| rating(&offer, &cv_text(file))).max().unwrap_or_default();
        assert!(best_other <= 30, "an unrelated CV rated {best_other}");
        for file in SOFTWARE_CVS.iter().filter(|file| **file != PARTIAL_MATCH_CV) {
            let software = rating(&offer, &cv_text(file));
            assert!(software >= best_other + 25, "{file}: {software} vs unrelated {best_other}");
        }
        // A Java/Angular full-stack developer fits a Python/Go backend offer only in part: between the two.
        let partial = rating(&offer, &cv_text(PARTIAL_MATCH_CV));
        let strongest = rating(&offer, &cv_text("resumematcher_modern-two-column.pdf"));
        assert!(best_other < partial && partial < strongest, "{best_other} < {partial} < {strongest}");
    }

    #[test]
    fn the_strongest_backend_cv_rates_in_the_70s_or_more() {
        let strongest = rating(&backend_offer(), &cv_text("resumematcher_modern-two-column.pdf"));
        assert!((70..=100).contains(&strongest), "{strongest}");
    }

    #[test]
    fn same_input_gives_the_same_score_every_time() {
        let cv = cv_text("awesomecv_cv.pdf");
        let first = BuiltinScorer::score_text(&backend_offer(), &cv).unwrap();
        for _ in 0..5 {
            assert_eq!(BuiltinScorer::score_text(&backend_offer(), &cv).unwrap(), first);
        }
    }

    #[test]
    fn texts_name_matched_and_missing_terms_and_stay_short() {
        let cv = cv_text("resumematcher_modern-two-column.pdf");
        let score = BuiltinScorer::score_text(&backend_offer(), &cv).unwrap();
        let impression = &score.first_impression_text;
        assert!(impression.contains("such as backend, software, engineer"), "{impression}");
        assert!(impression.contains("Missing: ") && !impression.contains("mentor"), "{impression}");
        assert!(score.ai_resume_summary.starts_with("Senior Software Engineer"), "{}", score.ai_resume_summary);
        assert!(!score.ai_resume_summary.contains('@'), "contact line kept: {}", score.ai_resume_summary);
        assert!(score.ai_resume_summary.chars().count() < 700, "{}", score.ai_resume_summary);
    }

    #[tokio::test]
    async fn empty_or_blank_cv_text_is_an_error() {
        for text in ["", "   \n\t  "] {
            let result = BuiltinScorer.score(&backend_offer(), text).await;
            assert!(matches!(result, Err(ScoringError::EmptyCv)), "{result:?}");
        }
    }

    #[test]
    fn an_offer_without_key_terms_is_an_error_not_a_zero() {
        let offer = OfferForScoring { title: "H/F".into(), description: "".into() };
        let result = BuiltinScorer::score_text(&offer, "Rust developer");
        assert!(matches!(result, Err(ScoringError::NoOfferKeywords)), "{result:?}");
    }

    #[test]
    fn accents_case_plurals_and_tech_symbols_match() {
        let offer = OfferForScoring { title: "Développeur C++".into(), description: "APIs, Go".into() };
        let score = BuiltinScorer::score_text(&offer, "DEVELOPPEUR, c++ and an API in go").unwrap();
        assert_eq!(score.rating, 100, "{score:?}");
        let unrelated = BuiltinScorer::score_text(&offer, "Boulanger, pâtissier").unwrap();
        assert_eq!(unrelated.rating, 0, "{unrelated:?}");
    }

    #[test]
    fn coverage_curve_is_monotonic_and_bounded() {
        assert_eq!(rating_for_coverage(0.0), 0);
        assert_eq!(rating_for_coverage(1.0), 100);
        assert_eq!(rating_for_coverage(2.0), 100);
        assert_eq!(rating_for_coverage(-1.0), 0);
        let documented = [(0.10, 15), (0.15, 26), (0.30, 63), (0.40, 81), (0.55, 95), (0.80, 99)];
        for (coverage, rating) in documented {
            assert_eq!(rating_for_coverage(coverage), rating, "coverage {coverage}");
        }
        let ratings: Vec<u8> = (0..=20).map(|step| rating_for_coverage(f64::from(step) / 20.0)).collect();
        assert!(ratings.windows(2).all(|pair| pair[0] <= pair[1]), "{ratings:?}");
    }
}
