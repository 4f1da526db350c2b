//! The extraction child: `<exe> __extract-cv <pdf|docx> <path>`, run by [`super::CvExtractor`].
//!
//! It lowers its own resource limits first, then extracts, then writes the normalised text to
//! stdout and exits 0. On failure it writes a one-line reason to stderr and exits non-zero.
//! A panic is caught and reported; a stack overflow or an allocation refused under the address
//! space limit aborts the process, which the parent reports as a crash. That is the design
//! (DEPENDENCIES.md "PDF text"): a hostile file costs one child, never the server.

use std::ffi::OsString;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;

use rlimit::Resource;

use super::CvFormat;
use super::docx::extract_docx_text;
use super::normalize::normalize_extracted_text;
use super::pdf::extract_pdf_text;

/// Environment variables through which the parent passes the limits (the child's environment is
/// otherwise empty: it never sees the server's secrets).
pub(crate) const MEMORY_BYTES_ENV: &str = "TALQO_EXTRACT_MEMORY_BYTES";
pub(crate) const CPU_SECONDS_ENV: &str = "TALQO_EXTRACT_CPU_SECONDS";
pub(crate) const MAX_CHARS_ENV: &str = "TALQO_EXTRACT_MAX_CHARS";

/// Used when the child is started by hand without the variables (debugging a file).
const DEFAULT_MEMORY_BYTES: u64 = 768 * 1024 * 1024;
const DEFAULT_CPU_SECONDS: u64 = 10;
const DEFAULT_MAX_CHARS: usize = 200_000;

const EXIT_EXTRACTION_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_PANICKED: u8 = 3;
const EXIT_LIMITS_NOT_APPLIED: u8 = 4;
const EXIT_OUTPUT_FAILED: u8 = 5;

/// Entry point of the extraction child; `args` are the arguments after `__extract-cv`.
pub fn run_extraction_child(args: &[OsString]) -> ExitCode {
    let (format, path) = match parse_arguments(args) {
        Ok(parsed) => parsed,
        Err(usage) => return fail(EXIT_USAGE, &usage),
    };
    let memory_bytes = env_number(MEMORY_BYTES_ENV).unwrap_or(DEFAULT_MEMORY_BYTES);
    let cpu_seconds = env_number(CPU_SECONDS_ENV).unwrap_or(DEFAULT_CPU_SECONDS);
    let max_chars = env_number(MAX_CHARS_ENV).and_then(|n| usize::try_from(n).ok()).unwrap_or(DEFAULT_MAX_CHARS);

    if let Err(reason) = lower_limits(memory_bytes, cpu_seconds) {
        // Never parse a hostile file without the limits.
        return fail(EXIT_LIMITS_NOT_APPLIED, &reason);
    }

    // The default hook would print a multi-line report; the parent wants one line.
    panic::set_hook(Box::new(|_| {}));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| extract(format, &path, max_chars)));
    let text = match outcome {
        Ok(Ok(text)) => text,
        Ok(Err(reason)) => return fail(EXIT_EXTRACTION_FAILED, &reason),
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            return fail(EXIT_PANICKED, &format!("the {format} parser panicked: {detail}"));
        }
    };

    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => fail(EXIT_OUTPUT_FAILED, "could not write the text"),
    }
}

fn parse_arguments(args: &[OsString]) -> Result<(CvFormat, PathBuf), String> {
    const USAGE: &str = "usage: __extract-cv <pdf|docx> <path>";
    let [format, path] = args else {
        return Err(USAGE.to_owned());
    };
    let format = format.to_str().and_then(CvFormat::from_name).ok_or_else(|| USAGE.to_owned())?;
    Ok((format, PathBuf::from(path)))
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// Lowers (never raises) the address space and CPU limits, and turns off core dumps: an abort
/// on a hostile file should not leave a core file in the server's working directory.
fn lower_limits(memory_bytes: u64, cpu_seconds: u64) -> Result<(), String> {
    lower(Resource::CORE, 0, 0)?;
    lower(Resource::AS, memory_bytes, memory_bytes)?;
    // SIGXCPU at the soft limit, SIGKILL one second later if it is ignored.
    lower(Resource::CPU, cpu_seconds, cpu_seconds.saturating_add(1))
}

fn lower(resource: Resource, soft: u64, hard: u64) -> Result<(), String> {
    let (_, current_hard) = resource.get().map_err(|e| format!("could not read resource limit: {e}"))?;
    let hard = hard.min(current_hard);
    let soft = soft.min(hard);
    resource.set(soft, hard).map_err(|e| format!("could not set resource limit: {e}"))
}

fn extract(format: CvFormat, path: &std::path::Path, max_chars: usize) -> Result<String, String> {
    let raw = match format {
        CvFormat::Pdf => {
            let bytes = std::fs::read(path).map_err(|_| "could not read the file".to_owned())?;
            extract_pdf_text(&bytes)?
        }
        CvFormat::Docx => extract_docx_text(path, max_chars).map_err(|e| e.to_string())?,
    };
    Ok(normalize_extracted_text(&raw, max_chars))
}

/// Writes the reason as one line on stderr and returns the exit code.
fn fail(code: u8, reason: &str) -> ExitCode {
    let line: String = reason.chars().map(|c| if c.is_control() { ' ' } else { c }).take(300).collect();
    let _ = writeln!(std::io::stderr(), "{line}");
    ExitCode::from(code)
}
