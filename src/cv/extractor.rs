//! The parent side of CV text extraction: spawns the extraction child under limits, bounds what
//! it reads back, and maps every way a child can fail to an [`ExtractionError`]
//! (CONTRACT §6 "Extraction": off the async runtime, time-limited, panics caught, bombs capped).

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::Semaphore;

use super::child::{CPU_SECONDS_ENV, MAX_CHARS_ENV, MEMORY_BYTES_ENV};
use super::normalize::normalize_extracted_text;
use super::{CvFormat, CvRejection, detect_cv_format};
use crate::cli::EXTRACTION_CHILD_ARG;

/// Bounds on one extraction child.
#[derive(Debug, Clone)]
pub struct ExtractionLimits {
    /// Address space of the child (RLIMIT_AS); a bomb's allocation fails and aborts the child.
    pub memory_bytes: u64,
    /// CPU seconds of the child (RLIMIT_CPU).
    pub cpu_seconds: u64,
    /// Wall-clock time from spawn to exit; the child is killed past it.
    pub wall_clock: Duration,
    /// Characters of text kept.
    pub max_chars: usize,
    /// Children running at once; further extractions wait for a slot.
    pub max_concurrent: usize,
}

impl Default for ExtractionLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            memory_bytes: 768 * 1024 * 1024,
            cpu_seconds: 10,
            wall_clock: Duration::from_secs(15),
            max_chars: 200_000,
            max_concurrent: 2 * cores,
        }
    }
}

/// Why no text came out of a CV. The Display text is safe to show a client; a CV that fails
/// here is still accepted, unscored (CONTRACT §6 "Extraction").
#[derive(Debug, thiserror::Error)]
pub enum ExtractionError {
    #[error("could not start the extractor")]
    Spawn(#[source] io::Error),
    #[error("timed out after {}s", .0.as_secs())]
    TimedOut(Duration),
    #[error("memory limit exceeded")]
    MemoryExhausted,
    #[error("extractor crashed (signal {0})")]
    Crashed(i32),
    #[error("extraction failed: {0}")]
    Failed(String),
    #[error("extractor output is not valid UTF-8")]
    InvalidUtf8,
    #[error("extractor output exceeds its limit")]
    OutputTooLarge,
    #[error("could not read the extractor's output")]
    Io(#[source] io::Error),
    #[error("no text found (scanned or image-only CV?)")]
    NoText,
}

/// Runs CV text extraction in child processes: the server's own binary (`exe`) re-executed in
/// extraction mode, at most `max_concurrent` at a time.
#[derive(Debug)]
pub struct CvExtractor {
    exe: PathBuf,
    limits: ExtractionLimits,
    slots: Semaphore,
}

/// What the child may write to stderr that the parent reads (one line is expected).
const STDERR_CAP: usize = 4096;
/// The Rust runtime's message when an allocation fails, printed just before it aborts.
const ALLOCATION_FAILURE_MESSAGE: &str = "memory allocation of";

impl CvExtractor {
    pub fn new(exe: PathBuf, limits: ExtractionLimits) -> Self {
        let slots = Semaphore::new(limits.max_concurrent.max(1));
        Self { exe, limits, slots }
    }

    /// An extractor that re-executes the running binary. On Linux that is `/proc/self/exe`,
    /// which stays the running image even after the file on disk is replaced by an upgrade.
    pub fn for_current_exe(limits: ExtractionLimits) -> io::Result<Self> {
        let own_image = Path::new("/proc/self/exe");
        let exe = if cfg!(target_os = "linux") && own_image.exists() {
            own_image.to_path_buf()
        } else {
            std::env::current_exe()?
        };
        Ok(Self::new(exe, limits))
    }

    pub fn limits(&self) -> &ExtractionLimits {
        &self.limits
    }

    /// Extracts the text of the CV at `path`, already detected as `format`. The text is
    /// normalised (see [`normalize_extracted_text`]) and at most `max_chars` long; empty text is
    /// [`ExtractionError::NoText`].
    #[tracing::instrument(skip(self, format), fields(format = format.as_str()))]
    pub async fn extract(&self, path: &Path, format: CvFormat) -> Result<String, ExtractionError> {
        // The semaphore is never closed, so acquiring cannot fail; a closed one would only mean
        // shutting down, and running without a slot is then harmless.
        let _slot = self.slots.acquire().await.ok();
        let started = Instant::now();
        let result = self.run_child(path, format).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok(text) => tracing::debug!(chars = text.chars().count(), elapsed_ms, "CV text extracted"),
            Err(error) => tracing::warn!(%error, elapsed_ms, "CV text extraction failed"),
        }
        result
    }

    async fn run_child(&self, path: &Path, format: CvFormat) -> Result<String, ExtractionError> {
        let limits = &self.limits;
        let mut child = Command::new(&self.exe)
            .arg(EXTRACTION_CHILD_ARG)
            .arg(format.as_str())
            .arg(path)
            // The child parses hostile input: it gets no secret from the server's environment.
            .env_clear()
            .env(MEMORY_BYTES_ENV, limits.memory_bytes.to_string())
            .env(CPU_SECONDS_ENV, limits.cpu_seconds.to_string())
            .env(MAX_CHARS_ENV, limits.max_chars.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(ExtractionError::Spawn)?;

        // Up to 4 bytes per UTF-8 character, and some room for the child's own slack.
        let stdout_cap = limits.max_chars.saturating_mul(4).saturating_add(1024);
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let outcome = tokio::time::timeout(limits.wall_clock, async {
            tokio::join!(read_capped(stdout, stdout_cap), read_capped(stderr, STDERR_CAP), child.wait())
        })
        .await;

        let (stdout, stderr, status) = match outcome {
            Ok(finished) => finished,
            Err(_elapsed) => {
                // Reap it now rather than leave a zombie to the runtime.
                let _ = child.kill().await;
                return Err(ExtractionError::TimedOut(limits.wall_clock));
            }
        };
        let status = status.map_err(ExtractionError::Io)?;
        let (stdout, stdout_overflowed) = stdout.map_err(ExtractionError::Io)?;
        let (stderr, _) = stderr.unwrap_or_default();
        interpret_exit(status, stdout, stdout_overflowed, &stderr, limits.max_chars)
    }
}

fn interpret_exit(
    status: ExitStatus,
    stdout: Vec<u8>,
    stdout_overflowed: bool,
    stderr: &[u8],
    max_chars: usize,
) -> Result<String, ExtractionError> {
    let reason = first_line(stderr);
    if let Some(signal) = status.signal() {
        if reason.contains(ALLOCATION_FAILURE_MESSAGE) {
            return Err(ExtractionError::MemoryExhausted);
        }
        return Err(ExtractionError::Crashed(signal));
    }
    if !status.success() {
        let reason = if reason.is_empty() { format!("exit code {}", status.code().unwrap_or(-1)) } else { reason };
        return Err(ExtractionError::Failed(reason));
    }
    if stdout_overflowed {
        return Err(ExtractionError::OutputTooLarge);
    }
    let raw = String::from_utf8(stdout).map_err(|_| ExtractionError::InvalidUtf8)?;
    let text = normalize_extracted_text(&raw, max_chars);
    if text.is_empty() {
        return Err(ExtractionError::NoText);
    }
    Ok(text)
}

/// Reads a pipe to its end but keeps at most `cap` bytes; the flag says there was more. Past
/// the cap the pipe is closed, so a runaway child gets EPIPE instead of blocking forever.
async fn read_capped<R: AsyncRead + Unpin>(pipe: Option<R>, cap: usize) -> io::Result<(Vec<u8>, bool)> {
    let Some(pipe) = pipe else {
        return Ok((Vec::new(), false));
    };
    let mut bytes = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    pipe.take(limit).read_to_end(&mut bytes).await?;
    let overflowed = bytes.len() > cap;
    bytes.truncate(cap);
    Ok((bytes, overflowed))
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// Why `cv-text` (or the intake pipeline) got no text from a file.
#[derive(Debug, thiserror::Error)]
pub enum CvTextError {
    #[error("could not read the file")]
    Io(#[source] io::Error),
    #[error("CV file is larger than {max_bytes} bytes")]
    TooLarge { max_bytes: u64 },
    #[error(transparent)]
    Rejected(#[from] CvRejection),
    #[error("format detection did not complete")]
    DetectionAborted,
    #[error(transparent)]
    Extraction(#[from] ExtractionError),
}

/// Detection, size check and extraction of a CV on disk: the one path shared by the server and
/// the `cv-text` operator command, so both see the same text (CONTRACT §10).
pub async fn extract_file(
    extractor: &CvExtractor,
    path: &Path,
    max_bytes: u64,
) -> Result<(CvFormat, String), CvTextError> {
    let len = tokio::fs::metadata(path).await.map_err(CvTextError::Io)?.len();
    if len > max_bytes {
        return Err(CvTextError::TooLarge { max_bytes });
    }
    let owned = path.to_path_buf();
    let format = tokio::task::spawn_blocking(move || detect_cv_format(&owned))
        .await
        .map_err(|_| CvTextError::DetectionAborted)??;
    let text = extractor.extract(path, format).await?;
    Ok((format, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_successful_exit_with_text_is_normalised() {
        let text = interpret_exit(ExitStatus::from_raw(0), b" a \0\n\n\n b ".to_vec(), false, b"", 100).unwrap();
        assert_eq!(text, "a\n\nb");
    }

    #[test]
    fn whitespace_only_output_is_no_text() {
        let result = interpret_exit(ExitStatus::from_raw(0), b" \n\t ".to_vec(), false, b"", 100);
        assert!(matches!(result, Err(ExtractionError::NoText)));
    }

    #[test]
    fn a_signal_is_a_crash_and_an_allocation_failure_is_named() {
        // Raw wait status: low 7 bits hold the terminating signal.
        let aborted = ExitStatus::from_raw(6);
        let crash = interpret_exit(aborted, Vec::new(), false, b"", 100).unwrap_err();
        assert_eq!(crash.to_string(), "extractor crashed (signal 6)");
        let oom = interpret_exit(aborted, Vec::new(), false, b"memory allocation of 1073741824 bytes failed\n", 100)
            .unwrap_err();
        assert!(matches!(oom, ExtractionError::MemoryExhausted));
    }

    #[test]
    fn a_failure_exit_carries_the_first_stderr_line() {
        let failed = ExitStatus::from_raw(1 << 8);
        let error = interpret_exit(failed, Vec::new(), false, b"\nPDF error: bad xref\nmore\n", 100).unwrap_err();
        assert_eq!(error.to_string(), "extraction failed: PDF error: bad xref");
    }

    #[test]
    fn invalid_utf8_and_overflow_are_errors() {
        let ok = ExitStatus::from_raw(0);
        assert!(matches!(interpret_exit(ok, vec![0xff, 0xfe], false, b"", 100), Err(ExtractionError::InvalidUtf8)));
        assert!(matches!(interpret_exit(ok, b"abc".to_vec(), true, b"", 100), Err(ExtractionError::OutputTooLarge)));
    }

    #[test]
    fn the_timeout_message_names_the_limit() {
        assert_eq!(ExtractionError::TimedOut(Duration::from_secs(15)).to_string(), "timed out after 15s");
    }

    #[test]
    fn default_limits_match_the_design() {
        let limits = ExtractionLimits::default();
        assert_eq!(limits.memory_bytes, 768 * 1024 * 1024);
        assert_eq!(limits.cpu_seconds, 10);
        assert_eq!(limits.wall_clock, Duration::from_secs(15));
        assert_eq!(limits.max_chars, 200_000);
        assert!(limits.max_concurrent >= 2);
    }
}
