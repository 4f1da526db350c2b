//! Word recall of an extracted text against a reference text (what `pdftotext` reads from the same
//! file), with both sides normalised alike: Unicode compatibility forms (ligatures, Arabic
//! presentation forms), accents and other combining marks removed, bidi control characters
//! removed, lowercase. Words are runs of letters and digits; in scripts written without spaces
//! (Han, kana, Hangul) each character is a word, so a line break placed differently does not
//! count as a miss. Recall counts repeated words: a word the reference has three times must be
//! there three times.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_unspaced_script(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30FF}' | '\u{3400}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7AF}' | '\u{F900}'..='\u{FAFF}')
}

pub fn words(text: &str) -> Vec<String> {
    let normalised: String =
        text.nfkd().filter(|c| !is_combining_mark(*c) && !is_bidi_control(*c)).flat_map(char::to_lowercase).collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for c in normalised.chars() {
        if c.is_alphanumeric() && !is_unspaced_script(c) {
            current.push(c);
            continue;
        }
        if !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        if is_unspaced_script(c) {
            words.push(c.to_string());
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The share of the reference's words (with repeats) found in `text`, and the missed words.
pub fn recall(reference: &str, text: &str) -> (f64, Vec<String>) {
    let mut available: HashMap<String, usize> = HashMap::new();
    for word in words(text) {
        *available.entry(word).or_default() += 1;
    }
    let expected = words(reference);
    let mut missed = Vec::new();
    for word in &expected {
        match available.get_mut(word) {
            Some(count) if *count > 0 => *count -= 1,
            _ => missed.push(word.clone()),
        }
    }
    let found = expected.len() - missed.len();
    (if expected.is_empty() { 1.0 } else { found as f64 / expected.len() as f64 }, missed)
}

/// What `pdftotext` (poppler-utils) reads from a PDF, as UTF-8.
pub fn pdftotext(path: &Path) -> String {
    pdftotext_with(path, &[])
}

/// What `pdftotext -raw` reads from a PDF: the text in content stream order, words as drawn.
#[allow(dead_code)]
pub fn pdftotext_raw(path: &Path) -> String {
    pdftotext_with(path, &["-raw"])
}

/// What PyMuPDF (`pymupdf`, from PyPI) reads from a PDF, pages one after the other.
#[allow(dead_code)]
pub fn pymupdf_text(path: &Path) -> String {
    const SCRIPT: &str = "import sys, pymupdf\n\
        sys.stdout.reconfigure(encoding='utf-8')\n\
        print(''.join(page.get_text() for page in pymupdf.open(sys.argv[1])), end='')\n";
    let output = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .unwrap_or_else(|error| panic!("python3 must be installed: {error}"));
    assert!(output.status.success(), "PyMuPDF (tests/requirements.txt): {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn pdftotext_with(path: &Path, options: &[&str]) -> String {
    let output = Command::new("pdftotext")
        .args(options)
        .args(["-enc", "UTF-8"])
        .arg(path)
        .arg("-")
        .output()
        .unwrap_or_else(|error| panic!("pdftotext (poppler-utils) must be installed: {error}"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn normalisation_ignores_case_accents_bidi_marks_and_compatibility_forms() {
    assert_eq!(words("\u{202B}Élodie\u{202C} ﬁnance, R&D 日本"), ["elodie", "finance", "r", "d", "日", "本"]);
    assert_eq!(recall("a b b c", "b a c").0, 0.75);
    assert_eq!(recall("a b", "a b c").1, Vec::<String>::new());
}
