//! OCR of PDF pages without a usable text layer (scanned CVs), with Debian's `tesseract-ocr`.
//!
//! It runs inside the extraction worker, so inside its limits: each page is rendered by
//! `pdftoppm` (poppler-utils) to a grayscale image in a private temporary directory, then read by
//! `tesseract`; both are separate processes that inherit the worker's address-space, CPU,
//! file-size and core limits, get an empty environment, and are killed past the OCR time limit.
//! At most `max_pages` pages are read.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `OCR`: `auto` (on when `tesseract` and `pdftoppm` are installed), `on` (required) or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcrMode {
    Auto,
    On,
    Off,
}

/// How scanned pages are read; `programs` is `None` when OCR is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcrSettings {
    pub programs: Option<OcrPrograms>,
    /// `OCR_MAX_PAGES`: pages read by OCR per CV (the first pages without a text layer).
    pub max_pages: u32,
    /// `OCR_TIMEOUT`: wall-clock time for the OCR of one CV, all pages together.
    pub timeout: Duration,
    /// `OCR_LANGUAGES`: Tesseract's `-l` argument.
    pub languages: String,
}

/// Absolute paths of the two programs OCR runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcrPrograms {
    pub tesseract: PathBuf,
    pub pdftoppm: PathBuf,
}

pub const DEFAULT_OCR_MAX_PAGES: u32 = 3;
pub const DEFAULT_OCR_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_OCR_LANGUAGES: &str = "fra+eng";
/// Resolution pages are rendered at for Tesseract (its documented sweet spot).
const RENDER_DPI: &str = "300";
/// Text kept from one page's OCR output.
const MAX_OCR_OUTPUT_BYTES: u64 = 1024 * 1024;

impl OcrSettings {
    /// OCR off.
    pub fn off() -> Self {
        Self {
            programs: None,
            max_pages: DEFAULT_OCR_MAX_PAGES,
            timeout: DEFAULT_OCR_TIMEOUT,
            languages: DEFAULT_OCR_LANGUAGES.to_owned(),
        }
    }

    /// Settings for `mode`: `Auto` looks for the programs on `PATH`; `On` fails without them.
    pub fn for_mode(mode: OcrMode) -> Result<Self, String> {
        let programs = match mode {
            OcrMode::Off => None,
            OcrMode::Auto => OcrPrograms::find(),
            OcrMode::On => Some(OcrPrograms::find().ok_or(
                "OCR=on but tesseract or pdftoppm is not installed (apt-get install tesseract-ocr \
                 tesseract-ocr-fra tesseract-ocr-eng poppler-utils)",
            )?),
        };
        Ok(Self { programs, ..Self::off() })
    }

    pub fn enabled(&self) -> bool {
        self.programs.is_some() && self.max_pages > 0
    }
}

impl Default for OcrSettings {
    /// On when Tesseract is installed (CONTRACT-level default of the `OCR` setting: `auto`).
    fn default() -> Self {
        Self { programs: OcrPrograms::find(), ..Self::off() }
    }
}

impl OcrPrograms {
    /// Both programs found on `PATH`, or `None`.
    pub fn find() -> Option<Self> {
        Some(Self { tesseract: find_on_path("tesseract")?, pdftoppm: find_on_path("pdftoppm")? })
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Runs OCR on the given 1-based `pages` of the PDF at `pdf`, within `deadline`. Returns each
/// page's text in order (empty when a page gave nothing or failed), or the reason nothing could
/// be read at all.
pub(crate) fn ocr_pages(
    programs: &OcrPrograms,
    languages: &str,
    pdf: &Path,
    pages: &[u32],
    deadline: Instant,
) -> Result<Vec<String>, String> {
    let dir = tempfile::Builder::new()
        .prefix("talqo-ocr-")
        .tempdir()
        .map_err(|e| format!("OCR: no temporary directory: {e}"))?;
    let mut texts = Vec::with_capacity(pages.len());
    for &page in pages {
        let image_root = dir.path().join(format!("page-{page}"));
        let number = page.to_string();
        let mut render = Command::new(&programs.pdftoppm);
        render
            .env_clear()
            .args(["-r", RENDER_DPI, "-gray", "-singlefile", "-f", &number, "-l", &number])
            .arg(pdf)
            .arg(&image_root);
        run_until(render, deadline, "pdftoppm")?;
        let image = image_root.with_extension("pgm");
        if !image.exists() {
            texts.push(String::new());
            continue;
        }

        let text_root = dir.path().join(format!("text-{page}"));
        let mut recognise = Command::new(&programs.tesseract);
        recognise.env_clear().arg(&image).arg(&text_root).args(["-l", languages]);
        // Tesseract's own threads would only compete with the other workers.
        recognise.env("OMP_THREAD_LIMIT", "1");
        if let Some(prefix) = std::env::var_os("TESSDATA_PREFIX") {
            recognise.env("TESSDATA_PREFIX", prefix);
        }
        run_until(recognise, deadline, "tesseract")?;
        let _ = std::fs::remove_file(&image);
        let mut text = String::new();
        if let Ok(file) = std::fs::File::open(text_root.with_extension("txt")) {
            let mut bytes = Vec::new();
            let _ = file.take(MAX_OCR_OUTPUT_BYTES).read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        texts.push(text);
    }
    Ok(texts)
}

/// Reads the given 1-based `pages` with `pdftotext` (beside `pdftoppm`, from the same poppler-utils), within
/// `deadline`: a second reading of the text layer for pages that `pdf-extract` gave no usable text from (Type 3
/// glyphs, vertical writing, CJK fonts without a Unicode map), before they are rendered for OCR. Returns each
/// page's text in order, empty where it read nothing or is not installed.
pub(crate) fn poppler_text_pages(programs: &OcrPrograms, pdf: &Path, pages: &[u32], deadline: Instant) -> Vec<String> {
    let Ok(dir) = tempfile::Builder::new().prefix("talqo-text-").tempdir() else {
        return vec![String::new(); pages.len()];
    };
    pages
        .iter()
        .map(|&page| run_pdftotext(programs, pdf, page, page, dir.path(), deadline).unwrap_or_default())
        .collect()
}

/// Reads the first `max_pages` pages of the whole PDF at `pdf` with `pdftotext`, within `deadline`: for a file
/// `pdf-extract` cannot open, which poppler often repairs (it rebuilds a damaged cross-reference table). Returns
/// each page's text in order, or `None` when poppler cannot read it either.
pub(crate) fn poppler_text_document(
    programs: &OcrPrograms,
    pdf: &Path,
    max_pages: u32,
    deadline: Instant,
) -> Option<Vec<String>> {
    let dir = tempfile::Builder::new().prefix("talqo-text-").tempdir().ok()?;
    let text = run_pdftotext(programs, pdf, 1, max_pages, dir.path(), deadline)?;
    // Each page ends with a form feed.
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|last| last.trim().is_empty()) {
        pages.pop();
    }
    Some(pages)
}

/// Runs `pdftotext` (from the same poppler-utils as `pdftoppm`) on pages `first` to `last` of `pdf`, writing into
/// `dir`, within `deadline`: their text (at most [`MAX_OCR_OUTPUT_BYTES`]), or `None` when it failed or ran out of
/// time.
fn run_pdftotext(
    programs: &OcrPrograms,
    pdf: &Path,
    first: u32,
    last: u32,
    dir: &Path,
    deadline: Instant,
) -> Option<String> {
    let output = dir.join(format!("pages-{first}-{last}.txt"));
    let mut command = Command::new(programs.pdftoppm.with_file_name("pdftotext"));
    command
        .env_clear()
        .args(["-q", "-enc", "UTF-8", "-f", &first.to_string(), "-l", &last.to_string()])
        .arg(pdf)
        .arg(&output);
    if !run_until(command, deadline, "pdftotext").ok()?.is_some_and(|status| status.success()) {
        return None;
    }
    let mut bytes = Vec::new();
    std::fs::File::open(&output).ok()?.take(MAX_OCR_OUTPUT_BYTES).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Runs `command` (its environment already cleared by the caller) with no stdio, killing it at
/// `deadline`. A non-zero exit is not an error (the page is then empty); running out of time is.
fn run_until(mut command: Command, deadline: Instant, name: &str) -> Result<Option<ExitStatus>, String> {
    let mut child: Child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("OCR: could not start {name}: {e}"))?;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Some(status)),
            Ok(None) => {}
            Err(e) => return Err(format!("OCR: waiting for {name}: {e}")),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("OCR time limit exceeded".to_owned());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_has_no_programs_and_on_requires_them() {
        assert!(!OcrSettings::for_mode(OcrMode::Off).unwrap().enabled());
        let auto = OcrSettings::for_mode(OcrMode::Auto).unwrap();
        assert_eq!(auto.programs.is_some(), OcrSettings::for_mode(OcrMode::On).is_ok());
    }
}
