//! CV format detection from the file's own bytes (CONTRACT §6 item 7): `%PDF-` within the first
//! 1024 bytes, or a ZIP whose central directory names `word/document.xml`.
//!
//! The ZIP check reads only the end-of-central-directory record and the central directory's
//! headers: nothing is inflated, nothing is allocated in proportion to a size the file declares,
//! and every read is bounded by the real file length. It runs inside the server process on
//! hostile uploads, which is why it does not hand the archive to a general ZIP parser.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::CvFormat;

/// Why an upload is not accepted as a CV. The Display text is shown to clients after
/// `CV validation failed: ` (CONTRACT §6 item 7).
#[derive(Debug, thiserror::Error)]
pub enum CvRejection {
    #[error("CV file is empty")]
    Empty,
    #[error("unsupported file format (expected PDF or DOCX)")]
    Unsupported,
    /// The file could not be read at all; a server-side fault, not the client's.
    #[error("CV file could not be read")]
    Io(#[source] io::Error),
}

/// CONTRACT §6: the PDF header may sit anywhere in the first 1024 bytes (a BOM or junk before it
/// is tolerated by readers, and by this rule).
const PDF_MAGIC: &[u8] = b"%PDF-";
const PDF_MAGIC_WINDOW: usize = 1024;

const ZIP_LOCAL_HEADER: [u8; 4] = *b"PK\x03\x04";
const ZIP_CENTRAL_HEADER: [u8; 4] = *b"PK\x01\x02";
const ZIP_EOCD: [u8; 4] = *b"PK\x05\x06";
const ZIP64_EOCD_LOCATOR: [u8; 4] = *b"PK\x06\x07";
const ZIP64_EOCD: [u8; 4] = *b"PK\x06\x06";
const EOCD_LEN: u64 = 22;
const ZIP64_LOCATOR_LEN: u64 = 20;
const ZIP64_EOCD_MIN_LEN: usize = 56;
const CENTRAL_HEADER_LEN: usize = 46;
/// The archive comment is at most 65,535 bytes, so the EOCD record starts within this many
/// bytes of the end.
const EOCD_SEARCH_WINDOW: u64 = EOCD_LEN + u16::MAX as u64;

/// The main part every WordprocessingML package has (ECMA-376 Part 1); its name is matched
/// exactly, as the contract says.
const DOCX_MAIN_PART: &[u8] = b"word/document.xml";

/// Decides whether the file at `path` is a PDF or a DOCX, from its bytes only (the client's file
/// name and part content type are never trusted). Blocking: call it from `spawn_blocking`.
pub fn detect_cv_format(path: &Path) -> Result<CvFormat, CvRejection> {
    let mut file = File::open(path).map_err(CvRejection::Io)?;
    let file_len = file.metadata().map_err(CvRejection::Io)?.len();
    if file_len == 0 {
        return Err(CvRejection::Empty);
    }

    let mut head = Vec::with_capacity(PDF_MAGIC_WINDOW);
    (&mut file).take(PDF_MAGIC_WINDOW as u64).read_to_end(&mut head).map_err(CvRejection::Io)?;
    if head.windows(PDF_MAGIC.len()).any(|w| w == PDF_MAGIC) {
        return Ok(CvFormat::Pdf);
    }
    if !head.starts_with(&ZIP_LOCAL_HEADER) {
        return Err(CvRejection::Unsupported);
    }

    match zip_central_directory_names(&mut file, file_len, DOCX_MAIN_PART) {
        Ok(true) => Ok(CvFormat::Docx),
        // A ZIP without the main part (ODT, a plain archive) or one whose directory cannot be
        // read (truncated, corrupted) is not a DOCX a recruiter could open.
        Ok(false) | Err(_) => Err(CvRejection::Unsupported),
    }
}

/// How many entries the archive's end record declares. Lets the DOCX reader refuse a huge
/// archive before a general ZIP parser sizes its tables from that number.
pub(super) fn declared_zip_entry_count(file: &mut File) -> io::Result<u64> {
    let file_len = file.metadata()?.len();
    Ok(locate_central_directory(file, file_len)?.entries)
}

/// Where the central directory is, as the end records declare it.
struct CentralDirectory {
    offset: u64,
    size: u64,
    entries: u64,
    /// Where the EOCD (or ZIP64 EOCD) record starts: the directory must end at or before it.
    end_record_at: u64,
}

/// Whether the archive's central directory holds an entry whose raw name is exactly `wanted`.
/// `Err` means the archive structure is unreadable.
fn zip_central_directory_names(file: &mut File, file_len: u64, wanted: &[u8]) -> io::Result<bool> {
    let directory = locate_central_directory(file, file_len)?;

    // Self-extracting stubs or other prepended bytes shift every offset; the directory then
    // still ends where the end record starts, which is where other readers look for it.
    let candidates = [Some(directory.offset), directory.end_record_at.checked_sub(directory.size)];
    for start in candidates.into_iter().flatten() {
        if start >= directory.end_record_at {
            continue;
        }
        if let Some(found) = scan_central_directory(file, start, &directory, wanted)? {
            return Ok(found);
        }
    }
    Err(invalid_zip("no central directory header where the end record points"))
}

/// Reads the end-of-central-directory record (and its ZIP64 counterpart when there is one).
fn locate_central_directory(file: &mut File, file_len: u64) -> io::Result<CentralDirectory> {
    if file_len < EOCD_LEN {
        return Err(invalid_zip("too short for an end record"));
    }
    let tail_start = file_len.saturating_sub(EOCD_SEARCH_WINDOW);
    file.seek(SeekFrom::Start(tail_start))?;
    let mut tail = Vec::new();
    file.take(EOCD_SEARCH_WINDOW).read_to_end(&mut tail)?;

    // The last signature whose comment length reaches exactly the end of the file is the real
    // record; a signature inside the comment or the data would not line up. Failing that, accept
    // trailing bytes after the comment, as common readers do.
    let record_end = |i: usize| read_u16(&tail, i + 20).map(|c| i + EOCD_LEN as usize + usize::from(c));
    let signatures = || {
        (0..=tail.len().saturating_sub(EOCD_LEN as usize)).rev().filter(|&i| tail.get(i..i + 4) == Some(&ZIP_EOCD[..]))
    };
    let eocd_at = signatures()
        .find(|&i| record_end(i) == Some(tail.len()))
        .or_else(|| signatures().find(|&i| record_end(i).is_some_and(|end| end <= tail.len())))
        .ok_or_else(|| invalid_zip("no end of central directory record"))?;
    let field32 = |at| read_u32(&tail, eocd_at + at).ok_or_else(|| invalid_zip("short end record"));
    let field16 = |at| read_u16(&tail, eocd_at + at).ok_or_else(|| invalid_zip("short end record"));
    let eocd_offset_in_file = tail_start + eocd_at as u64;

    let mut directory = CentralDirectory {
        entries: u64::from(field16(10)?),
        size: u64::from(field32(12)?),
        offset: u64::from(field32(16)?),
        end_record_at: eocd_offset_in_file,
    };

    // ZIP64: the locator sits right before the EOCD and points at the ZIP64 end record, whose
    // 64-bit fields replace the saturated 16/32-bit ones.
    let locator_at = eocd_at.checked_sub(ZIP64_LOCATOR_LEN as usize);
    if let Some(locator_at) = locator_at
        && tail.get(locator_at..locator_at + 4) == Some(&ZIP64_EOCD_LOCATOR[..])
    {
        let zip64_eocd_at = read_u64(&tail, locator_at + 8).ok_or_else(|| invalid_zip("short ZIP64 locator"))?;
        let locator_in_file = tail_start + locator_at as u64;
        if zip64_eocd_at >= locator_in_file {
            return Err(invalid_zip("ZIP64 end record after its locator"));
        }
        file.seek(SeekFrom::Start(zip64_eocd_at))?;
        let mut record = [0u8; ZIP64_EOCD_MIN_LEN];
        file.read_exact(&mut record)?;
        if record[..4] != ZIP64_EOCD {
            return Err(invalid_zip("bad ZIP64 end record signature"));
        }
        let field64 = |at| read_u64(&record, at).ok_or_else(|| invalid_zip("short ZIP64 record"));
        directory = CentralDirectory {
            entries: field64(32)?,
            size: field64(40)?,
            offset: field64(48)?,
            end_record_at: zip64_eocd_at,
        };
    }
    Ok(directory)
}

/// Walks the central directory headers from `start`. `Ok(None)` when `start` does not hold a
/// central header (the caller then tries another candidate).
fn scan_central_directory(
    file: &mut File,
    start: u64,
    directory: &CentralDirectory,
    wanted: &[u8],
) -> io::Result<Option<bool>> {
    file.seek(SeekFrom::Start(start))?;
    let mut reader = BufReader::new(&mut *file);
    let mut position = start;
    let mut header = [0u8; CENTRAL_HEADER_LEN];
    let mut name = Vec::with_capacity(wanted.len());
    let mut seen: u64 = 0;

    // Bounded twice: by the declared entry count and by the bytes before the end record, which
    // the real file length bounds in turn.
    while seen < directory.entries && position + CENTRAL_HEADER_LEN as u64 <= directory.end_record_at {
        reader.read_exact(&mut header)?;
        if header[..4] != ZIP_CENTRAL_HEADER {
            return if seen == 0 { Ok(None) } else { Err(invalid_zip("central directory header signature missing")) };
        }
        let name_len = u64::from(read_u16(&header, 28).unwrap_or(0));
        let extra_len = u64::from(read_u16(&header, 30).unwrap_or(0));
        let comment_len = u64::from(read_u16(&header, 32).unwrap_or(0));

        if name_len == wanted.len() as u64 {
            name.clear();
            (&mut reader).take(name_len).read_to_end(&mut name)?;
            if name == wanted {
                return Ok(Some(true));
            }
            io::copy(&mut (&mut reader).take(extra_len + comment_len), &mut io::sink())?;
        } else {
            // Skipping by seeking keeps long names and extra fields out of memory.
            let skip = name_len + extra_len + comment_len;
            reader.seek_relative(i64::try_from(skip).unwrap_or(i64::MAX))?;
        }
        position += CENTRAL_HEADER_LEN as u64 + name_len + extra_len + comment_len;
        seen += 1;
    }
    if seen == 0 {
        return Ok(None);
    }
    Ok(Some(false))
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn invalid_zip(reason: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use super::*;

    fn corpus(relative: &str) -> PathBuf {
        crate::test_corpus::corpus_path(relative)
    }

    fn detect(relative: &str) -> Result<CvFormat, CvRejection> {
        detect_cv_format(&corpus(relative))
    }

    fn assert_unsupported(relative: &str) {
        match detect(relative) {
            Err(CvRejection::Unsupported) => {}
            other => panic!("{relative}: expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn pdf_header_at_offset_zero_is_pdf() {
        assert_eq!(detect("cv/deedy_resume.pdf").unwrap(), CvFormat::Pdf);
    }

    #[test]
    fn pdf_header_after_1000_nul_bytes_is_pdf() {
        assert_eq!(detect("bad/synth_pdf_garbage-1k-before-header.pdf").unwrap(), CvFormat::Pdf);
    }

    #[test]
    fn pdf_header_after_a_bom_is_pdf() {
        assert_eq!(detect("bad/pdf_magic_bom-before-header.pdf").unwrap(), CvFormat::Pdf);
    }

    #[test]
    fn a_header_only_pdf_is_still_detected_as_pdf() {
        assert_eq!(detect("bad/synth_pdf_header-only.pdf").unwrap(), CvFormat::Pdf);
    }

    #[test]
    fn pdf_header_beyond_the_first_1024_bytes_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late.pdf");
        let mut bytes = vec![b' '; PDF_MAGIC_WINDOW - PDF_MAGIC.len() + 1];
        bytes.extend_from_slice(b"%PDF-1.4\n");
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(detect_cv_format(&path), Err(CvRejection::Unsupported)));

        bytes.remove(0);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(detect_cv_format(&path).unwrap(), CvFormat::Pdf);
    }

    #[test]
    fn real_docx_files_are_docx() {
        for name in [
            "cv/hrhelper_sample_resume.docx",
            "docx/pydocx_test.docx",
            "docx/tika_WORD_various.docx",
            "docx/tika_WORD_macros.docm",
            "docx/tika_WORD_template.dotx",
            "bad/synth_docx_zipbomb-document-xml-1GiB.docx",
            "bad/synth_docx_xxe-file-etc-passwd.docx",
            "bad/synth_docx_zip-slip-names.docx",
        ] {
            assert_eq!(detect(name).unwrap(), CvFormat::Docx, "{name}");
        }
    }

    #[test]
    fn every_corpus_docx_folder_file_is_docx() {
        for entry in std::fs::read_dir(corpus("docx")).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(detect_cv_format(&path).unwrap(), CvFormat::Docx, "{}", path.display());
        }
    }

    #[test]
    fn every_corpus_pdf_folder_file_is_pdf() {
        for folder in ["pdf", "cv"] {
            for entry in std::fs::read_dir(corpus(folder)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "pdf") {
                    assert_eq!(detect_cv_format(&path).unwrap(), CvFormat::Pdf, "{}", path.display());
                }
            }
        }
    }

    #[test]
    fn legacy_word_doc_is_refused() {
        assert_unsupported("bad/doc_legacy-word97.doc");
    }

    #[test]
    fn password_protected_docx_is_an_ole_container_and_is_refused() {
        assert_unsupported("bad/docx_enc_password-tika.docx");
    }

    #[test]
    fn odt_is_refused() {
        assert_unsupported("bad/odt_zip-but-not-docx.odt");
    }

    #[test]
    fn plain_zip_is_refused() {
        assert_unsupported("bad/synth_zip_plain-not-docx.docx");
    }

    #[test]
    fn ooxml_package_without_document_xml_is_refused() {
        assert_unsupported("bad/synth_docx_no-document-xml.docx");
    }

    #[test]
    fn truncated_and_corrupted_zips_are_refused() {
        assert_unsupported("bad/docx_truncated.docx");
        assert_unsupported("bad/zip_corrupted_oom.zip");
    }

    #[test]
    fn empty_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pdf");
        std::fs::write(&path, b"").unwrap();
        let rejection = detect_cv_format(&path).unwrap_err();
        assert!(matches!(rejection, CvRejection::Empty));
        assert_eq!(rejection.to_string(), "CV file is empty");
    }

    #[test]
    fn plain_text_is_refused_with_the_contract_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cv.pdf");
        std::fs::write(&path, "Jane Doe, engineer").unwrap();
        let rejection = detect_cv_format(&path).unwrap_err();
        assert_eq!(rejection.to_string(), "unsupported file format (expected PDF or DOCX)");
    }

    #[test]
    fn a_docx_with_bytes_prepended_to_its_directory_offsets_is_still_docx() {
        // The stored offsets are off by the stub's length; the directory still ends at the
        // end record, which is where the second candidate looks.
        let original = std::fs::read(corpus("cv/hrhelper_sample_resume.docx")).unwrap();
        let mut shifted = b"PK\x03\x04".to_vec();
        shifted.extend_from_slice(&[0u8; 60]);
        shifted.extend_from_slice(&original);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shifted.docx");
        std::fs::write(&path, &shifted).unwrap();
        assert_eq!(detect_cv_format(&path).unwrap(), CvFormat::Docx);
    }

    #[test]
    fn twenty_thousand_entries_and_the_zip_bomb_are_detected_quickly() {
        for name in ["bad/synth_docx_20000-entries.docx", "bad/synth_docx_zipbomb-document-xml-1GiB.docx"] {
            let started = Instant::now();
            assert_eq!(detect(name).unwrap(), CvFormat::Docx, "{name}");
            assert!(started.elapsed() < Duration::from_secs(5), "{name} took {:?}", started.elapsed());
        }
    }

    #[test]
    fn the_directory_scan_agrees_with_the_zip_crate_on_every_corpus_zip() {
        for folder in ["cv", "docx", "bad"] {
            for entry in std::fs::read_dir(corpus(folder)).unwrap() {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                if !bytes.starts_with(&ZIP_LOCAL_HEADER) {
                    continue;
                }
                let zip_crate_finds_it = zip::ZipArchive::new(std::io::Cursor::new(bytes))
                    .ok()
                    .and_then(|archive| archive.index_for_name_raw(DOCX_MAIN_PART))
                    .is_some();
                let detected = matches!(detect_cv_format(&path), Ok(CvFormat::Docx));
                assert_eq!(detected, zip_crate_finds_it, "{}", path.display());
            }
        }
    }

    #[test]
    fn every_bad_corpus_file_gets_an_answer_without_panicking() {
        for entry in std::fs::read_dir(corpus("bad")).unwrap() {
            let path = entry.unwrap().path();
            let _ = detect_cv_format(&path);
        }
    }

    #[test]
    fn truncations_of_a_real_docx_never_panic() {
        let original = std::fs::read(corpus("cv/hrhelper_sample_resume.docx")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.docx");
        let step = (original.len() / 200).max(1);
        for len in (1..original.len()).step_by(step) {
            std::fs::write(&path, &original[..len]).unwrap();
            assert!(detect_cv_format(&path).is_err(), "prefix of {len} bytes");
        }
    }
}
