//! CV files: format detection and text extraction (CONTRACT §6 item 7 and "Extraction").
//!
//! - [`detect_cv_format`] decides PDF or DOCX from the bytes alone, in the server process.
//! - [`CvExtractor`] runs the text extraction in a child process (the server's own binary,
//!   re-executed with [`crate::cli::EXTRACTION_CHILD_ARG`]) under memory, CPU and wall-clock
//!   limits, so a parser crash or a decompression bomb costs one child, not the server.
//! - [`run_extraction_child`] is that child's entry point.
//! - [`extract_file`] is the one path from a file on disk to its text, shared by the intake
//!   pipeline and the `cv-text` operator command.

mod child;
mod detect;
pub mod docx;
mod extractor;
mod normalize;
mod pdf;

pub use child::run_extraction_child;
pub use detect::{CvRejection, detect_cv_format};
pub use extractor::{CvExtractor, CvTextError, ExtractionError, ExtractionLimits, extract_file};

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
