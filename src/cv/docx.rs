//! DOCX text with `zip` + `quick-xml` (DEPENDENCIES.md "DOCX text"): the text of the body,
//! headers, footers, footnotes and endnotes, with paragraphs, tables and text boxes.
//!
//! Safe to run in the server process: the archive's entry count is capped, every part is
//! inflated through a reader that refuses to go past a total byte budget (declared sizes lie),
//! nothing is ever extracted to disk, and no DTD entity is expanded (only the five predefined
//! XML entities and numeric character references are resolved), so XXE has nothing to read.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, Event};
use zip::ZipArchive;

use super::detect::declared_zip_entry_count;

/// Archives with more entries are refused: a real CV has a few dozen.
pub const MAX_ENTRIES: usize = 10_000;
/// Total inflated bytes read across all the parts of one document: a 2-page CV's
/// `document.xml` is well under 1 MiB; a zip bomb's is a gigabyte.
pub const MAX_INFLATED_BYTES: u64 = 32 * 1024 * 1024;

const MAIN_PART: &str = "word/document.xml";

/// Why a DOCX gave no text. The Display text is a short reason, safe to show a client.
#[derive(Debug, thiserror::Error)]
pub enum DocxError {
    #[error("could not read the file")]
    Io(#[source] io::Error),
    #[error("not a readable DOCX archive")]
    Archive(#[source] zip::result::ZipError),
    #[error("not a readable DOCX archive")]
    Structure(#[source] io::Error),
    #[error("the archive has more than {max} entries")]
    TooManyEntries { max: usize },
    #[error("the archive has no word/document.xml")]
    MissingMainPart,
    #[error("the document inflates beyond {max} bytes")]
    InflatedTooLarge { max: u64 },
    #[error("the document XML is malformed")]
    Xml(#[source] quick_xml::Error),
}

/// Extracts the text of the DOCX at `path`, keeping at most `max_chars` characters (the whole
/// document is still parsed, so an oversized one is refused rather than silently cut).
pub fn extract_docx_text(path: &Path, max_chars: usize) -> Result<String, DocxError> {
    let mut file = File::open(path).map_err(DocxError::Io)?;
    // Checked before the ZIP parser runs: it sizes its tables from the declared count.
    let declared = declared_zip_entry_count(&mut file).map_err(DocxError::Structure)?;
    if declared > MAX_ENTRIES as u64 {
        return Err(DocxError::TooManyEntries { max: MAX_ENTRIES });
    }
    file.rewind().map_err(DocxError::Io)?;
    let mut archive = ZipArchive::new(BufReader::new(file)).map_err(DocxError::Archive)?;
    if archive.len() > MAX_ENTRIES {
        return Err(DocxError::TooManyEntries { max: MAX_ENTRIES });
    }
    if archive.index_for_name(MAIN_PART).is_none() {
        return Err(DocxError::MissingMainPart);
    }

    // Headers first: a CV's header usually carries the candidate's name and contact details.
    let names: Vec<String> = archive.file_names().filter_map(Result::ok).map(|name| name.into_owned()).collect();
    let parts_named = |prefix: &str| -> Vec<String> {
        let mut parts: Vec<String> = names.iter().filter(|name| is_numbered_part(name, prefix)).cloned().collect();
        parts.sort();
        parts
    };
    let mut order: Vec<(String, bool)> = parts_named("word/header").into_iter().map(|name| (name, false)).collect();
    order.push((MAIN_PART.to_owned(), true));
    for part in ["word/footnotes.xml", "word/endnotes.xml"] {
        if names.iter().any(|name| name == part) {
            order.push((part.to_owned(), false));
        }
    }
    order.extend(parts_named("word/footer").into_iter().map(|name| (name, false)));

    let mut text = TextSink::new(max_chars);
    let mut budget = MAX_INFLATED_BYTES;
    for (name, required) in order {
        match read_part_text(&mut archive, &name, &mut budget, &mut text) {
            Ok(()) => {}
            Err(error @ DocxError::InflatedTooLarge { .. }) => return Err(error),
            // An unreadable header or footnote part should not cost the body's text.
            Err(_) if !required => {}
            Err(error) => return Err(error),
        }
        text.end_part();
    }
    Ok(text.into_string())
}

/// `word/header1.xml`, `word/header.xml`: a part directly under `word/` named by `prefix`, an
/// optional number and `.xml`.
fn is_numbered_part(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(".xml"))
        .is_some_and(|number| number.bytes().all(|b| b.is_ascii_digit()))
}

fn read_part_text<R: Read + io::Seek>(
    archive: &mut ZipArchive<R>,
    name: &str,
    budget: &mut u64,
    text: &mut TextSink,
) -> Result<(), DocxError> {
    let part = archive.by_name(name).map_err(DocxError::Archive)?;
    let mut capped = BudgetedRead::new(part, *budget);
    let result = collect_wordprocessing_text(BufReader::new(&mut capped), text);
    if capped.exceeded {
        return Err(DocxError::InflatedTooLarge { max: MAX_INFLATED_BYTES });
    }
    *budget = budget.saturating_sub(capped.consumed);
    result
}

/// Reads at most `budget` bytes from the inflating reader, and fails past it: reading through
/// `take(budget + 1)` shows whether there was more without trusting the declared size.
struct BudgetedRead<R> {
    inner: io::Take<R>,
    budget: u64,
    consumed: u64,
    exceeded: bool,
}

impl<R: Read> BudgetedRead<R> {
    fn new(inner: R, budget: u64) -> Self {
        Self { inner: inner.take(budget.saturating_add(1)), budget, consumed: 0, exceeded: false }
    }
}

impl<R: Read> Read for BudgetedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.exceeded {
            return Err(io::Error::other("inflated size budget exceeded"));
        }
        let read = self.inner.read(buf)?;
        self.consumed += read as u64;
        if self.consumed > self.budget {
            self.exceeded = true;
            return Err(io::Error::other("inflated size budget exceeded"));
        }
        Ok(read)
    }
}

/// Accumulates text up to a character budget and keeps paragraph breaks tidy.
struct TextSink {
    text: String,
    chars: usize,
    max_chars: usize,
}

impl TextSink {
    fn new(max_chars: usize) -> Self {
        Self { text: String::new(), chars: 0, max_chars }
    }

    fn push_str(&mut self, s: &str) {
        for c in s.chars() {
            self.push(c);
        }
    }

    fn push(&mut self, c: char) {
        if self.chars < self.max_chars {
            self.text.push(c);
            self.chars += 1;
        }
    }

    fn end_part(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            self.push('\n');
        }
    }

    fn into_string(self) -> String {
        self.text
    }
}

/// Streams WordprocessingML and appends its visible text: `w:t` runs, `w:tab` as a tab,
/// `w:br`/`w:cr` and the end of each `w:p` as a newline. Elements are matched by local name
/// so unusual namespace prefixes still work.
fn collect_wordprocessing_text<B: io::BufRead>(source: B, text: &mut TextSink) -> Result<(), DocxError> {
    let mut reader = Reader::from_reader(source);
    let config = reader.config_mut();
    // Lenient on structure: a slightly broken document still yields its text.
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.allow_dangling_amp = true;

    let mut buf = Vec::new();
    let mut in_text_run = false;
    // `mc:Fallback` repeats the `mc:Choice` content (text boxes for old readers): skip it, or
    // every text box would appear twice.
    let mut fallback_depth = 0usize;
    // `w:tab` inside `w:tabs` is a tab-stop definition in paragraph properties, not a tab.
    let mut tab_stops_depth = 0usize;

    loop {
        let event = reader.read_event_into(&mut buf).map_err(|error| match error {
            quick_xml::Error::Io(io_error) => DocxError::Io(io::Error::new(io_error.kind(), io_error.to_string())),
            other => DocxError::Xml(other),
        })?;
        match event {
            Event::Start(element) => match element.local_name().as_ref() {
                "Fallback" => fallback_depth += 1,
                _ if fallback_depth > 0 => {}
                "tabs" => tab_stops_depth += 1,
                "t" => in_text_run = true,
                name => push_break_for(name, tab_stops_depth, text),
            },
            Event::Empty(element) => match element.local_name().as_ref() {
                _ if fallback_depth > 0 => {}
                "p" => text.push('\n'),
                name => push_break_for(name, tab_stops_depth, text),
            },
            Event::End(element) => match element.local_name().as_ref() {
                "Fallback" => fallback_depth = fallback_depth.saturating_sub(1),
                _ if fallback_depth > 0 => {}
                "tabs" => tab_stops_depth = tab_stops_depth.saturating_sub(1),
                "t" => in_text_run = false,
                "p" => text.push('\n'),
                _ => {}
            },
            Event::Text(content) if in_text_run && fallback_depth == 0 => {
                text.push_str(&content.xml10_content());
            }
            Event::CData(content) if in_text_run && fallback_depth == 0 => {
                text.push_str(&content.xml10_content());
            }
            Event::GeneralRef(reference) if in_text_run && fallback_depth == 0 => {
                if let Some(c) = resolve_predefined_reference(&reference) {
                    text.push(c);
                }
            }
            Event::Eof => return Ok(()),
            // The DOCTYPE (where an XXE payload would be declared), comments and processing
            // instructions carry no text.
            _ => {}
        }
        buf.clear();
    }
}

fn push_break_for(name: &str, tab_stops_depth: usize, text: &mut TextSink) {
    match name {
        "tab" if tab_stops_depth == 0 => text.push('\t'),
        "br" | "cr" => text.push('\n'),
        "noBreakHyphen" => text.push('-'),
        _ => {}
    }
}

/// Resolves a character reference or one of the five entities XML predefines. Every other
/// entity (declared in a DTD, possibly an external one) is dropped, never fetched.
fn resolve_predefined_reference(reference: &BytesRef<'_>) -> Option<char> {
    if reference.is_char_ref() {
        return reference.resolve_char_ref().ok().flatten();
    }
    match &**reference {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use super::*;

    fn corpus(relative: &str) -> PathBuf {
        crate::test_corpus::corpus_path(relative)
    }

    fn text_of_xml(xml: &str) -> String {
        let mut sink = TextSink::new(usize::MAX);
        collect_wordprocessing_text(xml.as_bytes(), &mut sink).unwrap();
        sink.into_string()
    }

    #[test]
    fn runs_tabs_breaks_and_paragraphs_become_text() {
        let xml = r#"<w:document xmlns:w="w"><w:body>
            <w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>
              <w:r><w:t>Jane</w:t></w:r><w:r><w:t xml:space="preserve"> Doe</w:t></w:r>
              <w:r><w:tab/><w:t>Paris</w:t><w:br/><w:t>France</w:t></w:r></w:p>
            <w:tbl><w:tr><w:tc><w:p><w:r><w:t>Rust</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
            <w:p/><w:p><w:r><w:delText>deleted</w:delText><w:t>kept</w:t></w:r></w:p>
        </w:body></w:document>"#;
        assert_eq!(text_of_xml(xml), "Jane Doe\tParis\nFrance\nRust\n\nkept\n");
    }

    #[test]
    fn predefined_entities_and_character_references_resolve() {
        let xml = "<w:p><w:r><w:t>R&amp;D &lt;3 &#233;t&#xE9; &quot;x&quot; &apos;</w:t></w:r></w:p>";
        assert_eq!(text_of_xml(xml), "R&D <3 été \"x\" '\n");
    }

    #[test]
    fn dtd_entities_are_never_expanded() {
        let xml = r#"<?xml version="1.0"?>
            <!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY greeting "hello">]>
            <w:document><w:p><w:r><w:t>a&xxe;b&greeting;c</w:t></w:r></w:p></w:document>"#;
        assert_eq!(text_of_xml(xml), "abc\n");
    }

    #[test]
    fn alternate_content_fallback_is_not_duplicated() {
        let xml = r#"<w:p><w:r><mc:AlternateContent>
            <mc:Choice><w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent></mc:Choice>
            <mc:Fallback><w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent></mc:Fallback>
        </mc:AlternateContent></w:r></w:p>"#;
        assert_eq!(text_of_xml(xml).matches("boxed").count(), 1);
    }

    #[test]
    fn the_cv_docx_yields_its_text() {
        let text = extract_docx_text(&corpus("cv/hrhelper_sample_resume.docx"), 200_000).unwrap();
        assert!(text.split_whitespace().count() > 50, "{text}");
    }

    #[test]
    fn headers_footers_and_footnotes_are_included() {
        let text = extract_docx_text(&corpus("docx/pydocx_header-footer.docx"), 200_000).unwrap();
        assert!(!text.trim().is_empty());
        let footnotes = extract_docx_text(&corpus("docx/tika_footnotes.docx"), 200_000).unwrap();
        assert!(!footnotes.trim().is_empty());
    }

    #[test]
    fn text_boxes_are_included() {
        let text = extract_docx_text(&corpus("docx/tika_WORD_text_box.docx"), 200_000).unwrap();
        assert!(!text.trim().is_empty());
    }

    #[test]
    fn the_zip_bomb_is_refused_quickly() {
        let started = Instant::now();
        let result = extract_docx_text(&corpus("bad/synth_docx_zipbomb-document-xml-1GiB.docx"), 200_000);
        assert!(matches!(result, Err(DocxError::InflatedTooLarge { .. })), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn too_many_entries_are_refused() {
        let result = extract_docx_text(&corpus("bad/synth_docx_20000-entries.docx"), 200_000);
        assert!(matches!(result, Err(DocxError::TooManyEntries { .. })), "{result:?}");
    }

    #[test]
    fn the_xxe_docx_does_not_leak_local_files() {
        let text = extract_docx_text(&corpus("bad/synth_docx_xxe-file-etc-passwd.docx"), 200_000).unwrap_or_default();
        assert!(!text.contains("root:"), "{text}");
    }

    #[test]
    fn a_missing_main_part_is_an_error() {
        let result = extract_docx_text(&corpus("bad/synth_docx_no-document-xml.docx"), 200_000);
        assert!(matches!(result, Err(DocxError::MissingMainPart)), "{result:?}");
    }

    #[test]
    fn the_char_budget_truncates() {
        let text = extract_docx_text(&corpus("cv/hrhelper_sample_resume.docx"), 10).unwrap();
        assert!(text.chars().count() <= 10);
    }

    #[test]
    fn every_docx_in_the_corpus_returns_without_panicking() {
        for folder in ["docx", "bad", "cv"] {
            for entry in std::fs::read_dir(corpus(folder)).unwrap() {
                let path = entry.unwrap().path();
                let started = Instant::now();
                let _ = extract_docx_text(&path, 200_000);
                assert!(started.elapsed() < Duration::from_secs(30), "{} took {:?}", path.display(), started.elapsed());
            }
        }
    }
}
