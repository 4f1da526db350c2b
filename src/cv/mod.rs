//! CV files: format detection and text extraction (CONTRACT §6 item 7 and "Extraction").
//!
//! - [`detect_cv_format`] decides PDF or DOCX from the bytes alone, in the server process.
//! - [`CvExtractor`] runs the text extraction in a small pool of pre-started worker processes
//!   (the server's own binary, re-executed with [`EXTRACTION_WORKER_ARG`]) under memory, CPU and
//!   wall-clock limits, so a parser crash or a decompression bomb costs one worker, not the
//!   server; a worker is replaced after a crash, a limit, or a number of jobs.
//! - [`run_extraction_worker`] is that worker's entry point.
//! - PDF pages without a usable text layer are read by OCR (Tesseract, [`OcrSettings`]) inside
//!   the same worker and limits; [`ExtractedText::source`] says which one the text came from.
//! - [`extract_file`] is the one path from a file on disk to its text, shared by the intake
//!   pipeline and the `cv-text` operator command.

mod bidi;
mod detect;
pub mod docx;
mod extractor;
mod normalize;
mod ocr;
mod pdf;
mod protocol;
mod worker;

pub use detect::{CvRejection, detect_cv_format};
pub use extractor::{CvExtractor, CvTextError, ExtractionError, ExtractionLimits, extract_file};
pub use ocr::{OcrMode, OcrSettings};
pub use worker::run_extraction_worker;

/// The hidden first argument that turns the binary into a CV extraction worker. It belongs to
/// this module (the CLI only dispatches on it), so `cv` does not depend on `cli`.
pub const EXTRACTION_WORKER_ARG: &str = "__extract-cv";

/// Where a CV's text came from (stored as `job_applications.cv_text_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextSource {
    /// The document's own text: a PDF's text layer, or a DOCX's XML.
    TextLayer,
    /// Optical character recognition of page images (at least one page had no usable text layer).
    Ocr,
}

impl TextSource {
    /// The name used in the `cv-text` output and in the database column.
    pub fn as_str(self) -> &'static str {
        match self {
            TextSource::TextLayer => "text_layer",
            TextSource::Ocr => "ocr",
        }
    }
}

impl std::fmt::Display for TextSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text of one CV and where it came from. It reads as the text itself (`Deref<Target = str>`),
/// so code that only wants the text keeps working with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedText {
    pub text: String,
    pub source: TextSource,
}

impl std::ops::Deref for ExtractedText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl PartialEq<str> for ExtractedText {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for ExtractedText {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// The two CV formats the contract accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CvFormat {
    Pdf,
    Docx,
}

impl CvFormat {
    /// The short name used in the `cv-text` output and on the extraction child's command line.
    pub fn as_str(self) -> &'static str {
        match self {
            CvFormat::Pdf => "pdf",
            CvFormat::Docx => "docx",
        }
    }

    /// The content type the CV is stored with (CONTRACT §6 "Storage": the detected type, never
    /// the client's).
    pub fn content_type(self) -> &'static str {
        match self {
            CvFormat::Pdf => "application/pdf",
            CvFormat::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        }
    }

    /// The inverse of [`CvFormat::content_type`].
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        [CvFormat::Pdf, CvFormat::Docx].into_iter().find(|format| format.content_type() == content_type)
    }

    /// The file extension for server-made storage keys (no dot).
    pub fn extension(self) -> &'static str {
        self.as_str()
    }

    /// The inverse of [`CvFormat::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "pdf" => Some(CvFormat::Pdf),
            "docx" => Some(CvFormat::Docx),
            _ => None,
        }
    }
}

impl std::fmt::Display for CvFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for format in [CvFormat::Pdf, CvFormat::Docx] {
            assert_eq!(CvFormat::from_name(format.as_str()), Some(format));
        }
        assert_eq!(CvFormat::from_name("doc"), None);
    }

    #[test]
    fn content_types_and_extensions_match_the_contract() {
        assert_eq!(CvFormat::Pdf.content_type(), "application/pdf");
        assert_eq!(
            CvFormat::Docx.content_type(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        assert_eq!(CvFormat::Pdf.extension(), "pdf");
        assert_eq!(CvFormat::Docx.extension(), "docx");
    }
}
