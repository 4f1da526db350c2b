//! PDF text with `pdf-extract`, for the extraction worker only: the parser can panic, overflow
//! its stack or inflate a stream to gigabytes (DEPENDENCIES.md "PDF text"), so it never runs in
//! the server process.
//!
//! `pdf-extract` decodes the fonts and gives every glyph with its position; the layout is ours
//! ([`PageCollector`]): glyphs are grouped into lines in content-stream order (a producer writes
//! a column before the next one, so two-column CVs keep each column's words together), word gaps
//! become spaces, and right-to-left runs drawn in visual order are turned back into logical
//! order ([`super::bidi`]). The result is one text per page, so the worker can tell which pages have
//! no usable text layer and need OCR.

use std::panic::{self, AssertUnwindSafe};

use pdf_extract::{Document, MediaBox, OutputDev, OutputError, Transform};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::bidi;
use crate::panic_detail::panic_detail;

mod fonts;
mod page_contents;

/// A gap wider than this fraction of the font size between two glyphs is a word break (the
/// threshold `pdftotext` uses too, so both split words alike).
const WORD_GAP: f64 = 0.1;
/// A glyph whose baseline is further than this fraction of the font size from the line's starts
/// a new line.
const BASELINE_TOLERANCE: f64 = 0.5;
/// A glyph placed this far (in font sizes) before the start of the current line starts a new one.
const BACKWARD_JUMP: f64 = 2.0;
/// The advance assumed, in font sizes, for a glyph whose width the parser does not know.
const UNKNOWN_WIDTH: f64 = 0.8;

/// The text layer of a PDF, page by page.
pub(crate) struct TextLayer {
    pub pages: Vec<String>,
    /// The first reason a page could not be read, if one could not (that page is empty).
    pub error: Option<String>,
}

/// Opens a PDF (decrypting it when it has an empty user password, as readers do).
pub(crate) fn load(bytes: &[u8]) -> Result<Document, String> {
    let mut document = Document::load_mem(bytes).map_err(|e| e.to_string())?;
    if document.is_encrypted() {
        document.decrypt("").map_err(|e| format!("encrypted PDF: {e}"))?;
    }
    fonts::prepare_fonts(&mut document);
    page_contents::prepare_page_contents(&mut document);
    Ok(document)
}

/// Reads the text layer of every page. A panic of the parser is caught per page: that page is
/// empty and counted as failed, the others are kept. A document of several pages is read by up to
/// [`MAX_PAGE_THREADS`] threads, each taking a run of consecutive pages.
pub(crate) fn text_layer(document: &Document) -> TextLayer {
    let page_numbers: Vec<u32> = document.get_pages().into_keys().collect();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = cores.min(MAX_PAGE_THREADS).min(page_numbers.len()).max(1);
    if threads == 1 {
        return pages_text(document, &page_numbers);
    }
    let chunk = page_numbers.len().div_ceil(threads);
    let parts: Vec<TextLayer> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            page_numbers.chunks(chunk).map(|pages| scope.spawn(move || pages_text(document, pages))).collect();
        handles
            .into_iter()
            .zip(page_numbers.chunks(chunk))
            .map(|(handle, pages)| {
                // A panic is caught per page inside; a thread can only fail here if that failed.
                handle.join().unwrap_or_else(|_| TextLayer {
                    pages: vec![String::new(); pages.len()],
                    error: Some("the pdf parser failed".to_owned()),
                })
            })
            .collect()
    });
    let mut layer = TextLayer { pages: Vec::with_capacity(page_numbers.len()), error: None };
    for part in parts {
        layer.pages.extend(part.pages);
        if layer.error.is_none() {
            layer.error = part.error;
        }
    }
    layer
}

/// Threads reading the pages of one PDF: a CV has a few pages, and the pool runs several workers.
const MAX_PAGE_THREADS: usize = 2;

/// The text of the given pages, in order, one string per page.
fn pages_text(document: &Document, page_numbers: &[u32]) -> TextLayer {
    let mut collector = PageCollector::default();
    let mut error = None;
    for &page_number in page_numbers {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            pdf_extract::output_doc_page(document, &mut collector, page_number)
        }));
        let page_error = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(page_error)) => Some(page_error.to_string()),
            Err(payload) => {
                let detail = panic_detail(payload.as_ref());
                Some(format!("the pdf parser panicked: {detail}"))
            }
        };
        match page_error {
            None => collector.finish_page(),
            Some(page_error) => {
                // What a failed page gave before failing is dropped with it.
                collector.line = None;
                collector.page.clear();
                collector.in_page = true;
                collector.finish_page();
                error.get_or_insert(page_error);
            }
        }
    }
    TextLayer { pages: collector.pages, error }
}

/// One glyph of the current line, in the line's own frame.
struct PlacedGlyph {
    /// Start and end along the line's direction.
    start: f64,
    end: f64,
    /// Its text: `line.text[lo..hi]`.
    lo: usize,
    hi: usize,
}

#[derive(Default)]
struct Line {
    /// Unit vector of the writing direction and the first glyph's origin.
    dir: (f64, f64),
    origin: (f64, f64),
    size: f64,
    min_start: f64,
    glyphs: Vec<PlacedGlyph>,
    text: String,
}

/// Collects positioned glyphs from `pdf-extract` and lays them out as text, one string per page.
#[derive(Default)]
struct PageCollector {
    pages: Vec<String>,
    page: String,
    line: Option<Line>,
    in_page: bool,
}

impl PageCollector {
    fn add_glyph(&mut self, trm: &Transform, width: f64, font_size: f64, text: &str) {
        if text.is_empty() {
            return;
        }
        let (x, y) = (trm.m31, trm.m32);
        let scale = trm.m11.hypot(trm.m12);
        let dir = if scale > f64::EPSILON { (trm.m11 / scale, trm.m12 / scale) } else { (1.0, 0.0) };
        let mut size = (font_size * trm.m21.hypot(trm.m22)).abs();
        if !size.is_finite() || size < 0.01 {
            size = (font_size * scale).abs().max(1.0);
        }
        let mut advance = (width * font_size * scale).abs();
        if advance < f64::EPSILON && !text.trim().is_empty() {
            // Width unknown to the parser: assume an average letter, so that glyphs placed one
            // after the other are not taken for separate words.
            advance = UNKNOWN_WIDTH * size;
        }
        if !(x.is_finite() && y.is_finite() && advance.is_finite()) {
            return;
        }

        // A combining mark belongs to the glyph before it, wherever the producer placed it.
        if text.chars().next().is_some_and(is_combining_mark)
            && let Some(line) = self.line.as_mut()
            && let Some(last) = line.glyphs.last_mut()
        {
            line.text.push_str(text);
            last.hi = line.text.len();
            return;
        }

        let continues = self.line.as_ref().is_some_and(|line| {
            let (dx, dy) = (x - line.origin.0, y - line.origin.1);
            let along = dx * line.dir.0 + dy * line.dir.1;
            let across = -dx * line.dir.1 + dy * line.dir.0;
            let same_direction = dir.0 * line.dir.0 + dir.1 * line.dir.1 > 0.99;
            let tolerance = BASELINE_TOLERANCE * size.max(line.size);
            same_direction && across.abs() < tolerance && along > line.min_start - BACKWARD_JUMP * size.max(line.size)
        });
        if !continues {
            self.finish_line();
            self.line = Some(Line { dir, origin: (x, y), size, ..Line::default() });
        }
        let Some(line) = self.line.as_mut() else { return };
        let start = (x - line.origin.0) * line.dir.0 + (y - line.origin.1) * line.dir.1;
        line.min_start = line.min_start.min(start);
        line.size = line.size.max(size);
        let lo = line.text.len();
        line.text.push_str(text);
        line.glyphs.push(PlacedGlyph { start, end: start + advance, lo, hi: line.text.len() });
    }

    fn finish_line(&mut self) {
        let Some(line) = self.line.take() else { return };
        if line.glyphs.is_empty() {
            return;
        }
        // Glyphs stay in content-stream order: `pdf-extract` does not know every font's widths
        // (it reports 0), so positions alone cannot order a line; the stream order can.
        let mut units: Vec<&str> = Vec::with_capacity(line.glyphs.len() * 2);
        let mut rtl_forward = 0usize;
        let mut rtl_backward = 0usize;
        let mut previous: Option<(&PlacedGlyph, &str)> = None;
        for glyph in &line.glyphs {
            let text = &line.text[glyph.lo..glyph.hi];
            if let Some((before, before_text)) = previous {
                // The distance between the two glyphs' boxes, whichever side this one is on.
                let gap = (glyph.start - before.end).max(before.start - glyph.end);
                if gap > WORD_GAP * line.size {
                    units.push(" ");
                }
                if before_text.chars().any(bidi::is_rtl_char) && text.chars().any(bidi::is_rtl_char) {
                    if glyph.start > before.start + f64::EPSILON {
                        rtl_forward += 1;
                    } else if glyph.start < before.start - f64::EPSILON {
                        rtl_backward += 1;
                    }
                }
            }
            units.push(if text.trim().is_empty() { " " } else { text });
            previous = Some((glyph, text));
        }

        if !self.page.is_empty() {
            self.page.push('\n');
        }
        // Right-to-left glyphs drawn left to right on the page are in visual order: turn them
        // back into the order they were typed in. Drawn right to left, they already are.
        let owned: Vec<String>;
        let ordered: Vec<&str> = if rtl_forward > rtl_backward {
            owned = bidi::visual_to_logical(units.iter().map(|unit| (*unit).to_owned()).collect());
            owned.iter().map(String::as_str).collect()
        } else {
            units
        };
        for unit in ordered {
            push_decomposing_presentation_forms(&mut self.page, unit);
        }
    }

    fn finish_page(&mut self) {
        self.finish_line();
        if self.in_page {
            self.pages.push(std::mem::take(&mut self.page));
            self.in_page = false;
        }
    }
}

/// Arabic and Hebrew presentation forms (the shaped glyphs some fonts map to) become the letters
/// a person types (their compatibility decomposition), so the text can be searched and scored.
fn push_decomposing_presentation_forms(out: &mut String, unit: &str) {
    for c in unit.chars() {
        if matches!(c, '\u{FB1D}'..='\u{FB4F}' | '\u{FB50}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}') {
            out.extend(std::iter::once(c).nfkc());
        } else {
            out.push(c);
        }
    }
}

impl OutputDev for PageCollector {
    fn begin_page(&mut self, _: u32, _: &MediaBox, _: Option<(f64, f64, f64, f64)>) -> Result<(), OutputError> {
        self.finish_page();
        self.in_page = true;
        Ok(())
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        self.finish_page();
        Ok(())
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        char: &str,
    ) -> Result<(), OutputError> {
        self.add_glyph(trm, width, font_size, char);
        Ok(())
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

/// Letters and digits a reader could use: what decides whether a page has a usable text layer.
/// Private-use code points and U+FFFD (what fonts without a Unicode map decode to) do not count.
pub(crate) fn usable_chars(text: &str) -> usize {
    text.chars().filter(|c| c.is_alphanumeric() && !matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{FFFD}')).count()
}

/// Replaces typographic ligature characters by their letters, so that `ﬁnance` matches
/// `finance` for the scorer and for a recruiter's search.
pub(crate) fn split_ligatures(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ligatures_become_letters() {
        assert_eq!(
            split_ligatures("\u{FB01}nance \u{FB02}ow o\u{FB00}er e\u{FB03}cient ba\u{FB04}e \u{FB05}\u{FB06}"),
            "finance flow offer efficient baffle stst"
        );
    }

    fn glyph_at(collector: &mut PageCollector, x: f64, y: f64, text: &str) {
        let trm = Transform::row_major(1.0, 0.0, 0.0, 1.0, x, y);
        collector.add_glyph(&trm, 0.5, 10.0, text);
    }

    fn page_of(glyphs: &[(f64, f64, &str)]) -> String {
        let mut collector = PageCollector { in_page: true, ..PageCollector::default() };
        for (x, y, text) in glyphs {
            glyph_at(&mut collector, *x, *y, text);
        }
        collector.finish_page();
        collector.pages.concat()
    }

    #[test]
    fn glyphs_become_words_and_lines() {
        let text = page_of(&[(0.0, 700.0, "a"), (5.0, 700.0, "b"), (20.0, 700.0, "c"), (0.0, 680.0, "d")]);
        assert_eq!(text, "ab c\nd");
    }

    #[test]
    fn a_column_written_before_the_next_keeps_its_words() {
        // Left column lines at x=0, then the right column at x=300 on the same baselines.
        let text = page_of(&[
            (0.0, 700.0, "L"),
            (5.0, 700.0, "1"),
            (0.0, 680.0, "L"),
            (5.0, 680.0, "2"),
            (300.0, 700.0, "R"),
            (305.0, 700.0, "1"),
            (300.0, 680.0, "R"),
            (305.0, 680.0, "2"),
        ]);
        assert_eq!(text, "L1\nL2\nR1\nR2");
    }

    #[test]
    fn glyphs_of_unknown_width_placed_in_a_row_are_one_word() {
        let mut collector = PageCollector { in_page: true, ..PageCollector::default() };
        for (x, letter) in [(0.0, "w"), (6.0, "o"), (11.0, "r"), (15.0, "d"), (30.0, "x")] {
            collector.add_glyph(&Transform::row_major(1.0, 0.0, 0.0, 1.0, x, 700.0), 0.0, 10.0, letter);
        }
        collector.finish_page();
        assert_eq!(collector.pages.concat(), "word x");
    }

    #[test]
    fn rtl_glyphs_written_right_to_left_or_left_to_right_read_the_same() {
        // "שלום" typed order: ש ל ו ם; on the page ש is rightmost.
        let logical_stream = page_of(&[(15.0, 700.0, "ש"), (10.0, 700.0, "ל"), (5.0, 700.0, "ו"), (0.0, 700.0, "ם")]);
        let visual_stream = page_of(&[(0.0, 700.0, "ם"), (5.0, 700.0, "ו"), (10.0, 700.0, "ל"), (15.0, 700.0, "ש")]);
        assert_eq!(logical_stream, "שלום");
        assert_eq!(visual_stream, "שלום");
    }

    #[test]
    fn presentation_forms_become_letters() {
        // U+FEDF ARABIC LETTER LAM INITIAL FORM.
        assert_eq!(page_of(&[(0.0, 700.0, "\u{FEDF}")]), "\u{0644}");
    }

    #[test]
    fn usable_chars_ignore_private_use_and_replacement_characters() {
        assert_eq!(usable_chars("ab 1 \u{E001}\u{FFFD} - é"), 4);
    }
}
