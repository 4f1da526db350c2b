//! Issue 10: a scanned CV is read by OCR. The scan is made in the test from a born-digital CV of
//! the corpus: its pages are rendered to JPEG images (pdftoppm) and assembled into a PDF that has
//! no text layer at all. Its text must hold at least 80 % of the original's words, say it came
//! from OCR, and the application made with it through the real server must be scored.

#[path = "common/mod.rs"]
mod common;
#[path = "applications/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
#[path = "support/word_recall.rs"]
mod word_recall;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fixtures::{Form, Tenant, expect_created, stored_application};
use talqo_server::cv::{CvExtractor, ExtractionLimits, OcrMode, OcrSettings, TextSource, extract_file};
use word_recall::{pdftotext, recall};

/// A one-page born-digital CV (pdfTeX, moderncv).
const ORIGINAL: &str = "cv/resumematcher_barry_allen_fe.pdf";
const SCAN_DPI: u32 = 200;

fn extractor(ocr: OcrSettings) -> CvExtractor {
    let exe = std::env::var_os("TALQO_EXTRACTOR_EXE")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_talqo-server")), PathBuf::from);
    CvExtractor::new(exe, ExtractionLimits { max_concurrent: 1, ocr, ..ExtractionLimits::default() })
}

/// OCR on, with room for a busy test machine.
const OCR_TIMEOUT: Duration = Duration::from_secs(120);

fn ocr_on() -> OcrSettings {
    let ocr = OcrSettings::for_mode(OcrMode::On).expect("tesseract and pdftoppm must be installed (see README)");
    OcrSettings { timeout: OCR_TIMEOUT, ..ocr }
}

/// Width, height and colour components of a baseline or progressive JPEG, from its start-of-frame
/// marker.
fn jpeg_size(jpeg: &[u8]) -> (u32, u32, u8) {
    let mut i = 2;
    while i + 9 < jpeg.len() {
        assert_eq!(jpeg[i], 0xFF, "not a JPEG marker at {i}");
        let marker = jpeg[i + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if (0xC0..=0xC2).contains(&marker) {
            let height = u32::from(u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]));
            let width = u32::from(u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]));
            return (width, height, jpeg[i + 9]);
        }
        i += 2 + len;
    }
    panic!("no start-of-frame marker in the JPEG");
}

/// An image-only PDF of `original`: one JPEG per page, nothing else.
fn scanned_copy(original: &Path, dir: &Path) -> Vec<u8> {
    let root = dir.join("page");
    let status = Command::new("pdftoppm")
        .args(["-r", &SCAN_DPI.to_string(), "-gray", "-jpeg"])
        .arg(original)
        .arg(&root)
        .status()
        .expect("pdftoppm (poppler-utils) must be installed");
    assert!(status.success());
    let mut images: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "jpg"))
        .collect();
    images.sort();
    assert!(!images.is_empty());

    let mut objects: Vec<Vec<u8>> = Vec::new();
    let page_count = images.len();
    // 1: catalog, 2: pages, then per page: page, content, image.
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    let kids: Vec<String> = (0..page_count).map(|i| format!("{} 0 R", 3 + 3 * i)).collect();
    objects.push(format!("<< /Type /Pages /Kids [{}] /Count {page_count} >>", kids.join(" ")).into_bytes());
    for (index, image) in images.iter().enumerate() {
        let jpeg = std::fs::read(image).unwrap();
        let (width, height, components) = jpeg_size(&jpeg);
        let colour_space = if components == 1 { "DeviceGray" } else { "DeviceRGB" };
        let (points_w, points_h) = (width as f64 * 72.0 / SCAN_DPI as f64, height as f64 * 72.0 / SCAN_DPI as f64);
        let (page_id, content_id, image_id) = (3 + 3 * index, 4 + 3 * index, 5 + 3 * index);
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {points_w:.2} {points_h:.2}] /Contents {content_id} 0 R \
                 /Resources << /XObject << /Scan {image_id} 0 R >> >> >>"
            )
            .into_bytes(),
        );
        let _ = page_id;
        let content = format!("q {points_w:.2} 0 0 {points_h:.2} 0 0 cm /Scan Do Q");
        objects.push(format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()).into_bytes());
        let mut image_object = format!(
            "<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /{colour_space} \
             /BitsPerComponent 8 /Filter /DCTDecode /Length {} >>\nstream\n",
            jpeg.len()
        )
        .into_bytes();
        image_object.extend_from_slice(&jpeg);
        image_object.extend_from_slice(b"\nendstream");
        objects.push(image_object);
    }

    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (index, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", index + 1).as_bytes());
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref_at = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    pdf
}

fn scanned_cv() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pdf = scanned_copy(&fixtures::corpus_file(ORIGINAL), dir.path());
    let path = dir.path().join("scanned.pdf");
    std::fs::write(&path, pdf).unwrap();
    // Really no text layer: pdftotext reads nothing from it.
    assert!(word_recall::words(&pdftotext(&path)).is_empty());
    (dir, path)
}

#[tokio::test]
async fn a_scanned_cv_is_read_by_ocr_with_most_of_its_words() {
    let (_dir, scanned) = scanned_cv();
    let (_, extracted) = extract_file(&extractor(ocr_on()), &scanned, u64::MAX).await.unwrap();
    assert_eq!(extracted.source, TextSource::Ocr);
    let (found, missed) = recall(&pdftotext(&fixtures::corpus_file(ORIGINAL)), &extracted.text);
    println!("OCR recall {found:.3}");
    assert!(found >= 0.8, "recall {found:.3}; missed {missed:?}");
}

#[tokio::test]
async fn with_ocr_off_a_scanned_cv_has_no_text() {
    let (_dir, scanned) = scanned_cv();
    let result = extract_file(&extractor(OcrSettings::for_mode(OcrMode::Off).unwrap()), &scanned, u64::MAX).await;
    assert!(result.is_err(), "{result:?}");
}

#[tokio::test]
async fn a_born_digital_cv_is_not_sent_to_ocr() {
    let (_, extracted) = extract_file(&extractor(ocr_on()), &fixtures::corpus_file(ORIGINAL), u64::MAX).await.unwrap();
    assert_eq!(extracted.source, TextSource::TextLayer);
}

#[tokio::test]
async fn a_scanned_cv_sent_to_the_server_is_scored() {
    let (_dir, scanned) = scanned_cv();
    let tenant = Tenant::start_with(&[("OCR", "on"), ("OCR_TIMEOUT", "120s")]).await;
    let form = Form::application(tenant.offer.id, ORIGINAL)
        .person("Barry", "Allen", "barry.allen@example.com")
        .cv("scan.pdf", std::fs::read(&scanned).unwrap());
    let receipt = expect_created(tenant.apply(&form).await).await;
    let stored = stored_application(tenant.db(), receipt.application_id).await;
    assert_eq!(stored.scoring_status, "scored", "{stored:?}");
    assert!(stored.rating.is_some(), "{stored:?}");
    let text = stored.cv_text.unwrap_or_default();
    assert!(recall("Front-End Developer, Mountain View, Education, Skills", &text).0 == 1.0, "{text:?}");
}

#[test]
fn cv_text_says_where_the_text_came_from() {
    let (_dir, scanned) = scanned_cv();
    let run = |path: &Path| -> serde_json::Value {
        let output = Command::new(env!("CARGO_BIN_EXE_talqo-server"))
            .arg("cv-text")
            .arg(path)
            .env("OCR_TIMEOUT", "120s")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let scan = run(&scanned);
    let mut keys: Vec<&String> = scan.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["chars", "format", "source", "text"]);
    assert_eq!(scan["source"], "ocr");
    assert_eq!(scan["format"], "pdf");
    assert_eq!(run(&fixtures::corpus_file(ORIGINAL))["source"], "text_layer");
}
