//! The extraction worker: `<exe> __extract-cv`, started and fed by [`super::CvExtractor`].
//!
//! It lowers its own resource limits first, then reads jobs from stdin one at a time and answers
//! each on stdout (see [`super::protocol`]). Before each job its CPU soft limit is moved to "what
//! it has used so far + the per-job budget", so the limit stays per CV in a long-lived process;
//! the hard limit bounds its whole life (the server replaces it after a number of jobs anyway).
//! A panic is caught and reported, after which the worker exits; a stack overflow or an
//! allocation refused under the address-space limit aborts it, which the server reports as a
//! crash (DEPENDENCIES.md "PDF text"): a hostile file costs one worker, never the server.
//!
//! `<exe> __extract-cv <pdf|docx> <path>` extracts one file and prints its text, for debugging a
//! file by hand.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rlimit::Resource;

use super::docx::extract_docx_text;
use super::normalize::normalize_extracted_text;
use super::ocr::{
    DEFAULT_OCR_LANGUAGES, DEFAULT_OCR_MAX_PAGES, DEFAULT_OCR_TIMEOUT, OcrPrograms, ocr_pages, poppler_text_document,
    poppler_text_pages,
};
use super::pdf::{load, split_ligatures, text_layer, usable_chars};
use super::protocol::{
    FRAME_FAILED, FRAME_OCR_STARTED, FRAME_PANICKED, final_tag, format_from_code, read_request, write_frame,
};
use super::{CvFormat, TextSource};
use crate::panic_detail::panic_detail;

/// Environment variables through which the server passes the limits and OCR settings (the
/// worker's environment is otherwise empty: it never sees the server's secrets).
pub(crate) const MEMORY_BYTES_ENV: &str = "TALQO_EXTRACT_MEMORY_BYTES";
pub(crate) const CPU_SECONDS_ENV: &str = "TALQO_EXTRACT_CPU_SECONDS";
pub(crate) const MAX_CHARS_ENV: &str = "TALQO_EXTRACT_MAX_CHARS";
pub(crate) const MAX_JOBS_ENV: &str = "TALQO_EXTRACT_MAX_JOBS";
pub(crate) const OCR_TESSERACT_ENV: &str = "TALQO_OCR_TESSERACT";
pub(crate) const OCR_PDFTOPPM_ENV: &str = "TALQO_OCR_PDFTOPPM";
pub(crate) const OCR_MAX_PAGES_ENV: &str = "TALQO_OCR_MAX_PAGES";
pub(crate) const OCR_TIMEOUT_MS_ENV: &str = "TALQO_OCR_TIMEOUT_MS";
pub(crate) const OCR_LANGUAGES_ENV: &str = "TALQO_OCR_LANGUAGES";

/// Used when the worker is started by hand without the variables (debugging a file).
const DEFAULT_MEMORY_BYTES: u64 = 768 * 1024 * 1024;
const DEFAULT_CPU_SECONDS: u64 = 10;
const DEFAULT_MAX_CHARS: usize = 200_000;
const DEFAULT_MAX_JOBS: u64 = 1;
/// Largest file the worker (or the OCR programs it starts) may write: a page image at 300 dpi is
/// about 9 MB; a hostile page size must not fill the disk.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// How long `pdftotext` may take over the pages without a usable text layer.
const POPPLER_TIME_LIMIT: Duration = Duration::from_secs(4);
/// Pages `pdftotext` reads of a file the parser cannot open (far more than a CV has).
const MAX_REPAIRED_PAGES: u32 = 100;
/// A page with fewer usable characters than this has no usable text layer and is read by OCR.
pub(crate) const MIN_USABLE_CHARS_PER_PAGE: usize = 20;

const EXIT_EXTRACTION_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_PANICKED: u8 = 3;
const EXIT_LIMITS_NOT_APPLIED: u8 = 4;
const EXIT_OUTPUT_FAILED: u8 = 5;

/// What one job is given besides the file.
struct JobSettings {
    max_chars: usize,
    ocr: Option<(OcrPrograms, u32, Duration, String)>,
}

/// Why a job gave no text.
enum JobFailure {
    Failed(String),
    Panicked(String),
}

/// Entry point of the extraction worker; `args` are the arguments after `__extract-cv`.
pub fn run_extraction_worker(args: &[OsString]) -> ExitCode {
    let one_shot = match args {
        [] => None,
        [format, path] => match format.to_str().and_then(CvFormat::from_name) {
            Some(format) => Some((format, PathBuf::from(path))),
            None => return fail(EXIT_USAGE, USAGE),
        },
        _ => return fail(EXIT_USAGE, USAGE),
    };
    let memory_bytes = env_number(MEMORY_BYTES_ENV).unwrap_or(DEFAULT_MEMORY_BYTES);
    let cpu_seconds = env_number(CPU_SECONDS_ENV).unwrap_or(DEFAULT_CPU_SECONDS).max(1);
    let max_jobs = env_number(MAX_JOBS_ENV).unwrap_or(DEFAULT_MAX_JOBS).max(1);
    let settings = JobSettings {
        max_chars: env_number(MAX_CHARS_ENV).and_then(|n| usize::try_from(n).ok()).unwrap_or(DEFAULT_MAX_CHARS),
        ocr: ocr_from_env(),
    };

    // The CPU hard limit bounds the worker's whole life; the soft limit is set per job.
    let cpu_hard = cpu_seconds.saturating_mul(max_jobs.saturating_add(1)).saturating_add(1);
    if let Err(reason) = lower_limits(memory_bytes, cpu_hard) {
        // Never parse a hostile file without the limits.
        return fail(EXIT_LIMITS_NOT_APPLIED, &reason);
    }
    // The default hook would print a multi-line report; the server wants one line.
    panic::set_hook(Box::new(|_| {}));

    if let Some((format, path)) = one_shot {
        return run_one_shot(format, &path, &settings, cpu_seconds, cpu_hard);
    }

    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    loop {
        let (format, path) = match read_request(&mut input) {
            Ok(Some(request)) => request,
            // The server closed our stdin: it is done with this worker (or gone).
            Ok(None) => return ExitCode::SUCCESS,
            Err(_) => return fail(EXIT_USAGE, "unreadable job request"),
        };
        if let Err(reason) = set_job_cpu_budget(cpu_seconds, cpu_hard) {
            return fail(EXIT_LIMITS_NOT_APPLIED, &reason);
        }
        let Some(format) = format_from_code(format) else {
            return fail(EXIT_USAGE, "unknown format in job request");
        };
        let path = PathBuf::from(OsString::from_vec(path));
        let written = match run_job(format, &path, &settings, &mut output) {
            Ok((text, source)) => write_frame(&mut output, final_tag(source), text.as_bytes()),
            Err(JobFailure::Failed(reason)) => write_frame(&mut output, FRAME_FAILED, one_line(&reason).as_bytes()),
            Err(JobFailure::Panicked(reason)) => {
                // The parser's state is suspect after a panic: answer, then let a fresh worker
                // take the next job.
                let _ = write_frame(&mut output, FRAME_PANICKED, one_line(&reason).as_bytes());
                return ExitCode::from(EXIT_PANICKED);
            }
        };
        if written.is_err() {
            return ExitCode::from(EXIT_OUTPUT_FAILED);
        }
    }
}

const USAGE: &str = "usage: __extract-cv [<pdf|docx> <path>] (without arguments: jobs on stdin)";

fn run_one_shot(format: CvFormat, path: &Path, settings: &JobSettings, cpu_seconds: u64, cpu_hard: u64) -> ExitCode {
    if let Err(reason) = set_job_cpu_budget(cpu_seconds, cpu_hard) {
        return fail(EXIT_LIMITS_NOT_APPLIED, &reason);
    }
    match run_job(format, path, settings, &mut std::io::sink()) {
        Ok((text, _)) => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => fail(EXIT_OUTPUT_FAILED, "could not write the text"),
            }
        }
        Err(JobFailure::Failed(reason)) => fail(EXIT_EXTRACTION_FAILED, &reason),
        Err(JobFailure::Panicked(reason)) => fail(EXIT_PANICKED, &reason),
    }
}

/// Extracts one file: its normalised text (at most `max_chars`) and where it came from.
fn run_job(
    format: CvFormat,
    path: &Path,
    settings: &JobSettings,
    notices: &mut impl Write,
) -> Result<(String, TextSource), JobFailure> {
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| match format {
        CvFormat::Pdf => pdf_job(path, settings, notices),
        CvFormat::Docx => extract_docx_text(path, settings.max_chars)
            .map(|text| (text, TextSource::TextLayer))
            .map_err(|e| JobFailure::Failed(e.to_string())),
    }));
    let (raw, source) = match outcome {
        Ok(result) => result?,
        Err(payload) => {
            let detail = panic_detail(payload.as_ref());
            return Err(JobFailure::Panicked(format!("the {format} parser panicked: {detail}")));
        }
    };
    Ok((normalize_extracted_text(&raw, settings.max_chars), source))
}

/// The text layer of every page, and for the pages without a usable one `pdftotext`, then OCR. A file the
/// parser cannot open at all (a damaged cross-reference table, a PDF 2.0 trailer) is read by `pdftotext`
/// whole, which repairs what it can, then its pages without text by OCR; a file it opens but fails on some
/// pages of keeps the others' text and goes to no second parser.
fn pdf_job(path: &Path, settings: &JobSettings, notices: &mut impl Write) -> Result<(String, TextSource), JobFailure> {
    let bytes = std::fs::read(path).map_err(|_| JobFailure::Failed("could not read the file".to_owned()))?;
    let mut pages = match load(&bytes) {
        Ok(document) => {
            let layer = text_layer(&document);
            drop(document);
            let mut pages = layer.pages;
            if let Some(error) = layer.error {
                if pages.iter().all(|page| page.trim().is_empty()) {
                    return Err(JobFailure::Failed(error));
                }
                return Ok((split_ligatures(&pages.join("\n\n")), TextSource::TextLayer));
            }
            if let Some((programs, max_pages, ..)) = &settings.ocr {
                read_again_with_poppler(programs, path, &mut pages, *max_pages);
            }
            pages
        }
        Err(error) => {
            let repaired = settings.ocr.as_ref().and_then(|(programs, ..)| {
                poppler_text_document(programs, path, MAX_REPAIRED_PAGES, Instant::now() + POPPLER_TIME_LIMIT)
            });
            match repaired {
                Some(pages) if !pages.is_empty() => pages,
                _ => return Err(JobFailure::Failed(error)),
            }
        }
    };

    let mut source = TextSource::TextLayer;
    if let Some((programs, max_pages, timeout, languages)) = &settings.ocr {
        let wanted = pages_without_usable_text(&pages, *max_pages);
        if !wanted.is_empty() {
            let count = u32::try_from(wanted.len()).unwrap_or(u32::MAX);
            // Tell the server, which then gives this job the OCR time limit on top.
            write_frame(notices, FRAME_OCR_STARTED, &count.to_le_bytes())
                .map_err(|_| JobFailure::Failed("could not write to the server".to_owned()))?;
            let deadline = Instant::now() + *timeout;
            match ocr_pages(programs, languages, path, &wanted, deadline) {
                Ok(texts) => {
                    for (page, text) in wanted.iter().zip(texts) {
                        let slot = &mut pages[*page as usize - 1];
                        if adds_words(slot, &text) {
                            // Whatever the text layer had is kept before what OCR read.
                            if !slot.trim().is_empty() {
                                slot.push('\n');
                            }
                            slot.push_str(&text);
                            source = TextSource::Ocr;
                        }
                    }
                }
                Err(reason) if pages.iter().all(|page| page.trim().is_empty()) => {
                    return Err(JobFailure::Failed(reason));
                }
                // OCR failed on a document that has some text layer: keep that text.
                Err(_) => {}
            }
        }
    }
    Ok((split_ligatures(&pages.join("\n\n")), source))
}

/// The 1-based numbers of the first `max_pages` pages with fewer than [`MIN_USABLE_CHARS_PER_PAGE`] usable
/// characters: those read again by `pdftotext`, then by OCR.
fn pages_without_usable_text(pages: &[String], max_pages: u32) -> Vec<u32> {
    pages
        .iter()
        .enumerate()
        .filter(|(_, text)| usable_chars(text) < MIN_USABLE_CHARS_PER_PAGE)
        .filter_map(|(index, _)| u32::try_from(index + 1).ok())
        .take(max_pages as usize)
        .collect()
}

/// Pages without a usable text layer get `pdftotext`'s reading of it when that one reads more: poppler (already
/// handed the file to render pages for OCR) reads fonts `pdf-extract` does not, faster and better than OCR.
/// It runs inside the job's own time limit (before OCR's is added), so it gets a few seconds at most.
fn read_again_with_poppler(programs: &OcrPrograms, path: &Path, pages: &mut [String], max_pages: u32) {
    let wanted = pages_without_usable_text(pages, max_pages);
    if wanted.is_empty() {
        return;
    }
    let texts = poppler_text_pages(programs, path, &wanted, Instant::now() + POPPLER_TIME_LIMIT);
    for (page, text) in wanted.iter().zip(texts) {
        // More of it, even short of a usable page (a few CJK characters can be a whole heading): OCR still
        // reads such a page after, and adds what it finds only when it is new words.
        let slot = &mut pages[*page as usize - 1];
        if usable_chars(&text) > usable_chars(slot) {
            *slot = text;
        }
    }
}

/// Whether OCR read something the page's text layer does not already say: anything, when the
/// layer is empty; otherwise at least 3 new words making at least a third of what OCR read (a
/// short but real text layer, read again by OCR, is not doubled).
fn adds_words(layer: &str, ocr: &str) -> bool {
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|word| word.chars().count() >= 2)
            .map(str::to_lowercase)
            .collect()
    };
    let read = words(ocr);
    if read.is_empty() {
        return false;
    }
    let known: std::collections::HashSet<String> = words(layer).into_iter().collect();
    if known.is_empty() {
        return true;
    }
    let new = read.iter().filter(|word| !known.contains(*word)).count();
    new >= 3 && new * 3 >= read.len()
}

fn ocr_from_env() -> Option<(OcrPrograms, u32, Duration, String)> {
    let tesseract = std::env::var_os(OCR_TESSERACT_ENV)?;
    let pdftoppm = std::env::var_os(OCR_PDFTOPPM_ENV)?;
    let max_pages = env_number(OCR_MAX_PAGES_ENV).and_then(|n| u32::try_from(n).ok()).unwrap_or(DEFAULT_OCR_MAX_PAGES);
    if max_pages == 0 {
        return None;
    }
    let timeout = env_number(OCR_TIMEOUT_MS_ENV).map_or(DEFAULT_OCR_TIMEOUT, Duration::from_millis);
    let languages = std::env::var(OCR_LANGUAGES_ENV).unwrap_or_else(|_| DEFAULT_OCR_LANGUAGES.to_owned());
    let programs = OcrPrograms { tesseract: PathBuf::from(tesseract), pdftoppm: PathBuf::from(pdftoppm) };
    Some((programs, max_pages, timeout, languages))
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// Lowers (never raises) the address space, file size and CPU limits, and turns off core dumps:
/// an abort on a hostile file should not leave a core file in the server's working directory.
fn lower_limits(memory_bytes: u64, cpu_hard: u64) -> Result<(), String> {
    lower(Resource::CORE, 0, 0)?;
    lower(Resource::AS, memory_bytes, memory_bytes)?;
    lower(Resource::FSIZE, MAX_FILE_BYTES, MAX_FILE_BYTES)?;
    lower(Resource::CPU, cpu_hard, cpu_hard)
}

fn lower(resource: Resource, soft: u64, hard: u64) -> Result<(), String> {
    let (_, current_hard) = resource.get().map_err(|e| format!("could not read resource limit: {e}"))?;
    let hard = hard.min(current_hard);
    let soft = soft.min(hard);
    resource.set(soft, hard).map_err(|e| format!("could not set resource limit: {e}"))
}

/// Moves the CPU soft limit to the CPU time used so far plus one job's budget: SIGXCPU stops
/// the worker when this job has used its share.
fn set_job_cpu_budget(cpu_seconds: u64, cpu_hard: u64) -> Result<(), String> {
    let used = cpu_seconds_used().unwrap_or(0);
    let (_, hard) = Resource::CPU.get().map_err(|e| format!("could not read resource limit: {e}"))?;
    let hard = hard.min(cpu_hard);
    let soft = used.saturating_add(cpu_seconds).min(hard);
    Resource::CPU.set(soft, hard).map_err(|e| format!("could not set resource limit: {e}"))
}

/// CPU seconds (user + system) this process has used, rounded up, from `/proc/self/stat`
/// (fields 14 and 15, in clock ticks of 1/100 s, Linux's USER_HZ).
fn cpu_seconds_used() -> Option<u64> {
    let mut stat = String::new();
    std::fs::File::open("/proc/self/stat").ok()?.read_to_string(&mut stat).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((user + system).div_ceil(100))
}

fn one_line(reason: &str) -> String {
    reason.chars().map(|c| if c.is_control() { ' ' } else { c }).take(300).collect()
}

/// Writes the reason as one line on stderr and returns the exit code.
fn fail(code: u8, reason: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{}", one_line(reason));
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_cpu_time() {
        assert!(cpu_seconds_used().is_some());
    }

    #[test]
    fn ocr_text_is_added_only_when_it_says_something_new() {
        assert!(adds_words("", "Jane Doe"));
        assert!(!adds_words("", " \n"));
        assert!(!adds_words("Hello recruiter", "Hello recruiter"));
        assert!(adds_words("Page 1", "Jane Doe, engineer in Paris since 2019"));
    }

    #[test]
    fn reasons_are_one_short_line() {
        assert_eq!(one_line("a\nb\tc"), "a b c");
        assert_eq!(one_line(&"x".repeat(1000)).len(), 300);
    }
}
